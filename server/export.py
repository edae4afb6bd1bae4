"""GET /export/bots/<bot id>/transcripts.jsonl|.csv?from=&to=: a bot's transcripts for
its owner (or staff), streamed (conversations/export.py).

Credentials as for /graphql: a bearer API token (read scope suffices) or HTTP Basic in
`Authorization`, or the session cookie (a GET: no CSRF token needed; another site can
make the browser download it but not read it). Errors are JSON in the GraphQL error
shape (`errors[0].extensions.code`), with the HTTP status of schema/errors.py's table.
"""

import json
from datetime import datetime, time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.dateparse import parse_date, parse_datetime

from accounts.authentication import AuthenticationFailed, user_from_authorization
from bots.selectors import bot_list
from conversations import export, stats
from core.exceptions import AuthenticationRequired, NotFound
from core.ratelimit import RateLimited
from schema.common import pk_from_global_id
from schema.errors import mapped, to_graphql_error

# Exports streaming from this process now: each holds the database thread for one page
# at a time, so a few at once share it with the chat runtime; more wait their turn (429).
_running = 0


def _error(exc: Exception) -> HttpResponse:
    body = {"errors": [to_graphql_error(exc).formatted]}
    response = HttpResponse(
        json.dumps(body), status=mapped(exc).status, content_type="application/json"
    )
    if isinstance(exc, AuthenticationFailed | AuthenticationRequired):
        response["WWW-Authenticate"] = 'Bearer realm="botstream"'
    if hasattr(exc, "retry_after"):
        response["Retry-After"] = str(exc.retry_after)
    return response


async def _user(request: HttpRequest):
    header = request.headers.get("Authorization")
    if header:
        user, _ = await user_from_authorization(header, request)
        return user
    user = await request.auser()
    if not user.is_authenticated:
        raise AuthenticationRequired()
    return user


def _moment(request: HttpRequest, name: str, default: datetime) -> datetime:
    """An ISO date-time (naive: UTC) or a date (its midnight, UTC) from the query string."""
    text = request.GET.get(name, "").strip()
    if not text:
        return default
    try:
        found = parse_datetime(text)
        if found is None and (day := parse_date(text)) is not None:
            found = datetime.combine(day, time())
    except ValueError:
        found = None
    if found is None:
        example = "2026-03-01 or 2026-03-01T12:00:00Z"
        message = f"Expected an ISO date or date-time ({example}), got {text[:40]!r}."
        raise ValidationError({name: ValidationError(message, code="invalid")})
    return found


async def bot_transcripts(request: HttpRequest, bot_id: str, fmt: str) -> HttpResponse:
    if request.method != "GET":
        response = HttpResponse(status=405)
        response["Allow"] = "GET"
        return response
    try:
        user = await _user(request)
        pk = pk_from_global_id(bot_id, "Bot", field="botId")
        start = _moment(request, "from", stats.EARLIEST)
        end = _moment(request, "to", datetime.now(stats.UTC))
        start, end = stats.time_range(start=start, end=end, tz=stats.UTC)
        bot = await bot_list(user=user).filter(pk=pk).afirst()
        if bot is None:
            raise NotFound("No such bot, or not yours.")
        if _running >= settings.EXPORT_MAX_RUNNING:
            raise RateLimited("exports running on this server", retry_after=5)
    except (AuthenticationFailed, ValidationError, NotFound, AuthenticationRequired) as exc:
        return _error(exc)
    except RateLimited as exc:  # a Forbidden: after the others
        return _error(exc)

    fmt = export.ExportFormat(fmt)
    messages = export.bot_messages(bot_id=bot.pk, start=start, end=end)

    async def counted():
        global _running
        _running += 1
        try:
            async for chunk in export.transcript_chunks(messages, fmt):
                yield chunk
        finally:
            _running -= 1

    response = StreamingHttpResponse(counted(), content_type=export.CONTENT_TYPES[fmt])
    name = f"bot-{bot.pk}-transcripts-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.{fmt.value}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
