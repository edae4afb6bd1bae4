import pytest
from strawberry.relay import to_base64

from bots.models import Scenario, Step
from bots.validation import scenario_validate
from tests.factories import ScenarioFactory

pytestmark = pytest.mark.django_db

VALIDATION = """
query($id: ID!) { scenario(id: $id) { validation { errors warnings } } }
"""
ACTIVATE = """
mutation($input: ScenarioPartialInput!) {
  updateScenario(input: $input) {
    __typename
    ... on Scenario { isActive }
    ... on OperationInfo { messages { field code message } }
  }
}
"""


def build(scenario, steps, initial=None, nexts=None):
    made = {}
    for order, (name, step_type, content) in enumerate(steps):
        made[name] = Step.objects.create(
            scenario=scenario, name=name, step_type=step_type, content=content, order=order
        )
    for name, target in (nexts or {}).items():
        Step.objects.filter(pk=made[name].pk).update(next_step=made[target])
    scenario.initial_step = made[initial] if initial else None
    scenario.save()
    return made


def test_scenario_without_steps_or_initial_step_has_errors():
    scenario = ScenarioFactory()
    assert scenario_validate(scenario).errors == ["The scenario has no steps."]
    build(scenario, [("a", "message", {"text": "hi"})])
    assert scenario_validate(scenario).errors == ["The scenario has no initial step."]


def test_unknown_target_is_an_error():
    scenario = ScenarioFactory()
    build(
        scenario,
        [
            (
                "c",
                "condition",
                {"branches": [{"variable": "x", "operator": "exists", "target": "nowhere"}]},
            )
        ],
        initial="c",
    )
    [error] = scenario_validate(scenario).errors
    assert '"nowhere"' in error and "not in this scenario" in error


def test_unreachable_step_is_a_warning():
    scenario = ScenarioFactory()
    build(
        scenario,
        [("a", "message", {"text": "a", "end": True}), ("b", "message", {"text": "b"})],
        initial="a",
    )
    report = scenario_validate(scenario)
    assert report.errors == []
    assert report.warnings == ['Step "b" is unreachable from the initial step.']


def test_loop_without_question_is_an_error_but_a_loop_with_one_is_fine():
    scenario = ScenarioFactory()
    build(
        scenario,
        [("a", "message", {"text": "a"}), ("b", "message", {"text": "b"})],
        initial="a",
        nexts={"b": "a"},
    )
    [error] = scenario_validate(scenario).errors
    assert '"a", "b"' in error and "loop" in error

    other = ScenarioFactory()
    build(
        other,
        [("a", "message", {"text": "a"}), ("q", "question", {"text": "?", "variable": "v"})],
        initial="a",
        nexts={"q": "a"},
    )
    assert scenario_validate(other).errors == []


def test_validation_is_exposed_and_blocks_activation(owner_gql, owner):
    scenario = ScenarioFactory(bot__owner=owner)
    build(scenario, [("a", "message", {"text": "a"})], initial="a", nexts={})
    Step.objects.create(
        scenario=scenario,
        name="b",
        step_type="message",
        content={"text": "b"},
        order=1,
        next_step=Step.objects.get(name="a"),
    )
    gid = to_base64("Scenario", scenario.pk)

    data = owner_gql.execute(VALIDATION, {"id": gid})
    assert data["scenario"]["validation"]["errors"][0].endswith("to wait for input.")

    result = owner_gql.execute(ACTIVATE, {"input": {"id": gid, "isActive": True}})
    payload = result["updateScenario"]
    assert payload["__typename"] == "OperationInfo"
    assert payload["messages"][0]["field"] == "isActive"
    assert payload["messages"][0]["code"] == "invalid_scenario"
    assert not Scenario.objects.get(pk=scenario.pk).is_active


ISSUES = """
query($id: ID!) {
  scenario(id: $id) { validation { issues { severity code message steps } } }
}
"""


def test_issues_name_the_steps_they_concern(owner_gql, owner):
    # given: a branch to a missing step, an unreachable step, a loop with no question
    scenario = ScenarioFactory(bot__owner=owner)
    branch = {"variable": "x", "operator": "exists", "target": "nowhere"}
    build(
        scenario,
        [
            ("route", "condition", {"branches": [branch], "default_target": "a"}),
            ("a", "message", {"text": "a"}),
            ("b", "message", {"text": "b"}),
            ("island", "message", {"text": "alone", "end": True}),
        ],
        initial="route",
        nexts={"b": "a"},
    )

    # when
    data = owner_gql.execute(ISSUES, {"id": to_base64("Scenario", scenario.pk)})

    # then
    issues = {(i["severity"], i["code"]): i for i in data["scenario"]["validation"]["issues"]}
    assert issues["ERROR", "unknown_target"]["steps"] == ["route"]
    assert '"nowhere"' in issues["ERROR", "unknown_target"]["message"]
    assert issues["ERROR", "loop_without_question"]["steps"] == ["a", "b"]
    assert issues["WARNING", "unreachable"]["steps"] == ["island"]


def test_scenario_wide_issues_name_no_step(owner_gql, owner):
    scenario = ScenarioFactory(bot__owner=owner)
    build(scenario, [("a", "message", {"text": "a"})])

    data = owner_gql.execute(ISSUES, {"id": to_base64("Scenario", scenario.pk)})

    [issue] = data["scenario"]["validation"]["issues"]
    assert (issue["severity"], issue["code"], issue["steps"]) == ("ERROR", "no_initial_step", [])
