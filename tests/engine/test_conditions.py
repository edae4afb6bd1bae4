import pytest

from conversations.engine.conditions import MISSING, evaluate, first_match, lookup

VARIABLES = {"name": "Ada", "order": {"total": 120, "items": [{"sku": "tea"}, {"sku": "mug"}]}}


def test_lookup_reads_top_level_variable():
    assert lookup(VARIABLES, "name") == "Ada"


def test_lookup_follows_dotted_keys_and_list_indexes():
    assert lookup(VARIABLES, "order.total") == 120
    assert lookup(VARIABLES, "order.items.1.sku") == "mug"


@pytest.mark.parametrize("path", ["nope", "order.nope", "order.items.5", "order.items.x", "name.0"])
def test_lookup_returns_missing_for_absent_paths(path):
    assert lookup(VARIABLES, path) is MISSING


def test_lookup_accepts_a_list_root():
    assert lookup([{"id": 7}], "0.id") == 7


def test_missing_is_falsy_and_prints_as_missing():
    assert not MISSING
    assert repr(MISSING) == "MISSING"


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        ("yes", "yes", True),
        ("Yes", "yes", False),
        (10, 10.0, True),
        ("10", 10, True),
        (" 10.50 ", "10.5", True),
        (True, True, True),
        (True, "true", True),
        (False, "FALSE", True),
        (True, 1, False),
        (None, None, True),
        (None, "", False),
        ([1, 2], [1, 2], True),
        ({"a": 1}, {"a": 1}, True),
        ("abc", 3, False),
    ],
)
def test_eq_coerces_numbers_and_compares_strings_exactly(actual, expected, result):
    assert evaluate("eq", actual, expected) is result


def test_ne_is_the_negation_of_eq():
    assert evaluate("ne", "a", "b") is True
    assert evaluate("ne", "5", 5) is False


@pytest.mark.parametrize(
    ("operator", "actual", "expected", "result"),
    [
        ("gt", 10, 9, True),
        ("gt", "10", "9", True),  # numeric strings compare as numbers
        ("gt", 9, 9, False),
        ("gte", 9, "9.0", True),
        ("lt", 1.5, 2, True),
        ("lt", 2, 2, False),
        ("lte", 2, 2, True),
        ("gt", "2024-05-01", "2024-04-30", True),  # other strings compare as strings
        ("lt", "B", "a", True),  # case-sensitive
        ("gt", "abc", 5, False),  # not comparable: false, no error
        ("lt", [1], 5, False),
        ("gte", None, 0, False),
    ],
)
def test_ordering_operators(operator, actual, expected, result):
    assert evaluate(operator, actual, expected) is result


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        ("hello world", "world", True),
        ("hello world", "World", False),
        ("order 66", 66, True),
        (["a", "b"], "b", True),
        ([1, 2], "2", True),
        ({"a": 1}, "a", True),
        ({"a": 1}, "b", False),
        (42, 4, False),
        ("true", True, False),
    ],
)
def test_contains(actual, expected, result):
    assert evaluate("contains", actual, expected) is result


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        ("tea", ["tea", "coffee"], True),
        ("5", [1, 5], True),
        ("milk", ["tea", "coffee"], False),
        ("tea", "tea, coffee", False),  # `in` needs a list
    ],
)
def test_in(actual, expected, result):
    assert evaluate("in", actual, expected) is result


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        ("order-123", r"\d+", True),
        ("order-123", r"^\d+$", False),
        (123, r"^\d+$", True),
        ("abc", "[", False),  # invalid pattern matches nothing
        (["abc"], "abc", False),
    ],
)
def test_regex_searches_the_value_as_text(actual, expected, result):
    assert evaluate("regex", actual, expected) is result


def test_exists_is_true_for_set_values_and_false_for_null():
    assert evaluate("exists", "", None) is True
    assert evaluate("exists", 0, None) is True
    assert evaluate("exists", None, None) is False


@pytest.mark.parametrize("operator", ["eq", "contains", "gt", "gte", "lt", "lte", "in", "regex"])
def test_missing_variable_fails_every_operator(operator):
    assert evaluate(operator, MISSING, "x") is False


def test_missing_variable_is_not_equal_and_does_not_exist():
    assert evaluate("ne", MISSING, "x") is True
    assert evaluate("exists", MISSING, None) is False


def test_unknown_operator_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown condition operator"):
        evaluate("like", "a", "a")


def test_first_match_returns_first_matching_target():
    branches = [
        {"variable": "order.total", "operator": "gt", "value": 500, "target": "vip"},
        {"variable": "order.total", "operator": "gt", "value": 100, "target": "big"},
        {"variable": "order.total", "operator": "gt", "value": 0, "target": "small"},
    ]

    assert first_match(branches, VARIABLES) == "big"


def test_first_match_returns_none_when_nothing_matches():
    branches = [{"variable": "coupon", "operator": "exists", "target": "discount"}]

    assert first_match(branches, VARIABLES) is None
