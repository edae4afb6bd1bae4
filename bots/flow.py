"""The next-step rule, in one place: the engine follows it, the scenario checks read it.

After a step the engine runs the step's `next_step`, else the next one by `order` (then
creation); a message or LLM step with `"end": true` ends the scenario instead. A condition
jumps to the target of its first matching branch, else to its default target, else to the
next step; an API call to its `error_target` on failure, else to the next step. A target
that names no step of the scenario ends the turn (saving reports such scenarios).
"""

from collections.abc import Iterable

from bots.content import step_ends_scenario, step_targets
from bots.models import Step, StepType


class StepFlow:
    """The steps of one scenario in run order, and which may follow which."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps = sorted(steps, key=lambda s: (s.order, s.pk))
        self.by_name = {s.name: s for s in self.steps}
        self.by_id = {s.pk: s for s in self.steps}
        self._position = {s.pk: index for index, s in enumerate(self.steps)}

    def next_of(self, step: Step) -> Step | None:
        """`next_step` if set, else the following step by order."""
        if step.next_step_id:
            return self.by_id.get(step.next_step_id)
        index = self._position[step.pk] + 1
        return self.steps[index] if index < len(self.steps) else None

    def target(self, name: str | None, fallback: Step) -> Step | None:
        """The step named ``name``, or when no name is given the one after ``fallback``."""
        return self.by_name.get(name) if name else self.next_of(fallback)

    def after(self, step: Step, following: Step | None) -> Step | None:
        """``following`` unless ``step`` ends the scenario."""
        return None if step_ends_scenario(step.content) else following

    def successors(self, step: Step) -> list[Step]:
        """Every step the engine may run after ``step``, whatever the visitor's input."""
        if step_ends_scenario(step.content):
            return []
        targets = [
            self.by_name[name]
            for name in step_targets(step.step_type, step.content)
            if name in self.by_name
        ]
        following = self.next_of(step)
        if step.step_type == StepType.CONDITION and step.content.get("default_target"):
            return targets  # some target always matches: no fall-through
        return [s for s in [*targets, following] if s is not None]
