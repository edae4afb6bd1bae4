"""Websocket origin check.

Browsers always send Origin, so a foreign page cannot open a socket riding on the
visitor's cookies. Non-browser clients (scripts, `gql`, `websockets`) send none and
carry explicit credentials, so a missing Origin is allowed, unlike Channels'
AllowedHostsOriginValidator which rejects it.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port


def origin_allowed(origin: str) -> bool:
    if origin in settings.CORS_ALLOWED_ORIGINS:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host, _port = split_domain_port(parts.netloc)
    return any(is_same_domain(host, pattern) for pattern in settings.ALLOWED_HOSTS)


class OriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        origin = dict(scope.get("headers", [])).get(b"origin")
        if origin is not None and not origin_allowed(origin.decode("latin1")):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
