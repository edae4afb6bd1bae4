"""Conversation events: one typed definition, one encoding for the channel layer.

Every event for a conversation goes to its group as
`{"type": "conversation.event", "event": encode(event)}`; the encoding is a msgpack-safe
dict (no datetimes) and `decode` gives the typed event back. Events carry everything a
subscriber shows, so the schema maps them to GraphQL types with no database read.
"""

import json
import logging
import time
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from channels.layers import get_channel_layer

from conversations.models import ACTIVE_STATUSES, Message, MessageStatus

logger = logging.getLogger(__name__)

EVENT_TYPE = "conversation.event"
SYNC_TYPE = "generation.sync"


class EventKind(StrEnum):
    CREATED = "created"
    DELTA = "delta"
    COMPLETED = "completed"
    FAILED = "failed"
    CONVERSATION_UPDATED = "conversation"
    DELETED = "deleted"
    SUGGESTIONS = "suggestions"
    EXPIRED = "expired"
    HANDOFF = "handoff"
    TURN_DONE = "turn_done"  # internal: the chat subscription's end of turn


@dataclass
class MessageSnapshot:
    """A message as it was when the event was made (what GraphQL's Message shows)."""

    id: int
    conversation_id: int
    role: str
    content: str
    status: str
    error: str = ""
    error_code: str = ""
    step_id: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    is_read: bool = False
    suggestions: list[str] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    version: int = 1
    replaces_id: int | None = None
    original_id: int | None = None
    author_name: str = ""
    handoff_mode: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def pk(self) -> int:
        return self.id

    @property
    def is_terminal(self) -> bool:
        return self.status not in ACTIVE_STATUSES

    @classmethod
    def of(cls, message: Message) -> "MessageSnapshot":
        return cls(**{f.name: getattr(message, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class MessageCreated:
    kind: ClassVar[EventKind] = EventKind.CREATED
    conversation_id: int
    message: MessageSnapshot


@dataclass(frozen=True)
class MessageDelta:
    """`text` starts at `offset` in the message's content."""

    kind: ClassVar[EventKind] = EventKind.DELTA
    conversation_id: int
    message_id: int
    offset: int
    text: str


@dataclass(frozen=True)
class MessageCompleted:
    """Finished as COMPLETE or STOPPED."""

    kind: ClassVar[EventKind] = EventKind.COMPLETED
    conversation_id: int
    message: MessageSnapshot


@dataclass(frozen=True)
class MessageFailed:
    """Finished as FAILED or INTERRUPTED."""

    kind: ClassVar[EventKind] = EventKind.FAILED
    conversation_id: int
    message: MessageSnapshot


@dataclass(frozen=True)
class ConversationUpdated:
    """A turn saved the conversation's state: the fields a subscriber shows, as saved."""

    kind: ClassVar[EventKind] = EventKind.CONVERSATION_UPDATED
    conversation_id: int
    variables: dict[str, Any]
    private_variables: dict[str, Any]
    is_completed: bool
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ConversationDeleted:
    """The conversation is gone: the last event of its streams (subscribers then end)."""

    kind: ClassVar[EventKind] = EventKind.DELETED
    conversation_id: int


@dataclass(frozen=True)
class SuggestionsReady:
    """Follow-up questions for a completed reply (stored on it: replay finds them)."""

    kind: ClassVar[EventKind] = EventKind.SUGGESTIONS
    conversation_id: int
    message_id: int
    suggestions: list[str]


@dataclass(frozen=True)
class ConversationExpired:
    """The conversation expired (closed for inactivity, or replaced by a reset): the
    last event of its streams (subscribers then end). Replayed for a closed one."""

    kind: ClassVar[EventKind] = EventKind.EXPIRED
    conversation_id: int
    closed_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class HandoffChanged:
    """Who answers changed (bot, waiting for an operator, a human operator). `message` is
    the persisted notice of the change ("Ana joined", "Back to the bot"), so the replay
    repeats the event once, from its row. `operator_name` is a display name only."""

    kind: ClassVar[EventKind] = EventKind.HANDOFF
    conversation_id: int
    message: MessageSnapshot
    mode: str
    operator_name: str = ""


@dataclass(frozen=True)
class TurnDone:
    """Internal: the turn started by `user_message_id` produced all its messages."""

    kind: ClassVar[EventKind] = EventKind.TURN_DONE
    conversation_id: int
    user_message_id: int


Event = (
    MessageCreated
    | MessageDelta
    | MessageCompleted
    | MessageFailed
    | ConversationUpdated
    | ConversationDeleted
    | SuggestionsReady
    | ConversationExpired
    | HandoffChanged
    | TurnDone
)
_CLASSES = {
    cls.kind: cls
    for cls in (
        MessageCreated,
        MessageDelta,
        MessageCompleted,
        MessageFailed,
        ConversationUpdated,
        ConversationDeleted,
        SuggestionsReady,
        ConversationExpired,
        HandoffChanged,
        TurnDone,
    )
}
_FIELD_NAMES = {
    cls: tuple(f.name for f in fields(cls)) for cls in (*_CLASSES.values(), MessageSnapshot)
}
_DATES = ("created_at", "updated_at", "closed_at", "expires_at")
_JSON_FIELDS = ("variables", "private_variables")
_FAILED_STATUSES = (MessageStatus.FAILED, MessageStatus.INTERRUPTED)


def encode(event: Event) -> dict[str, Any]:
    """A msgpack-safe dict: dates as ISO strings, variables as JSON text (JSON numbers
    can be larger than msgpack's 64-bit integers)."""
    data = _values(event)  # not dataclasses.asdict: its deep copy is 3x slower per delta
    if "message" in data:
        data["message"] = _values(data["message"])
    _dates_to_text(data.get("message") or data)
    for key in _JSON_FIELDS:
        if key in data:
            data[key] = json.dumps(data[key])
    return {"kind": str(event.kind), **data}


def decode(data: dict[str, Any]) -> Event:
    """The typed event of `encode`'s dict (a fresh object for each subscriber)."""
    values = dict(data)
    cls = _CLASSES[EventKind(values.pop("kind"))]
    if "message" in values:
        values["message"] = MessageSnapshot(**_dates_from_text(dict(values["message"])))
    else:
        _dates_from_text(values)
    for key in _JSON_FIELDS:
        if key in values:
            values[key] = json.loads(values[key])
    return cls(**values)


def _values(obj) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in _FIELD_NAMES[type(obj)]}


def _dates_to_text(data: dict[str, Any]) -> None:
    for key in _DATES:
        if data.get(key) is not None:
            data[key] = data[key].isoformat()


def _dates_from_text(data: dict[str, Any]) -> dict[str, Any]:
    for key in _DATES:
        if data.get(key) is not None:
            data[key] = datetime.fromisoformat(data[key])
    return data


def created(message: Message | MessageSnapshot) -> MessageCreated:
    return MessageCreated(message.conversation_id, _snapshot(message))


def finished(message: Message | MessageSnapshot) -> MessageCompleted | MessageFailed:
    """Completed (complete/stopped) or failed (failed/interrupted), by the message status."""
    cls = MessageFailed if message.status in _FAILED_STATUSES else MessageCompleted
    return cls(message.conversation_id, _snapshot(message))


def suggested(message: Message) -> SuggestionsReady:
    return SuggestionsReady(message.conversation_id, message.pk, list(message.suggestions))


def expired(conversation) -> ConversationExpired:
    return ConversationExpired(conversation.pk, conversation.closed_at, conversation.expires_at)


def handoff_changed(message: Message | MessageSnapshot) -> HandoffChanged:
    """The HandoffChanged of a handoff notice (a message with `handoff_mode` set)."""
    operator = message.author_name if message.handoff_mode == "human" else ""
    return HandoffChanged(
        message.conversation_id, _snapshot(message), message.handoff_mode, operator
    )


def _snapshot(message: Message | MessageSnapshot) -> MessageSnapshot:
    return message if isinstance(message, MessageSnapshot) else MessageSnapshot.of(message)


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


def generation_group(message_id: int) -> str:
    return f"gen.{message_id}"


async def publish(conversation_id: int, event: Event) -> bool:
    """Send an event to the conversation's subscribers; False if the layer is down.

    A failed publish never fails the generation: the database stays the source of
    truth, and subscribers repair gaps from it (conversations.replay).
    """
    try:
        await get_channel_layer().group_send(
            conversation_group(conversation_id), {"type": EVENT_TYPE, "event": encode(event)}
        )
    except (UnicodeError, TypeError) as exc:  # the event could not be encoded: no outage
        logger.error("event not delivered, it could not be encoded: %r", exc)
        return False
    except Exception as exc:
        _layer_down(exc)
        return False
    return True


_last_warning = 0.0


def _layer_down(exc: Exception) -> None:
    """Log a channel-layer outage at most every 10 s (it can fail on every delta)."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 10:
        _last_warning = now
        logger.warning("channel layer unavailable, events not delivered: %r", exc)


async def send_to(channel: str, event: Event) -> None:
    """Answer one subscriber directly (gap repair), in order with later group events."""
    try:
        await get_channel_layer().send(channel, {"type": EVENT_TYPE, "event": encode(event)})
    except Exception as exc:
        _layer_down(exc)


async def request_sync(message_id: int, offset: int, reply_channel: str) -> None:
    """Ask the process generating `message_id` for its text from `offset` on."""
    try:
        await get_channel_layer().group_send(
            generation_group(message_id),
            {"type": SYNC_TYPE, "message_id": message_id, "offset": offset, "reply": reply_channel},
        )
    except Exception as exc:
        _layer_down(exc)
