"""The turn lifecycle: start, run, stop and sweep a visitor turn's replies.

A turn runs as an asyncio task in the process that accepted the message, surviving
client disconnects: the scenario engine, then free LLM chat. Its first output fills the
reply slot created by `message_send`; later outputs are new assistant messages. Every
message the turn creates ends in a terminal state (complete, failed with a code,
stopped with its partial text), and `turn_done` is published last, so
`replay.turn_events` (the `chat` subscription) knows when the turn is over. A process
that dies mid-turn leaves its message active; `sweep_orphans` (run periodically by
conversations.sweeper) marks it interrupted.
"""

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import time
import uuid
import weakref
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError
from django.utils import timezone

from bots.models import Step, StepType
from bots.templating import RenderBudgetExceeded
from conversations import budgets, events, handoff, lifecycle, suggestions, transitions
from conversations.engine.runner import (
    Output,
    ScenarioRun,
    StepLimitExceeded,
    run_scenario_turn,
    state_of,
)
from conversations.generation import build_request, stream_reply
from conversations.llm import LLMError, LLMErrorCode, LLMRequest
from conversations.llm.base import estimate_tokens
from conversations.models import Conversation, HandoffSource, Message, MessageStatus
from conversations.selectors import history_for
from conversations.streaming import ReplyWriter, StopRequested
from core import metrics
from core.exceptions import NotFound
from knowledge import retrieval
from knowledge.citations import citations_of
from overrides.prepared import PreparedQuery

logger = logging.getLogger(__name__)

# running turns -> their conversation id (to stop them when it is deleted)
_turns: dict[asyncio.Task, int] = {}
# turns cancelled because their conversation was deleted (not a shutdown: not interrupted)
_deleted_turns: "weakref.WeakSet[asyncio.Task]" = weakref.WeakSet()
# message id -> the task streaming into it right now (for a local, immediate stop)
_generating: dict[int, asyncio.Task] = {}
_stopping: set[int] = set()


def start_turn(
    conversation_id: int, user_message_id: int, reply_id: int, *, regenerate: bool = False
) -> asyncio.Task:
    """Run the turn in the background; the task is kept so it can be stopped locally.

    `regenerate`: the reply slot is a new version of the turn's last reply, generated
    again for the same visitor message (no scenario step runs again).

    It runs in a fresh context: the request's context carries asgiref's per-request
    thread executor, which is gone once the response is sent.
    """
    task = asyncio.get_running_loop().create_task(
        run_turn(user_message_id, reply_id, regenerate=regenerate), context=contextvars.Context()
    )
    _turns[task] = conversation_id
    task.add_done_callback(lambda done: _turns.pop(done, None))
    return task


async def end_conversation(conversation_id: int) -> None:
    """After a conversation's delete commits: stop its turns in this process and end every
    subscription to it, in any process, with a `deleted` event.

    A turn in another process stops at its next persist, which finds its row gone.
    """
    for task, owner in list(_turns.items()):
        if owner == conversation_id:
            _deleted_turns.add(task)
            task.cancel()
    await events.publish(conversation_id, events.ConversationDeleted(conversation_id))


def stop_local(message_id: int) -> bool:
    """Cancel the generation of `message_id` if this process runs it."""
    task = _generating.get(message_id)
    if task is None or task.done():
        return False
    _stopping.add(message_id)
    task.cancel()
    return True


def active_count() -> int:
    return len(_turns)


async def finish_untouched(message: Message, status: str, *, error: str = "", code: str = ""):
    """Finish a message that no writer could finish (stopped before start, crash)."""
    await transitions.finish(message, status, error=error, error_code=code)


async def stop_generation(message: Message, *, wait: float = 3.0) -> Message:
    """Stop a reply wherever it is generated; partial text is kept.

    Locally the task is cancelled; in another process the `stop_requested` flag is seen at
    its next persist. A reply whose generator is gone (stale heartbeat) is stopped here.
    """
    if message.is_terminal:
        return message
    task = _generating.get(message.pk)
    if task is not None and stop_local(message.pk):
        await _wait_terminal(message.pk, wait)
    else:
        await Message.objects.filter(pk=message.pk).aupdate(stop_requested=True)
        cutoff = timezone.now() - timedelta(seconds=settings.GENERATION_STALE_AFTER)
        if message.updated_at < cutoff:
            await finish_untouched(message, MessageStatus.STOPPED)
        await _wait_terminal(message.pk, wait)
    current = await Message.objects.filter(pk=message.pk).afirst()
    if current is None:
        raise NotFound("Message not found.")  # its conversation was deleted meanwhile
    return current


async def _wait_terminal(message_id: int, wait: float) -> None:
    deadline = asyncio.get_running_loop().time() + wait
    while asyncio.get_running_loop().time() < deadline:
        current = await Message.objects.filter(pk=message_id).afirst()
        if current is None or current.is_terminal:
            return
        await asyncio.sleep(0.05)


async def sweep_orphans() -> int:
    """Mark stale active messages interrupted (partial text kept); returns how many.

    A live generation persists at least every GENERATION_HEARTBEAT seconds, so an active
    message untouched for GENERATION_STALE_AFTER has no generator anywhere (any process).
    """
    cutoff = timezone.now() - timedelta(seconds=settings.GENERATION_STALE_AFTER)
    count = await transitions.interrupt_stale(cutoff)
    if count:
        logger.warning("marked %d orphaned replies interrupted", count)
    return count


class TurnStopped(Exception):
    """The visitor stopped a reply: the rest of the turn is dropped."""


class TurnOutputs:
    def __init__(self, conversation: Conversation, reply: Message) -> None:
        self.conversation = conversation
        self.reply = reply
        self.count = 0
        # Messages of this turn not known to be terminal yet: none left at the end of a
        # turn spares `_finish_leftovers` its query.
        self.unfinished = {reply.pk}
        # While a ReplyWriter is open its persists are the reply's heartbeat (at least
        # every GENERATION_HEARTBEAT): the turn's own heartbeat pauses meanwhile.
        self.writing = False
        # The turn's last finished output and its step (what suggestions follow).
        self.last: tuple[Message, Step | None] | None = None

    async def _next_message(self, step: Step | None) -> Message:
        step_id = step.pk if step else None
        self.count += 1
        if self.count == 1:
            if step_id:
                self.reply.step_id = step_id
                await Message.objects.filter(pk=self.reply.pk).aupdate(step_id=step_id)
            return self.reply
        try:
            message = await transitions.areply_slot(conversation=self.conversation, step_id=step_id)
        except IntegrityError:
            if not await Conversation.objects.filter(pk=self.conversation.pk).aexists():
                raise StopRequested() from None  # deleted mid-turn: the turn ends here
            raise
        self.unfinished.add(message.pk)
        return message

    async def emit(self, output: Output) -> str:
        """Send one output (fixed text, or an LLM reply to a prompt); returns its text."""
        message = await self._next_message(output.step)
        self.writing = True
        try:
            async with ReplyWriter(message, bot_id=self.conversation.bot_id) as writer:
                if output.prompt is None and output.text is not None:
                    await writer.write(output.text)
                    self.last = (await writer.finish(MessageStatus.COMPLETE), output.step)
                    self.unfinished.discard(message.pk)
                    return output.text
                await self._check_budget(writer, output.step)
                history = await sync_to_async(history_for)(self.conversation, before_id=message.pk)
                hits = await self._knowledge(output, history)
                writer.citations = citations_of(hits)
                request = build_request(self.conversation, history, output.prompt, hits)
                finished = await generate_into(
                    writer, dataclasses.replace(request, variant=message.version - 1)
                )
                self.last = (finished, output.step)
                self.unfinished.discard(message.pk)
        finally:
            self.writing = False
        if finished.status == MessageStatus.STOPPED:
            raise TurnStopped()
        return finished.content

    async def _check_budget(self, writer: ReplyWriter, step: Step | None) -> None:
        """Refuse the LLM reply about to start if a token budget of the bot is used up:
        it fails with code budget_exceeded and the owner's text as its content, and the
        turn ends there (scripted steps cost no tokens and are never refused)."""
        bot = self.conversation.bot
        refusal = await budgets.refusal(conversation_id=self.conversation.pk, bot=bot)
        if refusal is None:
            return
        await writer.write(refusal.visitor_text)
        code = LLMErrorCode.BUDGET_EXCEEDED.value
        finished = await writer.finish(MessageStatus.FAILED, error=refusal.error, error_code=code)
        self.last = (finished, step)
        self.unfinished.discard(writer.message_id)
        raise TurnStopped()

    async def _knowledge(self, output: Output, history: list[Message]) -> list[retrieval.Hit]:
        """The bot's passages for this reply, if it answers from its documents: an llm
        step's `knowledge` option, else the bot's setting. The query is the visitor's
        last message and the step's prompt."""
        wanted = self.conversation.bot.knowledge_enabled
        if output.step is not None and output.step.content.get("knowledge") is not None:
            wanted = output.step.content["knowledge"]
        if not wanted:
            return []
        visitor = next((m.content for m in reversed(history) if m.role == "user"), "")
        query = f"{visitor}\n{output.prompt or ''}".strip()
        return await retrieval.retrieve(bot_id=self.conversation.bot_id, query=query)

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
    updated = events.ConversationUpdated(
        conversation.pk,
        variables=state.variables,
        private_variables=state.private_variables,
        is_completed=state.is_completed,
        updated_at=conversation.updated_at,
    )
    await events.publish(conversation.pk, updated)


async def _regenerated(conversation: Conversation, reply: Message) -> Output:
    """The output a regenerated reply streams: an `llm` step's prompt rendered again with
    the conversation's variables, else a free chat reply (scripted text is refused by
    `services.reply_regenerate`)."""
    step = await Step.objects.filter(pk=reply.step_id).afirst() if reply.step_id else None
    if step is None or step.step_type != StepType.LLM:
        return Output(step=None, text=None, prompt=None)
    run = ScenarioRun([], state_of(conversation), emit=None)
    return Output(step=step, text=None, prompt=await run.render(step.content["prompt"]))


async def _run(
    conversation: Conversation, outputs: TurnOutputs, text: str, *, regenerate: bool = False
) -> None:
    if regenerate:
        await outputs.emit(await _regenerated(conversation, outputs.reply))
        return
    handled = False
    if conversation.scenario_id:
        steps = [s async for s in Step.objects.filter(scenario_id=conversation.scenario_id)]
        state = state_of(conversation)
        try:
            handled = await run_scenario_turn(steps, state, text, outputs.emit)
        finally:
            await _save_state(conversation, state)
        if state.handoff_requested:
            await _hand_off(conversation)
            return
    if not handled or outputs.count == 0:
        await outputs.free_reply()


# The turn's reply and visitor message, with the conversation, bot and current step.
_turn_messages = PreparedQuery(
    lambda a, b: (
        Message.objects.select_related("conversation__bot", "conversation__current_step")
        .filter(pk__in=(a, b))
        .order_by()
    ),
    ints=("a", "b"),
)


async def _hand_off(conversation: Conversation) -> None:
    """A `handoff` step ran: ask for a human (the owner put the step there, so the
    bot's `handoff_enabled`, which governs visitors' requests, is not asked)."""
    try:
        await handoff.arequest(conversation=conversation, source=HandoffSource.STEP)
    except ValidationError as exc:  # already waiting or answered by a human
        logger.info("handoff step of conversation %s: %s", conversation.pk, exc.messages)


async def run_turn(user_message_id: int, reply_id: int, *, regenerate: bool = False) -> None:
    rows = {
        m.pk: m for m in await sync_to_async(_turn_messages.fetch)(a=reply_id, b=user_message_id)
    }
    reply, user_message = rows.get(reply_id), rows.get(user_message_id)
    if reply is None or user_message is None:
        return  # the conversation was deleted before its turn began
    conversation = reply.conversation
    outputs = TurnOutputs(conversation, reply)
    heartbeat = asyncio.create_task(_keep_alive(conversation.pk, user_message_id, outputs))
    try:
        await _run(conversation, outputs, user_message.content, regenerate=regenerate)
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
    finally:
        heartbeat.cancel()
    if outputs.unfinished:
        await _finish_leftovers(conversation.pk, user_message_id)
    # A failed write only makes it expire earlier (counted from the visitor message).
    with contextlib.suppress(DatabaseError):
        await lifecycle.touch(conversation, conversation.bot)
    await _suggest(conversation, outputs)
    await events.publish(conversation.pk, events.TurnDone(conversation.pk, user_message_id))


async def _suggest(conversation: Conversation, outputs: TurnOutputs) -> None:
    """Suggestions for the turn's last reply, if the bot makes them, it completed, and it
    does not ask a scenario question (the visitor's answer is expected). Its terminal
    event is out already: this only delays the internal `TurnDone`, within the bound of
    `suggestions.suggest_for`, and can fail nothing."""
    bot = conversation.bot
    if not bot.suggestions_enabled or outputs.last is None:
        return
    reply, step = outputs.last
    if reply.status != MessageStatus.COMPLETE or not reply.content.strip():
        return
    if step is not None and step.step_type == StepType.QUESTION:
        return
    try:
        await suggestions.suggest_for(bot, reply)
    except Exception:
        logger.exception("suggestions failed for message %s", reply.pk)


async def _keep_alive(conversation_id: int, user_message_id: int, outputs: TurnOutputs) -> None:
    """The turn's heartbeat while it runs (transitions.keep_alive says why), except while
    a writer streams: its persists are the heartbeat then (the profile at N=50 had this
    loop at 11 % of the server's CPU when it also ran during generation)."""
    while True:
        await asyncio.sleep(settings.GENERATION_HEARTBEAT)
        if outputs.writing:
            continue
        try:
            await transitions.keep_alive(conversation_id=conversation_id, after_id=user_message_id)
        except DatabaseError:
            logger.warning("turn heartbeat failed; retrying", exc_info=True)


async def _fail_turn(outputs: TurnOutputs, error: str, code: str) -> None:
    with contextlib.suppress(StopRequested):  # nothing to fail in a deleted conversation
        message = outputs.reply if outputs.count == 0 else await outputs._next_message(None)
        await finish_untouched(message, MessageStatus.FAILED, error=error, code=code)
        outputs.unfinished.discard(message.pk)


async def _finish_leftovers(conversation_id: int, user_message_id: int) -> None:
    """No message of this turn stays pending: an unused reply slot is stopped (run when
    the turn holds a message it did not see end, `TurnOutputs.unfinished`)."""
    leftovers = Message.objects.filter(
        conversation_id=conversation_id,
        pk__gt=user_message_id,
        status__in=(MessageStatus.PENDING, MessageStatus.STREAMING),
    )
    async for message in leftovers:
        await finish_untouched(message, MessageStatus.STOPPED)


async def generate_into(writer: ReplyWriter, request: LLMRequest) -> Message:
    """Stream an LLM reply into the writer's message and finish it, whatever happens."""
    message_id = writer.message_id
    writer.prompt_estimate = sum(estimate_tokens(m.content) for m in request.messages)
    _generating[message_id] = asyncio.current_task()
    started = time.monotonic()
    metrics.generation_started()
    message = None
    outcome = "interrupted"
    try:
        message = await _generate(writer, request)
        outcome = message.status
        return message
    except StopRequested:
        outcome = "deleted"  # only a finish that found no row lets it out of _generate
        raise
    except asyncio.CancelledError:
        if asyncio.current_task() in _deleted_turns:
            outcome = "deleted"
        raise
    finally:
        _generating.pop(message_id, None)
        _observe(writer, message, started, outcome)


async def _generate(writer: ReplyWriter, request: LLMRequest) -> Message:
    try:
        await stream_reply(writer, request)
    except LLMError as exc:
        return await writer.finish(MessageStatus.FAILED, error=exc.message, error_code=exc.code)
    except TimeoutError:
        limit = settings.GENERATION_MAX_SECONDS
        error = f"The reply took longer than {limit:g} s and was cut off."
        return await writer.finish(MessageStatus.FAILED, error=error, error_code="timeout")
    except StopRequested:
        return await writer.finish(MessageStatus.STOPPED)
    except asyncio.CancelledError:
        if writer.message_id in _stopping:
            _stopping.discard(writer.message_id)
            return await writer.finish(MessageStatus.STOPPED)
        raise
    return await writer.finish(MessageStatus.COMPLETE)


def _observe(writer: ReplyWriter, message: Message | None, started: float, outcome: str) -> None:
    metrics.generation_finished(time.monotonic() - started, outcome)
    if writer.first_token_at is not None:
        metrics.observe_first_token(writer.first_token_at - started)
    if writer.usage is not None:
        metrics.count_tokens(
            writer.bot_id,
            writer.usage.prompt_tokens,
            writer.usage.completion_tokens,
        )
    if message is not None and message.error_code:
        metrics.count_error(message.error_code)
