"""Subscriptions: the conversation event stream, and chat (send + stream in one operation)."""

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry import relay

from conversations import models
from conversations.replay import LiveEventsUnavailable, conversation_events
from core.exceptions import Forbidden
from schema.common import pk_from_global_id
from schema.context import Info
from schema.conversations.access import conversation_for
from schema.conversations.mutations import SendMessageInput, send
from schema.conversations.types import (
    ConversationDeleted,
    ConversationEvent,
    ConversationUpdated,
    MessageCompleted,
    MessageCreated,
    MessageDelta,
    MessageFailed,
)
from schema.errors import graphql_errors, unavailable


@strawberry.input
class ResumeFromInput:
    message_id: relay.GlobalID
    offset: int = strawberry.field(description="Characters of that message already received.")


def _message(fields: dict) -> models.Message:
    data = dict(fields)
    for key in ("created_at", "updated_at"):
        data[key] = datetime.fromisoformat(data[key]) if data.get(key) else None
    data["pk"] = data.pop("id")
    return models.Message(**data)


async def to_graphql(event: dict):
    kind = event["kind"]
    if kind == "created":
        return MessageCreated(message=_message(event["message"]))
    if kind == "delta":
        message_id = relay.GlobalID("Message", str(event["message_id"]))
        return MessageDelta(message_id=message_id, offset=event["offset"], text=event["text"])
    if kind == "completed":
        return MessageCompleted(message=_message(event["message"]))
    if kind == "failed":
        message = _message(event["message"])
        return MessageFailed(message=message, code=message.error_code, error=message.error)
    if kind == "conversation":
        conversation = await models.Conversation.objects.filter(
            pk=event["conversation_id"]
        ).afirst()
        return ConversationUpdated(conversation=conversation) if conversation else None
    if kind == "deleted":
        conversation_id = relay.GlobalID("Conversation", str(event["conversation_id"]))
        return ConversationDeleted(conversation_id=conversation_id)
    return None


def _websocket(info: Info):
    if info.context.ws is None:
        raise Forbidden("Subscriptions are served over websockets at /graphql.")
    return info.context.ws


async def _chat_events(ws, conversation_id, sent, send_after_join):
    """The turn's events; ends once the turn is done and its replies are finished."""
    unfinished: set[int] = set()
    turn_done = False
    async for event in conversation_events(ws, conversation_id, after_join=send_after_join):
        kind = event["kind"]
        if kind == "turn_done":
            turn_done = turn_done or event["message_id"] == sent["id"]
        elif kind == "created" and event["message"]["status"] in ("pending", "streaming"):
            unfinished.add(event["message"]["id"])
        elif kind in ("completed", "failed"):
            unfinished.discard(event["message"]["id"])
        converted = await to_graphql(event)
        if converted is not None:
            yield converted
        if turn_done and not unfinished:
            return


@strawberry.type
class ConversationSubscription:
    @strawberry.subscription(
        description=(
            "Events of a conversation: persisted state first, then live. Pass the last "
            "(messageId, offset) you hold as resumeFrom after a disconnect."
        )
    )
    async def conversation_events(
        self,
        info: Info,
        conversation_id: relay.GlobalID,
        resume_from: ResumeFromInput | None = None,
    ) -> AsyncGenerator[ConversationEvent, None]:
        with graphql_errors():
            ws = _websocket(info)
            conversation = await conversation_for(info, conversation_id)
            resume = None
            if resume_from is not None:
                message_pk = pk_from_global_id(
                    resume_from.message_id, "Message", field="message_id"
                )
                resume = (message_pk, resume_from.offset)
        try:
            async for event in conversation_events(ws, conversation.pk, resume=resume):
                converted = await to_graphql(event)
                if converted is not None:
                    yield converted
        except LiveEventsUnavailable as exc:
            raise unavailable(exc) from exc

    @strawberry.subscription(description="Send a message and stream this turn's events.")
    async def chat(
        self, info: Info, input: SendMessageInput
    ) -> AsyncGenerator[ConversationEvent, None]:
        with graphql_errors():
            ws = _websocket(info)
            conversation = await conversation_for(info, input.conversation_id)
        sent = {}

        async def send_after_join() -> int:
            with graphql_errors():
                _, user_message, _ = await send(info, input)
            sent["id"] = user_message.pk
            return user_message.pk

        try:
            async for event in _chat_events(ws, conversation.pk, sent, send_after_join):
                yield event
        except LiveEventsUnavailable as exc:
            raise unavailable(exc) from exc
