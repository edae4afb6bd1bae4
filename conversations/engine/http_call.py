"""The HTTP request of an ``api_call`` step, guarded against server-side request forgery.

Scenario owners choose the URL and visitors may fill parts of it, percent-encoded for
their position (``urls``: a visitor never changes the scheme, host, path structure or
query keys). Before every hop (the first request and each redirect) the host is resolved
by ``core.address_guard`` and the call is refused if any resolved address is private,
loopback, link-local, multicast, reserved, unspecified or a cloud metadata address, IPv4
addresses embedded in IPv6 included, unless the host (``"api.internal"``) or host and
port (``"api.internal:8080"``, ``"[::1]:8000"``) is in
``allow_hosts`` (the ``API_CALL_ALLOW_HOSTS`` setting, passed in by the engine).

The request then goes to the address that was checked, not to the name: the URL carries
the IP, the ``Host`` header the original name and, for https, the ``sni_hostname``
extension makes TLS send and verify the original name. A DNS answer that changes
between the check and the connection (DNS rebinding) therefore cannot redirect the call.

Responses are read as a stream and abandoned past ``max_bytes``; compressed bodies are
refused (``Accept-Encoding: identity`` is sent) because a small compressed body can
inflate past any limit. Redirects are followed by hand, at most ``max_redirects``; one
to another origin (scheme, host or port) drops every header the step set (Content-Type
excepted) and any Authorization, Cookie or Proxy-Authorization.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bots.content import RESERVED_HEADERS
from bots.templating import RenderBudget, TemplateError, render, render_json
from conversations.engine.conditions import MISSING, lookup
from conversations.engine.offload import off_loop
from conversations.engine.urls import render_url
from core import address_guard
from core.address_guard import AddressRefused, IPAddress
from core.address_guard import is_blocked_address as is_blocked_address  # re-exported
from core.storable import storable_json

_REDIRECTS = {301, 302, 303, 307, 308}
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")


@dataclass(frozen=True)
class ApiCallResult:
    """``value`` is the (selected) response on success; ``error_code`` says why not."""

    ok: bool
    status: int | None = None
    value: object = None
    error: str | None = None
    error_code: str | None = None


class _CallFailed(Exception):
    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class _Hop:
    method: str
    url: httpx.URL
    headers: httpx.Headers
    content: bytes | None
    # The headers the step set (API keys...): never sent to another origin.
    owner_headers: frozenset[str] = frozenset()


async def perform_api_call(
    spec: Mapping[str, Any],
    variables: Mapping[str, Any],
    *,
    allow_hosts: Sequence[str] = (),
    max_redirects: int = 3,
    budget: RenderBudget | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ApiCallResult:
    """Send the request an ``api_call`` step describes and return its (selected) result.

    ``spec`` is the step's normalized content. Never raises for network or server
    problems: the result has ``ok=False`` and an ``error_code`` among
    ``invalid_request``, ``blocked_address``, ``timeout``, ``too_large``, ``http_error``
    (with ``status``), ``connection_error``, ``bad_response``, ``too_many_redirects``.
    The URL, headers and body are rendered off the event loop within ``budget`` (the
    turn's; RenderBudgetExceeded propagates). ``transport`` replaces httpx's network
    transport (tests).
    """
    timeout = float(spec.get("timeout", 10.0))
    client = httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )
    try:
        async with asyncio.timeout(timeout), client:
            hop = await off_loop(_first_hop, spec, variables, budget or RenderBudget())
            return await _follow(client, hop, spec, allow_hosts or (), max_redirects)
    except _CallFailed as exc:
        return ApiCallResult(False, exc.status, None, str(exc), exc.code)
    except TimeoutError:
        message = f"no complete response within {timeout:g} seconds"
        return ApiCallResult(False, None, None, message, "timeout")


def _first_hop(spec: Mapping[str, Any], variables: Mapping[str, Any], budget: RenderBudget) -> _Hop:
    try:
        url = httpx.URL(render_url(spec["url"], variables, budget=budget))
        header_values = {
            name: render(value, variables, budget=budget)
            for name, value in spec.get("headers", {}).items()
        }
        body = render_json(spec.get("body"), variables, budget=budget)
    except TemplateError as exc:
        raise _CallFailed("invalid_request", str(exc)) from exc
    except httpx.InvalidURL as exc:
        raise _CallFailed("invalid_request", f"invalid URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise _CallFailed("invalid_request", f"not an http(s) URL: {url}")
    if any("\r" in value or "\n" in value for value in header_values.values()):
        raise _CallFailed("invalid_request", "a header value contains a line break")
    headers = httpx.Headers(header_values, encoding="utf-8")
    for name in RESERVED_HEADERS:  # set by httpx or by the address pinning
        headers.pop(name, None)
    # Content-Type describes a body a redirect may re-send; it is no credential.
    owner_headers = frozenset(name.lower() for name in headers) - {"content-type"}
    headers["accept-encoding"] = "identity"
    content = None
    if isinstance(body, str):
        content = body.encode()
        headers.setdefault("content-type", "text/plain; charset=utf-8")
    elif body is not None:
        content = json.dumps(body, ensure_ascii=False).encode()
        headers.setdefault("content-type", "application/json")
    return _Hop(str(spec.get("method", "GET")).upper(), url, headers, content, owner_headers)


async def _follow(
    client: httpx.AsyncClient,
    hop: _Hop,
    spec: Mapping[str, Any],
    allow_hosts: Sequence[str],
    max_redirects: int,
) -> ApiCallResult:
    for _ in range(max_redirects + 1):
        request = await _pinned_request(client, hop, allow_hosts)
        with _httpx_errors():
            response = await client.send(request, stream=True)
        try:
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                return await _result(response, spec)
            hop = _redirected(hop, response.status_code, location)
        finally:
            await response.aclose()
    raise _CallFailed("too_many_redirects", f"more than {max_redirects} redirects")


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """Turn httpx's exceptions into error codes."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise _CallFailed("timeout", f"the request timed out: {exc!r}") from exc
    except (httpx.RemoteProtocolError, httpx.DecodingError) as exc:
        raise _CallFailed("bad_response", f"malformed response: {exc}") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise _CallFailed("invalid_request", str(exc)) from exc
    except httpx.HTTPError as exc:
        raise _CallFailed("connection_error", f"connection failed: {exc!r}") from exc


async def _resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to (tests replace this to fake DNS answers)."""
    return await address_guard.resolve(host, port)


async def _pinned_request(
    client: httpx.AsyncClient, hop: _Hop, allow_hosts: Sequence[str]
) -> httpx.Request:
    try:
        return await address_guard.pinned_request(
            client,
            hop.method,
            hop.url,
            headers=hop.headers,
            content=hop.content,
            allow_hosts=allow_hosts,
            resolver=_resolve,
        )
    except AddressRefused as exc:
        raise _CallFailed(exc.code, str(exc)) from exc


def _redirected(hop: _Hop, status: int, location: str) -> _Hop:
    try:
        url = hop.url.join(location)
    except httpx.InvalidURL as exc:
        raise _CallFailed("bad_response", f"invalid redirect location: {location!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise _CallFailed("bad_response", f"redirect to a non-http(s) URL: {location!r}")
    method, content, headers = hop.method, hop.content, httpx.Headers(hop.headers)
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, content = "GET", None
        headers.pop("content-type", None)
    if (url.scheme, url.host, url.port) != (hop.url.scheme, hop.url.host, hop.url.port):
        for name in (*_CREDENTIAL_HEADERS, *hop.owner_headers):
            headers.pop(name, None)
    return _Hop(method, url, headers, content, hop.owner_headers)


async def _result(response: httpx.Response, spec: Mapping[str, Any]) -> ApiCallResult:
    status = response.status_code
    if status >= 400:
        raise _CallFailed("http_error", f"the server answered HTTP {status}", status)
    body = await _read_capped(response, int(spec.get("max_bytes", 65_536)))
    # Up to max_bytes (1 MiB) of JSON to parse and clean: off the event loop.
    value = await off_loop(lambda: storable_json(_decode(response, body)))
    select = spec.get("select")
    if select:
        value = lookup(value, select)
        if value is MISSING:
            raise _CallFailed("bad_response", f"the response has nothing at {select!r}", status)
    return ApiCallResult(True, status, value)


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    too_large = _CallFailed(
        "too_large", f"the response is larger than {max_bytes} bytes", response.status_code
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        message = f"compressed responses ({encoding}) are not accepted"
        raise _CallFailed("bad_response", message, response.status_code)
    body = bytearray()
    with _httpx_errors():  # no decoding happens: compressed bodies were refused above
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise too_large
    return bytes(body)


def _decode(response: httpx.Response, body: bytes) -> Any:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return json.loads(body) if body.strip() else None
        except ValueError as exc:
            message = f"the response is not valid JSON: {exc}"
            raise _CallFailed("bad_response", message, response.status_code) from exc
    try:
        return body.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class PostResult:
    """The outcome of `post_guarded`: the status when a response came, else why not."""

    status: int | None = None
    error: str | None = None
    error_code: str | None = None


async def post_guarded(
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    *,
    allow_hosts: Sequence[str] = (),
    seconds: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> PostResult:
    """POST `content` to `url` through the same address guard as an ``api_call`` step
    (each resolved address checked, the request pinned to the one checked), within
    `seconds` for the whole exchange. Redirects are not followed (a 3xx is the
    answer) and the response body is never read (only its status matters), so no
    response can be too large. Never raises for network problems: `error_code` is one
    of ``invalid_request``, ``blocked_address``, ``timeout``, ``connection_error``,
    ``bad_response``. (Outbound webhooks use it.)
    """
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return PostResult(None, f"invalid URL: {exc}", "invalid_request")
    if target.scheme not in ("http", "https") or not target.host:
        return PostResult(None, f"not an http(s) URL: {url}", "invalid_request")
    hop = _Hop("POST", target, httpx.Headers(dict(headers)), content)
    client = httpx.AsyncClient(
        transport=transport, timeout=seconds, follow_redirects=False, trust_env=False
    )
    try:
        async with asyncio.timeout(seconds), client:
            request = await _pinned_request(client, hop, allow_hosts)
            with _httpx_errors():
                response = await client.send(request, stream=True)
            await response.aclose()
            return PostResult(response.status_code)
    except _CallFailed as exc:
        return PostResult(exc.status, str(exc), exc.code)
    except TimeoutError:
        return PostResult(None, f"no response within {seconds:g} seconds", "timeout")
