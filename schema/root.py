import strawberry
import strawberry_django
from django.conf import settings
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry_django.optimizer import DjangoOptimizerExtension

from overrides.strawberry_caches import SharedParse
from overrides.strawberry_frames import FrameSchema
from schema.accounts import AccountMutation, AccountQuery
from schema.bots.mutations import BotMutation
from schema.bots.operators import BotOperatorMutation
from schema.bots.queries import BotQuery
from schema.conversations.handoff import HandoffMutation, HandoffSubscription
from schema.conversations.mutations import ConversationMutation
from schema.conversations.queries import ConversationQuery
from schema.conversations.subscriptions import ConversationSubscription
from schema.extensions import (
    DocumentLimits,
    ErrorCodes,
    HideSuggestions,
    MaskUnexpectedErrors,
    QueryLimits,
    TokenScope,
)
from schema.input_checks import StorableInput
from schema.integrations.mutations import IntegrationMutation
from schema.knowledge.mutations import KnowledgeMutation
from schema.knowledge.queries import KnowledgeQuery
from schema.metrics import MetricsExtension
from schema.stats import StatsQuery
from schema.system import SystemQuery


@strawberry.type
class NodeQuery:
    node: strawberry.relay.Node | None = strawberry_django.node()


Query = merge_types(
    "Query",
    (
        NodeQuery,
        SystemQuery,
        AccountQuery,
        BotQuery,
        ConversationQuery,
        StatsQuery,
        KnowledgeQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        AccountMutation,
        BotMutation,
        ConversationMutation,
        BotOperatorMutation,
        HandoffMutation,
        IntegrationMutation,
        KnowledgeMutation,
    ),
)
Subscription = merge_types("Subscription", (ConversationSubscription, HandoffSubscription))

# Subscription events are encoded once per document, not executed per subscriber.
schema = FrameSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    # Order matters on the way out (last listed runs first): errors are masked last,
    # after every other extension has seen them. See schema/extensions.py.
    extensions=[
        MetricsExtension,
        MaskUnexpectedErrors,
        ErrorCodes,
        HideSuggestions,
        DocumentLimits,
        SharedParse,
        QueryLimits,
        TokenScope,
        StorableInput,
        DjangoOptimizerExtension,
    ],
    config=StrawberryConfig(
        disable_field_suggestions=not settings.GRAPHQL_FIELD_SUGGESTIONS,
        relay_max_results=settings.GRAPHQL_MAX_PAGE_SIZE,
    ),
)
