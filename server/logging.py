"""Log records: a request id on every line, JSON or text output, secrets redacted.

`LOGGING` in settings wires these in: `RequestIdFilter` and `RedactSecretsFilter` sit on
the console handler, and `LOG_FORMAT` picks `JsonFormatter` (one object per line, for
log collectors) or `TextFormatter` (for people). The request id lives in a contextvar
set by `server.middleware.RequestIdMiddleware`, so code logging during a request needs
to pass nothing.
"""

import logging
import re
import time
from contextvars import ContextVar
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger import json as jsonlogger

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

REDACTED = "[REDACTED]"

# Names whose value is a credential wherever it appears: headers, JSON/dict reprs,
# query strings, keyword arguments, connection_init payloads.
_SECRET_KEYS = (
    r"authorization|proxy-authorization|cookie|x-chat-token|chat_?token|auth_?token"
    r"|api_?key|access_?token|refresh_?token|secret_?key|client_?secret"
    r"|sessionid|csrftoken|csrfmiddlewaretoken|passw(?:or)?d\w*"
)
_KEY_VALUE = re.compile(
    rf"""(?P<key>["']?\b(?:{_SECRET_KEYS})\b["']?\s*[:=]\s*)"""
    r"""(?:(?P<quote>["'])(?P<quoted>.*?)(?P=quote)"""
    r"""|(?P<bare>(?:(?:bearer|basic|token)\s+)?[^\s"',;&}\])]+))""",
    re.IGNORECASE,
)
_PATTERNS = (
    # "Bearer <token>" / "Basic <credentials>" anywhere, e.g. in a quoted header dump
    # ("basic" in lower case is left alone: it is mostly prose).
    (re.compile(r"\b([Bb]earer|BEARER)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    (re.compile(r"\b(Basic|BASIC)\s+[A-Za-z0-9+/]+=*"), rf"\1 {REDACTED}"),
    # This project's API tokens and chat tokens, and OpenAI-style keys.
    (re.compile(r"\b(bst_|chat_|sk-)[A-Za-z0-9_-]{16,}"), rf"\1{REDACTED}"),
    # Credentials inside URLs: postgres://user:password@host, redis://:password@host.
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]+@", re.IGNORECASE), rf"\1{REDACTED}@"),
)
# Settings whose literal values must never reach a log line, whatever surrounds them.
_SECRET_SETTINGS = ("OPENAI_API_KEY", "SECRET_KEY", "METRICS_TOKEN")


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "request_id", "taskName"}
)


def get_request_id() -> str | None:
    return request_id_var.get()


def _redact_pair(match: re.Match) -> str:
    if match.group("quote"):
        return f"{match.group('key')}{match.group('quote')}{REDACTED}{match.group('quote')}"
    return f"{match.group('key')}{REDACTED}"


def _secret_values() -> list[str]:
    if not settings.configured:
        return []
    values = (str(getattr(settings, name, "") or "") for name in _SECRET_SETTINGS)
    # Very short values would redact ordinary words; real keys are long.
    return [value for value in values if len(value) >= 8]


def _set_request_id(record: logging.LogRecord) -> None:
    if not hasattr(record, "request_id"):
        # django.request logs 4xx/5xx once the middleware has returned, but passes the
        # request along.
        request = getattr(record, "request", None)
        record.request_id = request_id_var.get() or getattr(request, "request_id", "-")


def _extras(record: logging.LogRecord) -> dict:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRS and not key.startswith("_")
    }


def redact(text: str) -> str:
    """Mask credentials in `text`: key/value pairs, bearer tokens, URLs, known keys."""
    for value in _secret_values():
        text = text.replace(value, REDACTED)
    text = _KEY_VALUE.sub(_redact_pair, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RequestIdFilter(logging.Filter):
    """Put the current request id (or "-") on every record as `record.request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        _set_request_id(record)
        return True


class RedactSecretsFilter(logging.Filter):
    """Rewrite the message, extras and traceback of every record with `redact()`.

    The message is rendered here, so the formatter sees the redacted text and the
    original arguments are dropped; extras other than numbers become redacted strings.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in _extras(record).items():
            if not isinstance(value, int | float | bool | None):
                setattr(record, key, redact(str(value)))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(jsonlogger.JsonFormatter):
    """One JSON object per line (python-json-logger): time, level, logger, message,
    request_id, the record's extras, and exc_type / exc_info / stack_info."""

    def __init__(self) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message", "request_id"],
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            # The same extras RedactSecretsFilter rewrote: nothing unredacted is added.
            reserved_attrs=_RECORD_ATTRS,
            json_default=str,
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        _set_request_id(record)
        if record.exc_text:
            # Already formatted, and redacted, by RedactSecretsFilter: python-json-logger
            # would format exc_info again, secrets included.
            message_dict = {**message_dict, "exc_info": record.exc_text}
        super().add_fields(log_data, record, message_dict)
        if log_data["request_id"] == "-":
            log_data["request_id"] = None
        if record.exc_info:
            log_data["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        _set_request_id(record)
        return super().format(record)


class RepeatedFailureFilter(logging.Filter):
    """One line per failure per minute for loggers that retry in a loop.

    channels-redis' pub/sub receiver logs "Unexpected exception in receive task" with a
    full traceback every second while Redis is down (it reconnects by itself). Here the
    first record of each message per `interval` passes, as one line ending with the
    exception's type and text; the repeats are dropped.
    """

    interval = 60.0

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        key = (record.name, record.msg)
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        self._last[key] = now
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = (
                f"{record.getMessage()}: {type(error).__name__}: {error} "
                f"(repeats within {self.interval:.0f} s not logged)"
            )
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def logging_config(*, level: str, fmt: str) -> dict:
    """The `LOGGING` dict for settings: console handler, request id, redaction."""
    if fmt not in ("json", "text"):
        raise ImproperlyConfigured(f'LOG_FORMAT must be "json" or "text", not {fmt!r}.')
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "server.logging.RequestIdFilter"},
            "redact": {"()": "server.logging.RedactSecretsFilter"},
            "repeated_failures": {"()": "server.logging.RepeatedFailureFilter"},
        },
        "formatters": {
            "json": {"()": "server.logging.JsonFormatter"},
            "text": {"()": "server.logging.TextFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["request_id", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's default config gives "django" a console handler of its own (in
            # DEBUG): drop it so each record is written once, by ours.
            "django": {"handlers": [], "propagate": True},
            "django.channels.server": {"level": "WARNING"},
            # Strawberry logs every GraphQL error (rejected queries included) at ERROR;
            # unexpected ones are logged once, with their id, by schema.extensions.
            "strawberry.execution": {"level": "CRITICAL"},
            # Retries every second while Redis is down: once a minute is enough.
            "channels_redis.pubsub": {"filters": ["repeated_failures"]},
        },
    }
