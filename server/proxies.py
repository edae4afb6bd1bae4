"""The client's address and scheme behind reverse proxies, trusted only from proxies.

`X-Forwarded-For` and `X-Forwarded-Proto` are plain request headers: anyone who reaches
daphne directly can send them. So they are read only when the connection comes from an
address in `TRUSTED_PROXIES` (addresses or CIDR networks; empty by default: nobody).
Then the client is the rightmost address of the `X-Forwarded-For` chain that is not a
trusted proxy: every proxy appends the address it saw, so entries left of the first
untrusted one may have been written by the client itself.

Only well-formed IP addresses are taken (the chain's last `MAX_HOPS` entries at most);
if the entry that decides is not one, the connection's own address stays. So a junk
header can never become a rate-limit key or a log field.

This runs as ASGI middleware around the whole application, for HTTP and websockets
alike: Django's `REMOTE_ADDR` and `request.is_secure()`, the websocket scope's `client`,
`core.ratelimit.client_ip` and the access log all see the result. (uvicorn's
ProxyHeadersMiddleware does the same but would bring a second server into the image,
and passes on whatever string the header holds.)
"""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Proxies between a client and us: nginx, perhaps a cloud load balancer and a CDN.
MAX_HOPS = 10
SCHEMES = {
    "http": {b"http": "http", b"https": "https"},
    "websocket": {b"http": "ws", b"https": "wss"},
}


@lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from None


def _parse(value: str) -> Address | None:
    """An IP address, or None for anything else (ports, names, zone ids, junk)."""
    if "%" in value:
        return None  # an IPv6 zone id: unbounded text, and meaningless off the host
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _is_trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address in network for network in networks)


def forwarded_client(proxy: Address, forwarded_for: list[bytes], networks) -> str:
    """The client of a connection from the trusted `proxy` that carries these
    X-Forwarded-For header values (in order): the rightmost untrusted entry of the chain,
    the leftmost if all are trusted, `proxy` if the deciding entry is not an address."""
    chain = b",".join(forwarded_for).decode("latin-1").split(",")[-MAX_HOPS:]
    client = proxy
    for entry in reversed(chain):
        address = _parse(entry)
        if address is None:
            break
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)


class ProxyHeadersMiddleware:
    def __init__(self, application):
        self.application = application
        trusted_networks(tuple(settings.TRUSTED_PROXIES))  # a typo fails at start-up

    async def __call__(self, scope, receive, send):
        networks = trusted_networks(tuple(settings.TRUSTED_PROXIES))
        if scope["type"] in SCHEMES and networks and scope.get("client"):
            scope = self._rewritten(scope, networks)
        return await self.application(scope, receive, send)

    @staticmethod
    def _rewritten(scope, networks):
        proxy = _parse(scope["client"][0])
        if proxy is None or not _is_trusted(proxy, networks):
            return scope
        headers = scope["headers"]
        forwarded_for = [value for name, value in headers if name == b"x-forwarded-for"]
        # The connection's port says nothing about the client's.
        changes = {"client": (forwarded_client(proxy, forwarded_for, networks), 0)}
        proto = dict(headers).get(b"x-forwarded-proto", b"").split(b",")[-1].strip().lower()
        if scheme := SCHEMES[scope["type"]].get(proto):
            changes["scheme"] = scheme
        return {**scope, **changes}
