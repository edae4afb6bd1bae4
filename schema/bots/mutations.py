"""Bot, scenario and step mutations: decode IDs, call a service, return the object."""

import strawberry
import strawberry_django

from bots import services
from schema.bots import inputs
from schema.bots.types import Bot, Scenario, Step
from schema.common import input_data, pk_from_global_id
from schema.context import Info


def _step_ids(data: dict) -> dict:
    """Decode optional step references (None clears them)."""
    for key in ("initial_step_id", "next_step_id"):
        if data.get(key) is not None:
            data[key] = pk_from_global_id(data[key], "Step", field=key)
    return data


def _bot_data(input: inputs.BotInput) -> dict:
    """The input's fields, start inputs as the declaration the model validates."""
    data = input_data(input)
    if "start_inputs" in data:
        data["start_inputs"] = [item.as_declaration() for item in data["start_inputs"] or []]
    return data


@strawberry.type
class BotMutation:
    @strawberry_django.mutation(handle_django_errors=True)
    def create_bot(self, info: Info, input: inputs.BotInput) -> Bot:
        return services.bot_create(owner=info.context.get_user(), **_bot_data(input))

    @strawberry_django.mutation(handle_django_errors=True)
    def update_bot(self, info: Info, input: inputs.BotPartialInput) -> Bot:
        data = _bot_data(input)
        bot_id = pk_from_global_id(data.pop("id"), "Bot")
        return services.bot_update(user=info.context.get_user(), bot_id=bot_id, **data)

    @strawberry_django.mutation(handle_django_errors=True)
    def delete_bot(self, info: Info, input: inputs.DeleteInput) -> Bot:
        bot_id = pk_from_global_id(input.id, "Bot")
        return services.bot_delete(user=info.context.get_user(), bot_id=bot_id)

    @strawberry_django.mutation(handle_django_errors=True)
    def create_scenario(self, info: Info, input: inputs.ScenarioInput) -> Scenario:
        data = input_data(input)
        bot_id = pk_from_global_id(data.pop("bot_id"), "Bot", field="bot_id")
        return services.scenario_create(user=info.context.get_user(), bot_id=bot_id, **data)

    @strawberry_django.mutation(handle_django_errors=True)
    def update_scenario(self, info: Info, input: inputs.ScenarioPartialInput) -> Scenario:
        data = _step_ids(input_data(input))
        scenario_id = pk_from_global_id(data.pop("id"), "Scenario")
        return services.scenario_update(
            user=info.context.get_user(), scenario_id=scenario_id, **data
        )

    @strawberry_django.mutation(handle_django_errors=True)
    def delete_scenario(self, info: Info, input: inputs.DeleteInput) -> Scenario:
        scenario_id = pk_from_global_id(input.id, "Scenario")
        return services.scenario_delete(user=info.context.get_user(), scenario_id=scenario_id)

    @strawberry_django.mutation(handle_django_errors=True)
    def create_step(self, info: Info, input: inputs.StepInput) -> Step:
        data = _step_ids(input_data(input))
        if data.get("content") is None:
            data["content"] = {}
        scenario_id = pk_from_global_id(data.pop("scenario_id"), "Scenario", field="scenario_id")
        return services.step_create(user=info.context.get_user(), scenario_id=scenario_id, **data)

    @strawberry_django.mutation(handle_django_errors=True)
    def update_step(self, info: Info, input: inputs.StepPartialInput) -> Step:
        data = _step_ids(input_data(input))
        step_id = pk_from_global_id(data.pop("id"), "Step")
        return services.step_update(user=info.context.get_user(), step_id=step_id, **data)

    @strawberry_django.mutation(handle_django_errors=True)
    def delete_step(self, info: Info, input: inputs.DeleteInput) -> Step:
        step_id = pk_from_global_id(input.id, "Step")
        return services.step_delete(user=info.context.get_user(), step_id=step_id)

    @strawberry_django.mutation(handle_django_errors=True)
    def reorder_steps(self, info: Info, input: inputs.ReorderStepsInput) -> Scenario:
        scenario_id = pk_from_global_id(input.scenario_id, "Scenario", field="scenario_id")
        step_ids = [pk_from_global_id(g, "Step", field="step_ids") for g in input.step_ids]
        return services.steps_reorder(
            user=info.context.get_user(), scenario_id=scenario_id, step_ids=step_ids
        )
