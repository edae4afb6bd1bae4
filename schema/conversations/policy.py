"""API policy for visitor messages: the rate limits, shared by sendMessage and chat."""

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
