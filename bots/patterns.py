"""Owner regular expressions, matched by RE2 (google-re2) in time linear in the input.

Python's ``re`` backtracks: ``(\\w+\\s?)*`` against 26 characters of a visitor's answer
took seconds, and answers may be 4,000 characters. RE2 has no backtracking, so it has no
backreferences or lookarounds either; such patterns are refused when the step is saved
(``pattern_problem``). RE2's ``\\w``, ``\\d`` and ``\\b`` are ASCII-only; ``\\pL`` matches
any letter.
"""

from __future__ import annotations

from functools import lru_cache

import re2

# A pattern's compiled automata stay within this much memory (RE2 refuses larger ones).
_MAX_MEMORY = 8 << 20


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is reported to the owner, not to stderr
    options.max_mem = _MAX_MEMORY
    return options


class PatternError(ValueError):
    """A pattern RE2 does not accept."""


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re2._Regexp:
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(str(reason)) from exc


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used (unsupported syntax included), or None."""
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        return (
            f"invalid regular expression: {exc} (patterns use RE2 syntax: no backreferences "
            "or lookarounds)"
        )
    return None
