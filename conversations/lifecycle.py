"""Session lifecycle: a conversation expires after its bot's inactivity timeout.

`Conversation.expires_at` is the last activity (start, a visitor message, the end of a
turn) plus the bot's `inactivity_timeout`; null when the timeout is 0 (never). A
conversation is expired once it is closed (`closed_at`, set by the sweep) or, before
the sweep ran, once `expires_at` has passed, unless a reply of it is still pending or
streaming: a streaming reply is never cut off by expiry, and the turn's end moves
`expires_at` forward again. Expiry is checked on every use (`is_expired`), so it holds
whether or not the sweep has run; the sweep (`expire_idle`, a periodic task) closes
idle conversations and tells their subscribers with a `ConversationExpired` event,
which the replay of a closed conversation repeats (conversations/replay.py).
"""

from datetime import datetime, timedelta

from asgiref.sync import async_to_sync, sync_to_async
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from bots.models import Bot
from conversations import events
from conversations.models import ACTIVE_STATUSES, Conversation, ConversationStatus, Message
from conversations.selectors import token_conversation
from core import events as domain_events
from core.exceptions import ConversationExpired
from overrides.prepared import PreparedUpdate


def expiry_after(bot: Bot, now: datetime) -> datetime | None:
    """When a conversation of `bot` active at `now` expires (None: never)."""
    if not bot.inactivity_timeout:
        return None
    return now + timedelta(seconds=bot.inactivity_timeout)


def _active_reply(conversation_pk) -> Exists:
    return Exists(
        Message.objects.filter(conversation_id=conversation_pk, status__in=ACTIVE_STATUSES)
    )


async def is_expired(conversation: Conversation, *, now: datetime | None = None) -> bool:
    """Closed, or idle past `expires_at` with no reply in progress."""
    if not conversation.expired_at(now or timezone.now()):
        return False
    if conversation.closed_at is not None:
        return True
    active = getattr(conversation, "has_active_reply", None)  # selectors.with_active_reply
    if active is not None:
        return not active
    return not await Message.objects.filter(
        conversation_id=conversation.pk, status__in=ACTIVE_STATUSES
    ).aexists()


def status_of(conversation: Conversation, *, now: datetime | None = None) -> str:
    """What owners see: EXPIRED once closed or past `expires_at` (without the active-reply
    check, which `is_expired` adds when a visitor acts)."""
    expired = conversation.expired_at(now or timezone.now())
    return ConversationStatus.EXPIRED if expired else ConversationStatus.ACTIVE


def status_filter(status: str, *, now: datetime | None = None, prefix: str = "") -> Q:
    """`Q` for conversations in `status`, the same rule as `status_of`."""
    now = now or timezone.now()
    expired = Q(**{f"{prefix}closed_at__isnull": False}) | Q(**{f"{prefix}expires_at__lte": now})
    return expired if status == ConversationStatus.EXPIRED else ~expired


def refused() -> ConversationExpired:
    return ConversationExpired(
        "This conversation has expired after a period of inactivity: start a new one "
        "with resetConversation (the expired chat token is still accepted for that)."
    )


async def ensure_open(conversation: Conversation) -> None:
    """Raise ConversationExpired (code conversation_expired) if it has expired."""
    if await is_expired(conversation):
        raise refused()


def ensure_open_locked(conversation: Conversation, *, now: datetime) -> None:
    """The same check for a row locked by the caller's transaction (sync)."""
    if conversation.expired_at(now) and (
        conversation.closed_at is not None
        or not conversation.messages.filter(status__in=ACTIVE_STATUSES).exists()
    ):
        raise refused()


async def expired_token_conversation(chat_token: str) -> int | None:
    """The id of the conversation `chat_token` opens if that conversation has expired."""
    conversation = await sync_to_async(token_conversation)(chat_token)
    if conversation is not None and await is_expired(conversation):
        return conversation.pk
    return None


def _open_conversation_update(*sets: str) -> PreparedUpdate:
    """An UPDATE of `sets` on an open conversation (the row by pk, not closed)."""
    return PreparedUpdate(
        lambda pk: Conversation.objects.filter(pk=pk, closed_at__isnull=True),
        ints=("pk",),
        sets=sets,
    )


_open_conversation = _open_conversation_update("updated_at", "expires_at")
_touch = _open_conversation_update("expires_at")


def extend(conversation: Conversation, bot: Bot, *, now: datetime) -> bool:
    """A visitor message at `now`: touch `updated_at` and move the inactivity deadline
    (an open conversation only); False if it is closed or gone. In a transaction, this
    UPDATE takes the row's lock."""
    return bool(
        _open_conversation.run(
            pk=conversation.pk, updated_at=now, expires_at=expiry_after(bot, now)
        )
    )


async def touch(conversation: Conversation, bot: Bot) -> None:
    """A turn ended: the inactivity timeout counts from now (an open conversation only)."""
    await sync_to_async(_touch.run)(
        pk=conversation.pk, expires_at=expiry_after(bot, timezone.now())
    )


def expire_idle(*, limit: int, now: datetime | None = None) -> list[int]:
    """Close up to `limit` conversations idle past `expires_at` with no reply in progress,
    and publish `ConversationExpired` for each; returns their ids.

    Each close is one conditional UPDATE that re-checks the conditions, so a visitor
    message committed meanwhile (it moves `expires_at`) or a reply started keeps the
    conversation open, on SQLite and Postgres alike.
    """
    now = now or timezone.now()
    due = Conversation.objects.filter(closed_at__isnull=True, expires_at__lte=now).filter(
        ~_active_reply(OuterRef("pk"))
    )
    candidates = list(due.order_by("expires_at").values_list("pk", flat=True)[:limit])
    closed = []
    for pk in candidates:
        updated = (
            Conversation.objects.filter(pk=pk, closed_at__isnull=True, expires_at__lte=now)
            .filter(~_active_reply(OuterRef("pk")))
            .update(closed_at=now)
        )
        if updated:
            closed.append(pk)
    for conversation in Conversation.objects.filter(pk__in=closed):
        async_to_sync(events.publish)(conversation.pk, events.expired(conversation))
        _announce_expired(conversation, reason="idle")
    return closed


def _announce_expired(conversation: Conversation, *, reason: str) -> None:
    """Tell listeners (core.events: webhooks) a conversation closed: `idle` past its
    inactivity timeout (the sweep), or `reset` (the visitor started over)."""
    domain_events.emit(
        domain_events.CONVERSATION_EXPIRED,
        bot_id=conversation.bot_id,
        payload={
            "conversation_id": str(conversation.pk),
            "reason": reason,
            "closed_at": conversation.closed_at.isoformat(),
        },
    )


def close(conversation: Conversation) -> bool:
    """Close a conversation the visitor replaced (resetConversation), unless a reply of
    it is in progress (it then expires on its own later); True if closed now."""
    now = timezone.now()
    updated = (
        Conversation.objects.filter(pk=conversation.pk, closed_at__isnull=True)
        .filter(~_active_reply(OuterRef("pk")))
        .update(closed_at=now)
    )
    if updated:
        conversation.closed_at = now
        _announce_expired(conversation, reason="reset")
    return bool(updated)
