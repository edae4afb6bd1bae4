"""Text the database can store: no NUL, no lone surrogates.

Postgres refuses NUL in text and JSON, and UTF-8 encoders (the database's, msgpack's for
the channel layer) refuse surrogates. Input from clients (variables, credentials) with
either is refused (``unstorable_reason``, ``is_storable``); text the engine produces from
templates (``{{ "\\x00" }}``) and API responses (``"\\u0000"``, ``"\\ud800"`` in JSON) is
repaired instead (``storable_text``, ``storable_json``): NUL is dropped and each surrogate
becomes U+FFFD, so the turn goes on with what can be kept.
"""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\\x00\\ud800-\\udfff]")


def unstorable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored ("nul_character", "lone_surrogate"), or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "nul_character" if found.group() == "\x00" else "lone_surrogate"


def is_storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def _replacement(match: re.Match[str]) -> str:
    return "" if match[0] == "\x00" else "\ufffd"


def storable_text(text: str) -> str:
    return _UNSTORABLE.sub(_replacement, text)


def storable_json(value: Any) -> Any:
    """``value`` (parsed JSON) with every string and key made storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    if isinstance(value, dict):
        return {storable_text(key): storable_json(item) for key, item in value.items()}
    return value
