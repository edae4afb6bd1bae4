"""Reads: which conversations a caller may see, and the history sent to the LLM."""

from django.db.models import (
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from bots.models import Bot, BotOperator
from conversations.models import (
    ACTIVE_STATUSES,
    Conversation,
    ConversationMode,
    Feedback,
    Handoff,
    HandoffOutcome,
    Message,
    MessageStatus,
    Rating,
)
from core.exceptions import NotFound
from core.tokens import token_digest
from overrides.prepared import PreparedQuery


def conversation_list(
    *, user, chat_token: str | None = None, queryset: QuerySet[Conversation] | None = None
) -> QuerySet[Conversation]:
    """Owners see their bots' conversations, staff all, a visitor the one its token opens,
    an operator its bots' conversations that were handed off to a human."""
    base = Conversation.objects.all() if queryset is None else queryset
    if user.is_authenticated and user.is_staff:
        return base
    if user.is_authenticated:
        mine = Q(bot__owner_id=user.pk) | _handed_off_to_operator(user)
        if chat_token:
            return base.filter(mine | Q(token_digest=token_digest(chat_token)))
        return base.filter(mine)
    if chat_token:
        return base.filter(token_digest=token_digest(chat_token))
    return base.none()


def operated_bot_ids(user) -> QuerySet:
    """Ids of the bots `user` was added to as an operator (a subquery)."""
    return BotOperator.objects.filter(user_id=user.pk).values("bot_id")


def _handed_off_to_operator(user) -> Q:
    handed_off = Exists(Handoff.objects.filter(conversation_id=OuterRef("pk")))
    return Q(bot_id__in=operated_bot_ids(user)) & Q(handed_off)


def operable_conversation_list(*, user) -> QuerySet[Conversation]:
    """Conversations `user` may act on as an operator (claim, answer, hand back): its
    bots' if it owns or was added to them as an operator; staff every one."""
    if not user.is_authenticated:
        return Conversation.objects.none()
    if user.is_staff:
        return Conversation.objects.all()
    return Conversation.objects.filter(
        Q(bot__owner_id=user.pk) | Q(bot_id__in=operated_bot_ids(user))
    )


def operator_inbox(*, user, limit: int) -> QuerySet[Conversation]:
    """An operator's inbox: open conversations waiting for a human on the bots it owns
    or operates, and those it answers; the longest waiting first."""
    waiting = Q(mode=ConversationMode.WAITING) & (
        Q(bot__owner_id=user.pk) | Q(bot_id__in=operated_bot_ids(user))
    )
    assigned = Q(mode=ConversationMode.HUMAN, operator_id=user.pk)
    return (
        Conversation.objects.filter(waiting | assigned, closed_at__isnull=True)
        .select_related("bot")
        .order_by("updated_at", "id")[:limit]
    )


def inbox_bot_ids(*, user) -> list[int]:
    """The bots whose handoffs reach `user`'s inbox (owned or operated)."""
    owned = Bot.objects.filter(owner_id=user.pk).values_list("pk", flat=True)
    operated = BotOperator.objects.filter(user_id=user.pk).values_list("bot_id", flat=True)
    return sorted(set(owned) | set(operated))


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


_reply_state = PreparedQuery(
    lambda pk: with_active_reply(Conversation.objects.filter(pk=pk)).only("pk", "mode").order_by(),
    ints=("pk",),
)


def reply_state_of(conversation_id: int) -> tuple[bool, str] | None:
    """Whether a reply of the conversation is in progress (the "busy" rule) and who
    answers it now (`mode`: a handoff may have started since the caller read the row);
    None if it is gone. One statement: `message_send` reads it under the row lock."""
    row = _reply_state.first(pk=conversation_id)
    return None if row is None else (row.has_active_reply, row.mode)


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
            handoff_mode="",
        )
        .exclude(content="")
        .order_by("created_at", "id")
    ),
    ints=("conversation_id", "before_id"),
)


def history_for(conversation: Conversation, *, before_id: int) -> list[Message]:
    """Messages sent to the LLM as context: finished ones before `before_id`, oldest first;
    of a regenerated reply only its latest version; not the notices of handoff changes."""
    return _history.fetch(conversation_id=conversation.pk, before_id=before_id)


async def handoff_stats(*, bot_id: int, since=None, until=None) -> dict:
    """A bot's handoffs requested in [since, until): how many, claimed, timed out
    (unclaimed in time), still waiting, and the waiting time until claimed (seconds)."""
    rows = Handoff.objects.filter(bot_id=bot_id)
    if since is not None:
        rows = rows.filter(requested_at__gte=since)
    if until is not None:
        rows = rows.filter(requested_at__lt=until)
    wait = ExpressionWrapper(F("claimed_at") - F("requested_at"), output_field=DurationField())
    claimed = Q(claimed_at__isnull=False)
    found = await rows.aaggregate(
        handed_off=Count("id"),
        claimed=Count("id", filter=claimed),
        timed_out=Count("id", filter=Q(outcome=HandoffOutcome.TIMED_OUT)),
        waiting=Count("id", filter=Q(ended_at__isnull=True, claimed_at__isnull=True)),
        average_wait=Avg(wait, filter=claimed),
        max_wait=Max(wait, filter=claimed),
    )
    for key in ("average_wait", "max_wait"):
        found[key] = found[key].total_seconds() if found[key] is not None else None
    return found


def conversation_for_update(conversation_id: int) -> Conversation:
    """The conversation's row, locked for the rest of the transaction, with its bot, or
    NotFound: how the writes that check its state first (regenerate, delete, handoff)
    serialise with `message_send`. Only the conversation's row is locked (`of`), not
    its bot's, which every conversation of the bot shares."""
    locked = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("bot")
        .filter(pk=conversation_id)
        .first()
    )
    if locked is None:
        raise NotFound("Conversation not found.")
    return locked
