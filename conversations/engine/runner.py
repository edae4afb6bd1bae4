"""The scenario engine: one visitor turn through a scenario's steps.

A turn runs steps until one needs input (a question) or the scenario ends; which step
follows which is the next-step rule of ``bots.flow``. A cap on steps per turn stops loops
with a clear error, and the templates a turn renders share one CPU budget
(``SCENARIO_RENDER_SECONDS``): a turn over it fails with code ``render_budget``. Templates
and owner regexes run off the event loop (``offload``).

The scenario starts with the visitor's first message. When it ends, the conversation is
marked completed; a `chat` bot then continues as free LLM chat (system prompt, history
and collected variables in context), a `completion` bot answers each message alone.
"""

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from bots.flow import StepFlow
from bots.models import Step, StepType
from bots.templating import RenderBudget, TemplateError, render
from conversations.engine.answers import validate_answer
from conversations.engine.conditions import first_match
from conversations.engine.http_call import perform_api_call
from conversations.engine.offload import off_loop
from conversations.models import Conversation

logger = logging.getLogger(__name__)
# What a visitor reads in `<variable>_error`; the reason is kept for the owner.
API_CALL_FAILED = "the lookup failed"
# What a `handoff` step says when its content has no text.
HANDOFF_TEXT = "Let me hand you over to a human operator."
# An output is either fixed text or a prompt to stream through the LLM.
Emit = Callable[["Output"], Awaitable[str]]


class StepLimitExceeded(Exception):
    code = "step_limit"


@dataclass
class Output:
    step: Step | None
    text: str = ""
    prompt: str | None = None  # set: stream an LLM reply to this prompt


@dataclass
class TurnState:
    """What the turn changes on the conversation; saved by the caller."""

    variables: dict[str, Any]  # visitors may read these
    current_step: Step | None
    scenario_started: bool
    awaiting_input: bool
    is_completed: bool
    # The owner only: raw API responses, why API calls failed.
    private_variables: dict[str, Any] = field(default_factory=dict)
    # A `handoff` step ran: the turn ends here and the caller asks for a human; the
    # scenario goes on from `current_step` once the conversation is handed back.
    handoff_requested: bool = False


def state_of(conversation: Conversation) -> TurnState:
    return TurnState(
        variables=dict(conversation.variables),
        private_variables=dict(conversation.private_variables),
        current_step=conversation.current_step,
        scenario_started=conversation.scenario_started,
        awaiting_input=conversation.awaiting_input,
        is_completed=conversation.is_completed,
    )


class ScenarioRun:
    """Walks the steps of one scenario (loaded once per turn)."""

    def __init__(self, steps: list[Step], state: TurnState, emit: Emit) -> None:
        # One CPU budget for every template the turn renders (texts, prompts, requests).
        self.budget = RenderBudget(settings.SCENARIO_RENDER_SECONDS)
        self.flow = StepFlow(steps)
        self.state = state
        self.emit = emit

    @property
    def template_variables(self) -> dict[str, Any]:
        """What templates and conditions see: both stores, the visitor's winning."""
        return {**self.state.private_variables, **self.state.variables}

    async def render(self, template: str) -> str:
        try:
            return await off_loop(render, template, self.template_variables, budget=self.budget)
        except TemplateError as exc:
            return f"[template error: {exc}]"

    async def answer(self, text: str) -> Step | bool | None:
        """Take the visitor's answer to the pending question; False means re-ask done."""
        step = self.state.current_step
        content = step.content
        validation = content.get("validation") or {"type": "text"}
        result = await off_loop(validate_answer, validation, text)
        if not result.ok:
            reask = content.get("reask_text") or content["text"]
            await self.emit(Output(step, text=f"{await self.render(reask)}\n{result.hint}".strip()))
            return False
        self.set_variable(content["variable"], result.value)
        self.state.awaiting_input = False
        return self.flow.next_of(step)

    def set_variable(self, name: str, value: Any, *, private: bool = False) -> bool:
        """Store a variable unless both stores would outgrow their cap (then: None).

        ``private``: in the owner-only store.
        """
        state = self.state
        store, other = (
            (state.private_variables, state.variables)
            if private
            else (state.variables, state.private_variables)
        )
        candidate = [{**store, name: value}, other]
        if len(json.dumps(candidate, default=str)) > settings.CONVERSATION_VARIABLES_MAX_BYTES:
            state.variables[name] = None
            state.variables[f"{name}_error"] = "value too large to keep"
            return False
        store[name] = value
        return True

    async def run_from(self, step: Step | None) -> None:
        limit = settings.SCENARIO_MAX_STEPS_PER_TURN
        executed = 0
        while step is not None:
            executed += 1
            if executed > limit:
                self.state.current_step = step
                raise StepLimitExceeded(
                    f"The scenario ran {limit} steps without waiting for input: "
                    "check it for a loop without a question."
                )
            self.state.current_step = step
            step = await self.execute(step)
            if self.state.awaiting_input:
                return
            if self.state.handoff_requested:
                self.state.current_step = step
                if step is None:
                    self.state.is_completed = True
                return
        self.state.current_step = None
        self.state.is_completed = True

    async def execute(self, step: Step) -> Step | None:
        return self.flow.after(step, await self._execute(step))

    async def _execute(self, step: Step) -> Step | None:
        content = step.content
        kind = step.step_type
        if kind == StepType.MESSAGE:
            await self.emit(Output(step, text=await self.render(content["text"])))
        elif kind == StepType.QUESTION:
            await self.emit(Output(step, text=await self.render(content["text"])))
            self.state.awaiting_input = True
            return step
        elif kind == StepType.CONDITION:
            name = await off_loop(first_match, content["branches"], self.template_variables)
            return self.flow.target(name or content.get("default_target"), step)
        elif kind == StepType.API_CALL:
            return await self.call_api(step)
        elif kind == StepType.HANDOFF:
            text = content.get("text") or HANDOFF_TEXT
            await self.emit(Output(step, text=await self.render(text)))
            self.state.handoff_requested = True
        elif kind == StepType.LLM:
            reply = await self.emit(Output(step, prompt=await self.render(content["prompt"])))
            if content.get("variable"):
                self.set_variable(content["variable"], reply)
        return self.flow.next_of(step)

    async def call_api(self, step: Step) -> Step | None:
        """Visitors read the ``select``ed value and a generic error; the owner the rest."""
        content = step.content
        result = await perform_api_call(
            content,
            self.template_variables,
            allow_hosts=settings.API_CALL_ALLOW_HOSTS,
            budget=self.budget,
        )
        variable = content["variable"]
        if result.ok:
            private = not content.get("select")  # a raw body is not the visitor's to read
            stale = self.state.variables if private else self.state.private_variables
            stale.pop(variable, None)
            if self.set_variable(variable, result.value, private=private):
                return self.flow.next_of(step)
            return self.flow.target(content.get("error_target"), step)
        detail = f"{result.error_code}: {result.error}"
        logger.info("api_call step %r failed: %s", step.name, detail)
        self.state.private_variables.pop(variable, None)
        self.set_variable(variable, None)
        self.set_variable(f"{variable}_error", API_CALL_FAILED)
        self.set_variable(f"{variable}_error", detail, private=True)
        return self.flow.target(content.get("error_target"), step)


async def run_scenario_turn(steps: list[Step], state: TurnState, text: str, emit: Emit) -> bool:
    """Advance the scenario for one visitor message; False when it had already ended."""
    if state.is_completed:
        return False
    run = ScenarioRun(steps, state, emit)
    if not state.scenario_started:
        state.scenario_started = True
        await run.run_from(state.current_step)
        return True
    if state.awaiting_input and state.current_step is not None:
        following = await run.answer(text)
        if following is False:
            return True
        await run.run_from(following)
        return True
    await run.run_from(state.current_step)
    return True
