"""Chat mutations: start, send, regenerate, stop, rate, mark read, delete."""

import strawberry
import strawberry_django
from asgiref.sync import sync_to_async
from strawberry import relay

from conversations import events, services
from conversations.turns import end_conversation, stop_generation
from schema.common import pk_from_global_id
from schema.context import Info
from schema.conversations.access import (
    any_conversation_for,
    conversation_for,
    ensure_visitor_side,
    message_for,
    visitor_message_for,
)
from schema.conversations.inputs import (
    DeleteConversationInput,
    MarkMessagesReadInput,
    RateMessageInput,
    RegenerateReplyInput,
    ResetConversationInput,
    SendMessageInput,
    StartConversationInput,
    StopGenerationInput,
)
from schema.conversations.policy import (
    conversation_start_admit,
    feedback_admit,
    message_accept,
    reply_regenerate,
)
from schema.conversations.types import (
    Conversation,
    Message,
    RateMessagePayload,
    RegenerateReplyPayload,
    ResetConversationPayload,
    SendMessagePayload,
    StartConversationPayload,
)
from schema.errors import graphql_errors


@strawberry.type
class ConversationMutation:
    @strawberry.mutation(description="Start a chat with an active bot; returns its chat token.")
    async def start_conversation(
        self, info: Info, input: StartConversationInput
    ) -> StartConversationPayload:
        with graphql_errors():
            await conversation_start_admit(info)
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
                variables=input.variables,
            )
        return StartConversationPayload(conversation=conversation, chat_token=token)

    @strawberry.mutation(
        description="A fresh conversation (new chat token) on the same bot, scenario and "
        "user session; the old one is closed. Accepts an expired conversation's token."
    )
    async def reset_conversation(
        self, info: Info, input: ResetConversationInput
    ) -> ResetConversationPayload:
        with graphql_errors():
            old = await any_conversation_for(info, input.conversation_id)
            was_open = old.closed_at is None
            await conversation_start_admit(info)
            conversation, token = await sync_to_async(services.conversation_reset)(
                user=info.context.user, conversation=old
            )
        if was_open and old.closed_at is not None:  # closed now: end its streams
            await events.publish(old.pk, events.expired(old))
        return ResetConversationPayload(conversation=conversation, chat_token=token)

    @strawberry.mutation(
        description="Send a visitor message; returns at once while the reply is generated."
    )
    async def send_message(self, info: Info, input: SendMessageInput) -> SendMessagePayload:
        with graphql_errors():
            conversation = await conversation_for(info, input.conversation_id, busy=True)
            ensure_visitor_side(info, conversation)
            user_message, reply = await message_accept(info, conversation, input.text)
        return SendMessagePayload(user_message=user_message, reply=reply)

    @strawberry.mutation(
        description="Generate the conversation's last reply again, as a new version "
        "(earlier ones are kept); returns at once while it is generated."
    )
    async def regenerate_reply(
        self, info: Info, input: RegenerateReplyInput
    ) -> RegenerateReplyPayload:
        with graphql_errors():
            message = await message_for(info, input.message_id)
            conversation = await conversation_for(
                info, relay.GlobalID("Conversation", str(message.conversation_id))
            )
            ensure_visitor_side(info, conversation)
            reply = await reply_regenerate(info, conversation, message)
        return RegenerateReplyPayload(reply=reply)

    @strawberry_django.mutation(handle_django_errors=True)
    async def stop_generation(self, info: Info, input: StopGenerationInput) -> Message:
        message = await message_for(info, input.message_id)
        return await stop_generation(message)

    @strawberry.mutation(
        description="Rate a bot reply of the conversation your chat token opens: UP or DOWN "
        "with an optional comment; rating null revokes it. Rating again changes it."
    )
    async def rate_message(self, info: Info, input: RateMessageInput) -> RateMessagePayload:
        with graphql_errors():
            message = await visitor_message_for(info, input.message_id)
            await feedback_admit(info, message)
            rated = await sync_to_async(services.message_rate)(
                message=message,
                rating=input.rating.value if input.rating else None,
                comment=input.comment,
            )
        return RateMessagePayload(message=rated)

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
        ensure_visitor_side(info, conversation)
        deleted = await sync_to_async(services.conversation_delete)(conversation=conversation)
        await end_conversation(deleted.pk)
        return deleted
