"""Conversation events on the channel layer.

Every event for a conversation goes to its group as
`{"type": "conversation.event", "event": {...}}`; payloads are msgpack-safe dicts
(no datetimes). Subscribers turn them into GraphQL types (schema.conversations).
"""

import logging
import time
from typing import Any

from channels.layers import get_channel_layer

from conversations.models import Conversation, Message

logger = logging.getLogger(__name__)

EVENT_TYPE = "conversation.event"
SYNC_TYPE = "generation.sync"


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


def generation_group(message_id: int) -> str:
    return f"gen.{message_id}"


def message_fields(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "error": message.error,
        "error_code": message.error_code,
        "step_id": message.step_id,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "is_read": message.is_read,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "updated_at": message.updated_at.isoformat() if message.updated_at else None,
    }


def created(message: Message) -> dict[str, Any]:
    return {
        "kind": "created",
        "conversation_id": message.conversation_id,
        "message": message_fields(message),
    }


def delta(conversation_id: int, message_id: int, offset: int, text: str) -> dict[str, Any]:
    return {
        "kind": "delta",
        "conversation_id": conversation_id,
        "message_id": message_id,
        "offset": offset,
        "text": text,
    }


def finished(message: Message) -> dict[str, Any]:
    """Completed (complete/stopped) or failed (failed/interrupted), by the message status."""
    kind = "failed" if message.status in ("failed", "interrupted") else "completed"
    return {
        "kind": kind,
        "conversation_id": message.conversation_id,
        "message": message_fields(message),
    }


def conversation_updated(conversation: Conversation) -> dict[str, Any]:
    return {"kind": "conversation", "conversation_id": conversation.pk}


def conversation_deleted(conversation_id: int) -> dict[str, Any]:
    """The conversation is gone: the last event of its streams (subscribers then end)."""
    return {"kind": "deleted", "conversation_id": conversation_id}


def turn_done(conversation_id: int, user_message_id: int) -> dict[str, Any]:
    """Internal: the turn started by `user_message_id` produced all its messages."""
    return {"kind": "turn_done", "conversation_id": conversation_id, "message_id": user_message_id}


async def publish(conversation_id: int, event: dict[str, Any]) -> bool:
    """Send an event to the conversation's subscribers; False if the layer is down.

    A failed publish never fails the generation: the database stays the source of
    truth, and subscribers repair gaps from it (conversations.replay).
    """
    try:
        await get_channel_layer().group_send(
            conversation_group(conversation_id), {"type": EVENT_TYPE, "event": event}
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


async def send_to(channel: str, event: dict[str, Any]) -> None:
    """Answer one subscriber directly (gap repair), in order with later group events."""
    try:
        await get_channel_layer().send(channel, {"type": EVENT_TYPE, "event": event})
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
