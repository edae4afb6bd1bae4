"""One visitor turn, run in the background: the scenario engine, then free LLM chat.

The turn's first output fills the reply slot created by `message_send`; later outputs
are new assistant messages. Every message the turn creates ends in a terminal state,
and `turn_done` is published last, so `chat` subscriptions know when to complete.
"""

import asyncio
import contextlib
import logging
import uuid

from asgiref.sync import sync_to_async
from django.db import IntegrityError

from bots.models import Step
from bots.templating import RenderBudgetExceeded
from conversations import events
from conversations.engine.runner import Output, StepLimitExceeded, run_scenario_turn, state_of
from conversations.generation import build_request, finish_untouched, generate_into
from conversations.models import Conversation, Message, MessageRole, MessageStatus
from conversations.selectors import history_for
from conversations.streaming import ReplyWriter, StopRequested

logger = logging.getLogger(__name__)


class TurnStopped(Exception):
    """The visitor stopped a reply: the rest of the turn is dropped."""


class TurnOutputs:
    def __init__(self, conversation: Conversation, reply: Message) -> None:
        self.conversation = conversation
        self.reply = reply
        self.count = 0

    async def _next_message(self, step: Step | None) -> Message:
        step_id = step.pk if step else None
        self.count += 1
        if self.count == 1:
            if step_id:
                self.reply.step_id = step_id
                await Message.objects.filter(pk=self.reply.pk).aupdate(step_id=step_id)
            return self.reply
        try:
            message = await Message.objects.acreate(
                conversation=self.conversation,
                role=MessageRole.ASSISTANT,
                status=MessageStatus.PENDING,
                step_id=step_id,
            )
        except IntegrityError:
            if not await Conversation.objects.filter(pk=self.conversation.pk).aexists():
                raise StopRequested() from None  # deleted mid-turn: the turn ends here
            raise
        await events.publish(self.conversation.pk, events.created(message))
        return message

    async def emit(self, output: Output) -> str:
        """Send one output (fixed text, or an LLM reply to a prompt); returns its text."""
        message = await self._next_message(output.step)
        async with ReplyWriter(message, bot_id=self.conversation.bot_id) as writer:
            if output.prompt is None and output.text is not None:
                await writer.write(output.text)
                await writer.finish(MessageStatus.COMPLETE)
                return output.text
            history = await sync_to_async(history_for)(self.conversation, before_id=message.pk)
            finished = await generate_into(
                writer, build_request(self.conversation, history, output.prompt)
            )
        if finished.status == MessageStatus.STOPPED:
            raise TurnStopped()
        return finished.content

    async def free_reply(self) -> None:
        await self.emit(Output(step=None, text=None, prompt=None))


async def _save_state(conversation: Conversation, state) -> None:
    await Conversation.objects.filter(pk=conversation.pk).aupdate(
        variables=state.variables,
        private_variables=state.private_variables,
        current_step=state.current_step,
        scenario_started=state.scenario_started,
        awaiting_input=state.awaiting_input,
        is_completed=state.is_completed,
    )
    await events.publish(conversation.pk, events.conversation_updated(conversation))


async def _run(conversation: Conversation, outputs: TurnOutputs, text: str) -> None:
    handled = False
    if conversation.scenario_id:
        steps = [s async for s in Step.objects.filter(scenario_id=conversation.scenario_id)]
        state = state_of(conversation)
        try:
            handled = await run_scenario_turn(steps, state, text, outputs.emit)
        finally:
            await _save_state(conversation, state)
    if not handled or outputs.count == 0:
        await outputs.free_reply()


async def run_turn(user_message_id: int, reply_id: int) -> None:
    reply = (
        await Message.objects.select_related("conversation__bot", "conversation__current_step")
        .filter(pk=reply_id)
        .afirst()
    )
    user_message = await Message.objects.filter(pk=user_message_id).afirst()
    if reply is None or user_message is None:
        return  # the conversation was deleted before its turn began
    conversation = reply.conversation
    outputs = TurnOutputs(conversation, reply)
    try:
        await _run(conversation, outputs, user_message.content)
    except (TurnStopped, StopRequested):
        pass
    except (StepLimitExceeded, RenderBudgetExceeded) as exc:
        await _fail_turn(outputs, str(exc), exc.code)
    except asyncio.CancelledError:
        # The process is shutting down (the sweeper will mark the reply interrupted), or
        # the conversation was deleted (nothing is left to finish).
        raise
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        logger.exception("turn failed (error id %s, message %s)", error_id, reply_id)
        await _fail_turn(outputs, f"Internal error (id {error_id}).", "internal")
    await _finish_leftovers(conversation.pk, user_message_id)
    await events.publish(conversation.pk, events.turn_done(conversation.pk, user_message_id))


async def _fail_turn(outputs: TurnOutputs, error: str, code: str) -> None:
    with contextlib.suppress(StopRequested):  # nothing to fail in a deleted conversation
        message = outputs.reply if outputs.count == 0 else await outputs._next_message(None)
        await finish_untouched(message, MessageStatus.FAILED, error=error, code=code)


async def _finish_leftovers(conversation_id: int, user_message_id: int) -> None:
    """No message of this turn stays pending: an unused reply slot is stopped."""
    leftovers = Message.objects.filter(
        conversation_id=conversation_id,
        pk__gt=user_message_id,
        status__in=(MessageStatus.PENDING, MessageStatus.STREAMING),
    )
    async for message in leftovers:
        await finish_untouched(message, MessageStatus.STOPPED)
