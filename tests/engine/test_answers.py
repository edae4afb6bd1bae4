import pytest

from conversations.engine.answers import MAX_ANSWER_LENGTH, AnswerResult, validate_answer


def test_text_answer_is_trimmed():
    assert validate_answer({"type": "text"}, "  Ada  ") == AnswerResult(True, "Ada", "")


def test_empty_text_answer_is_refused_with_hint():
    result = validate_answer({"type": "text"}, "   ")

    assert not result.ok
    assert result.hint == "Please reply."


def test_text_length_limits_apply_with_hint():
    validation = {"type": "text", "min_length": 2, "max_length": 5}

    assert validate_answer(validation, "abc").ok
    assert validate_answer(validation, "a").hint == "Please reply with between 2 and 5 characters."
    assert not validate_answer(validation, "abcdef").ok


def test_overlong_answer_is_refused_for_every_type():
    result = validate_answer({"type": "text"}, "x" * (MAX_ANSWER_LENGTH + 1))

    assert not result.ok
    assert str(MAX_ANSWER_LENGTH) in result.hint


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("2.0", 2),
        ("1.5", 1.5),
        ("1,5", 1.5),
        (".5", 0.5),
        ("1 000", 1000),
        (" 12 ", 12),
    ],
)
def test_number_answers_are_parsed(answer, value):
    result = validate_answer({"type": "number"}, answer)

    assert result.ok
    assert result.value == value
    assert type(result.value) is type(value)


@pytest.mark.parametrize("answer", ["abc", "1,000", "1e5", "nan", "inf", "1.2.3", "", "-", "12 3"])
def test_non_numbers_and_ambiguous_numbers_are_refused(answer):
    result = validate_answer({"type": "number"}, answer)

    assert not result.ok
    assert result.hint == "Please enter a number, like 42 or 3.5."


def test_number_bounds_are_inclusive_with_hint():
    validation = {"type": "number", "min": 1.0, "max": 10.0}

    assert validate_answer(validation, "1").ok
    assert validate_answer(validation, "10").ok
    assert validate_answer(validation, "10.5").hint == "Please enter a number from 1 to 10."
    assert not validate_answer(validation, "0").ok


def test_number_one_sided_bound_hints():
    assert validate_answer({"type": "number", "min": 18}, "3").hint == (
        "Please enter a number of at least 18."
    )
    assert validate_answer({"type": "number", "max": 2.5}, "3").hint == (
        "Please enter a number of at most 2.5."
    )


def test_valid_email_is_accepted_with_lowercased_domain():
    result = validate_answer({"type": "email"}, " Ada.Lovelace@Example.COM ")

    assert result == AnswerResult(True, "Ada.Lovelace@example.com", "")


@pytest.mark.parametrize("answer", ["ada", "ada@", "@example.com", "ada@exa mple.com", "a@b@c.com"])
def test_invalid_email_is_refused_with_hint(answer):
    result = validate_answer({"type": "email"}, answer)

    assert not result.ok
    assert "email address" in result.hint


CHOICE = {"type": "choice", "options": ["Tea", "Coffee", "Hot chocolate"]}


def test_choice_matches_option_ignoring_case():
    assert validate_answer(CHOICE, "  coffee ") == AnswerResult(True, "Coffee", "")


def test_choice_accepts_one_based_position():
    assert validate_answer(CHOICE, "3").value == "Hot chocolate"


def test_choice_prefers_an_option_spelled_like_a_position():
    validation = {"type": "choice", "options": ["2", "1"]}

    assert validate_answer(validation, "1").value == "1"


def test_unknown_choice_is_refused_with_the_options_listed():
    result = validate_answer(CHOICE, "4")

    assert not result.ok
    assert result.hint == "Please choose one of: 1. Tea, 2. Coffee, 3. Hot chocolate."


def test_regex_must_match_the_whole_answer():
    validation = {"type": "regex", "pattern": r"[A-Z]{2}\d{4}"}

    assert validate_answer(validation, " AB1234 ") == AnswerResult(True, "AB1234", "")
    assert not validate_answer(validation, "AB12345").ok
    assert validate_answer(validation, "xAB1234").hint == "Please answer in the expected format."


def test_missing_validation_type_means_text():
    assert validate_answer({}, "hello").value == "hello"


def test_regex_length_limits_apply_with_hint():
    validation = {"type": "regex", "pattern": r"\d+", "max_length": 4}

    assert validate_answer(validation, "1234").ok
    assert validate_answer(validation, "12345").hint == (
        "Please answer in the expected format, at most 4 characters."
    )
