"""Writes on bots, scenarios and steps. Every write validates with full_clean()."""

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import transaction
from django.db.models import CharField, F, Max, TextField

from bots.models import Bot, BotOperator, Scenario, Step
from bots.selectors import bot_list, scenario_list, step_list
from bots.validation import scenario_validate
from core.exceptions import NotFound


def _get_visible(queryset, pk: int, label: str):
    obj = queryset.select_for_update().filter(pk=pk).first()
    if obj is None:
        raise NotFound(f"{label} not found.")
    return obj


def _apply(obj, data: dict[str, Any]):
    for field, value in data.items():
        if value is None and _is_text(obj, field):
            value = ""  # an explicit null clears a text field (NULL is not stored)
        setattr(obj, field, value)
    obj.full_clean()
    obj.save()
    return obj


def _is_text(obj, name: str) -> bool:
    try:
        field = obj._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return isinstance(field, CharField | TextField) and not field.null


@transaction.atomic
def bot_create(*, owner, **data: Any) -> Bot:
    """Create a bot owned by `owner`."""
    return _apply(Bot(owner=owner), data)


@transaction.atomic
def bot_update(*, user, bot_id: int, **data: Any) -> Bot:
    return _apply(_get_visible(bot_list(user=user), bot_id, "Bot"), data)


@transaction.atomic
def bot_delete(*, user, bot_id: int) -> Bot:
    bot = _get_visible(bot_list(user=user), bot_id, "Bot")
    bot.delete()
    bot.pk = bot_id
    return bot


def _check_activation(scenario: Scenario, was_active: bool) -> None:
    """A scenario only becomes active when its step graph has no errors."""
    if not scenario.is_active or was_active:
        return
    report = scenario_validate(scenario)
    if report.errors:
        raise ValidationError(
            {"is_active": [ValidationError(e, code="invalid_scenario") for e in report.errors]}
        )


@transaction.atomic
def scenario_create(*, user, bot_id: int, **data: Any) -> Scenario:
    """Create a scenario under one of `user`'s bots (initial_step is set by update)."""
    bot = _get_visible(bot_list(user=user), bot_id, "Bot")
    scenario = _apply(Scenario(bot=bot), data)
    _check_activation(scenario, was_active=False)
    return scenario


@transaction.atomic
def scenario_update(*, user, scenario_id: int, **data: Any) -> Scenario:
    """Update a scenario; activating it requires a valid step graph (bots.validation)."""
    scenario = _get_visible(scenario_list(user=user), scenario_id, "Scenario")
    was_active = scenario.is_active
    scenario = _apply(scenario, data)
    _check_activation(scenario, was_active)
    return scenario


@transaction.atomic
def scenario_delete(*, user, scenario_id: int) -> Scenario:
    scenario = _get_visible(scenario_list(user=user), scenario_id, "Scenario")
    scenario.delete()
    scenario.pk = scenario_id
    return scenario


@transaction.atomic
def step_create(*, user, scenario_id: int, **data: Any) -> Step:
    """Create a step; without an `order` it goes after the last one."""
    scenario = _get_visible(scenario_list(user=user), scenario_id, "Scenario")
    if scenario.steps.count() >= settings.SCENARIO_MAX_STEPS:
        raise ValidationError(
            f"A scenario has at most {settings.SCENARIO_MAX_STEPS} steps.", code="too_many_steps"
        )
    if data.get("order") is None:
        last = scenario.steps.aggregate(last=Max("order"))["last"]
        data["order"] = 0 if last is None else last + 1
    return _apply(Step(scenario=scenario), data)


@transaction.atomic
def step_update(*, user, step_id: int, **data: Any) -> Step:
    return _apply(_get_visible(step_list(user=user), step_id, "Step"), data)


@transaction.atomic
def step_delete(*, user, step_id: int) -> Step:
    step = _get_visible(step_list(user=user), step_id, "Step")
    step.delete()
    step.pk = step_id
    return step


@transaction.atomic
def steps_reorder(*, user, scenario_id: int, step_ids: Sequence[int]) -> Scenario:
    """Give the scenario's steps the orders 0..n-1 following `step_ids`.

    `step_ids` must list every step of the scenario exactly once. Orders are first moved
    past the current maximum so the unique (scenario, order) constraint holds throughout.
    """
    scenario = _get_visible(scenario_list(user=user), scenario_id, "Scenario")
    steps = scenario.steps.select_for_update()
    current = set(steps.values_list("pk", flat=True))
    if len(step_ids) != len(set(step_ids)) or set(step_ids) != current:
        # The code goes on the inner error: a dict's own `code` is dropped by Django.
        message = "List every step of the scenario exactly once."
        raise ValidationError({"step_ids": ValidationError(message, code="invalid")})
    offset = (steps.aggregate(last=Max("order"))["last"] or 0) + len(step_ids) + 1
    steps.update(order=F("order") + offset)
    for position, pk in enumerate(step_ids):
        Step.objects.filter(pk=pk).update(order=position)
    return scenario


@transaction.atomic
def bot_operator_add(*, user, bot_id: int, username: str, display_name: str) -> BotOperator:
    """Add the user named `username` as an operator of the caller's bot (or change its
    display name if it is one already). Only the bot's owner (or staff) may."""
    bot = _get_visible(bot_list(user=user), bot_id, "Bot")
    operator = get_user_model().objects.filter(username=username, is_active=True).first()
    if operator is None:
        missing = ValidationError("No active user has this username.", code="not_found")
        raise ValidationError({"username": missing})
    row = BotOperator.objects.filter(bot=bot, user=operator).first() or BotOperator(
        bot=bot, user=operator
    )
    row.display_name = display_name.strip()
    row.full_clean(exclude=["bot", "user"])
    row.save()
    return row


@transaction.atomic
def bot_operator_remove(*, user, operator_id: int) -> BotOperator:
    """Remove an operator from the caller's bot; the conversations it answers stay
    with it until handed back."""
    visible = BotOperator.objects.filter(bot__in=bot_list(user=user))
    row = _get_visible(visible, operator_id, "Operator")
    row.delete()
    row.pk = operator_id
    return row
