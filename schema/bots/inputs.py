import strawberry
from strawberry import UNSET, relay
from strawberry.scalars import JSON

from schema.bots.types import BotTypeEnum, StepTypeEnum


@strawberry.input
class BotInput:
    name: str
    description: str | None = UNSET
    bot_type: BotTypeEnum | None = UNSET
    model: str | None = UNSET
    temperature: float | None = UNSET
    max_tokens: int | None = UNSET
    system_prompt: str | None = UNSET
    is_active: bool | None = UNSET
    is_public: bool | None = UNSET


@strawberry.input
class BotPartialInput:
    id: relay.GlobalID
    name: str | None = UNSET
    description: str | None = UNSET
    bot_type: BotTypeEnum | None = UNSET
    model: str | None = UNSET
    temperature: float | None = UNSET
    max_tokens: int | None = UNSET
    system_prompt: str | None = UNSET
    is_active: bool | None = UNSET
    is_public: bool | None = UNSET


@strawberry.input
class ScenarioInput:
    bot_id: relay.GlobalID
    name: str
    description: str | None = UNSET
    is_active: bool | None = UNSET


@strawberry.input
class ScenarioPartialInput:
    id: relay.GlobalID
    name: str | None = UNSET
    description: str | None = UNSET
    is_active: bool | None = UNSET
    initial_step_id: relay.GlobalID | None = UNSET


@strawberry.input
class StepInput:
    scenario_id: relay.GlobalID
    name: str
    step_type: StepTypeEnum
    content: JSON | None = None
    order: int | None = UNSET
    next_step_id: relay.GlobalID | None = UNSET


@strawberry.input
class StepPartialInput:
    id: relay.GlobalID
    name: str | None = UNSET
    step_type: StepTypeEnum | None = UNSET
    content: JSON | None = UNSET
    order: int | None = UNSET
    next_step_id: relay.GlobalID | None = UNSET


@strawberry.input
class ReorderStepsInput:
    scenario_id: relay.GlobalID
    step_ids: list[relay.GlobalID]


@strawberry.input
class DeleteInput:
    id: relay.GlobalID
