import pytest
from django.core.exceptions import ValidationError

from bots.content import STEP_TYPES, step_targets, step_waits_for_input, validate_step_content


def content_errors(step_type, content):
    with pytest.raises(ValidationError) as caught:
        validate_step_content(step_type, content)
    return caught.value.message_dict["content"]


def test_step_types_are_the_five_known_types():
    assert STEP_TYPES == ("message", "question", "condition", "api_call", "llm", "handoff")


def test_message_is_valid():
    assert validate_step_content("message", {"text": "Hi {{ name }}!"}) == {
        "text": "Hi {{ name }}!"
    }


def test_message_text_must_not_be_empty_or_too_long():
    assert content_errors("message", {"text": ""}) == [
        "content.text: String should have at least 1 character"
    ]
    assert content_errors("message", {"text": "x" * 4001}) == [
        "content.text: String should have at most 4000 characters"
    ]


def test_message_with_broken_template_names_the_field():
    assert content_errors("message", {"text": "Hi {{ name }"}) == [
        "content.text: template error on line 1: unexpected '}'"
    ]


def test_extra_keys_are_refused():
    assert content_errors("message", {"text": "Hi", "colour": "red"}) == [
        "content.colour: Extra inputs are not permitted"
    ]


def test_content_must_be_an_object():
    assert content_errors("message", ["Hi"]) == ["content: must be a JSON object"]


def test_unknown_step_type_is_a_step_type_error():
    with pytest.raises(ValidationError) as caught:
        validate_step_content("video", {})

    assert list(caught.value.message_dict) == ["step_type"]
    assert "Unknown step type 'video'" in caught.value.message_dict["step_type"][0]


def test_errors_carry_codes():
    with pytest.raises(ValidationError) as caught:
        validate_step_content("message", {"text": "Hi {{ name }"})

    assert [error.code for error in caught.value.error_dict["content"]] == ["invalid_template"]


def test_question_defaults_to_text_validation():
    assert validate_step_content("question", {"text": "Name?", "variable": "name"}) == {
        "text": "Name?",
        "variable": "name",
        "validation": {"type": "text"},
    }


@pytest.mark.parametrize(
    "validation",
    [
        {"type": "text", "min_length": 2, "max_length": 40},
        {"type": "number", "min": 0, "max": 120.5},
        {"type": "email"},
        {"type": "choice", "options": ["Tea", "Coffee"]},
        {"type": "regex", "pattern": r"[A-Z]{2}\d{4}"},
    ],
)
def test_question_accepts_every_validation_type(validation):
    content = {"text": "?", "variable": "answer", "validation": validation, "reask_text": "Again?"}

    normalized = validate_step_content("question", content)

    assert normalized["validation"]["type"] == validation["type"]
    assert normalized["reask_text"] == "Again?"


@pytest.mark.parametrize("variable", ["1st", "first name", "a-b", "x" * 65, "é"])
def test_question_variable_must_be_an_identifier(variable):
    [error] = content_errors("question", {"text": "?", "variable": variable})

    assert error.startswith("content.variable: must start with a letter or underscore")


@pytest.mark.parametrize(
    ("validation", "message"),
    [
        ({"type": "choice"}, "content.validation.options: a non-empty list is required"),
        ({"type": "choice", "options": []}, "content.validation.options: a non-empty list is"),
        ({"type": "choice", "options": ["a", "A"]}, "content.validation.options: options must"),
        ({"type": "regex"}, "content.validation.pattern: required for validation type 'regex'"),
        ({"type": "regex", "pattern": "(("}, "content.validation.pattern: invalid regular exp"),
        ({"type": "text", "min": 1}, "content.validation.min: not allowed for validation type"),
        ({"type": "email", "options": ["a"]}, "content.validation.options: not allowed for"),
        ({"type": "number", "min": 5, "max": 1}, "content.validation.max: must not be less than"),
        ({"type": "text", "min_length": 5, "max_length": 1}, "content.validation.max_length:"),
        ({"type": "date"}, "content.validation.type: Input should be 'text', 'number', 'email'"),
    ],
)
def test_question_validation_errors_name_the_field(validation, message):
    [error] = content_errors("question", {"text": "?", "variable": "a", "validation": validation})

    assert error.startswith(message)


CONDITION = {
    "branches": [
        {"variable": "order.total", "operator": "gt", "value": 100, "target": "Big order"},
        {"variable": "plan", "operator": "in", "value": ["pro", "team"], "target": "Paid"},
        {"variable": "code", "operator": "regex", "value": r"^\d{4}$", "target": "Paid"},
        {"variable": "coupon", "operator": "exists", "target": "Discount"},
        {"variable": "note", "operator": "eq", "value": None, "target": "No note"},
    ],
    "default_target": "Small order",
}


def test_condition_is_valid_and_keeps_a_null_comparison_value():
    normalized = validate_step_content("condition", CONDITION)

    assert normalized == CONDITION
    assert validate_step_content("condition", normalized) == normalized


def test_condition_needs_a_branch():
    assert content_errors("condition", {"branches": []}) == [
        "content.branches: List should have at least 1 item after validation, not 0"
    ]


def test_condition_unknown_operator_names_the_branch_path():
    branch = {"variable": "x", "operator": "like", "value": 1, "target": "A"}

    [error] = content_errors("condition", {"branches": [branch]})

    assert error == (
        "content.branches.0.operator: Input should be 'eq', 'ne', 'contains', 'gt', 'gte', "
        "'lt', 'lte', 'in', 'regex' or 'exists'"
    )


@pytest.mark.parametrize(
    ("branch", "message"),
    [
        ({"operator": "gt"}, "content.branches.0.value: required for operator 'gt'"),
        ({"operator": "in", "value": "a"}, "content.branches.0.value: must be a list"),
        ({"operator": "regex", "value": 5}, "content.branches.0.value: must be a string"),
        ({"operator": "regex", "value": "("}, "content.branches.0.value: invalid regular"),
        ({"operator": "exists", "variable": "a..b"}, "content.branches.0.variable: must be a"),
        ({"operator": "exists", "target": ""}, "content.branches.0.target: String should have"),
    ],
)
def test_condition_branch_errors_name_the_field(branch, message):
    branch = {"variable": "x", "target": "A", **branch}

    [error] = content_errors("condition", {"branches": [branch]})

    assert error.startswith(message)


API_CALL = {
    "method": "post",
    "url": "https://api.example.com/orders/{{ order_id }}",
    "headers": {"Authorization": "Bearer {{ token }}"},
    "body": {"note": "{{ note }}", "tags": ["a", None]},
    "select": "data.status",
    "variable": "status",
    "error_target": "API failed",
}


def test_api_call_is_valid_with_defaults_filled_in():
    assert validate_step_content("api_call", API_CALL) == {
        **API_CALL,
        "method": "POST",
        "timeout": 10.0,
        "max_bytes": 65536,
    }


def test_api_call_minimal_content_gets_defaults():
    content = {"url": "http://example.com/x", "variable": "result"}

    assert validate_step_content("api_call", content) == {
        "method": "GET",
        "url": "http://example.com/x",
        "headers": {},
        "timeout": 10.0,
        "max_bytes": 65536,
        "variable": "result",
    }


def test_api_call_url_may_start_with_a_template():
    content = {"url": "{{ base_url }}/orders", "variable": "result"}

    assert validate_step_content("api_call", content)["url"] == "{{ base_url }}/orders"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "ftp://example.com/"}, "content.url: must start with http:// or https://"),
        ({"url": "https://x/{{ a }"}, "content.url: template error"),
        ({"method": "TRACE"}, "content.method: Input should be 'GET', 'POST', 'PUT', 'PATCH'"),
        ({"timeout": 0}, "content.timeout: Input should be greater than 0"),
        ({"timeout": 31}, "content.timeout: Input should be less than or equal to 30"),
        ({"timeout": "5"}, "content.timeout: Input should be a valid number"),
        ({"max_bytes": 2_000_000}, "content.max_bytes: Input should be less than or equal to"),
        ({"headers": {"Host": "evil"}}, "content.headers.Host: is set by the HTTP client"),
        ({"headers": {"Bad Name": "x"}}, "content.headers.Bad Name: not a valid HTTP header"),
        ({"headers": {"X-A": "{{ a }"}}, "content.headers.X-A: template error"),
        ({"body": {"items": [{"n": "{% if %}"}]}}, "content.body.items.0.n: template error"),
        ({"variable": "my result"}, "content.variable: must start with a letter"),
    ],
)
def test_api_call_errors_name_the_field(changes, message):
    [error] = content_errors("api_call", {**API_CALL, **changes})

    assert error.startswith(message)


def test_api_call_requires_url_and_variable():
    assert content_errors("api_call", {}) == [
        "content.url: Field required",
        "content.variable: Field required",
    ]


def test_llm_is_valid_with_optional_variable():
    assert validate_step_content("llm", {"prompt": "Summarize: {{ notes }}"}) == {
        "prompt": "Summarize: {{ notes }}"
    }
    assert validate_step_content("llm", {"prompt": "Hi", "variable": "reply"})["variable"] == (
        "reply"
    )


def test_llm_prompt_template_is_checked():
    assert content_errors("llm", {"prompt": "{{ x "}) == [
        "content.prompt: template error on line 1: unexpected end of template, expected 'end "
        "of print statement'."
    ]


def test_step_targets_of_condition_are_branch_then_default_targets_without_duplicates():
    assert step_targets("condition", CONDITION) == [
        "Big order",
        "Paid",
        "Discount",
        "No note",
        "Small order",
    ]


def test_step_targets_of_api_call_is_its_error_target():
    assert step_targets("api_call", API_CALL) == ["API failed"]
    assert step_targets("api_call", {"url": "http://x", "variable": "v"}) == []


@pytest.mark.parametrize("step_type", ["message", "question", "llm"])
def test_other_step_types_have_no_targets(step_type):
    assert step_targets(step_type, {"text": "x"}) == []


def test_only_questions_and_handoffs_wait_for_input():
    assert [step_type for step_type in STEP_TYPES if step_waits_for_input(step_type)] == [
        "question",
        "handoff",
    ]
