"""Fetch a document by URL through the outbound address guard (core.address_guard), as
`api_call` steps are: every hop's host is resolved and checked, the request goes to the
checked address, at most 3 redirects, compressed bodies refused, the body read as a
stream and abandoned past `max_bytes`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from core import address_guard

_REDIRECTS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Fetched:
    body: bytes
    content_type: str
    url: str


class FetchError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


async def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109  (httpx's own timeouts, per read; not a cut-off)
    allow_hosts: Sequence[str] = (),
    transport: httpx.AsyncBaseTransport | None = None,
) -> Fetched:
    """GET `url`; raises FetchError (codes as api_call's: blocked_address, timeout,
    too_large, http_error, connection_error, bad_response, too_many_redirects)."""
    client = httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )
    headers = httpx.Headers({"accept-encoding": "identity", "user-agent": "botstream-knowledge"})
    try:
        target = httpx.URL(url)
        async with client:
            for _ in range(MAX_REDIRECTS + 1):
                if target.scheme not in ("http", "https") or not target.host:
                    raise FetchError("invalid_url", f"not an http(s) URL: {target}")
                request = await address_guard.pinned_request(
                    client, "GET", target, headers=headers, allow_hosts=allow_hosts
                )
                response = await client.send(request, stream=True)
                try:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        target = target.join(location)
                        continue
                    return await _read(response, str(target), max_bytes)
                finally:
                    await response.aclose()
    except address_guard.AddressRefused as exc:
        raise FetchError(exc.code, str(exc)) from exc
    except httpx.TimeoutException as exc:
        raise FetchError("timeout", f"no complete response within {timeout:g} seconds") from exc
    except httpx.InvalidURL as exc:
        raise FetchError("invalid_url", f"invalid URL: {exc}") from exc
    except httpx.HTTPError as exc:
        raise FetchError("connection_error", f"the request failed: {exc!r}") from exc
    raise FetchError("too_many_redirects", f"more than {MAX_REDIRECTS} redirects")


async def _read(response: httpx.Response, url: str, max_bytes: int) -> Fetched:
    if response.status_code >= 400:
        raise FetchError("http_error", f"the server answered HTTP {response.status_code}")
    too_large = FetchError("too_large", f"the document is larger than {max_bytes} bytes")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError("bad_response", f"compressed responses ({encoding}) are not accepted")
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    return Fetched(bytes(body), response.headers.get("content-type", ""), url)
