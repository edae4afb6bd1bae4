"""Django's stock middlewares (and django-csp's), with their hooks run on the event loop.

Why: in an async request Django runs every `process_request` / `process_view` /
`process_response` of a `MiddlewareMixin` middleware through `sync_to_async`: a hop to
the worker thread and back, fifteen per request with the stock list (each a few hundred
microseconds of CPU, and a wait for the GIL). Inline: in-process `/graphql` ~21 → ~16.5
ms of CPU per request, 30 → 52 req/s under daphne (docs/BENCHMARKS.md "Profile of the
slowest path", row 8; commit 15b88e2).

These hooks do no I/O, with three exceptions handled here: saving a modified session
(SessionMiddleware), storing messages (MessageMiddleware, which may load the session),
and the CSRF secret when it lives in the session (CSRF_USE_SESSIONS). Those still go to
the thread, only when they will touch the database. Sync requests (the test client,
WSGI) are unchanged.

Written against Django 5.2.19 and django-csp 4.0. `InlineHooks.__acall__` is a copy of
`MiddlewareMixin.__acall__` with the thread hops made conditional; it relies on each
hook above doing no I/O. tests/overrides/test_django_middleware.py pins the source of
`__acall__` and of every hook run inline, so an upgrade that changes one fails there.
"""

from asgiref.sync import sync_to_async
from csp.middleware import CSPMiddleware as _CSP
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Message
from django.contrib.sessions.middleware import SessionMiddleware as _Session
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptions
from django.middleware.common import CommonMiddleware as _Common
from django.middleware.csrf import CsrfViewMiddleware as _CsrfView
from django.middleware.security import SecurityMiddleware as _Security


class InlineHooks:
    def request_needs_thread(self, request) -> bool:
        return False

    def response_needs_thread(self, request) -> bool:
        return False

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            if self.request_needs_thread(request):
                response = await sync_to_async(self.process_request)(request)
            else:
                response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_needs_thread(request):
                response = await sync_to_async(self.process_response)(request, response)
            else:
                response = self.process_response(request, response)
        return response


class SecurityMiddleware(InlineHooks, _Security):
    pass


class CSPMiddleware(InlineHooks, _CSP):
    pass  # builds a header from settings: no I/O


class SessionMiddleware(InlineHooks, _Session):
    def response_needs_thread(self, request) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(InlineHooks, _Common):
    pass


class CsrfViewMiddleware(InlineHooks, _CsrfView):
    def request_needs_thread(self, request) -> bool:
        return settings.CSRF_USE_SESSIONS

    response_needs_thread = request_needs_thread

    async def process_view(self, request, callback, callback_args, callback_kwargs):
        # A coroutine, so Django's async handler calls it as is (a sync request wraps
        # it in async_to_sync).
        if settings.CSRF_USE_SESSIONS:
            return await sync_to_async(super().process_view)(
                request, callback, callback_args, callback_kwargs
            )
        return super().process_view(request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(InlineHooks, _Authentication):
    pass  # request.user is lazy: nothing is read until a view asks


class MessageMiddleware(InlineHooks, _Message):
    def response_needs_thread(self, request) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class XFrameOptionsMiddleware(InlineHooks, _XFrameOptions):
    pass
