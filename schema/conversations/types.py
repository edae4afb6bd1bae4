from datetime import datetime
from typing import Annotated

import strawberry
import strawberry_django
from django.db.models import Count, Exists, OuterRef, Q
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry_django.relay import DjangoListConnection

from bots import models as bot_models
from conversations import models
from conversations.selectors import conversation_is_managed_by, conversation_list, message_list
from schema.bots.types import BotTypeEnum
from schema.common import ScopedNode, visible

MessageRoleEnum = strawberry.enum(models.MessageRole, name="MessageRole")
MessageStatusEnum = strawberry.enum(models.MessageStatus, name="MessageStatus")


@strawberry_django.type(bot_models.Bot, name="BotProfile")
class BotProfile:
    """What a visitor may know about the bot it talks to."""

    name: auto
    description: auto
    bot_type: BotTypeEnum

    @strawberry.field
    def id(self, root: bot_models.Bot) -> relay.GlobalID:
        return relay.GlobalID("Bot", str(root.pk))


@strawberry_django.filter_type(models.Message)
class MessageFilter:
    is_read: auto
    role: MessageRoleEnum | None
    status: MessageStatusEnum | None


@strawberry_django.order_type(models.Message)
class MessageOrder:
    created_at: auto


@strawberry_django.type(models.Message, filters=MessageFilter, ordering=MessageOrder)
class Message(ScopedNode):
    """One message; while `status` is PENDING/STREAMING its content grows (see events)."""

    role: MessageRoleEnum
    content: auto
    status: MessageStatusEnum
    error: auto
    error_code: auto
    is_read: auto
    prompt_tokens: auto
    completion_tokens: auto
    created_at: datetime
    updated_at: datetime

    @strawberry_django.field(only=["conversation_id"])
    def conversation_id(self, root: models.Message) -> relay.GlobalID:
        return relay.GlobalID("Conversation", str(root.conversation_id))

    @classmethod
    def resolve_id(cls, root, *, info) -> str:
        # A row, or an event's MessageSnapshot (subscriptions show events without a read).
        return str(root.pk)

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, message_list, visitors=True)


@strawberry_django.filter_type(models.Conversation)
class ConversationFilter:
    is_completed: auto
    user_session: auto

    @strawberry_django.filter_field
    def bot(self, value: relay.GlobalID, prefix: str) -> Q:
        return Q(**{f"{prefix}bot_id": value.node_id})

    @strawberry_django.filter_field(description="Started at or after this time.")
    def created_after(self, value: datetime, prefix: str) -> Q:
        return Q(**{f"{prefix}created_at__gte": value})

    @strawberry_django.filter_field(description="Started before this time.")
    def created_before(self, value: datetime, prefix: str) -> Q:
        return Q(**{f"{prefix}created_at__lt": value})

    @strawberry_django.filter_field(
        description="True: with at least one FAILED or INTERRUPTED message; false: none."
    )
    def has_failed(self, value: bool, prefix: str) -> Q:
        failed = models.Message.objects.filter(
            conversation_id=OuterRef("pk"),
            status__in=[models.MessageStatus.FAILED, models.MessageStatus.INTERRUPTED],
        )
        condition = Q(Exists(failed))
        return condition if value else ~condition


@strawberry_django.order_type(models.Conversation)
class ConversationOrder:
    created_at: auto
    updated_at: auto


@strawberry_django.type(models.Conversation, filters=ConversationFilter, ordering=ConversationOrder)
class Conversation(ScopedNode):
    """A visitor's chat with a bot."""

    user_session: auto
    variables: JSON
    is_completed: auto
    created_at: datetime
    updated_at: datetime
    bot: BotProfile
    messages: DjangoListConnection[Message] = strawberry_django.connection(
        description="Messages, oldest first; `filters: {isRead: false}` gives the unread ones."
    )

    @strawberry_django.field(
        annotate={"_unread_count": Count("messages", filter=Q(messages__is_read=False))}
    )
    async def unread_count(self, root: models.Conversation) -> int:
        # Annotated in list queries (no thread hop per row); a mutation's returned object
        # is counted here.
        counted = getattr(root, "_unread_count", None)
        if counted is None:
            counted = await root.messages.filter(is_read=False).acount()
        return counted

    @strawberry_django.field(
        only=["private_variables", "bot__owner_id"],
        select_related=["bot"],
        description="API responses no `select` narrowed and why API calls failed "
        "(`<variable>_error`): for the bot's owner and staff, null for visitors.",
    )
    def private_variables(self, root: models.Conversation, info: strawberry.Info) -> JSON | None:
        if conversation_is_managed_by(user=info.context.user, conversation=root):
            return root.private_variables
        return None

    @strawberry_django.field(only=["scenario_id"], select_related=["scenario"])
    def scenario_name(self, root: models.Conversation) -> str | None:
        return root.scenario.name if root.scenario_id else None

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, conversation_list, visitors=True)


@strawberry.type
class StartConversationPayload:
    conversation: Conversation
    chat_token: str = strawberry.field(
        description="Send it as X-Chat-Token (HTTP) or chatToken (websocket). Shown once."
    )


@strawberry.type
class SendMessagePayload:
    user_message: Message
    reply: Message | None = strawberry.field(
        description="The reply being generated (PENDING now; follow it with events)."
    )


@strawberry.type
class MessageCreated:
    message: Message


@strawberry.type
class MessageDelta:
    message_id: relay.GlobalID
    offset: int = strawberry.field(description="Where `text` starts in the message content.")
    text: str


@strawberry.type
class MessageCompleted:
    message: Message = strawberry.field(description="Final state: COMPLETE or STOPPED.")


@strawberry.type
class MessageFailed:
    message: Message = strawberry.field(description="Final state: FAILED or INTERRUPTED.")
    code: str
    error: str


@strawberry.type
class ConversationUpdated:
    conversation: Conversation


@strawberry.type(
    description="The conversation was deleted: the last event, then the subscription completes."
)
class ConversationDeleted:
    conversation_id: relay.GlobalID


ConversationEvent = Annotated[
    MessageCreated
    | MessageDelta
    | MessageCompleted
    | MessageFailed
    | ConversationUpdated
    | ConversationDeleted,
    strawberry.union("ConversationEvent"),
]
