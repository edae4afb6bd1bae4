"""The next-step rule (bots.flow), on unsaved steps: it reads no database."""

from bots.flow import StepFlow
from bots.models import Step


def step(pk, name, order, step_type="message", content=None, next_step=None):
    return Step(
        pk=pk,
        name=name,
        order=order,
        step_type=step_type,
        content=content if content is not None else {"text": name},
        next_step_id=next_step,
    )


def names(steps):
    return [s.name if s is not None else None for s in steps]


def test_next_step_is_next_step_else_the_following_by_order_then_creation():
    a, b, c, d = step(1, "a", 0, next_step=4), step(3, "b", 1), step(2, "c", 1), step(4, "d", 2)
    flow = StepFlow([d, b, a, c])

    assert names(flow.steps) == ["a", "c", "b", "d"]
    assert flow.next_of(a) is d  # next_step wins over order
    assert flow.next_of(c) is b  # same order: the older (lower pk) first
    assert flow.next_of(d) is None


def test_a_named_target_wins_else_the_step_after_the_fallback():
    a, b, c = step(1, "a", 0), step(2, "b", 1), step(3, "c", 2)
    flow = StepFlow([a, b, c])

    assert flow.target("c", a) is c
    assert flow.target(None, a) is b
    assert flow.target("nowhere", a) is None


def test_a_step_marked_end_ends_the_scenario():
    a, b = step(1, "a", 0, content={"text": "bye", "end": True}), step(2, "b", 1)
    flow = StepFlow([a, b])

    assert flow.after(a, b) is None
    assert flow.after(b, a) is a
    assert flow.successors(a) == []


def test_a_condition_falls_through_only_without_a_default_target():
    branches = [{"variable": "x", "operator": "exists", "target": "c"}]
    no_default = step(1, "a", 0, "condition", {"branches": branches})
    with_default = step(2, "b", 1, "condition", {"branches": branches, "default_target": "d"})
    c, d = step(3, "c", 2), step(4, "d", 3)
    flow = StepFlow([no_default, with_default, c, d])

    assert names(flow.successors(no_default)) == ["c", "b"]
    assert names(flow.successors(with_default)) == ["c", "d"]


def test_an_api_call_may_go_to_its_error_target_or_the_next_step():
    call = step(1, "call", 0, "api_call", {"url": "https://x.test", "error_target": "oops"})
    ok, oops = step(2, "ok", 1), step(3, "oops", 2)
    flow = StepFlow([call, ok, oops])

    assert names(flow.successors(call)) == ["oops", "ok"]
    assert flow.successors(oops) == []
