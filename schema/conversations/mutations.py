"""Chat mutations: start, send, stop, mark read, delete."""

import strawberry
import strawberry_django
from asgiref.sync import sync_to_async
from django.conf import settings
from strawberry import UNSET, relay

from conversations import events, services
from conversations.generation import end_conversation, start_turn, stop_generation
from core.ratelimit import client_ip, hit
from schema.common import pk_from_global_id
from schema.context import Info
from schema.conversations.access import conversation_for, message_for
from schema.conversations.types import (
    Conversation,
    Message,
    SendMessagePayload,
    StartConversationPayload,
)
from schema.errors import graphql_errors


@strawberry.input
class StartConversationInput:
    bot_id: relay.GlobalID
    scenario_id: relay.GlobalID | None = None
    user_session: str | None = None


@strawberry.input
class SendMessageInput:
    conversation_id: relay.GlobalID
    text: str


@strawberry.input
class StopGenerationInput:
    message_id: relay.GlobalID


@strawberry.input
class MarkMessagesReadInput:
    conversation_id: relay.GlobalID
    message_ids: list[relay.GlobalID] | None = strawberry.field(
        default=UNSET, description="Only these messages; all finished ones when omitted."
    )


@strawberry.input
class DeleteConversationInput:
    id: relay.GlobalID


async def send(info: Info, input: SendMessageInput):
    """Accept a message and start its turn; shared by sendMessage and the chat subscription."""
    conversation = await conversation_for(info, input.conversation_id)
    await services.message_send_precheck(conversation=conversation)
    ip = client_ip(info.context.request)
    await hit(
        settings.RATE_LIMIT_MESSAGES_PER_CONVERSATION,
        "messages-conversation",
        str(conversation.pk),
        what="messages in this conversation",
    )
    await hit(settings.RATE_LIMIT_MESSAGES_PER_IP, "messages-ip", ip, what="messages")
    user_message, reply = await sync_to_async(services.message_send)(
        conversation=conversation, text=input.text
    )
    await events.publish(conversation.pk, events.created(user_message))
    await events.publish(conversation.pk, events.created(reply))
    start_turn(conversation.pk, user_message.pk, reply.pk)
    return conversation, user_message, reply


@strawberry.type
class ConversationMutation:
    @strawberry.mutation(description="Start a chat with an active bot; returns its chat token.")
    async def start_conversation(
        self, info: Info, input: StartConversationInput
    ) -> StartConversationPayload:
        with graphql_errors():
            await hit(
                settings.RATE_LIMIT_CONVERSATION_START,
                "conversation-start",
                client_ip(info.context.request),
                what="conversations started",
            )
            bot_id = pk_from_global_id(input.bot_id, "Bot", field="bot_id")
            scenario_id = (
                pk_from_global_id(input.scenario_id, "Scenario", field="scenario_id")
                if input.scenario_id
                else None
            )
            conversation, token = await sync_to_async(services.conversation_start)(
                user=info.context.user,
                bot_id=bot_id,
                scenario_id=scenario_id,
                user_session=input.user_session or "",
            )
        return StartConversationPayload(conversation=conversation, chat_token=token)

    @strawberry.mutation(
        description="Send a visitor message; returns at once while the reply is generated."
    )
    async def send_message(self, info: Info, input: SendMessageInput) -> SendMessagePayload:
        with graphql_errors():
            _, user_message, reply = await send(info, input)
        return SendMessagePayload(user_message=user_message, reply=reply)

    @strawberry_django.mutation(handle_django_errors=True)
    async def stop_generation(self, info: Info, input: StopGenerationInput) -> Message:
        message = await message_for(info, input.message_id)
        return await stop_generation(message)

    @strawberry_django.mutation(handle_django_errors=True)
    async def mark_messages_read(self, info: Info, input: MarkMessagesReadInput) -> Conversation:
        conversation = await conversation_for(info, input.conversation_id)
        ids = None
        if input.message_ids:
            ids = [pk_from_global_id(g, "Message", field="message_ids") for g in input.message_ids]
        await sync_to_async(services.messages_mark_read)(conversation=conversation, message_ids=ids)
        return conversation

    @strawberry_django.mutation(handle_django_errors=True)
    async def delete_conversation(self, info: Info, input: DeleteConversationInput) -> Conversation:
        conversation = await conversation_for(info, input.id, field="id")
        deleted = await sync_to_async(services.conversation_delete)(conversation=conversation)
        await end_conversation(deleted.pk)
        return deleted
