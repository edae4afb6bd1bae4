"""Writes on bots, scenarios and steps (bots.services)."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from bots import services
from bots.models import Bot, Scenario, Step
from core.exceptions import NotFound
from tests.factories import ScenarioFactory, StepFactory


@pytest.fixture
def scenario(bot):
    return ScenarioFactory(bot=bot, name="Onboarding")


def step_orders(scenario) -> list[tuple[str, int]]:
    return list(scenario.steps.order_by("order").values_list("name", "order"))


# --- bots ------------------------------------------------------------------------------


def test_bot_create_sets_the_owner(owner):
    bot = services.bot_create(owner=owner, name="Helper", temperature=0.3)
    bot.refresh_from_db()
    assert (bot.owner, bot.name, bot.temperature) == (owner, "Helper", 0.3)


def test_bot_create_validates(owner):
    with pytest.raises(ValidationError) as exc:
        services.bot_create(owner=owner, name="Hot", temperature=2.5)
    assert list(exc.value.message_dict) == ["temperature"]
    assert not Bot.objects.exists()


def test_bot_update_by_the_owner(owner, bot):
    services.bot_update(user=owner, bot_id=bot.pk, name="Renamed", max_tokens=64)
    bot.refresh_from_db()
    assert (bot.name, bot.max_tokens) == ("Renamed", 64)


def test_bot_update_by_staff(staff, bot):
    services.bot_update(user=staff, bot_id=bot.pk, is_active=False)
    bot.refresh_from_db()
    assert bot.is_active is False


@pytest.mark.parametrize("intruder", ["other_user", "anonymous"])
def test_bot_update_of_a_hidden_bot_is_not_found(request, bot, intruder):
    user = AnonymousUser() if intruder == "anonymous" else request.getfixturevalue(intruder)
    with pytest.raises(NotFound, match="Bot not found"):
        services.bot_update(user=user, bot_id=bot.pk, name="Mine now")
    bot.refresh_from_db()
    assert bot.name == "Support bot"


def test_bot_update_rejects_invalid_values(owner, bot):
    with pytest.raises(ValidationError) as exc:
        services.bot_update(user=owner, bot_id=bot.pk, max_tokens=0)
    assert list(exc.value.message_dict) == ["max_tokens"]
    bot.refresh_from_db()
    assert bot.max_tokens == 1024


def test_bot_delete_returns_the_deleted_bot_with_its_id(owner, bot, scenario):
    StepFactory(scenario=scenario)
    deleted = services.bot_delete(user=owner, bot_id=bot.pk)
    assert deleted.pk == bot.pk
    assert not Bot.objects.exists()
    assert not Scenario.objects.exists()
    assert not Step.objects.exists()


def test_bot_delete_by_another_user_is_not_found(other_user, bot):
    with pytest.raises(NotFound):
        services.bot_delete(user=other_user, bot_id=bot.pk)
    assert Bot.objects.filter(pk=bot.pk).exists()


# --- scenarios --------------------------------------------------------------------------


def test_scenario_create_under_an_own_bot(owner, bot):
    scenario = services.scenario_create(user=owner, bot_id=bot.pk, name="Sales")
    assert scenario.bot == bot
    assert not scenario.is_active


def test_scenario_create_under_a_hidden_bot_is_not_found(other_user, bot):
    with pytest.raises(NotFound, match="Bot not found"):
        services.scenario_create(user=other_user, bot_id=bot.pk, name="Sales")
    assert not Scenario.objects.exists()


def test_scenario_create_cannot_activate_an_empty_scenario(owner, bot):
    with pytest.raises(ValidationError) as exc:
        services.scenario_create(user=owner, bot_id=bot.pk, name="Sales", is_active=True)
    assert exc.value.message_dict == {"is_active": ["The scenario has no steps."]}
    assert not Scenario.objects.exists()


def ready_scenario(bot, name: str) -> Scenario:
    """An inactive scenario with a valid step graph, ready to be activated."""
    scenario = ScenarioFactory(bot=bot, name=name)
    scenario.initial_step = StepFactory(scenario=scenario)
    scenario.save()
    return scenario


def test_scenario_update_activates_a_valid_scenario(owner, bot):
    scenario = ready_scenario(bot, "Sales")
    services.scenario_update(user=owner, scenario_id=scenario.pk, is_active=True)
    scenario.refresh_from_db()
    assert scenario.is_active


def test_scenario_update_allows_one_active_scenario_per_bot(owner, bot):
    first, second = ready_scenario(bot, "First"), ready_scenario(bot, "Second")
    services.scenario_update(user=owner, scenario_id=first.pk, is_active=True)
    with pytest.raises(ValidationError, match="This bot already has an active scenario"):
        services.scenario_update(user=owner, scenario_id=second.pk, is_active=True)
    assert list(bot.scenarios.filter(is_active=True)) == [first]


def test_scenario_update_sets_an_own_initial_step(owner, scenario):
    step = StepFactory(scenario=scenario)
    services.scenario_update(user=owner, scenario_id=scenario.pk, initial_step_id=step.pk)
    scenario.refresh_from_db()
    assert scenario.initial_step == step


def test_scenario_update_rejects_an_initial_step_of_another_scenario(owner, bot, scenario):
    foreign = StepFactory(scenario=ScenarioFactory(bot=bot))
    with pytest.raises(ValidationError) as exc:
        services.scenario_update(user=owner, scenario_id=scenario.pk, initial_step_id=foreign.pk)
    assert exc.value.message_dict == {
        "initial_step": ["The initial step must belong to this scenario."]
    }
    scenario.refresh_from_db()
    assert scenario.initial_step is None


def test_scenario_delete(owner, scenario):
    deleted = services.scenario_delete(user=owner, scenario_id=scenario.pk)
    assert deleted.pk == scenario.pk
    assert not Scenario.objects.exists()


def test_scenario_delete_by_another_user_is_not_found(other_user, scenario):
    with pytest.raises(NotFound, match="Scenario not found"):
        services.scenario_delete(user=other_user, scenario_id=scenario.pk)
    assert Scenario.objects.exists()


# --- steps -----------------------------------------------------------------------------


def message_step(**data):
    return {"name": "step", "step_type": "message", "content": {"text": "Hi"}, **data}


def test_step_create_starts_at_order_zero(owner, scenario):
    step = services.step_create(user=owner, scenario_id=scenario.pk, **message_step())
    assert step.order == 0


def test_step_create_goes_after_the_last_step(owner, scenario):
    StepFactory(scenario=scenario, order=0)
    StepFactory(scenario=scenario, order=5)
    step = services.step_create(user=owner, scenario_id=scenario.pk, **message_step())
    assert step.order == 6


def test_step_create_with_order_none_goes_last(owner, scenario):
    StepFactory(scenario=scenario, order=3)
    step = services.step_create(user=owner, scenario_id=scenario.pk, **message_step(order=None))
    assert step.order == 4


def test_step_create_keeps_an_explicit_order(owner, scenario):
    StepFactory(scenario=scenario, order=0)
    step = services.step_create(user=owner, scenario_id=scenario.pk, **message_step(order=9))
    assert step.order == 9


def test_step_create_validates_content(owner, scenario):
    with pytest.raises(ValidationError) as exc:
        services.step_create(user=owner, scenario_id=scenario.pk, **message_step(step_type="llm"))
    assert list(exc.value.message_dict) == ["content"]
    assert not Step.objects.exists()


def test_step_create_stores_normalized_content(owner, scenario):
    content = {"text": "Email?", "variable": "email"}
    step = services.step_create(
        user=owner, scenario_id=scenario.pk, **message_step(step_type="question", content=content)
    )
    step.refresh_from_db()
    assert step.content == {"text": "Email?", "variable": "email", "validation": {"type": "text"}}


def test_step_create_in_a_hidden_scenario_is_not_found(other_user, scenario):
    with pytest.raises(NotFound, match="Scenario not found"):
        services.step_create(user=other_user, scenario_id=scenario.pk, **message_step())


def test_step_update_links_the_next_step(owner, scenario):
    first, second = StepFactory(scenario=scenario), StepFactory(scenario=scenario)
    services.step_update(user=owner, step_id=first.pk, next_step_id=second.pk)
    first.refresh_from_db()
    assert first.next_step == second


def test_step_update_rejects_itself_as_next_step(owner, scenario):
    step = StepFactory(scenario=scenario)
    with pytest.raises(ValidationError) as exc:
        services.step_update(user=owner, step_id=step.pk, next_step_id=step.pk)
    assert list(exc.value.message_dict) == ["next_step"]


def test_step_delete(owner, scenario):
    step = StepFactory(scenario=scenario)
    deleted = services.step_delete(user=owner, step_id=step.pk)
    assert deleted.pk == step.pk
    assert not Step.objects.exists()


def test_step_delete_by_another_user_is_not_found(other_user, scenario):
    step = StepFactory(scenario=scenario)
    with pytest.raises(NotFound, match="Step not found"):
        services.step_delete(user=other_user, step_id=step.pk)
    assert Step.objects.filter(pk=step.pk).exists()


# --- steps_reorder ------------------------------------------------------------------------


@pytest.fixture
def three_steps(scenario):
    return [
        StepFactory(scenario=scenario, name="a", order=0),
        StepFactory(scenario=scenario, name="b", order=4),
        StepFactory(scenario=scenario, name="c", order=9),
    ]


def test_steps_reorder_renumbers_from_zero(owner, scenario, three_steps):
    a, b, c = three_steps
    services.steps_reorder(user=owner, scenario_id=scenario.pk, step_ids=[c.pk, a.pk, b.pk])
    assert step_orders(scenario) == [("c", 0), ("a", 1), ("b", 2)]


def test_steps_reorder_twice(owner, scenario, three_steps):
    a, b, c = three_steps
    services.steps_reorder(user=owner, scenario_id=scenario.pk, step_ids=[c.pk, b.pk, a.pk])
    services.steps_reorder(user=owner, scenario_id=scenario.pk, step_ids=[a.pk, b.pk, c.pk])
    assert step_orders(scenario) == [("a", 0), ("b", 1), ("c", 2)]


@pytest.mark.parametrize("problem", ["missing", "duplicate", "foreign", "unknown"])
def test_steps_reorder_requires_every_step_exactly_once(owner, bot, scenario, three_steps, problem):
    a, b, c = three_steps
    foreign = StepFactory(scenario=ScenarioFactory(bot=bot))
    step_ids = {
        "missing": [a.pk, b.pk],
        "duplicate": [a.pk, b.pk, c.pk, a.pk],
        "foreign": [a.pk, b.pk, c.pk, foreign.pk],
        "unknown": [a.pk, b.pk, 999_999],
    }[problem]
    with pytest.raises(ValidationError) as exc:
        services.steps_reorder(user=owner, scenario_id=scenario.pk, step_ids=step_ids)
    assert exc.value.error_dict["step_ids"][0].code == "invalid"
    assert step_orders(scenario) == [("a", 0), ("b", 4), ("c", 9)]


def test_steps_reorder_of_a_hidden_scenario_is_not_found(other_user, scenario, three_steps):
    with pytest.raises(NotFound):
        services.steps_reorder(
            user=other_user, scenario_id=scenario.pk, step_ids=[s.pk for s in three_steps]
        )


def test_steps_reorder_of_an_empty_scenario(owner, scenario):
    services.steps_reorder(user=owner, scenario_id=scenario.pk, step_ids=[])
    assert step_orders(scenario) == []
