import io
import json
import logging

import pytest

from server import health
from server.logging import (
    JsonFormatter,
    RedactSecretsFilter,
    RequestIdFilter,
    TextFormatter,
    redact,
    request_id_var,
)

CHAT_TOKEN = "chat_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdo"


@pytest.fixture
def capture():
    """A logger writing through our filters and formatter into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.ops.capture")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_formatter_writes_one_json_object_with_the_request_id(capture):
    logger, stream = capture
    token = request_id_var.set("req-123")
    try:
        logger.info("reply %s finished", 7, extra={"conversation_id": 5})
    finally:
        request_id_var.reset(token)

    [entry] = lines(stream)
    assert entry["message"] == "reply 7 finished"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "tests.ops.capture"
    assert entry["request_id"] == "req-123"
    assert entry["conversation_id"] == 5
    assert entry["time"].endswith("+00:00")


def test_json_formatter_includes_exception_info(capture):
    logger, stream = capture
    try:
        raise ValueError("bad input")
    except ValueError:
        logger.exception("it failed")

    [entry] = lines(stream)
    assert entry["request_id"] is None
    assert entry["exc_type"] == "ValueError"
    assert "ValueError: bad input" in entry["exc_info"]


def test_bearer_tokens_are_redacted(capture):
    logger, stream = capture

    logger.warning("upstream said %s", "Authorization: Bearer abc.def")
    logger.warning("headers=%s", {"authorization": "Bearer abc.def"})

    text = stream.getvalue()
    assert "abc.def" not in text
    assert "[REDACTED]" in text


def test_chat_tokens_are_redacted(capture):
    logger, stream = capture

    logger.warning("connection_init payload %s", {"chatToken": CHAT_TOKEN})
    logger.warning("X-Chat-Token: %s", CHAT_TOKEN)
    logger.warning("token %s in text", CHAT_TOKEN)

    assert CHAT_TOKEN not in stream.getvalue()
    assert len(lines(stream)) == 3


def test_openai_key_and_passwords_are_redacted(capture, settings):
    settings.OPENAI_API_KEY = "ollama-local-key-42"
    logger, stream = capture

    logger.error("key ollama-local-key-42 rejected")
    logger.error("login failed: %s", {"username": "ann", "password": "hunter 2"})
    logger.error("db at postgres://botstream:pg-secret@db:5432/botstream")

    text = stream.getvalue()
    for secret in ("ollama-local-key-42", "hunter 2", "pg-secret"):
        assert secret not in text
    assert "ann" in text


def test_redaction_leaves_ordinary_text_alone():
    text = "prompt_tokens=12 completion_tokens=30 status=complete bot=Support"

    assert redact(text) == text


def test_exception_text_is_redacted(capture):
    logger, stream = capture
    try:
        raise RuntimeError(f"bad chat token {CHAT_TOKEN}")
    except RuntimeError:
        logger.exception("failed")

    assert CHAT_TOKEN not in stream.getvalue()


def test_text_formatter_shows_the_request_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    token = request_id_var.set("req-9")
    try:
        line = TextFormatter().format(record)
    finally:
        request_id_var.reset(token)

    assert line.endswith("INFO x [req-9] hello")


def test_middleware_generates_a_request_id_and_echoes_it(client):
    response = client.get("/healthz")

    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    assert request_id != client.get("/healthz")["X-Request-ID"]


def test_middleware_keeps_a_request_id_sent_by_the_client(client):
    response = client.get("/healthz", headers={"X-Request-ID": "edge-7f3a.1"})

    assert response["X-Request-ID"] == "edge-7f3a.1"


def test_middleware_replaces_a_malformed_request_id(client):
    response = client.get("/healthz", headers={"X-Request-ID": "x" * 200})

    assert response["X-Request-ID"] != "x" * 200
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_records_logged_during_a_request_carry_its_request_id(client, monkeypatch):
    async def failing_check():
        raise RuntimeError("down")

    monkeypatch.setattr(health, "check_database", failing_check)
    records = []
    handler = logging.Handler()
    handler.addFilter(RequestIdFilter())
    handler.emit = records.append
    logging.getLogger("server.health").addHandler(handler)
    try:
        response = client.get("/readyz", headers={"X-Request-ID": "probe-1"})
    finally:
        logging.getLogger("server.health").removeHandler(handler)

    assert response.status_code == 503
    assert [record.request_id for record in records] == ["probe-1"]


def test_redis_receiver_failures_are_logged_once_a_minute_without_traceback(capture):
    """channels-redis' pub/sub receiver retries every second while Redis is down."""
    _, stream = capture
    receiver_logger = logging.getLogger("channels_redis.pubsub")
    handler = capture[0].handlers[0]
    receiver_logger.addHandler(handler)
    try:
        for _ in range(5):
            try:
                raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
            except ConnectionError:
                receiver_logger.exception("Unexpected exception in receive task")
        receiver_logger.warning("something else")
    finally:
        receiver_logger.removeHandler(handler)

    records = lines(stream)
    assert [r["message"] for r in records] == [
        "Unexpected exception in receive task: ConnectionError: Error 111 connecting to "
        "127.0.0.1:6379. Connection refused. (repeats within 60 s not logged)",
        "something else",
    ]
    assert "exc_info" not in records[0] and "Traceback" not in stream.getvalue()
