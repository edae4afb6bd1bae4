"""Domain events: facts about a bot's conversations that other parts may act on.

The domain announces what happened (`emit`); listeners elsewhere (webhook delivery,
for one) decide what to do with it, so `conversations` never imports them. An event
is announced only once the transaction that made it true has committed: a listener
never sees a fact that was rolled back.

Names are the webhook event names: `conversation.started`, `message.completed`,
`feedback.given`, `handoff.requested`, `conversation.expired`. The payload is plain
JSON data (ids as strings, times in ISO 8601).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

CONVERSATION_STARTED = "conversation.started"
MESSAGE_COMPLETED = "message.completed"
FEEDBACK_GIVEN = "feedback.given"
HANDOFF_REQUESTED = "handoff.requested"
CONVERSATION_EXPIRED = "conversation.expired"

NAMES = (
    CONVERSATION_STARTED,
    MESSAGE_COMPLETED,
    FEEDBACK_GIVEN,
    HANDOFF_REQUESTED,
    CONVERSATION_EXPIRED,
)


@dataclass(frozen=True)
class Event:
    name: str
    bot_id: int
    payload: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Event], None]
_listeners: list[Listener] = []


def listen(listener: Listener) -> Listener:
    """Register `listener` (sync; called after commit, must not raise). Usable as a
    decorator; registering twice is a no-op."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def emit(name: str, *, bot_id: int, payload: dict[str, Any]) -> None:
    """Announce `name` to every listener once the current transaction commits (at once
    outside a transaction). Sync code only: async code calls it through
    `database_sync_to_async` or `sync_to_async`, like any database work."""
    if name not in NAMES:
        raise ValueError(f"unknown event {name!r}")
    event = Event(name, bot_id, payload)
    transaction.on_commit(lambda: _deliver(event))


def _deliver(event: Event) -> None:
    for listener in list(_listeners):
        listener(event)
