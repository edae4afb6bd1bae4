"""A bot's operators: the owner adds and removes the users who answer handed-off chats."""

import strawberry
import strawberry_django
from strawberry import relay

from bots import services
from schema.bots.types import BotOperator
from schema.common import pk_from_global_id
from schema.context import Info


@strawberry.input
class AddBotOperatorInput:
    bot_id: relay.GlobalID
    username: str
    display_name: str = strawberry.field(description="The name visitors see (max 60).")


@strawberry.input
class RemoveBotOperatorInput:
    id: relay.GlobalID


@strawberry.type
class BotOperatorMutation:
    @strawberry_django.mutation(
        handle_django_errors=True,
        description="Add a user as an operator of your bot (adding again changes its "
        "display name).",
    )
    def add_bot_operator(self, info: Info, input: AddBotOperatorInput) -> BotOperator:
        return services.bot_operator_add(
            user=info.context.get_user(),
            bot_id=pk_from_global_id(input.bot_id, "Bot", field="bot_id"),
            username=input.username,
            display_name=input.display_name,
        )

    @strawberry_django.mutation(handle_django_errors=True)
    def remove_bot_operator(self, info: Info, input: RemoveBotOperatorInput) -> BotOperator:
        return services.bot_operator_remove(
            user=info.context.get_user(), operator_id=pk_from_global_id(input.id, "BotOperator")
        )
