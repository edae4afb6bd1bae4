"""The ``content`` of a scenario step: one pydantic schema per step type.

Steps refer to other steps of the same scenario by name. Text, URL, header, body and
prompt strings are Jinja templates (see ``bots.templating``) and are
compiled here, so a broken template is refused when the scenario is saved.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from django.core.exceptions import ValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from bots.patterns import pattern_problem
from bots.templating import check_template

Operator = Literal["eq", "ne", "contains", "gt", "gte", "lt", "lte", "in", "regex", "exists"]
ValidationType = Literal["text", "number", "email", "choice", "regex"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

STEP_TYPES: tuple[str, ...] = ("message", "question", "condition", "api_call", "llm", "handoff")
OPERATORS: tuple[str, ...] = get_args(Operator)
VALIDATION_TYPES: tuple[str, ...] = get_args(ValidationType)
HTTP_METHODS: tuple[str, ...] = get_args(HttpMethod)
# Set by the HTTP client itself (the address is pinned, the body is encoded by us).
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_VARIABLE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z0-9_-]{1,64}){0,15}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
_ALLOWED_VALIDATION_FIELDS = {
    "text": {"min_length", "max_length"},
    "number": {"min", "max"},
    "email": set(),
    "choice": {"options"},
    "regex": {"pattern", "min_length", "max_length"},
}


def _error(code: str, message: str, field: str | None = None) -> PydanticCustomError:
    """An error whose path ends at ``field`` (below the location pydantic reports)."""
    context: dict[str, Any] = {"error": message}
    if field is not None:
        context["field"] = field
    return PydanticCustomError(code, "{error}", context)


def _identifier(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise _error(
            "invalid_identifier",
            "must start with a letter or underscore and contain only letters, digits and "
            "underscores (at most 64 characters)",
        )
    return value


def _variable_path(value: str) -> str:
    if not _VARIABLE_PATH.fullmatch(value):
        raise _error(
            "invalid_variable",
            "must be a variable name, optionally followed by dotted keys or indexes "
            "(e.g. order.items.0.name)",
        )
    return value


def _template(value: str) -> str:
    problem = check_template(value)
    if problem:
        raise _error("invalid_template", problem)
    return value


def _compiled_pattern(value: str, field: str | None = None) -> str:
    problem = pattern_problem(value)
    if problem:
        raise _error("invalid_regex", problem, field)
    return value


def _http_url(value: str) -> str:
    if value.startswith(("{{", "{%")):
        return value  # a trusted value marked |raw_url; checked again after rendering
    if not value.lower().startswith(("http://", "https://")):
        raise _error("invalid_url", "must start with http:// or https://")
    return value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _templates_in(value: JsonValue, path: str) -> JsonValue:
    if isinstance(value, str):
        problem = check_template(value)
        if problem:
            raise _error("invalid_template", problem, path or None)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _templates_in(item, f"{path}.{index}".lstrip("."))
    elif isinstance(value, dict):
        for key, item in value.items():
            _templates_in(item, f"{path}.{key}".lstrip("."))
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
VariablePath = Annotated[str, StringConstraints(max_length=500), AfterValidator(_variable_path)]
StepName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000), AfterValidator(_template)]
Prompt = Annotated[str, StringConstraints(min_length=1, max_length=8000), AfterValidator(_template)]
Option = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Content(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class MessageContent(_Content):
    text: Text
    # True: the scenario ends after this step (whatever comes next by order).
    end: bool | None = None


class AnswerValidation(_Content):
    type: ValidationType = "text"
    options: list[Option] | None = Field(default=None, max_length=100)
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    min_length: Annotated[int, Field(ge=0, le=4000)] | None = None
    max_length: Annotated[int, Field(ge=1, le=4000)] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _fits_type(self) -> AnswerValidation:
        allowed = _ALLOWED_VALIDATION_FIELDS[self.type]
        for name in ("options", "pattern", "min_length", "max_length", "min", "max"):
            if getattr(self, name) is not None and name not in allowed:
                raise _error("not_allowed", f"not allowed for validation type {self.type!r}", name)
        if self.type == "choice" and not self.options:
            raise _error("required", "a non-empty list is required for type 'choice'", "options")
        if self.options and len({option.casefold() for option in self.options}) < len(self.options):
            raise _error("duplicate", "options must differ (ignoring case)", "options")
        if self.type == "regex":
            if self.pattern is None:
                raise _error("required", "required for validation type 'regex'", "pattern")
            _compiled_pattern(self.pattern, "pattern")
        if None not in (self.min_length, self.max_length) and self.min_length > self.max_length:
            raise _error("invalid_range", "must not be less than min_length", "max_length")
        if None not in (self.min, self.max) and self.min > self.max:
            raise _error("invalid_range", "must not be less than min", "max")
        return self


class QuestionContent(_Content):
    text: Text
    variable: Identifier
    validation: AnswerValidation = Field(default_factory=AnswerValidation)
    reask_text: Text | None = None


class Branch(_Content):
    variable: VariablePath
    operator: Operator
    value: JsonValue = None
    target: StepName

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Branch:
        if self.operator == "exists":
            return self
        if "value" not in self.model_fields_set:
            raise _error("required", f"required for operator {self.operator!r}", "value")
        if self.operator == "in" and not isinstance(self.value, list):
            raise _error("invalid_type", "must be a list for operator 'in'", "value")
        if self.operator == "regex":
            if not isinstance(self.value, str):
                raise _error("invalid_type", "must be a string for operator 'regex'", "value")
            _compiled_pattern(self.value, "value")
        return self

    @model_serializer(mode="wrap")
    def _keep_null_value(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # `"value": null` is a real comparison value; exclude_none must not drop it.
        data = handler(self)
        if "value" in self.model_fields_set and self.operator != "exists":
            data["value"] = self.value
        return data


class ConditionContent(_Content):
    branches: list[Branch] = Field(min_length=1, max_length=50)
    default_target: StepName | None = None


class ApiCallContent(_Content):
    method: Annotated[HttpMethod, BeforeValidator(_upper)] = "GET"
    url: Annotated[
        str,
        StringConstraints(min_length=1, max_length=2048),
        AfterValidator(_template),
        AfterValidator(_http_url),
    ]
    headers: dict[str, Annotated[str, StringConstraints(max_length=4000)]] = Field(
        default_factory=dict, max_length=50
    )
    body: JsonValue = None
    timeout: float = Field(default=10.0, gt=0, le=30)
    max_bytes: int = Field(default=65_536, ge=1, le=1_048_576)
    select: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    variable: Identifier
    error_target: StepName | None = None

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name):
                raise _error("invalid_header", "not a valid HTTP header name", name)
            if name.lower() in RESERVED_HEADERS:
                raise _error("reserved_header", "is set by the HTTP client", name)
            problem = check_template(value)
            if problem:
                raise _error("invalid_template", problem, name)
        return headers

    @field_validator("body")
    @classmethod
    def _check_body(cls, body: JsonValue) -> JsonValue:
        return _templates_in(body, "")


class LlmContent(_Content):
    prompt: Prompt
    variable: Identifier | None = None
    end: bool | None = None
    # Passages of the bot's documents in the request, cited in the reply: true or false
    # here, else the bot's `knowledge_enabled`.
    knowledge: bool | None = None


class HandoffContent(_Content):
    # Said to the visitor before the handoff starts (the built-in notice follows it).
    text: Text | None = None


CONTENT_MODELS: dict[str, type[_Content]] = {
    "message": MessageContent,
    "question": QuestionContent,
    "condition": ConditionContent,
    "api_call": ApiCallContent,
    "llm": LlmContent,
    "handoff": HandoffContent,
}


def django_errors(exc: PydanticValidationError, root: str = "content") -> list[ValidationError]:
    """One Django error per pydantic error, its message starting with its path under
    ``root`` (``content.branches.0.operator: ...``) and its code pydantic's type."""
    errors = []
    for error in exc.errors(include_url=False):
        location = [str(part) for part in error["loc"]]
        field = error.get("ctx", {}).get("field")
        if field is not None:
            location.append(field)
        path = ".".join([root, *location])
        errors.append(ValidationError(f"{path}: {error['msg']}", code=error["type"]))
    return errors


def validate_step_content(step_type: str, content: object) -> dict:
    """Validate ``content`` for ``step_type`` and return it normalized (defaults filled in).

    Raises ``ValidationError({"step_type": ...})`` for an unknown type, else
    ``ValidationError({"content": [...]})`` with one message per problem, each starting
    with its path (``content.branches.0.operator: ...``).
    """
    model = CONTENT_MODELS.get(step_type)
    if model is None:
        message = f"Unknown step type {step_type!r}; expected one of: {', '.join(STEP_TYPES)}."
        raise ValidationError({"step_type": [ValidationError(message, code="invalid_choice")]})
    if not isinstance(content, dict):
        message = "content: must be a JSON object"
        raise ValidationError({"content": [ValidationError(message, code="invalid_type")]})
    try:
        validated = model.model_validate(content)
    except PydanticValidationError as exc:
        raise ValidationError({"content": django_errors(exc)}) from exc
    return validated.model_dump(mode="json", exclude_none=True)


def step_targets(step_type: str, content: dict) -> list[str]:
    """The names of the steps that ``content`` refers to, in order, without duplicates."""
    if step_type == "condition":
        names = [branch["target"] for branch in content.get("branches", [])]
        names.append(content.get("default_target"))
    elif step_type == "api_call":
        names = [content.get("error_target")]
    else:
        names = []
    return list(dict.fromkeys(name for name in names if name))


def step_ends_scenario(content: dict) -> bool:
    """Message and LLM steps may end the scenario explicitly (`"end": true`)."""
    return bool(content.get("end"))


def step_waits_for_input(step_type: str) -> bool:
    """Whether the engine stops at this step until the visitor answers (a question), or
    until an operator hands the conversation back (a handoff)."""
    return step_type in ("question", "handoff")
