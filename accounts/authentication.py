"""Who is calling: session (Django), bearer API token, or HTTP Basic.

Used by the GraphQL view (HTTP) and the websocket consumer (connection_init payload),
so every transport authenticates the same way.
"""

import base64
import binascii
from datetime import timedelta

from django.contrib.auth import aauthenticate
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from accounts.backends import PasswordThrottled
from accounts.models import ApiToken, token_digest

LAST_USED_RESOLUTION = timedelta(minutes=1)


class AuthenticationFailed(Exception):
    """Credentials were sent but are wrong: the caller must be told, not treated as anonymous."""


class AuthenticationThrottled(AuthenticationFailed):
    """Too many wrong passwords: refused without checking (HTTP 429, websocket 4429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins: retry in {retry_after} s.")
        self.retry_after = retry_after


async def user_from_api_token(raw: str):
    token = (
        await ApiToken.objects.select_related("user")
        .filter(digest=token_digest(raw), revoked_at__isnull=True, user__is_active=True)
        .afirst()
    )
    if token is None:
        raise AuthenticationFailed("Invalid or revoked API token.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        await ApiToken.objects.filter(pk=token.pk).aupdate(last_used_at=now)
    return token.user


async def user_from_basic(encoded: str, request=None):
    try:
        username, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationFailed("Malformed Basic credentials.") from exc
    try:
        user = await aauthenticate(request, username=username, password=password)
    except PasswordThrottled as exc:
        raise AuthenticationThrottled(exc.retry_after) from exc
    if user is None:
        raise AuthenticationFailed("Invalid username or password.")
    return user


async def user_from_authorization(header: str, request=None):
    """Resolve an `Authorization` header value; `request` (or the websocket consumer)
    tells the client's address to the password throttle."""
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value:
        return await user_from_api_token(value.strip())
    if scheme == "basic" and value:
        return await user_from_basic(value.strip(), request)
    raise AuthenticationFailed("Unsupported Authorization scheme: use Bearer or Basic.")


def anonymous() -> AnonymousUser:
    return AnonymousUser()
