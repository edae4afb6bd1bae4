import strawberry
import strawberry_django
from strawberry_django.relay import DjangoListConnection

from conversations import models
from schema.context import Info
from schema.conversations.types import Conversation, Message

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
