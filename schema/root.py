import strawberry
import strawberry_django
from strawberry.tools import merge_types
from strawberry_django.optimizer import DjangoOptimizerExtension

from schema.accounts import AccountMutation, AccountQuery
from schema.bots.mutations import BotMutation
from schema.bots.queries import BotQuery
from schema.conversations.mutations import ConversationMutation
from schema.conversations.queries import ConversationQuery
from schema.conversations.subscriptions import ConversationSubscription
from schema.system import SystemQuery


@strawberry.type
class NodeQuery:
    node: strawberry.relay.Node | None = strawberry_django.node()


Query = merge_types("Query", (NodeQuery, SystemQuery, AccountQuery, BotQuery, ConversationQuery))
Mutation = merge_types("Mutation", (AccountMutation, BotMutation, ConversationMutation))

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=ConversationSubscription,
    extensions=[DjangoOptimizerExtension],
)
