"""The outbound address guard shared by every server-side HTTP call whose URL an owner or
a visitor chose (``api_call`` steps, knowledge documents fetched by URL, webhook
deliveries); ``address_refusal`` checks a URL the same way when it is saved.

Before each hop the host is resolved and the call is refused if any resolved address is
private, loopback, link-local, multicast, reserved, unspecified or a cloud metadata
address, IPv4 addresses embedded in IPv6 included, unless the host (``"api.internal"``)
or host and port (``"api.internal:8080"``, ``"[::1]:8000"``) is in ``allow_hosts``.
The request then goes to the address that was checked, not to the name (the URL carries
the IP, the ``Host`` header the name, and for https the ``sni_hostname`` extension makes
TLS send and verify the name): a DNS answer that changes between the check and the
connection (DNS rebinding) cannot redirect the call.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import httpx

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

_METADATA_ADDRESSES = {ip_address("169.254.169.254"), ip_address("fd00:ec2::254")}
_NAT64 = ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """The host resolves to an address the guard refuses, or cannot be resolved.

    `code` is ``blocked_address`` or ``connection_error``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    if address.teredo:
        return address.teredo[1]
    return address.ipv4_mapped or address.sixtofour


def is_blocked_address(address: IPAddress) -> bool:
    """Whether a call to ``address`` could reach something that is not the public internet."""
    if isinstance(address, IPv6Address) and (embedded := _embedded_ipv4(address)):
        if is_blocked_address(embedded):
            return True
        if address.ipv4_mapped or address in _NAT64:
            return False  # these reach exactly the embedded IPv4 address
    return (
        address in _METADATA_ADDRESSES
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def is_allowed(url: httpx.URL, allow_hosts: Sequence[str]) -> bool:
    host = url.raw_host.decode("ascii").lower()
    shown = f"[{host}]" if ":" in host else host
    port = url.port or (443 if url.scheme == "https" else 80)
    names = {host, url.host.lower(), shown, f"{shown}:{port}"}
    return any(entry.strip().lower() in names for entry in allow_hosts)


def is_ip_literal(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to."""
    if is_ip_literal(host):
        return [ip_address(host)]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ip_address(info[4][0]) for info in infos))


async def pinned_request(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    *,
    headers: httpx.Headers,
    content: bytes | None = None,
    allow_hosts: Sequence[str] = (),
    resolver: Resolver = resolve,
) -> httpx.Request:
    """A request for ``url`` sent to the address that was checked (module docstring).

    Raises AddressRefused.
    """
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = await resolver(host, port)
    except OSError as exc:
        raise AddressRefused("connection_error", f"could not resolve {host}: {exc}") from exc
    if not addresses:
        raise AddressRefused("connection_error", f"{host} has no address")
    blocked = [address for address in addresses if is_blocked_address(address)]
    if blocked and not is_allowed(url, allow_hosts):
        raise AddressRefused(
            "blocked_address",
            f"{url.host} resolves to {blocked[0]}, a private or reserved address; "
            "add the host to API_CALL_ALLOW_HOSTS to allow it",
        )
    address = min(addresses, key=lambda candidate: candidate.version)  # IPv4 first
    headers = httpx.Headers(headers)
    headers["host"] = url.netloc.decode("ascii")
    extensions = {}
    if url.scheme == "https" and not is_ip_literal(host):
        extensions["sni_hostname"] = host
    return client.build_request(
        method,
        url.copy_with(host=str(address)),
        headers=headers,
        content=content,
        extensions=extensions,
    )


def address_refusal(url: str, *, allow_hosts: Sequence[str] = ()) -> str | None:
    """Why the guard would refuse to call `url` now (its host resolves to a private or
    reserved address and is not in `allow_hosts`), else None. Sync: it resolves the
    name (blocking), for checks made when a URL is saved. A host that does not resolve
    is not refused here: a call to it fails when it is made."""
    target = httpx.URL(url)
    host = target.raw_host.decode("ascii")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        literal = is_ip_literal(host)
        infos = [] if literal else socket.getaddrinfo(host, port)
    except OSError:
        return None
    addresses = [ip_address(host)] if literal else [ip_address(i[4][0]) for i in infos]
    blocked = [address for address in addresses if is_blocked_address(address)]
    if blocked and not is_allowed(target, allow_hosts):
        return (
            f"{target.host} resolves to {blocked[0]}, a private or reserved address; "
            "add the host to API_CALL_ALLOW_HOSTS to allow it"
        )
    return None
