"""Start inputs: what a bot asks for when a conversation starts, and the check of the
values a visitor's client sends with `startConversation(input: {variables})`.

An owner declares a list of inputs on the bot (`Bot.start_inputs`), checked here when the
bot is saved (`validate_start_inputs`). A start's values are checked against it
(`start_variables`): unknown names, wrong types, missing required values, over-long
text and out-of-range numbers are field errors keyed `variables.<name>`, and defaults
are filled in. The result becomes the conversation's variables, which templates read
like collected answers and which reach the LLM only inside the delimited data message
(conversations.generation.variables_message), never in the system prompt.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, get_args

from django.core.exceptions import ValidationError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from bots.content import Identifier, Option, django_errors

InputType = Literal["string", "number", "boolean", "select"]
INPUT_TYPES: tuple[str, ...] = get_args(InputType)
MAX_INPUTS = 20
MAX_OPTIONS = 50
# A string input's longest value unless it declares `max_length` (at most MAX_LENGTH_CAP).
DEFAULT_MAX_LENGTH = 200
MAX_LENGTH_CAP = 2000
# Numbers a float64 holds exactly and every JSON store keeps as given.
NUMBER_LIMIT = 10**15
# Unknown names reported per start: enough to fix the client, few enough to stay small.
MAX_UNKNOWN_REPORTED = 5

Label = Annotated[str, StringConstraints(max_length=200)]


class StartInput(BaseModel):
    """One declared input. `label` defaults to the name; `options` only for select."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Identifier
    label: Label = ""
    type: InputType
    required: bool = False
    default: str | bool | int | float | None = None
    options: Annotated[list[Option], Field(max_length=MAX_OPTIONS)] | None = None
    max_length: Annotated[int, Field(ge=1, le=MAX_LENGTH_CAP)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StartInput:
        if self.type == "select":
            if not self.options:
                raise _error("missing_options", "a select input needs a list of options")
            if len(set(self.options)) != len(self.options):
                raise _error("duplicate_option", "options must be unique", "options")
        elif self.options is not None:
            raise _error("options_not_allowed", "only a select input has options", "options")
        if self.max_length is not None and self.type != "string":
            raise _error("max_length_not_allowed", "only a string input has a max_length")
        if self.default is not None and (problem := value_problem(self.model_dump(), self.default)):
            raise _error("invalid_default", f"the default {problem[1]}", "default")
        if not self.label:
            self.label = self.name
        return self


class StartInputs(RootModel[Annotated[list[StartInput], Field(max_length=MAX_INPUTS)]]):
    @model_validator(mode="after")
    def _unique_names(self) -> StartInputs:
        names = [item.name for item in self.root]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise _error("duplicate_name", f"names must be unique ({', '.join(duplicates)})")
        return self


def _error(code: str, message: str, field: str | None = None) -> PydanticCustomError:
    context: dict[str, Any] = {"error": message}
    if field is not None:
        context["field"] = field
    return PydanticCustomError(code, "{error}", context)


def validate_start_inputs(declared: object) -> list[dict[str, Any]]:
    """The declaration normalized (labels filled in, unset keys dropped), or
    `ValidationError({"start_inputs": [...]})`, one message per problem, each starting
    with its path (`start_inputs.0.type: ...`) and coded (`duplicate_name`…)."""
    try:
        validated = StartInputs.model_validate(declared)
    except PydanticValidationError as exc:
        raise ValidationError({"start_inputs": django_errors(exc, root="start_inputs")}) from exc
    return [item.model_dump(mode="json", exclude_none=True) for item in validated.root]


def value_problem(spec: dict[str, Any], value: object) -> tuple[str, str] | None:
    """(code, message) when `value` does not fit the input `spec`, else None."""
    kind = spec["type"]
    if kind in ("string", "select") and not isinstance(value, str):
        return "invalid_type", "must be a string"
    if kind == "boolean" and not isinstance(value, bool):
        return "invalid_type", "must be true or false"
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "invalid_type", "must be a number"
        if not math.isfinite(value) or abs(value) > NUMBER_LIMIT:
            return "out_of_range", f"must be between -{NUMBER_LIMIT} and {NUMBER_LIMIT}"
    if kind == "string":
        limit = spec.get("max_length") or DEFAULT_MAX_LENGTH
        if len(value) > limit:  # type: ignore[arg-type]
            return "too_long", f"must be at most {limit} characters"
    if kind == "select" and value not in spec["options"]:
        return "invalid_choice", f"must be one of: {', '.join(spec['options'])}"
    return None


def start_variables(declared: list[dict[str, Any]], values: object) -> dict[str, Any]:
    """The conversation variables for a start's `values` (a JSON object, or None).

    Text is stripped; an empty text counts as missing. Optional inputs left out take their
    default, or stay unset (templates then render them empty).
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        message = "variables: must be a JSON object of input names and values"
        raise ValidationError({"variables": ValidationError(message, code="invalid_type")})
    inputs = {spec["name"]: spec for spec in declared}
    errors: dict[str, ValidationError] = {}
    unknown = [name for name in values if name not in inputs]
    for name in unknown[:MAX_UNKNOWN_REPORTED]:
        shown = name[:64]
        message = f"variables.{shown}: this bot declares no start input of that name"
        errors[f"variables.{shown}"] = ValidationError(message, code="unknown_variable")
    variables: dict[str, Any] = {}
    for name, spec in inputs.items():
        value = values.get(name)
        if isinstance(value, str):
            value = value.strip() or None
        if value is None:
            value = spec.get("default")
        if value is None:
            if spec.get("required"):
                message = f"variables.{name}: {spec['label']} is required"
                errors[f"variables.{name}"] = ValidationError(message, code="required")
            continue
        if problem := value_problem(spec, value):
            code, text = problem
            errors[f"variables.{name}"] = ValidationError(f"variables.{name}: {text}", code=code)
            continue
        variables[name] = value
    if errors:
        raise ValidationError(errors)
    return variables
