"""The one place every password is checked (AUTHENTICATION_BACKENDS): the login
mutation, HTTP Basic over HTTP and in a websocket's connection_init, the admin login.

- Failures are counted per client IP (RATE_LIMIT_LOGIN) and per username
  (RATE_LIMIT_LOGIN_PER_USERNAME); past either, the attempt raises PasswordThrottled
  before any hash is computed. Successes are not counted.
- Hashes run in a pool of their own (PASSWORD_HASH_WORKERS threads): Django's
  ModelBackend.aauthenticate hashes on the event loop, and sync_to_async would put them
  on the one thread that serves everyone's database work.
- A username or password the database cannot take (NUL, lone surrogate) is a wrong
  credential, never a database error.
"""

import asyncio
import functools
import hashlib
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import make_password, verify_password

from core.ratelimit import client_ip, count, count_sync, exceeded, exceeded_sync
from core.storable import is_storable


class PasswordThrottled(Exception):
    """Too many failed passwords from this client or for this username.

    Not a PermissionDenied: Django's authenticate() would turn that into a plain None.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins: retry in {retry_after} s.")
        self.retry_after = retry_after


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(settings.PASSWORD_HASH_WORKERS, thread_name_prefix="password")


def _limits(request, username: str) -> list[tuple[str, str, str]]:
    # Keyed by a digest: any text (NUL, lone surrogates, 64 KiB) makes a short, valid key.
    user_key = hashlib.sha256(username.casefold().encode("utf-8", "surrogatepass")).hexdigest()
    return [
        (settings.RATE_LIMIT_LOGIN, "password-ip", client_ip(request)),
        (settings.RATE_LIMIT_LOGIN_PER_USERNAME, "password-user", user_key[:32]),
    ]


def _throttle_if_exceeded(waits) -> None:
    waits = [wait for wait in waits if wait is not None]
    if waits:
        raise PasswordThrottled(max(waits))


def _check(user, password: str) -> bool:
    """The hash itself (in the pool). With no user Django's fake run keeps the timing of
    a known username; a hash made with old parameters is upgraded, as Django does."""
    if user is None:
        make_password(password)
        return False
    is_correct, must_update = verify_password(password, user.password)
    if is_correct and must_update:
        user.password = make_password(password)
        user.must_save_password = True
    return is_correct


def _find(username: str):
    manager = get_user_model()._default_manager
    return manager.filter(**{manager.model.USERNAME_FIELD: username})


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        limits = _limits(request, username)
        _throttle_if_exceeded(exceeded_sync(*limit) for limit in limits)
        if is_storable(username) and is_storable(password):
            user = _find(username).first()
            # Django's sync views (the admin) already hold a thread: it waits here while
            # the pool bounds how many hashes run at once.
            if _pool().submit(_check, user, password).result() and self.user_can_authenticate(user):
                if getattr(user, "must_save_password", False):
                    user.save(update_fields=["password"])
                return user
        for limit in limits:
            count_sync(*limit)
        return None

    async def aauthenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        limits = _limits(request, username)
        _throttle_if_exceeded([await exceeded(*limit) for limit in limits])
        if is_storable(username) and is_storable(password):
            user = await _find(username).afirst()
            checked = await asyncio.get_running_loop().run_in_executor(
                _pool(), _check, user, password
            )
            if checked and self.user_can_authenticate(user):
                if getattr(user, "must_save_password", False):
                    await user.asave(update_fields=["password"])
                return user
        for limit in limits:
            await count(*limit)
        return None
