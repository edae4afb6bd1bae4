"""Who is calling: session (Django), bearer API token, or HTTP Basic.

Used by the GraphQL view (HTTP) and the websocket consumer (connection_init payload),
so every transport authenticates the same way.
"""

import base64
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, aauthenticate, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.backends import PasswordThrottled
from accounts.models import ApiToken, usable_tokens
from core.storable import is_storable
from core.tokens import token_digest

LAST_USED_RESOLUTION = timedelta(minutes=1)


class AuthenticationFailed(Exception):
    """Credentials were sent but are wrong: the caller must be told, not treated as anonymous."""


class AuthenticationThrottled(AuthenticationFailed):
    """Too many wrong passwords: refused without checking (HTTP 429, websocket 4429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins: retry in {retry_after} s.")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Credential:
    """How a caller proved who they are, kept for as long as a websocket stays open and
    re-checked there (`credential_valid`): a revoked token, a logout, a password change
    or a deactivated user ends the socket."""

    kind: str  # "session", "token" or "basic"
    user_id: int
    # "read" (an API token's read scope: no mutations) or "write".
    scope: str = "write"
    token_id: int | None = None
    session_key: str | None = None
    # The password hash the Basic password was checked against.
    password_hash: str = ""


async def user_from_api_token(raw: str):
    if not is_storable(raw):
        raise AuthenticationFailed("Invalid or revoked API token.")
    now = timezone.now()
    token = (
        await usable_tokens(now).select_related("user").filter(digest=token_digest(raw)).afirst()
    )
    if token is None:
        raise AuthenticationFailed("Invalid or revoked API token.")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        await ApiToken.objects.filter(pk=token.pk).aupdate(last_used_at=now)
    return token.user, Credential("token", token.user_id, token.scope, token_id=token.pk)


async def user_from_basic(encoded: str, request=None):
    try:
        username, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError as exc:  # not base64 (binascii.Error), not ASCII, not UTF-8
        raise AuthenticationFailed("Malformed Basic credentials.") from exc
    try:
        user = await aauthenticate(request, username=username, password=password)
    except PasswordThrottled as exc:
        raise AuthenticationThrottled(exc.retry_after) from exc
    if user is None:
        raise AuthenticationFailed("Invalid username or password.")
    return user, Credential("basic", user.pk, password_hash=user.password)


async def user_from_authorization(header: str, request=None):
    """Resolve an `Authorization` header value to (user, Credential); `request` (or the
    websocket consumer) tells the client's address to the password throttle."""
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value:
        return await user_from_api_token(value.strip())
    if scheme == "basic" and value:
        return await user_from_basic(value.strip(), request)
    raise AuthenticationFailed("Unsupported Authorization scheme: use Bearer or Basic.")


def session_credential(user, session) -> Credential | None:
    """The credential of a user logged in by the session cookie (None if anonymous)."""
    if not user.is_authenticated or session is None or not session.session_key:
        return None
    return Credential("session", user.pk, session_key=session.session_key)


async def credential_valid(credential: Credential) -> bool:
    """Whether the credential would still authenticate its user now."""
    if credential.kind == "token":
        return await usable_tokens(timezone.now()).filter(pk=credential.token_id).aexists()
    user = await get_user_model()._default_manager.filter(pk=credential.user_id).afirst()
    if user is None or not user.is_active:
        return False
    if credential.kind == "basic":
        return constant_time_compare(user.password, credential.password_hash)
    # Django's own rule for a session: it still exists, for this user, with the hash of
    # the current password (a password change elsewhere logs it out).
    engine = import_module(settings.SESSION_ENGINE)
    data = await engine.SessionStore(credential.session_key).aload()
    return data.get(SESSION_KEY) == str(user.pk) and constant_time_compare(
        data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()
    )


def anonymous() -> AnonymousUser:
    return AnonymousUser()
