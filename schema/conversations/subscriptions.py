"""Subscriptions: the conversation event stream, and chat (send + stream in one operation)."""

from collections.abc import AsyncGenerator

import strawberry
from strawberry import relay

from conversations import events, models
from conversations.replay import LiveEventsUnavailable, conversation_events, turn_events
from core.exceptions import Forbidden
from schema.common import pk_from_global_id
from schema.context import Info
from schema.conversations.access import conversation_for, ensure_visitor_side
from schema.conversations.inputs import SendMessageInput
from schema.conversations.policy import message_accept
from schema.conversations.types import (
    ConversationDeleted,
    ConversationEvent,
    ConversationExpired,
    ConversationUpdated,
    HandoffChanged,
    Message,
    MessageCompleted,
    MessageCreated,
    MessageDelta,
    MessageFailed,
    SuggestionsReady,
)
from schema.errors import graphql_errors, to_graphql_error


@strawberry.input
class ResumeFromInput:
    message_id: relay.GlobalID
    offset: int = strawberry.field(description="Characters of that message already received.")


def _message(snapshot: events.MessageSnapshot) -> Message:
    # The snapshot has the model's attribute names; the cast tells strawberry-django's
    # type check to accept it in place of a Message row.
    return strawberry.cast(Message, snapshot)


def to_graphql(event: events.Event, conversation: models.Conversation):
    """The GraphQL event for a conversation event (None for internal ones). `conversation`
    is the subscription's own row, brought up to date by ConversationUpdated."""
    if isinstance(event, events.MessageCreated):
        return MessageCreated(message=_message(event.message))
    if isinstance(event, events.MessageDelta):
        message_id = relay.GlobalID("Message", str(event.message_id))
        return MessageDelta(message_id=message_id, offset=event.offset, text=event.text)
    if isinstance(event, events.MessageCompleted):
        return MessageCompleted(message=_message(event.message))
    if isinstance(event, events.MessageFailed):
        failed = event.message
        return MessageFailed(message=_message(failed), code=failed.error_code, error=failed.error)
    if isinstance(event, events.ConversationUpdated):
        conversation.variables = event.variables
        conversation.private_variables = event.private_variables
        conversation.is_completed = event.is_completed
        conversation.updated_at = event.updated_at or conversation.updated_at
        return ConversationUpdated(conversation=conversation)
    if isinstance(event, events.ConversationDeleted):
        conversation_id = relay.GlobalID("Conversation", str(event.conversation_id))
        return ConversationDeleted(conversation_id=conversation_id)
    if isinstance(event, events.SuggestionsReady):
        message_id = relay.GlobalID("Message", str(event.message_id))
        return SuggestionsReady(message_id=message_id, suggestions=list(event.suggestions))
    if isinstance(event, events.HandoffChanged):
        conversation.mode = event.mode
        conversation._operator_name = event.operator_name
        return HandoffChanged(
            conversation=conversation,
            mode=models.ConversationMode(event.mode),
            operator_name=event.operator_name or None,
            message=_message(event.message),
        )
    if isinstance(event, events.ConversationExpired):
        conversation.closed_at = event.closed_at
        conversation.expires_at = event.expires_at
        return ConversationExpired(conversation=conversation)
    return None


def _websocket(info: Info):
    if info.context.ws is None:
        raise Forbidden("Subscriptions are served over websockets at /graphql.")
    return info.context.ws


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
                converted = to_graphql(event, conversation)
                if converted is not None:
                    yield converted
        except LiveEventsUnavailable as exc:
            raise to_graphql_error(exc) from exc

    @strawberry.subscription(description="Send a message and stream this turn's events.")
    async def chat(
        self, info: Info, input: SendMessageInput
    ) -> AsyncGenerator[ConversationEvent, None]:
        with graphql_errors():
            ws = _websocket(info)
            conversation = await conversation_for(info, input.conversation_id)
            ensure_visitor_side(info, conversation)

        async def send() -> int:
            # The row read above (a conversation deleted since is refused under the lock
            # by message_send); its busy state is read now, after the join.
            with graphql_errors():
                user_message, _ = await message_accept(info, conversation, input.text)
            return user_message.pk

        try:
            async for event in turn_events(ws, conversation.pk, send):
                converted = to_graphql(event, conversation)
                if converted is not None:
                    yield converted
        except LiveEventsUnavailable as exc:
            raise to_graphql_error(exc) from exc
