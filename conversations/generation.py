"""Background turns: fill the pending reply of a message, surviving client disconnects.

A turn runs as an asyncio task in the process that accepted the message. Its outcome is
always persisted: complete, failed (with a code), stopped (partial text kept). A process
that dies mid-turn leaves the message active; the sweeper marks it interrupted.
"""

import asyncio
import contextvars
import logging
import uuid
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from conversations import events
from conversations.llm import ChatMessage, LLMError, LLMRequest, get_provider
from conversations.models import Conversation, Message, MessageStatus
from conversations.selectors import history_for
from conversations.streaming import ReplyWriter, StopRequested

logger = logging.getLogger(__name__)

_tasks: dict[int, asyncio.Task] = {}
_stopping: set[int] = set()


def start_turn(user_message_id: int, reply_id: int) -> asyncio.Task:
    """Run the turn in the background; the task is kept so it can be stopped locally.

    It runs in a fresh context: the request's context carries asgiref's per-request
    thread executor, which is gone once the response is sent.
    """
    task = asyncio.get_running_loop().create_task(
        run_turn(user_message_id, reply_id), context=contextvars.Context()
    )
    _tasks[reply_id] = task
    task.add_done_callback(lambda _: _tasks.pop(reply_id, None))
    return task


def stop_local(message_id: int) -> bool:
    """Cancel the generation of `message_id` if this process runs it."""
    task = _tasks.get(message_id)
    if task is None or task.done():
        return False
    _stopping.add(message_id)
    task.cancel()
    return True


def active_count() -> int:
    return len(_tasks)


def build_request(conversation: Conversation, history: list[Message], prompt: str) -> LLMRequest:
    """Map the bot's settings to a provider request.

    `chat` bots send the history; `completion` bots only the prompt. Collected scenario
    variables go into the system prompt so free chat keeps what the scenario learnt.
    """
    bot = conversation.bot
    system = bot.system_prompt.strip()
    if conversation.variables:
        facts = "\n".join(f"- {k}: {v}" for k, v in sorted(conversation.variables.items()))
        system = f"{system}\n\nKnown facts about the visitor:\n{facts}".strip()
    messages = [ChatMessage("system", system)] if system else []
    if bot.bot_type == "chat":
        messages += [ChatMessage(m.role, m.content) for m in history]
    messages.append(ChatMessage("user", prompt))
    return LLMRequest(
        model=bot.model or settings.DEFAULT_MODEL,
        messages=tuple(messages),
        temperature=bot.temperature,
        max_tokens=bot.max_tokens,
        hint=f"{bot.name}. {bot.description}",
    )


async def generate_into(writer: ReplyWriter, request: LLMRequest) -> Message:
    """Stream an LLM reply into the writer's message and finish it, whatever happens."""
    message_id = writer.message_id
    try:
        await writer.pump(get_provider().stream(request))
    except LLMError as exc:
        return await writer.finish(MessageStatus.FAILED, error=exc.message, error_code=exc.code)
    except StopRequested:
        return await writer.finish(MessageStatus.STOPPED)
    except asyncio.CancelledError:
        if message_id in _stopping:
            _stopping.discard(message_id)
            return await writer.finish(MessageStatus.STOPPED)
        raise
    return await writer.finish(MessageStatus.COMPLETE)


async def run_turn(user_message_id: int, reply_id: int) -> None:
    reply = await Message.objects.select_related("conversation__bot").aget(pk=reply_id)
    conversation = reply.conversation
    user_message = await Message.objects.aget(pk=user_message_id)
    try:
        async with ReplyWriter(reply) as writer:
            history = await _history(conversation, user_message_id)
            await generate_into(writer, build_request(conversation, history, user_message.content))
    except StopRequested:
        await _finish_untouched(reply, MessageStatus.STOPPED)
    except asyncio.CancelledError:
        raise
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        logger.exception("turn failed (error id %s, message %s)", error_id, reply_id)
        await _finish_untouched(
            reply, MessageStatus.FAILED, error=f"Internal error (id {error_id}).", code="internal"
        )
    finally:
        await events.publish(conversation.pk, events.turn_done(conversation.pk, user_message_id))


async def _history(conversation: Conversation, before_id: int) -> list[Message]:
    return await sync_to_async(history_for)(conversation, before_id=before_id)


async def _finish_untouched(message: Message, status: str, *, error: str = "", code: str = ""):
    """Finish a message that no writer could finish (stopped before start, crash)."""
    refreshed = await Message.objects.filter(pk=message.pk).afirst()
    if refreshed is None or refreshed.is_terminal:
        return
    refreshed.status, refreshed.error, refreshed.error_code = status, error, code
    await refreshed.asave(update_fields=["status", "error", "error_code", "updated_at"])
    await events.publish(refreshed.conversation_id, events.finished(refreshed))


async def stop_generation(message: Message, *, wait: float = 3.0) -> Message:
    """Stop a reply wherever it is generated; partial text is kept.

    Locally the task is cancelled; in another process the `stop_requested` flag is seen at
    its next persist. A reply whose generator is gone (stale heartbeat) is stopped here.
    """
    if message.is_terminal:
        return message
    task = _tasks.get(message.pk)
    if stop_local(message.pk) and task is not None:
        await asyncio.wait({task}, timeout=wait)
    else:
        await Message.objects.filter(pk=message.pk).aupdate(stop_requested=True)
        cutoff = timezone.now() - timedelta(seconds=settings.GENERATION_STALE_AFTER)
        if message.updated_at < cutoff:
            await _finish_untouched(message, MessageStatus.STOPPED)
        deadline = asyncio.get_running_loop().time() + wait
        while asyncio.get_running_loop().time() < deadline:
            current = await Message.objects.aget(pk=message.pk)
            if current.is_terminal:
                return current
            await asyncio.sleep(0.05)
    return await Message.objects.aget(pk=message.pk)
