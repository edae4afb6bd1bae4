import strawberry
import strawberry_django
from strawberry_django.relay import DjangoListConnection

from schema.conversations.types import Conversation, Message


@strawberry.type
class ConversationQuery:
    conversations: DjangoListConnection[Conversation] = strawberry_django.connection(
        description="Owners: their bots' conversations; staff: all; visitors: their own."
    )
    conversation: Conversation | None = strawberry_django.node()
    message: Message | None = strawberry_django.node()
