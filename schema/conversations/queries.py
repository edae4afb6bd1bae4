import strawberry
import strawberry_django
from strawberry import relay
from strawberry_django.relay import DjangoListConnection

from bots.models import Bot
from bots.selectors import bot_list
from conversations import models
from schema.common import pk_from_global_id
from schema.context import Info
from schema.conversations.types import BotProfile, Conversation, Message
from schema.errors import graphql_errors

# Visibility is applied here, where a query enters the graph (see ScopedNode).


async def _conversations(info: Info) -> list[Conversation]:
    return Conversation.scope(models.Conversation.objects.all(), info)


@strawberry.type
class ConversationQuery:
    conversations: DjangoListConnection[Conversation] = strawberry_django.connection(
        resolver=_conversations,
        description="Owners: their bots' conversations; staff: all; visitors: their own.",
    )
    conversation: Conversation | None = strawberry_django.node()
    message: Message | None = strawberry_django.node()

    @strawberry_django.field(
        description="What a visitor's client shows before it starts a conversation (name, "
        "description, start inputs): anyone may read an active bot's profile, owners also "
        "their inactive bots'. Null when there is none."
    )
    async def bot_profile(self, info: Info, id: relay.GlobalID) -> BotProfile | None:
        with graphql_errors():
            pk = pk_from_global_id(id, "Bot")
        bot = await Bot.objects.filter(pk=pk).afirst()
        if bot is None or bot.is_active:
            return bot
        return await bot_list(user=info.context.user).filter(pk=pk).afirst()
