"""Reads: which conversations a caller may see, and the history sent to the LLM."""

from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from conversations.models import (
    ACTIVE_STATUSES,
    Conversation,
    Feedback,
    Message,
    MessageStatus,
    Rating,
)
from core.tokens import token_digest
from overrides.prepared import PreparedQuery


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


_by_token = PreparedQuery(
    lambda digest: (
        with_active_reply(Conversation.objects.filter(token_digest=digest))
        .select_related("bot")
        .order_by()
    ),
    strs=("digest",),
)


def token_conversation(chat_token: str) -> Conversation | None:
    """The conversation `chat_token` opens, with its bot and `has_active_reply`: what a
    visitor's request needs of it, read once per request (a prepared query: this is the
    visitor's hot path)."""
    return _by_token.first(digest=token_digest(chat_token))


_active_reply = PreparedQuery(
    lambda conversation_id: (
        Message.objects.filter(conversation_id=conversation_id, status__in=ACTIVE_STATUSES)
        .only("pk")
        .order_by()[:1]
    ),
    ints=("conversation_id",),
)


def active_reply_of(conversation_id: int) -> bool:
    """Whether a message of the conversation is still being answered (the "busy" rule)."""
    return bool(_active_reply.fetch(conversation_id=conversation_id))


def conversation_is_managed_by(*, user, conversation: Conversation) -> bool:
    """Whether ``user`` is the bot's owner or staff (not merely a chat-token holder)."""
    return user.is_authenticated and (user.is_staff or conversation.bot.owner_id == user.pk)


def message_list(
    *, user, chat_token: str | None = None, queryset: QuerySet[Message] | None = None
) -> QuerySet[Message]:
    base = Message.objects.all() if queryset is None else queryset
    visible = conversation_list(user=user, chat_token=chat_token).values("pk")
    return base.filter(conversation_id__in=visible)


def feedback_list(*, user, queryset: QuerySet[Feedback] | None = None) -> QuerySet[Feedback]:
    """Ratings of the bots' replies: owners see their bots', staff all, visitors none
    (a visitor reads its own through its messages)."""
    base = Feedback.objects.all() if queryset is None else queryset
    if not user.is_authenticated:
        return base.none()
    return base if user.is_staff else base.filter(bot__owner_id=user.pk)


def feedback_count(rating: Rating) -> Coalesce:
    """An annotation for a Bot queryset: how many of its replies have `rating`."""
    counted = (
        Feedback.objects.filter(bot_id=OuterRef("pk"), rating=rating)
        .order_by()
        .values("bot_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


async def feedback_counts(*, bot_id: int) -> dict[str, int]:
    """{"up": n, "down": n} for one bot (when the list query did not annotate them)."""
    rows = Feedback.objects.filter(bot_id=bot_id).values("rating").annotate(n=Count("*"))
    counts = {rating.value: 0 for rating in Rating}
    async for row in rows.order_by():
        counts[row["rating"]] = row["n"]
    return counts


_history = PreparedQuery(
    lambda conversation_id, before_id: (
        Message.objects.filter(
            conversation_id=conversation_id,
            pk__lt=before_id,
            status__in=(MessageStatus.COMPLETE, MessageStatus.STOPPED),
            replaced_by__isnull=True,
        )
        .exclude(content="")
        .order_by("created_at", "id")
    ),
    ints=("conversation_id", "before_id"),
)


def history_for(conversation: Conversation, *, before_id: int) -> list[Message]:
    """Messages sent to the LLM as context: finished ones before `before_id`, oldest first;
    of a regenerated reply only its latest version."""
    return _history.fetch(conversation_id=conversation.pk, before_id=before_id)
