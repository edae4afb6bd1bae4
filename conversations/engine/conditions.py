"""Branch conditions of ``condition`` steps, evaluated against conversation variables.

Coercion rules (``evaluate`` never raises for a type mismatch, it returns False):

* numbers compare numerically when both sides are numbers or numeric strings
  (``"10" gt 9`` is true; booleans are not numbers);
* otherwise strings compare as strings, case-sensitively (``gt``/``lt`` order them, which
  suits ISO dates); a boolean equals the strings ``"true"``/``"false"`` in any case;
  other values are equal only when they have the same JSON type and value;
* ``contains``: substring of a string, element of a list (same equality as ``eq``), or
  key of an object; ``in`` is the reverse, against a list;
* ``regex``: RE2's ``search`` (linear time, see ``patterns``) in the value turned to text
  (anchor the pattern to match it whole); an invalid pattern matches nothing;
* ``exists``: the variable is set and not null;
* a missing variable (``MISSING``) fails every operator except ``ne``, which is true.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from bots.patterns import PatternError, compile_pattern

_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_MAX_REGEX_INPUT = 10_000


class _Missing:
    """The value of a variable path that leads nowhere."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def lookup(variables: Mapping[str, Any], path: str) -> Any:
    """Resolve a dotted path (``order.total``, ``items.0.name``) or return MISSING.

    Keys index objects; non-negative integers index lists. The root may also be a list
    (as in an API response).
    """
    value: Any = variables
    for key in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(key, MISSING)
        elif isinstance(value, list | tuple) and key.isdecimal() and int(key) < len(value):
            value = value[int(key)]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and len(value) <= 100 and _NUMERIC.fullmatch(value.strip()):
        text = value.strip()
        value = int(text) if text.lstrip("+-").isdecimal() else float(text)
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    return None


def _equal(actual: Any, expected: Any) -> bool:
    numbers = _as_number(actual), _as_number(expected)
    if None not in numbers:
        return numbers[0] == numbers[1]
    for flag, text in ((actual, expected), (expected, actual)):
        if isinstance(flag, bool) and isinstance(text, str):
            return text.strip().lower() == str(flag).lower()
    if type(actual) is not type(expected) and not (
        isinstance(actual, list | tuple) and isinstance(expected, list | tuple)
    ):
        return False
    try:
        return bool(actual == expected)
    except Exception:  # comparing exotic values must not break a scenario
        return False


def _order(actual: Any, expected: Any) -> int | None:
    """-1, 0 or 1 comparing actual to expected, or None when they cannot be ordered."""
    left, right = _as_number(actual), _as_number(expected)
    if left is None or right is None:
        if not (isinstance(actual, str) and isinstance(expected, str)):
            return None
        left, right = actual, expected
    return (left > right) - (left < right)


def _matches(actual: Any, pattern: Any) -> bool:
    if not isinstance(pattern, str) or isinstance(actual, list | dict) or actual is None:
        return False
    text = str(actual).lower() if isinstance(actual, bool) else str(actual)
    try:
        compiled = compile_pattern(pattern)
    except PatternError:
        return False
    return compiled.search(text[:_MAX_REGEX_INPUT]) is not None


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        textual = isinstance(item, str | int | float) and not isinstance(item, bool)
        return textual and str(item) in container
    if isinstance(container, list | tuple):
        return any(_equal(element, item) for element in container)
    if isinstance(container, Mapping):
        return isinstance(item, str) and item in container
    return False


def evaluate(operator: str, actual: Any, expected: Any) -> bool:
    """Whether ``actual <operator> expected`` holds; see the module docstring for rules."""
    if operator == "exists":
        return actual is not MISSING and actual is not None
    if operator not in _OPERATORS:
        raise ValueError(f"unknown condition operator {operator!r}")
    if actual is MISSING:
        return operator == "ne"
    return _OPERATORS[operator](actual, expected)


_OPERATORS = {
    "eq": _equal,
    "ne": lambda actual, expected: not _equal(actual, expected),
    "contains": _contains,
    "in": lambda actual, expected: isinstance(expected, list) and _contains(expected, actual),
    "regex": _matches,
    "gt": lambda actual, expected: (_order(actual, expected) or 0) > 0,
    "gte": lambda actual, expected: _order(actual, expected) in (0, 1),
    "lt": lambda actual, expected: (_order(actual, expected) or 0) < 0,
    "lte": lambda actual, expected: _order(actual, expected) in (-1, 0),
}


def first_match(branches: list[dict], variables: Mapping[str, Any]) -> str | None:
    """The target of the first branch whose condition holds, or None."""
    for branch in branches:
        actual = lookup(variables, branch["variable"])
        if evaluate(branch["operator"], actual, branch.get("value")):
            return branch["target"]
    return None
