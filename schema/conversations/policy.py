"""API policy for visitors: the rate limits of messages (sendMessage, chat,
regenerateReply and requestHandoff) and of ratings (rateMessage)."""

from collections.abc import Awaitable, Callable

from django.conf import settings

from conversations import services
from conversations.models import Conversation, Message
from core.ratelimit import client_ip, hit
from schema.context import Info


async def _count(info: Info, conversation_id: int, *, kind: str, what: str) -> None:
    """Count one `kind` ("messages", "feedback") against its conversation's limit, then
    its client address's (settings RATE_LIMIT_<KIND>_PER_CONVERSATION / _PER_IP)."""
    setting = f"RATE_LIMIT_{kind.upper()}"
    await hit(
        getattr(settings, f"{setting}_PER_CONVERSATION"),
        f"{kind}-conversation",
        str(conversation_id),
        what=f"{what} in this conversation",
    )
    ip = client_ip(info.context.request)
    await hit(getattr(settings, f"{setting}_PER_IP"), f"{kind}-ip", ip, what=what)


async def conversation_start_admit(info: Info) -> None:
    """Count a conversation opened (startConversation, resetConversation) against the
    client address's limit."""
    await hit(
        settings.RATE_LIMIT_CONVERSATION_START,
        "conversation-start",
        client_ip(info.context.request),
        what="conversations started",
    )


def _admission(info: Info, conversation: Conversation) -> Callable[[], Awaitable[None]]:
    async def admit() -> None:
        await _count(info, conversation.pk, kind="messages", what="messages")

    return admit


async def message_accept(
    info: Info, conversation: Conversation, text: str
) -> tuple[Message, Message | None]:
    """Accept a message through the domain service, counted against the rate limits."""
    admit = _admission(info, conversation)
    return await services.message_accept(conversation=conversation, text=text, admit=admit)


async def reply_regenerate(info: Info, conversation: Conversation, message: Message) -> Message:
    """Regenerate a reply, counted as a message (it costs a generation like one)."""
    admit = _admission(info, conversation)
    return await services.reply_regenerate_accept(
        conversation=conversation, message=message, admit=admit
    )


async def feedback_admit(info: Info, message: Message) -> None:
    """Count a rating (rateMessage) against its conversation's and its address's limits."""
    await _count(info, message.conversation_id, kind="feedback", what="ratings")


async def handoff_admit(info: Info, conversation: Conversation) -> None:
    """Count a request for a human (requestHandoff) as a message: each one notifies the
    bot's operators, so it is bounded like one."""
    await _count(info, conversation.pk, kind="messages", what="messages")
