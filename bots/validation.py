"""Whole-scenario checks: the step graph, not one step's content.

Errors make a scenario unusable (it cannot be activated): no initial step, a target that
names no step of the scenario, a loop that never waits for the visitor (it would hit the
per-turn step cap every time). Warnings point at likely mistakes: steps no path reaches.
"""

from dataclasses import dataclass, field

from bots.content import step_targets, step_waits_for_input
from bots.flow import StepFlow
from bots.models import Scenario, Step


@dataclass
class ScenarioReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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
        report.errors.append("The scenario has no steps.")
        return report
    flow = StepFlow(steps)
    ordered, by_name = flow.steps, flow.by_name
    if initial is None:
        report.errors.append("The scenario has no initial step.")
    for step in ordered:
        for name in step_targets(step.step_type, step.content):
            if name not in by_name:
                report.errors.append(f'Step "{step.name}" targets "{name}", not in this scenario.')
    graph = {s.pk: [n.pk for n in flow.successors(s)] for s in ordered}
    names = {s.pk: s.name for s in ordered}
    waits = {s.pk for s in ordered if step_waits_for_input(s.step_type)}
    for component in _strongly_connected(graph):
        looping = len(component) > 1 or component[0] in graph[component[0]]
        if looping and not waits.intersection(component):
            members = ", ".join(sorted(f'"{names[pk]}"' for pk in component))
            report.errors.append(f"Steps {members} loop without a question to wait for input.")
    if initial is not None:
        reached, frontier = {initial.pk}, [initial.pk]
        while frontier:
            for successor in graph.get(frontier.pop(), []):
                if successor not in reached:
                    reached.add(successor)
                    frontier.append(successor)
        for step in ordered:
            if step.pk not in reached:
                report.warnings.append(f'Step "{step.name}" is unreachable from the initial step.')
    return report


def scenario_validate(scenario: Scenario) -> ScenarioReport:
    """Check a saved scenario's step graph."""
    steps = list(scenario.steps.all())
    initial = next((s for s in steps if s.pk == scenario.initial_step_id), None)
    return validate_steps(initial, steps)
