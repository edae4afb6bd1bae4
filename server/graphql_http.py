"""GraphQL over HTTP, served by Django so its middleware (sessions, CORS) applies.

Strawberry's Channels HTTP consumer skips Django's middleware and does no CSRF check;
this view runs inside Django instead and enforces CSRF itself, but only for requests
that authenticate with the session cookie: bearer/Basic callers and anonymous visitors
carry no ambient credentials, so CSRF does not apply to them.

GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/), on top of what
Strawberry does (GET queries, JSON bodies, batching off):
- Accept (Django's negotiation): `application/graphql-response+json` when the client
  ranks it first, else `application/json` (also for a missing Accept header and `*/*`,
  the spec's legacy rules); nothing acceptable → 406.
- With graphql-response+json, a request error (unparseable or invalid document, variable
  coercion, limits: no data) is 400 without a `data` entry; with application/json it
  stays 200 with `data: null`, as legacy clients expect.
- POST bodies must be `application/json` in UTF-8 (a UTF-16 body too) → else 415;
  NaN/Infinity (not JSON, though Python reads them) → 400; larger than
  GRAPHQL_MAX_QUERY_BYTES → 413; a JSON array (a batch) or a non-object → 400.
- A mutation over GET → 405 with `Allow: POST`.
- Errors of the transport itself come back as JSON `{"errors": [{"message", "extensions":
  {"code"}}]}`, never text/plain.
"""

import json
import logging
import secrets

from asgiref.sync import sync_to_async
from cross_web import HTTPException
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.utils.cache import patch_vary_headers
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import AsyncGraphQLView
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from accounts.authentication import (
    AuthenticationFailed,
    AuthenticationThrottled,
    session_credential,
    user_from_authorization,
)
from conversations import lifecycle
from conversations.selectors import token_conversation
from core.storable import is_storable
from schema.context import Context
from schema.errors import OUTAGE_ERRORS, CsrfFailed, mapped, status_of

logger = logging.getLogger(__name__)


JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


def _error(
    error: BaseException, media_type: str = JSON, *, error_id: str | None = None
) -> JsonResponse:
    """The whole response for an error outside GraphQL: code, message and status from
    schema/errors.py's table."""
    entry = mapped(error)
    message = str(error) if entry.message is None else entry.message.format(error_id=error_id)
    body = {"errors": [{"message": message, "extensions": {"code": entry.code}}]}
    if media_type == GRAPHQL_RESPONSE_JSON:
        return JsonResponse(body, status=entry.status, content_type=f"{media_type}; charset=utf-8")
    return JsonResponse(body, status=entry.status)


# Django matches an Accept range that has parameters only against an offer with the same
# ones, so JSON is also offered with the charsets clients write ("application/json;
# charset=utf-8"); each offer answers as its bare type. JSON first: it wins ties (*/*).
_OFFERS = {
    f"{media_type}{charset}": media_type
    for media_type in (JSON, GRAPHQL_RESPONSE_JSON)
    for charset in ("", "; charset=utf-8", "; charset=UTF-8")
}


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header; None if it accepts neither.

    Django's `HttpRequest.get_preferred_type`: the highest `q` wins, then the more
    specific range, then the earlier entry; `*/*` and `application/*` mean
    application/json, and so does a missing or empty header (the spec's legacy default).
    """
    if not accept or not accept.strip():
        return JSON
    request = HttpRequest()
    request.META["HTTP_ACCEPT"] = accept
    return _OFFERS.get(request.get_preferred_type(list(_OFFERS)))


UTF8_ONLY = f"The request body is not UTF-8: send the operation as {JSON} (UTF-8)."


def _refuse_non_finite(constant: str):
    # Python's json reads NaN and Infinity, which are not JSON and no column can store.
    raise HTTPException(400, f"{constant} is not a JSON number: send finite numbers (or null).")


def _is_request_error(result) -> bool:
    """No data and only errors outside any field: the document or its variables failed
    (parse, validation, limits, coercion), so nothing was executed."""
    return result.data is None and bool(result.errors) and all(not e.path for e in result.errors)


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
        except OUTAGE_ERRORS as exc:
            # Authentication (token, session) needs the database before GraphQL runs.
            logger.exception("database unavailable")
            return _error(exc)
        except DatabaseError as exc:
            # Bad data reaching a query (DataError…) is a bug, not an outage.
            error_id = secrets.token_hex(6)
            logger.exception("Unexpected error (id %s)", error_id, extra={"error_id": error_id})
            return _error(exc, error_id=error_id)

    async def _dispatch(self, request: HttpRequest, *args, **kwargs):
        response = await self._respond(request)
        patch_vary_headers(response, ["Accept"])
        return response

    async def _respond(self, request: HttpRequest):
        media_type = negotiate(request.headers.get("Accept"))
        request.graphql_media_type = media_type or JSON
        if media_type is None and not self._renders_ide(request):
            accepted = f"{GRAPHQL_RESPONSE_JSON} or {JSON}"
            return self._http_error(
                request, 406, f"Not acceptable: this endpoint answers {accepted}."
            )
        if request.method == "POST" and (rejection := self._check_body(request)):
            return rejection
        header = request.headers.get("Authorization")
        if header:
            try:
                user, credential = await user_from_authorization(header, request)
                request.graphql_user, request.graphql_credential = user, credential
            except AuthenticationThrottled as exc:
                response = _error(exc, request.graphql_media_type)
                response["Retry-After"] = str(exc.retry_after)
                return response
            except AuthenticationFailed as exc:
                response = _error(exc, request.graphql_media_type)
                response["WWW-Authenticate"] = 'Bearer realm="botstream"'
                return response
        elif request.method == "POST" and settings.SESSION_COOKIE_NAME in request.COOKIES:
            reason = _csrf_failure(request)
            if reason:
                return _error(CsrfFailed(reason), request.graphql_media_type)
        try:
            return await self.run(request=request)
        except HTTPException as exc:
            return self._http_error(request, exc.status_code, exc.reason)

    def _renders_ide(self, request: HttpRequest) -> bool:
        return self.should_render_graphql_ide(self.request_adapter_class(request))

    def _check_body(self, request: HttpRequest):
        """415 unless the body is JSON in UTF-8; 413 above GRAPHQL_MAX_QUERY_BYTES, or
        above GRAPHQL_MAX_UPLOAD_BYTES for a request that carries a credential (an
        Authorization header or a session cookie: owners upload documents as base64 in
        createDocument). The credential is checked right after; anonymous visitors keep
        the small limit."""
        content_type = (request.content_type or "").lower()
        charset = (request.content_params or {}).get("charset", "utf-8").lower()
        if content_type != JSON or charset not in ("utf-8", "utf8"):
            shown = (request.headers.get("Content-Type") or "none")[:100]
            message = f"Unsupported Content-Type ({shown}): send the operation as {JSON} (UTF-8)."
            return self._http_error(request, 415, message)
        limit = settings.GRAPHQL_MAX_QUERY_BYTES
        if "Authorization" in request.headers or settings.SESSION_COOKIE_NAME in request.COOKIES:
            limit = max(limit, settings.GRAPHQL_MAX_UPLOAD_BYTES)
        too_large = f"The request body is larger than {limit} bytes."
        try:
            declared = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return self._http_error(request, 413, too_large)
        try:
            body = request.body
        except RequestDataTooBig:
            return self._http_error(request, 413, too_large)
        if len(body) > limit:
            return self._http_error(request, 413, too_large)
        return None

    def _http_error(self, request: HttpRequest, status: int, message: str):
        media_type = getattr(request, "graphql_media_type", JSON)
        response = _error(HTTPException(status, message), media_type)
        if status == 405:
            response["Allow"] = "POST" if request.method == "GET" else "GET, POST"
        return response

    def decode_json(self, data: str | bytes) -> object:
        if isinstance(data, bytes):
            # json.loads would guess UTF-16 and UTF-32 from the bytes; the API is UTF-8.
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise HTTPException(415, UTF8_ONLY) from exc
        try:
            return json.loads(data, parse_constant=_refuse_non_finite)
        except RecursionError as exc:
            # "[[[[…" a few thousand deep exhausts the decoder's recursion: a bad body.
            raise json.JSONDecodeError("JSON nested too deeply", "", 0) from exc

    async def parse_http_body(self, request_adapter):
        try:
            return await super().parse_http_body(request_adapter)
        except (AttributeError, TypeError, ValueError) as exc:
            # A body that is JSON but not an object ("null", 7, "text"), or not UTF-8:
            # Strawberry would fail on it with a 500.
            message = 'The request body must be a JSON object: {"query": "..."}.'
            raise HTTPException(400, message) from exc

    def _validate_batch_request(self, request_data, protocol) -> None:
        raise HTTPException(
            400, "Batched operations are not supported: send one operation per request."
        )

    async def execute_single(
        self, request, request_adapter, sub_response, context, root_value, request_data
    ):
        try:
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        except HTTPException as exc:
            cause = exc.__cause__
            if (
                request_adapter.method == "GET"
                and isinstance(cause, InvalidOperationTypeError)
                and cause.operation_type == OperationType.MUTATION
            ):
                raise HTTPException(405, "Mutations are not allowed over GET: use POST.") from cause
            raise

    async def process_result(self, request: HttpRequest, result):
        data = await super().process_result(request, result)
        media_type = getattr(request, "graphql_media_type", JSON)
        if media_type == GRAPHQL_RESPONSE_JSON and _is_request_error(result):
            # Nothing ran: no `data` entry, and a 4xx (5xx if it was our fault).
            data.pop("data", None)
            # Our fault keeps its 5xx from the table (500 before 503); the client's is 400.
            statuses = {status_of((e.extensions or {}).get("code")) or 400 for e in result.errors}
            request.graphql_status = min((s for s in statuses if s >= 500), default=400)
        return data

    def create_response(self, response_data, sub_response):
        response = super().create_response(response_data, sub_response)
        request = self.request
        if getattr(request, "graphql_media_type", JSON) == GRAPHQL_RESPONSE_JSON:
            response["Content-Type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
        status = getattr(request, "graphql_status", None)
        if status is not None and not sub_response.status_code:
            response.status_code = status
        return response

    async def render_graphql_ide(self, request: HttpRequest):
        # GraphiQL sends the csrftoken cookie back as X-CSRFToken, so the page must set it.
        get_token(request)
        return await super().render_graphql_ide(request)

    async def get_context(self, request: HttpRequest, response) -> Context:
        user = getattr(request, "graphql_user", None)
        credential = getattr(request, "graphql_credential", None)
        if user is None:
            user = await request.auser() if hasattr(request, "auser") else AnonymousUser()
            credential = session_credential(user, getattr(request, "session", None))
        chat_token = request.headers.get("X-Chat-Token") or None
        expired = conversation = None
        if chat_token is not None and is_storable(chat_token):
            conversation = await sync_to_async(token_conversation)(chat_token)
            if conversation is not None and await lifecycle.is_expired(conversation):
                expired = conversation.pk
        return Context(
            request=request,
            response=response,
            user=user,
            credential=credential,
            chat_token=chat_token,
            expired_conversation_id=expired,
            token_conversation=conversation,
        )
