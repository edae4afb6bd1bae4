"""URL templates of ``api_call`` steps: values are percent-encoded for where they land.

A visitor's answer (or an LLM reply, or an API result) printed into a URL must stay data:
``/orders/{{ order_id }}`` with ``../../admin/users?all=1#`` must not reach
``/admin/users?all=1``. So every ``{{ }}`` value is encoded for its position in the
structure the owner wrote:

* path: one segment (``/``, ``?``, ``#``, ``%`` are encoded); a segment that the value
  makes ``.`` or ``..`` is refused;
* query: a value (``&``, ``=``, ``+``, ``#`` encoded); a value in a query *key* is refused;
* fragment: encoded the same way;
* scheme, host, port or user info: refused, so a visitor never chooses where the call goes.

An owner who builds structure from a trusted value opts out with ``{{ base|raw_url }}``:
that text is inserted as it is and counts as part of the structure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from bots.templating import (
    URL_MARK_END,
    URL_MARK_START,
    RenderBudget,
    TemplateError,
    render_marked_url,
)

_MARK = re.compile(f"{URL_MARK_START}(\\d+){URL_MARK_END}")


def render_url(template: str, variables: Mapping[str, Any], *, budget: RenderBudget) -> str:
    """Render a URL template, each value encoded for its position (see module docstring).

    Raises TemplateError when a value would land in the scheme, host or a query key, or
    would make a path segment ``.``/``..``.
    """
    marked, values = render_marked_url(template, variables, budget=budget)
    marked = marked.strip()
    rest, hash_, fragment = marked.partition("#")
    rest, question, query = rest.partition("?")
    scheme, separator, rest = rest.partition("://")
    if not separator:
        rest, scheme = scheme, ""
    authority, slash, path = rest.partition("/")
    if _MARK.search(scheme) or _MARK.search(authority):
        raise TemplateError(
            "a value may not set the URL's scheme or host; write them in the URL, or mark "
            "a trusted value with |raw_url"
        )
    encoded_path = "/".join(_segment(part, values) for part in path.split("/"))
    encoded_query = "&".join(_query_pair(pair, values) for pair in query.split("&"))
    return (
        f"{scheme}{separator}{authority}{slash}{encoded_path}"
        f"{question}{encoded_query if question else ''}"
        f"{hash_}{_fill(fragment, values)}"
    )


def _fill(text: str, values: list[str]) -> str:
    return _MARK.sub(lambda mark: quote(values[int(mark[1])], safe=""), text)


def _segment(segment: str, values: list[str]) -> str:
    encoded = _fill(segment, values)
    if encoded != segment and unquote(encoded) in (".", ".."):
        raise TemplateError("a value may not make a URL path segment '.' or '..'")
    return encoded


def _query_pair(pair: str, values: list[str]) -> str:
    key, equals, value = pair.partition("=")
    if _MARK.search(key):
        raise TemplateError(
            "a value may not set a query parameter's name; write the name in the URL, or "
            "mark a trusted value with |raw_url"
        )
    return f"{key}{equals}{_fill(value, values)}"
