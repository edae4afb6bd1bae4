"""Bot, Scenario and Step: database constraints and model validation."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from bots.models import Bot, Scenario, Step
from tests.factories import BotFactory, ScenarioFactory, StepFactory, UserFactory

# --- database constraints: the database refuses rows even when validation is bypassed ---


@pytest.mark.parametrize("temperature", [-0.01, 2.01, 100])
def test_temperature_check_constraint(db, temperature):
    owner = UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Bot.objects.create(owner=owner, name="Hot", temperature=temperature)
    assert not Bot.objects.exists()


@pytest.mark.parametrize("temperature", [0, 2])
def test_temperature_bounds_are_inclusive(db, temperature):
    Bot.objects.create(owner=UserFactory(), name="Edge", temperature=temperature)
    assert Bot.objects.get().temperature == temperature


def test_temperature_check_constraint_on_update(db):
    bot = BotFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Bot.objects.filter(pk=bot.pk).update(temperature=3)
    bot.refresh_from_db()
    assert bot.temperature == 0.7


def test_max_tokens_check_constraint(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Bot.objects.create(owner=UserFactory(), name="Mute", max_tokens=0)


def test_unique_step_order_per_scenario(db):
    scenario = ScenarioFactory()
    StepFactory(scenario=scenario, order=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        StepFactory(scenario=scenario, order=3)
    assert scenario.steps.count() == 1


def test_same_step_order_in_another_scenario_is_fine(db):
    StepFactory(order=0)
    StepFactory(order=0)
    assert Step.objects.filter(order=0).count() == 2


def test_unique_step_name_per_scenario(db):
    scenario = ScenarioFactory()
    StepFactory(scenario=scenario, name="greet")
    with pytest.raises(IntegrityError), transaction.atomic():
        StepFactory(scenario=scenario, name="greet")


def test_one_active_scenario_per_bot(db):
    bot = BotFactory()
    ScenarioFactory(bot=bot, is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ScenarioFactory(bot=bot, is_active=True)
    assert bot.scenarios.count() == 1


def test_inactive_scenarios_are_not_limited(db):
    bot = BotFactory()
    ScenarioFactory(bot=bot, is_active=True)
    ScenarioFactory(bot=bot, is_active=False)
    ScenarioFactory(bot=bot, is_active=False)
    assert bot.scenarios.count() == 3


def test_active_scenarios_of_different_bots_are_fine(db):
    ScenarioFactory(is_active=True)
    ScenarioFactory(is_active=True)
    assert Scenario.objects.filter(is_active=True).count() == 2


# --- full_clean reports the same rules as field errors -------------------------------------


def test_full_clean_reports_temperature_and_max_tokens(db):
    bot = Bot(owner=UserFactory(), name="Bad", temperature=2.5, max_tokens=0)
    with pytest.raises(ValidationError) as exc:
        bot.full_clean()
    assert set(exc.value.message_dict) == {"temperature", "max_tokens"}


def test_full_clean_reports_a_duplicate_step_order(db):
    scenario = ScenarioFactory()
    StepFactory(scenario=scenario, order=0)
    step = Step(scenario=scenario, name="new", step_type="message", content={"text": "Hi"})
    with pytest.raises(ValidationError, match="Another step of this scenario has this order"):
        step.full_clean()


def test_full_clean_reports_a_second_active_scenario(db):
    bot = BotFactory()
    ScenarioFactory(bot=bot, is_active=True)
    with pytest.raises(ValidationError, match="This bot already has an active scenario"):
        Scenario(bot=bot, name="Second", is_active=True).full_clean()


# --- clean(): references stay inside the scenario ---------------------------------------------


def test_initial_step_must_belong_to_the_scenario(db):
    scenario = ScenarioFactory()
    scenario.initial_step = StepFactory()
    with pytest.raises(ValidationError) as exc:
        scenario.full_clean()
    assert exc.value.message_dict == {
        "initial_step": ["The initial step must belong to this scenario."]
    }


def test_initial_step_of_the_scenario_is_valid(db):
    scenario = ScenarioFactory()
    scenario.initial_step = StepFactory(scenario=scenario)
    scenario.full_clean()


def test_next_step_must_belong_to_the_same_scenario(db):
    step = StepFactory()
    step.next_step = StepFactory()
    with pytest.raises(ValidationError) as exc:
        step.full_clean()
    assert list(exc.value.message_dict) == ["next_step"]


def test_next_step_cannot_be_the_step_itself(db):
    step = StepFactory()
    step.next_step = step
    with pytest.raises(ValidationError) as exc:
        step.full_clean()
    assert list(exc.value.message_dict) == ["next_step"]


def test_clean_normalizes_the_content(db):
    step = StepFactory(
        step_type="api_call", content={"url": "https://example.com", "variable": "r"}
    )
    step.full_clean()
    assert step.content["method"] == "GET"
    assert step.content["max_bytes"] == 65536


def test_clean_rejects_content_of_another_step_type(db):
    step = StepFactory(step_type="condition", content={"text": "Hi"})
    with pytest.raises(ValidationError) as exc:
        step.full_clean()
    assert list(exc.value.message_dict) == ["content"]


# --- deletion and ordering -----------------------------------------------------------------


def test_deleting_a_step_clears_references_to_it(db):
    scenario = ScenarioFactory()
    first, second = StepFactory(scenario=scenario), StepFactory(scenario=scenario)
    first.next_step = second
    first.save()
    scenario.initial_step = second
    scenario.save()

    second.delete()

    first.refresh_from_db()
    scenario.refresh_from_db()
    assert first.next_step is None
    assert scenario.initial_step is None


def test_steps_are_ordered_by_order(db):
    scenario = ScenarioFactory()
    StepFactory(scenario=scenario, name="late", order=5)
    StepFactory(scenario=scenario, name="early", order=1)
    assert [step.name for step in scenario.steps.all()] == ["early", "late"]


def test_bots_are_newest_first(db):
    older, newer = BotFactory(), BotFactory()
    assert list(Bot.objects.all()) == [newer, older]


def test_string_representations(db):
    step = StepFactory(name="greet", order=2, scenario__name="Onboarding", scenario__bot__name="B")
    assert str(step) == "2. greet"
    assert str(step.scenario) == "Onboarding"
    assert str(step.scenario.bot) == "B"
