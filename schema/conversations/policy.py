"""API policy for visitor messages: the rate limits, shared by sendMessage, chat and
regenerateReply."""

from collections.abc import Awaitable, Callable

from django.conf import settings

from conversations import services
from conversations.models import Conversation, Message
from core.ratelimit import client_ip, hit
from schema.context import Info


def _admission(info: Info, conversation: Conversation) -> Callable[[], Awaitable[None]]:
    async def admit() -> None:
        await hit(
            settings.RATE_LIMIT_MESSAGES_PER_CONVERSATION,
            "messages-conversation",
            str(conversation.pk),
            what="messages in this conversation",
        )
        ip = client_ip(info.context.request)
        await hit(settings.RATE_LIMIT_MESSAGES_PER_IP, "messages-ip", ip, what="messages")

    return admit


async def message_accept(
    info: Info, conversation: Conversation, text: str
) -> tuple[Message, Message]:
    """Accept a message through the domain service, counted against the rate limits."""
    admit = _admission(info, conversation)
    return await services.message_accept(conversation=conversation, text=text, admit=admit)


async def reply_regenerate(info: Info, conversation: Conversation, message: Message) -> Message:
    """Regenerate a reply, counted as a message (it costs a generation like one)."""
    admit = _admission(info, conversation)
    return await services.reply_regenerate_accept(
        conversation=conversation, message=message, admit=admit
    )
