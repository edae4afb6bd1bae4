import strawberry
import strawberry_django
from strawberry import UNSET, auto, relay
from strawberry.scalars import JSON

from bots import models
from schema.bots.types import BotTypeEnum, StartInputTypeEnum, StepTypeEnum


@strawberry.input(description="Declares a value visitors' clients send with startConversation.")
class StartInputDeclarationInput:
    name: str = strawberry.field(description="A variable name: letters, digits, underscores.")
    type: StartInputTypeEnum  # type: ignore[valid-type]
    label: str | None = None
    required: bool = False
    default: JSON | None = None
    options: list[str] | None = strawberry.field(default=None, description="SELECT only.")
    max_length: int | None = strawberry.field(default=None, description="STRING only.")

    def as_declaration(self) -> dict:
        declared = {"name": self.name, "type": self.type.value, "required": self.required}
        optional = {
            "label": self.label,
            "default": self.default,
            "options": self.options,
            "max_length": self.max_length,
        }
        return declared | {key: value for key, value in optional.items() if value is not None}


@strawberry_django.input(models.Bot)
class BotInput:
    name: auto
    description: auto
    bot_type: BotTypeEnum | None = UNSET
    model: auto
    temperature: auto
    max_tokens: auto
    system_prompt: auto
    is_active: auto
    is_public: auto
    suggestions_enabled: auto
    suggestions_count: auto
    suggestions_prompt: auto
    inactivity_timeout: auto
    monthly_token_budget: auto
    conversation_token_cap: auto
    budget_exceeded_message: auto
    knowledge_enabled: auto
    handoff_enabled: auto
    handoff_timeout: auto
    start_inputs: list[StartInputDeclarationInput] | None = strawberry.field(
        default=UNSET,
        description="Values visitors' clients send with startConversation; replaces the list.",
    )


@strawberry_django.partial(models.Bot)
class BotPartialInput(BotInput):
    id: relay.GlobalID


@strawberry_django.input(models.Scenario)
class ScenarioInput:
    bot_id: relay.GlobalID
    name: auto
    description: auto
    is_active: auto


@strawberry_django.partial(models.Scenario)
class ScenarioPartialInput:
    id: relay.GlobalID
    name: auto
    description: auto
    is_active: auto
    initial_step_id: relay.GlobalID | None = UNSET


@strawberry_django.input(models.Step)
class StepInput:
    scenario_id: relay.GlobalID
    name: auto
    step_type: StepTypeEnum
    content: JSON | None = None
    order: auto
    next_step_id: relay.GlobalID | None = UNSET


@strawberry_django.partial(models.Step)
class StepPartialInput:
    id: relay.GlobalID
    name: auto
    step_type: StepTypeEnum | None = UNSET
    content: JSON | None = UNSET
    order: auto
    next_step_id: relay.GlobalID | None = UNSET


@strawberry.input
class ReorderStepsInput:
    scenario_id: relay.GlobalID
    step_ids: list[relay.GlobalID]


@strawberry.input
class DeleteInput:
    id: relay.GlobalID
