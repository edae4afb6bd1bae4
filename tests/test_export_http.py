"""GET /export/bots/<id>/transcripts.jsonl|.csv over ASGI: the owner's credentials (token,
Basic, session), coded JSON errors, a streamed body; and the admin actions."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from django.urls import reverse
from strawberry.relay import to_base64

from accounts.services import api_token_create
from conversations.models import Conversation, Message
from tests.asgi_client import basic_auth
from tests.factories import PASSWORD, BotFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY1 = datetime(2026, 3, 2, tzinfo=UTC)
RANGE = {"from": "2026-03-02", "to": "2026-03-03T00:00:00Z"}


@sync_to_async
def seeded():
    owner = UserFactory(username="exporter")
    bot = BotFactory(owner=owner)
    conv = Conversation.objects.create(bot=bot, user_session="v", token_digest="x")
    for text in ("hello", "=1+1", "bye"):
        Message.objects.create(conversation=conv, role="user", content=text)
    Message.objects.filter(conversation=conv).update(created_at=DAY1 + timedelta(hours=2))
    _, secret = api_token_create(user=owner, name="export", scope="read")
    return owner, bot, {"Authorization": f"Bearer {secret}"}


def url(bot, fmt="jsonl") -> str:
    return f"/export/bots/{to_base64('Bot', bot.pk)}/transcripts.{fmt}"


async def body_of(response) -> bytes:
    assert response.streaming
    return b"".join([chunk async for chunk in response.streaming_content])


async def test_the_owner_streams_jsonl_with_a_read_only_api_token():
    _owner, bot, bearer = await seeded()

    response = await AsyncClient().get(url(bot), RANGE, headers=bearer)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="bot-')
    assert response["Cache-Control"] == "no-store"
    lines = (await body_of(response)).decode().splitlines()
    assert [json.loads(line)["content"] for line in lines] == ["hello", "=1+1", "bye"]


async def test_csv_with_basic_auth_and_with_the_session_cookie():
    owner, bot, _ = await seeded()

    with_basic = await AsyncClient().get(
        url(bot, "csv"), RANGE, headers=basic_auth(owner.username, PASSWORD)
    )
    client = AsyncClient()
    await client.alogin(username=owner.username, password=PASSWORD)
    with_session = await client.get(url(bot, "csv"), RANGE)

    for response in (with_basic, with_session):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        lines = (await body_of(response)).decode().splitlines()
        assert lines[0].startswith("conversation_id,user_session,message_id")
        assert len(lines) == 4
        assert ",'=1+1," in lines[2]


async def test_outside_the_range_nothing_and_staff_may_export_any_bot():
    _, bot, _ = await seeded()
    staff = await sync_to_async(UserFactory)(is_staff=True)
    _, secret = await sync_to_async(api_token_create)(user=staff, name="s")

    response = await AsyncClient().get(
        url(bot),
        {"from": "2026-03-03", "to": "2026-03-04"},
        headers={"Authorization": f"Bearer {secret}"},
    )

    assert response.status_code == 200
    assert await body_of(response) == b""


async def error_of(response) -> tuple[int, str, str | None]:
    body = json.loads(response.content)
    error = body["errors"][0]
    fields = error["extensions"].get("errors") or [{}]
    return response.status_code, error["extensions"]["code"], fields[0].get("field")


async def test_who_may_not_export_is_told_why():
    _, bot, _ = await seeded()
    stranger = await sync_to_async(UserFactory)()
    _, secret = await sync_to_async(api_token_create)(user=stranger, name="s")

    anonymous = await AsyncClient().get(url(bot), RANGE)
    wrong = await AsyncClient().get(url(bot), RANGE, headers={"Authorization": "Bearer nope"})
    not_theirs = await AsyncClient().get(
        url(bot), RANGE, headers={"Authorization": f"Bearer {secret}"}
    )

    assert await error_of(anonymous) == (401, "UNAUTHENTICATED", None)
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="botstream"'
    assert await error_of(wrong) == (401, "UNAUTHENTICATED", None)
    assert await error_of(not_theirs) == (404, "NOT_FOUND", None)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"from": "2026-03-03", "to": "2026-03-02"}, (400, "INVALID_RANGE", "to")),
        ({"from": "yesterday"}, (400, "INVALID", "from")),
        ({"to": "2026-02-30"}, (400, "INVALID", "to")),
        ({"from": "0001-01-01"}, (400, "OUT_OF_RANGE", "from")),
    ],
)
async def test_a_bad_range_is_a_400_with_a_code_and_field(query, expected):
    _, bot, bearer = await seeded()
    response = await AsyncClient().get(url(bot), query, headers=bearer)
    assert await error_of(response) == expected


async def test_a_bad_id_a_bad_format_and_a_post_are_refused():
    _, bot, bearer = await seeded()
    scenario_id = to_base64("Scenario", bot.pk)

    bad_id = await AsyncClient().get(
        f"/export/bots/{scenario_id}/transcripts.jsonl", headers=bearer
    )
    bad_format = await AsyncClient().get(url(bot, "xml"), headers=bearer)
    post = await AsyncClient().post(url(bot), headers=bearer)

    assert await error_of(bad_id) == (400, "INVALID_ID", "botId")
    assert bad_format.status_code == 404
    assert (post.status_code, post["Allow"]) == (405, "GET")


async def test_too_many_exports_at_once_are_asked_to_retry(settings):
    settings.EXPORT_MAX_RUNNING = 0
    _, bot, bearer = await seeded()
    response = await AsyncClient().get(url(bot), RANGE, headers=bearer)
    assert await error_of(response) == (429, "RATE_LIMITED", None)
    assert response["Retry-After"] == "5"


@pytest.mark.parametrize(("action", "kind"), [("export_jsonl", "x-ndjson"), ("export_csv", "csv")])
async def test_the_admin_action_streams_the_selected_conversations(action, kind):
    _, bot, _ = await seeded()
    admin = await sync_to_async(UserFactory)(is_staff=True, is_superuser=True)
    client = AsyncClient()
    await client.aforce_login(admin)
    conv = await Conversation.objects.aget(bot=bot)

    response = await client.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": action, "_selected_action": [conv.pk]},
    )

    assert response.status_code == 200
    assert kind in response["Content-Type"]
    body = (await body_of(response)).decode()
    assert "hello" in body and "bye" in body
