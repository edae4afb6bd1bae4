"""GraphQL over HTTP, served by Django so its middleware (sessions, CORS) applies.

Strawberry's Channels HTTP consumer skips Django's middleware and does no CSRF check;
this view runs inside Django instead and enforces CSRF itself, but only for requests
that authenticate with the session cookie: bearer/Basic callers and anonymous visitors
carry no ambient credentials, so CSRF does not apply to them.
"""

import logging

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import AsyncGraphQLView

from accounts.authentication import AuthenticationFailed, user_from_authorization
from schema.context import Context

DATABASE_UNAVAILABLE = "The database is unavailable right now; retry shortly."
logger = logging.getLogger(__name__)


def _error(message: str, code: str, status: int) -> JsonResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JsonResponse(body, status=status)


def _csrf_failure(request: HttpRequest) -> str | None:
    response = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
    if response is None:
        return None
    return "CSRF check failed: send the csrftoken cookie's value as the X-CSRFToken header."


@method_decorator(csrf_exempt, name="dispatch")
class GraphQLView(AsyncGraphQLView):
    async def dispatch(self, request: HttpRequest, *args, **kwargs):
        try:
            return await self._dispatch(request, *args, **kwargs)
        except DatabaseError:
            # Authentication (token, session) needs the database before GraphQL runs.
            logger.exception("database unavailable")
            return _error(DATABASE_UNAVAILABLE, "SERVICE_UNAVAILABLE", 503)

    async def _dispatch(self, request: HttpRequest, *args, **kwargs):
        header = request.headers.get("Authorization")
        if header:
            try:
                request.graphql_user = await user_from_authorization(header)
            except AuthenticationFailed as exc:
                response = _error(str(exc), "UNAUTHENTICATED", 401)
                response["WWW-Authenticate"] = 'Bearer realm="botstream"'
                return response
        elif request.method == "POST" and settings.SESSION_COOKIE_NAME in request.COOKIES:
            reason = _csrf_failure(request)
            if reason:
                return _error(reason, "CSRF_FAILED", 403)
        return await super().dispatch(request, *args, **kwargs)

    async def render_graphql_ide(self, request: HttpRequest):
        # GraphiQL sends the csrftoken cookie back as X-CSRFToken, so the page must set it.
        get_token(request)
        return await super().render_graphql_ide(request)

    async def get_context(self, request: HttpRequest, response) -> Context:
        user = getattr(request, "graphql_user", None)
        if user is None:
            user = await request.auser() if hasattr(request, "auser") else AnonymousUser()
        return Context(
            request=request,
            response=response,
            user=user,
            chat_token=request.headers.get("X-Chat-Token") or None,
        )
