from datetime import datetime
from typing import Annotated

import strawberry
import strawberry_django
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from strawberry import auto, relay
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON
from strawberry_django.relay import DjangoListConnection

from bots import models as bot_models
from conversations import lifecycle, models
from conversations.handoff import aoperator_name as handoff_operator_name
from conversations.selectors import (
    conversation_is_managed_by,
    conversation_list,
    feedback_list,
    message_list,
)
from overrides.strawberry_frames import root_only
from schema.bots.types import BotTypeEnum, StartInput
from schema.common import ScopedNode, visible

MessageRoleEnum = strawberry.enum(models.MessageRole, name="MessageRole")
MessageStatusEnum = strawberry.enum(models.MessageStatus, name="MessageStatus")
RatingEnum = strawberry.enum(models.Rating, name="Rating")
ConversationStatusEnum = strawberry.enum(models.ConversationStatus, name="ConversationStatus")
ConversationModeEnum = strawberry.enum(
    models.ConversationMode,
    name="ConversationMode",
    description="Who answers: the BOT, nobody yet (WAITING for an operator), or a HUMAN.",
)


@strawberry_django.type(bot_models.Bot, name="BotProfile")
class BotProfile:
    """What a visitor may know about the bot it talks to."""

    name: auto
    description: auto
    bot_type: BotTypeEnum
    handoff_enabled: bool = strawberry_django.field(
        description="The visitor may ask for a human (requestHandoff)."
    )

    @strawberry.field
    def id(self, root: bot_models.Bot) -> relay.GlobalID:
        return relay.GlobalID("Bot", str(root.pk))

    @strawberry_django.field(
        only=["start_inputs"],
        description="What to ask the visitor before startConversation (its `variables`).",
    )
    async def start_inputs(self, root: bot_models.Bot) -> list[StartInput]:
        return [StartInput.of(declared) for declared in root.start_inputs]


async def _load_feedback(message_ids: list[int]) -> list[models.Feedback | None]:
    rows = models.Feedback.objects.filter(message_id__in=message_ids)
    found = {row.message_id: row async for row in rows}
    return [found.get(pk) for pk in message_ids]


def feedback_loader(context) -> DataLoader[int, models.Feedback | None]:
    """One query for the feedback of all the messages of a result. Not cached: a
    websocket's context outlives its operations, and a rating may change in between."""
    loader = context.cache.get("feedback_loader")
    if loader is None:
        loader = context.cache["feedback_loader"] = DataLoader(_load_feedback, cache=False)
    return loader


@strawberry.type(
    description="A passage of the bot's documents a reply was given; the reply cites it "
    "as [number]."
)
class Citation:
    number: int
    document_id: relay.GlobalID
    title: str
    url: str = strawberry.field(description="Where the document was fetched; empty: uploaded.")
    heading: str = strawberry.field(description="The passage's headings in the document.")
    snippet: str
    score: float = strawberry.field(description="Retrieval score (higher is better).")

    @classmethod
    def of(cls, stored: dict) -> "Citation":
        return cls(
            number=stored["number"],
            document_id=relay.GlobalID("Document", str(stored["document_id"])),
            title=stored["title"],
            url=stored.get("url", ""),
            heading=stored.get("heading", ""),
            snippet=stored["snippet"],
            score=stored["score"],
        )


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

    @classmethod
    def get_queryset(cls, queryset: QuerySet, info, **kwargs) -> QuerySet:
        """Superseded versions of a regenerated reply are listed only by Message.versions.

        strawberry-django applies this to every list of messages, nested ones included,
        inside the optimizer's prefetch (a custom `Conversation.messages` resolver would
        lose the prefetch: one query per conversation)."""
        return queryset.filter(replaced_by__isnull=True)

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
    suggestions: list[str] = strawberry_django.field(
        description="Suggested follow-up questions, set after the reply completed "
        "(SuggestionsReady); [] if none."
    )
    version: int = strawberry_django.field(
        description="1 for the first answer, 2.. for regenerated versions."
    )

    @strawberry_django.field(
        only=["citations"],
        description="The document passages the reply was given to cite ([] if none); "
        "set with its terminal state (MessageCompleted).",
    )
    @root_only
    def citations(self, root: models.Message) -> list[Citation]:
        return [Citation.of(stored) for stored in root.citations]

    author_name: str = strawberry_django.field(
        description="An OPERATOR message's (or a handoff notice's) operator, by display name."
    )

    @strawberry_django.field(
        only=["handoff_mode"],
        description="Set on the notice of a handoff change (role SYSTEM): the mode it "
        "switched the conversation to.",
    )
    @root_only
    def handoff_mode(self, root: models.Message) -> ConversationModeEnum | None:
        return models.ConversationMode(root.handoff_mode) if root.handoff_mode else None

    @strawberry_django.field(only=["conversation_id"])
    @root_only
    def conversation_id(self, root: models.Message) -> relay.GlobalID:
        return relay.GlobalID("Conversation", str(root.conversation_id))

    @strawberry_django.field(
        only=["replaces_id"], description="The message this version supersedes (null on v1)."
    )
    def replaces_id(self, root: models.Message) -> relay.GlobalID | None:
        if root.replaces_id is None:
            return None
        return relay.GlobalID("Message", str(root.replaces_id))

    @strawberry_django.field(
        only=["original_id"], description="Every version of this answer, oldest first."
    )
    async def versions(self, root: models.Message) -> list["Message"]:
        first = root.original_id or root.pk
        found = models.Message.objects.filter(Q(pk=first) | Q(original_id=first))
        return [m async for m in found.order_by("version", "id")]

    @strawberry_django.field(
        description="The visitor's rating of this reply (rateMessage); null when not rated."
    )
    async def feedback(self, root: models.Message, info: strawberry.Info) -> "Feedback | None":
        # A row or an event's snapshot: read by id, batched over the result.
        return await feedback_loader(info.context).load(root.pk)

    @classmethod
    @root_only
    def resolve_id(cls, root, *, info) -> str:
        # A row, or an event's MessageSnapshot (subscriptions show events without a read).
        return str(root.pk)

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, message_list, visitors=True)


@strawberry_django.filter_type(models.Feedback, description="Filters of Bot.feedback.")
class FeedbackFilter:
    rating: RatingEnum | None

    @strawberry_django.filter_field(description="true: only with a comment; false: only without.")
    def has_comment(self, value: bool, prefix: str) -> Q:
        without = Q(**{f"{prefix}comment": ""})
        return ~without if value else without

    @strawberry_django.filter_field(description="Rated (or last changed) at or after this time.")
    def since(self, value: datetime, prefix: str) -> Q:
        return Q(**{f"{prefix}updated_at__gte": value})

    @strawberry_django.filter_field(description="Rated (or last changed) before this time.")
    def until(self, value: datetime, prefix: str) -> Q:
        return Q(**{f"{prefix}updated_at__lt": value})


@strawberry_django.order_type(models.Feedback)
class FeedbackOrder:
    updated_at: auto
    created_at: auto


@strawberry_django.type(
    models.Feedback,
    filters=FeedbackFilter,
    ordering=FeedbackOrder,
    description="A visitor's rating of a bot reply. Owners list them (Bot.feedback); a "
    "visitor sees its own on its messages (Message.feedback).",
)
class Feedback(ScopedNode):
    rating: RatingEnum
    comment: auto
    created_at: datetime
    updated_at: datetime = strawberry_django.field(description="When it was rated or changed.")
    message: Message

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, feedback_list)


@strawberry_django.filter_type(models.Conversation)
class ConversationFilter:
    is_completed: auto
    user_session: auto

    @strawberry_django.filter_field(
        description="ACTIVE, or EXPIRED (closed, or idle past expiresAt)."
    )
    def status(self, value: ConversationStatusEnum, prefix: str) -> Q:
        return lifecycle.status_filter(value, prefix=prefix)

    @strawberry_django.filter_field(
        description="Who answers: BOT, WAITING for an operator, or HUMAN."
    )
    def mode(self, value: ConversationModeEnum, prefix: str) -> Q:  # type: ignore[valid-type]
        return Q(**{f"{prefix}mode": value})

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
    expires_at: auto


@strawberry_django.type(models.Conversation, filters=ConversationFilter, ordering=ConversationOrder)
class Conversation(ScopedNode):
    """A visitor's chat with a bot."""

    user_session: auto
    variables: JSON
    is_completed: auto
    expires_at: datetime | None = strawberry_django.field(
        description="When it expires if nothing happens meanwhile (null: never)."
    )
    closed_at: datetime | None = strawberry_django.field(
        description="When the expiry sweep (or a reset) closed it."
    )
    created_at: datetime
    updated_at: datetime
    bot: BotProfile
    mode: ConversationModeEnum = strawberry_django.field(
        description="Who answers: the bot, nobody yet (waiting for an operator), a human."
    )

    @strawberry_django.field(
        only=["mode", "operator_id", "bot_id"],
        description="The display name of the operator answering (mode HUMAN), else null.",
    )
    async def operator_name(self, root: models.Conversation) -> str | None:
        if root.mode != models.ConversationMode.HUMAN:
            return None
        known = getattr(root, "_operator_name", None)  # set from a HandoffChanged event
        if known or root.operator_id is None:
            return known or None
        return await handoff_operator_name(bot_id=root.bot_id, user_id=root.operator_id)

    @strawberry_django.field(
        only=["expires_at", "closed_at"],
        description="EXPIRED once closed or idle past expiresAt: it then refuses messages "
        "(code CONVERSATION_EXPIRED); a visitor continues with resetConversation.",
    )
    def status(self, root: models.Conversation) -> ConversationStatusEnum:
        return lifecycle.status_of(root)

    messages: DjangoListConnection[Message] = strawberry_django.connection(
        description="Messages, oldest first, regenerated replies in their latest version "
        "(earlier ones: Message.versions); `filters: {isRead: false}` gives the unread ones."
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
class ResetConversationPayload:
    conversation: Conversation = strawberry.field(description="The fresh conversation.")
    chat_token: str = strawberry.field(
        description="Its chat token (the old one no longer works). Shown once."
    )


@strawberry.type
class SendMessagePayload:
    user_message: Message
    reply: Message | None = strawberry.field(
        description="The reply being generated (PENDING now; follow it with events)."
    )


@strawberry.type
class RegenerateReplyPayload:
    reply: Message = strawberry.field(
        description="The new version (PENDING now; streamed like any reply)."
    )


@strawberry.type
class RateMessagePayload:
    message: Message = strawberry.field(description="The rated message, with its feedback.")


@strawberry.type(
    description="A new version of a reply announces itself with message.replacesId: swap "
    "the superseded message for it in place."
)
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


@strawberry.type(description="Suggested follow-up questions for a completed reply.")
class SuggestionsReady:
    message_id: relay.GlobalID
    suggestions: list[str]


@strawberry.type(
    description="The conversation expired (idle past its bot's inactivity timeout, or "
    "replaced by resetConversation): the last event, then the subscription completes."
)
class ConversationExpired:
    conversation: Conversation


@strawberry.type(
    description="Who answers changed: WAITING for an operator, an operator joined (HUMAN), "
    "or back to the BOT. `message` is the notice shown in the chat (sent just before)."
)
class HandoffChanged:
    conversation: Conversation
    mode: ConversationModeEnum
    operator_name: str | None = strawberry.field(description="Display name, when HUMAN.")
    message: Message


ConversationEvent = Annotated[
    MessageCreated
    | MessageDelta
    | MessageCompleted
    | MessageFailed
    | ConversationUpdated
    | ConversationDeleted
    | SuggestionsReady
    | ConversationExpired
    | HandoffChanged,
    strawberry.union("ConversationEvent"),
]
