"""Reads: which conversations a caller may see, and the history sent to the LLM."""

from django.db.models import Exists, OuterRef, QuerySet

from conversations.models import ACTIVE_STATUSES, Conversation, Message, MessageStatus
from core.tokens import token_digest


def conversation_list(
    *, user, chat_token: str | None = None, queryset: QuerySet[Conversation] | None = None
) -> QuerySet[Conversation]:
    """Owners see their bots' conversations, staff all, a visitor the one its token opens."""
    base = Conversation.objects.all() if queryset is None else queryset
    if user.is_authenticated and user.is_staff:
        return base
    if user.is_authenticated:
        if chat_token:
            return base.filter(bot__owner_id=user.pk) | base.filter(
                token_digest=token_digest(chat_token)
            )
        return base.filter(bot__owner_id=user.pk)
    if chat_token:
        return base.filter(token_digest=token_digest(chat_token))
    return base.none()


def with_active_reply(queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Annotates `has_active_reply`: a message of the conversation is still being
    answered (the "busy" rule of `services.message_accept`), read with the row rather
    than by a query and a thread hop of its own."""
    active = Message.objects.filter(conversation_id=OuterRef("pk"), status__in=ACTIVE_STATUSES)
    return queryset.annotate(has_active_reply=Exists(active))


def conversation_is_managed_by(*, user, conversation: Conversation) -> bool:
    """Whether ``user`` is the bot's owner or staff (not merely a chat-token holder)."""
    return user.is_authenticated and (user.is_staff or conversation.bot.owner_id == user.pk)


def message_list(
    *, user, chat_token: str | None = None, queryset: QuerySet[Message] | None = None
) -> QuerySet[Message]:
    base = Message.objects.all() if queryset is None else queryset
    visible = conversation_list(user=user, chat_token=chat_token).values("pk")
    return base.filter(conversation_id__in=visible)


def history_for(conversation: Conversation, *, before_id: int) -> list[Message]:
    """Messages sent to the LLM as context: finished ones before `before_id`, oldest first."""
    usable = (MessageStatus.COMPLETE, MessageStatus.STOPPED)
    return list(
        conversation.messages.filter(pk__lt=before_id, status__in=usable)
        .exclude(content="")
        .order_by("created_at", "id")
    )
