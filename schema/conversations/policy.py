"""API policy for visitors: the rate limits of messages (sendMessage and chat) and ratings."""

from django.conf import settings

from conversations import services
from conversations.models import Conversation, Message
from core.ratelimit import client_ip, hit
from schema.context import Info


async def message_accept(
    info: Info, conversation: Conversation, text: str
) -> tuple[Message, Message]:
    """Accept a message through the domain service, counted against the rate limits."""

    async def admit() -> None:
        await hit(
            settings.RATE_LIMIT_MESSAGES_PER_CONVERSATION,
            "messages-conversation",
            str(conversation.pk),
            what="messages in this conversation",
        )
        ip = client_ip(info.context.request)
        await hit(settings.RATE_LIMIT_MESSAGES_PER_IP, "messages-ip", ip, what="messages")

    return await services.message_accept(conversation=conversation, text=text, admit=admit)


async def feedback_admit(info: Info, message: Message) -> None:
    """Count a rating (rateMessage) against its conversation's and its address's limits."""
    await hit(
        settings.RATE_LIMIT_FEEDBACK_PER_CONVERSATION,
        "feedback-conversation",
        str(message.conversation_id),
        what="ratings in this conversation",
    )
    ip = client_ip(info.context.request)
    await hit(settings.RATE_LIMIT_FEEDBACK_PER_IP, "feedback-ip", ip, what="ratings")
