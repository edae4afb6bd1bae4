"""Whole-scenario checks: the step graph, not one step's content.

Errors make a scenario unusable (it cannot be activated): no initial step, a target that
names no step of the scenario, a loop that never waits for the visitor (it would hit the
per-turn step cap every time). Warnings point at likely mistakes: steps no path reaches.
"""

from dataclasses import dataclass, field

from bots.content import step_targets, step_waits_for_input
from bots.flow import StepFlow
from bots.models import Scenario, Step

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class ScenarioIssue:
    """One problem, with the names of the steps it concerns (none for the scenario's own),
    so a client can mark them (the console draws them on the graph's nodes)."""

    severity: str
    code: str
    message: str
    steps: tuple[str, ...] = ()


@dataclass
class ScenarioReport:
    issues: list[ScenarioIssue] = field(default_factory=list)

    def add(self, severity: str, code: str, message: str, *steps: str) -> None:
        self.issues.append(ScenarioIssue(severity, code, message, steps))

    @property
    def errors(self) -> list[str]:
        return [issue.message for issue in self.issues if issue.severity == ERROR]

    @property
    def warnings(self) -> list[str]:
        return [issue.message for issue in self.issues if issue.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors


def _strongly_connected(graph: dict[int, list[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative (scenarios may be long)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def validate_steps(initial: Step | None, steps: list[Step]) -> ScenarioReport:
    report = ScenarioReport()
    if not steps:
        report.add(ERROR, "no_steps", "The scenario has no steps.")
        return report
    flow = StepFlow(steps)
    ordered, by_name = flow.steps, flow.by_name
    if initial is None:
        report.add(ERROR, "no_initial_step", "The scenario has no initial step.")
    for step in ordered:
        for name in step_targets(step.step_type, step.content):
            if name not in by_name:
                message = f'Step "{step.name}" targets "{name}", not in this scenario.'
                report.add(ERROR, "unknown_target", message, step.name)
    graph = {s.pk: [n.pk for n in flow.successors(s)] for s in ordered}
    names = {s.pk: s.name for s in ordered}
    waits = {s.pk for s in ordered if step_waits_for_input(s.step_type)}
    for component in _strongly_connected(graph):
        looping = len(component) > 1 or component[0] in graph[component[0]]
        if looping and not waits.intersection(component):
            looped = sorted(names[pk] for pk in component)
            members = ", ".join(f'"{name}"' for name in looped)
            message = f"Steps {members} loop without a question to wait for input."
            report.add(ERROR, "loop_without_question", message, *looped)
    if initial is not None:
        reached, frontier = {initial.pk}, [initial.pk]
        while frontier:
            for successor in graph.get(frontier.pop(), []):
                if successor not in reached:
                    reached.add(successor)
                    frontier.append(successor)
        for step in ordered:
            if step.pk not in reached:
                message = f'Step "{step.name}" is unreachable from the initial step.'
                report.add(WARNING, "unreachable", message, step.name)
    return report


def scenario_validate(scenario: Scenario) -> ScenarioReport:
    """Check a saved scenario's step graph."""
    steps = list(scenario.steps.all())
    initial = next((s for s in steps if s.pk == scenario.initial_step_id), None)
    return validate_steps(initial, steps)
