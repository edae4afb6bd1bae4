"""Checking a visitor's answer to a ``question`` step against its ``validation``.

``validation`` is the normalized dict from ``bots.content`` (``{"type": "text"}`` if the
step sets none). Every answer is trimmed first and may be at most ``MAX_ANSWER_LENGTH``
characters. Rules per type:

* ``text``: non-empty, within ``min_length``/``max_length``; the value is the text.
* ``number``: digits with an optional sign and one decimal separator, ``.`` or ``,``
  (``"1,5"`` is 1.5); spaces may group thousands (``"1 000"``). ``"1,000"`` is refused
  as ambiguous (one thousand, or one?) so the visitor is asked again rather than
  misread. Exponents, ``inf`` and ``nan`` are refused. The value is an ``int`` when the
  number is integral (``"2.0"`` is 2), else a ``float``; ``min``/``max`` are inclusive.
* ``email``: Django's ``EmailValidator``; the value has its domain lower-cased.
* ``choice``: an option, ignoring case, or its 1-based position (``"2"``); an option
  spelled exactly like the answer wins over a position. The value is the option as
  written in the step.
* ``regex``: the whole answer must match ``pattern`` (RE2's ``fullmatch``: linear time,
  see ``patterns``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from bots.patterns import compile_pattern

MAX_ANSWER_LENGTH = 4000

_NUMBER = re.compile(
    r"(?P<sign>[+-]?)"
    r"(?P<whole>\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d*)"
    r"(?:[.,](?P<fraction>\d+))?"
)
_THOUSANDS_COMMA = re.compile(r"[+-]?\d{1,3},\d{3}")
_email_validator = EmailValidator()


@dataclass(frozen=True)
class AnswerResult:
    """``value`` is what the engine stores; ``hint`` (empty when ok) says what is expected."""

    ok: bool
    value: object = None
    hint: str = ""


def validate_answer(validation: dict, answer: str) -> AnswerResult:
    """Check ``answer`` against ``validation`` and convert it to the value to store."""
    text = answer.strip()
    if len(text) > MAX_ANSWER_LENGTH:
        return AnswerResult(False, hint=f"Please answer in at most {MAX_ANSWER_LENGTH} characters.")
    checks = {
        "text": _text,
        "number": _number,
        "email": _email,
        "choice": _choice,
        "regex": _regex,
    }
    kind = validation.get("type", "text")
    if kind not in checks:
        raise ValueError(f"unknown answer validation type {kind!r}")
    return checks[kind](validation, text)


def _format_number(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _length_hint(validation: dict) -> str:
    low, high = validation.get("min_length"), validation.get("max_length")
    if low is not None and high is not None:
        return f"between {low} and {high} characters"
    if high is not None:
        return f"at most {high} characters"
    return f"at least {low} characters" if low is not None else ""


def _check_length(validation: dict, text: str) -> bool:
    low, high = validation.get("min_length"), validation.get("max_length")
    return (low is None or len(text) >= low) and (high is None or len(text) <= high)


def _text(validation: dict, text: str) -> AnswerResult:
    if text and _check_length(validation, text):
        return AnswerResult(True, text)
    length = _length_hint(validation)
    return AnswerResult(False, hint=f"Please reply with {length}." if length else "Please reply.")


def _parse_number(text: str) -> int | float | None:
    match = _NUMBER.fullmatch(text)
    if not match or _THOUSANDS_COMMA.fullmatch(text):
        return None
    whole = re.sub(r"\D", "", match["whole"])
    fraction = match["fraction"] or ""
    if not whole and not fraction:
        return None
    if fraction.strip("0"):
        return float(f"{match['sign']}{whole or 0}.{fraction}")
    return int(f"{match['sign']}{whole or 0}")


def _number(validation: dict, text: str) -> AnswerResult:
    low, high = validation.get("min"), validation.get("max")
    number = _parse_number(text) if len(text) <= 100 else None
    if number is not None and (low is None or number >= low) and (high is None or number <= high):
        return AnswerResult(True, number)
    if low is not None and high is not None:
        expected = f"a number from {_format_number(low)} to {_format_number(high)}"
    elif low is not None:
        expected = f"a number of at least {_format_number(low)}"
    elif high is not None:
        expected = f"a number of at most {_format_number(high)}"
    else:
        expected = "a number, like 42 or 3.5"
    return AnswerResult(False, hint=f"Please enter {expected}.")


def _email(validation: dict, text: str) -> AnswerResult:
    try:
        _email_validator(text)
    except ValidationError:
        return AnswerResult(
            False, hint="Please enter a valid email address, like name@example.com."
        )
    local, _, domain = text.rpartition("@")
    return AnswerResult(True, f"{local}@{domain.lower()}")


def _choice(validation: dict, text: str) -> AnswerResult:
    options: list[str] = validation.get("options") or []
    wanted = text.casefold()
    for option in options:
        if option.strip().casefold() == wanted:
            return AnswerResult(True, option)
    if text.isdecimal() and 1 <= int(text) <= len(options):
        return AnswerResult(True, options[int(text) - 1])
    listed = ", ".join(f"{number}. {option}" for number, option in enumerate(options, 1))
    return AnswerResult(False, hint=f"Please choose one of: {listed}.")


def _regex(validation: dict, text: str) -> AnswerResult:
    if compile_pattern(validation["pattern"]).fullmatch(text) and _check_length(validation, text):
        return AnswerResult(True, text)
    length = _length_hint(validation)
    expected = f"in the expected format, {length}" if length else "in the expected format"
    return AnswerResult(False, hint=f"Please answer {expected}.")
