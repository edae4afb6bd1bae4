"""Websocket origin check: Channels' OriginValidator over ALLOWED_HOSTS and
CORS_ALLOWED_ORIGINS, read at each handshake (so settings overrides apply).

Browsers always send Origin, so a foreign page cannot open a socket riding on the
visitor's cookies. Non-browser clients (scripts, `gql`, `websockets`) send none and
carry explicit credentials, so a missing Origin is allowed, unlike Channels'
AllowedHostsOriginValidator which rejects it. Channels' matching is kept for the rest:
`*` (Django's "any host") allows any origin, `.example.com` a domain and its
subdomains, and a pattern with a scheme (a CORS origin) must match scheme, host and port.
"""

from urllib.parse import urlparse

from channels.security.websocket import OriginValidator as ChannelsOriginValidator
from django.conf import settings

# Django serves these when DEBUG is on and ALLOWED_HOSTS is empty; Channels' validator too.
DEBUG_HOSTS = ["localhost", "127.0.0.1", "[::1]"]


def _patterns() -> list[str]:
    hosts = settings.ALLOWED_HOSTS or (DEBUG_HOSTS if settings.DEBUG else [])
    return [*hosts, *settings.CORS_ALLOWED_ORIGINS]


def _allows(parsed_origin) -> bool:
    return ChannelsOriginValidator(None, _patterns()).validate_origin(parsed_origin)


def origin_allowed(origin: str) -> bool:
    return _allows(urlparse(origin))


class OriginValidator(ChannelsOriginValidator):
    def __init__(self, application):
        super().__init__(application, allowed_origins=[])

    def valid_origin(self, parsed_origin) -> bool:
        return parsed_origin is None or _allows(parsed_origin)
