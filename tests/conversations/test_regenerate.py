"""regenerateReply: a new version of the last reply, streamed like any reply, earlier
versions kept; replay and later LLM context use only the latest version."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from strawberry.relay import from_base64, to_base64

from conversations.models import Message
from tests.asgi_client import SEND, gql_data, gql_http, start_conversation, ws_client
from tests.chat_events import CHAT, CONVERSATION_EVENTS, rebuild
from tests.conftest import use_fake_openai
from tests.conversations.scenario_helpers import make_scenario
from tests.factories import BotFactory
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

REGENERATE = """
mutation($input: RegenerateReplyInput!) {
  regenerateReply(input: $input) { reply { id status version replacesId content } }
}
"""
VERSIONS = """
query($id: ID!) {
  node(id: $id) { ... on Message { id version replacesId versions { id version content } } }
}
"""
MESSAGES = """
query($id: ID!) {
  conversation(id: $id) {
    unreadCount
    messages { edges { node { role content version versions { version } } } }
  }
}
"""


@pytest.fixture
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0.001


def mid(message: Message) -> str:
    return to_base64("Message", message.pk)


async def chat(conversation_id: str, token: str, text: str) -> list[dict]:
    async with ws_client({"chatToken": token}) as ws:
        variables = {"input": {"conversationId": conversation_id, "text": text}}
        return [r.data["chat"] async for r in ws.subscribe(CHAT, variables)]


async def regenerate(message_id: str, token: str | None) -> tuple[int, dict]:
    headers = {"X-Chat-Token": token} if token else {}
    return await gql_http(REGENERATE, {"input": {"messageId": message_id}}, headers)


async def error_code(message_id: str, token: str | None) -> str:
    _, body = await regenerate(message_id, token)
    assert body.get("data") is None, body
    return body["errors"][0]["extensions"]["code"]


async def wait_finished(pk: int) -> Message:
    for _ in range(500):
        message = await Message.objects.aget(pk=pk)
        if message.is_terminal:
            return message
        await asyncio.sleep(0.01)
    raise AssertionError(f"message {pk} never finished")


async def started(**bot_fields) -> tuple[str, str]:
    bot = await sync_to_async(BotFactory)(**bot_fields)
    return await start_conversation(to_base64("Bot", bot.pk))


async def test_the_new_version_is_announced_as_replacing_the_old_then_streamed(offline):
    bot_fields = {"suggestions_enabled": True, "suggestions_count": 2}
    conversation_id, token = await started(**bot_fields)
    await chat(conversation_id, token, "How much is the pro plan?")
    old = await Message.objects.aget(role="assistant")

    events = []
    async with ws_client({"chatToken": token}) as ws:
        async for result in ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id}):
            event = result.data["conversationEvents"]
            events.append(event)
            if event["__typename"] == "SuggestionsReady" and event["messageId"] == mid(old):
                # the replay is out: regenerate while subscribed
                status, body = await regenerate(mid(old), token)
                assert status == 200 and "errors" not in body, body
                new = body["data"]["regenerateReply"]["reply"]
            elif event["__typename"] == "SuggestionsReady":
                break

    assert new["status"] == "PENDING" and new["version"] == 2
    assert new["replacesId"] == mid(old)
    replay_end = next(
        i
        for i, e in enumerate(events)
        if e == {**e, "__typename": "SuggestionsReady", "messageId": mid(old)}
    )
    live = events[replay_end + 1 :]
    assert live[0]["__typename"] == "MessageCreated"
    assert live[0]["message"]["id"] == new["id"]
    assert live[0]["message"]["replacesId"] == mid(old)
    assert [e["__typename"] for e in live if e["__typename"] != "MessageDelta"][1:] == [
        "MessageCompleted",
        "SuggestionsReady",
    ]
    assert any(e["__typename"] == "MessageDelta" for e in live)
    shown = rebuild(events)
    question = await Message.objects.aget(role="user")
    assert list(shown) == [mid(question), new["id"]]  # swapped in place
    regenerated = await Message.objects.aget(version=2)
    assert shown[new["id"]]["content"] == regenerated.content
    assert shown[new["id"]]["suggestions"] == regenerated.suggestions
    await old.arefresh_from_db()
    assert old.status == "complete" and old.content  # kept


async def test_replay_and_the_messages_list_show_the_latest_version_and_versions_list_all(
    offline,
):
    conversation_id, token = await started()
    await chat(conversation_id, token, "Tell me about the pro plan")
    old = await Message.objects.aget(role="assistant")
    new = await wait_finished(await regenerated(mid(old), token))

    async with ws_client({"chatToken": token}) as ws:
        replayed = []
        async for result in ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id}):
            replayed.append(result.data["conversationEvents"])
            if replayed[-1]["__typename"] == "MessageCompleted" and len(rebuild(replayed)) == 2:
                break
    headers = {"X-Chat-Token": token}
    versions = (await gql_data(VERSIONS, {"id": mid(new)}, headers))["node"]
    listed = (await gql_data(MESSAGES, {"id": conversation_id}, headers))["conversation"]

    assert mid(old) not in rebuild(replayed)
    assert rebuild(replayed)[mid(new)]["content"] == new.content
    assert versions["replacesId"] == mid(old)
    assert versions["versions"] == [
        {"id": mid(old), "version": 1, "content": old.content},
        {"id": mid(new), "version": 2, "content": new.content},
    ]
    assert [e["node"]["role"] for e in listed["messages"]["edges"]] == ["USER", "ASSISTANT"]
    assert listed["messages"]["edges"][1]["node"]["versions"] == [{"version": 1}, {"version": 2}]
    assert listed["unreadCount"] == 1  # the new version; the superseded one counts as read


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(reply="Unused.") as server:
        yield server


@pytest.fixture
async def remote(settings, fake):
    use_fake_openai(settings, fake)
    fake.clear()
    yield fake
    await get_channel_layer().flush()


def contents(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"]]


async def test_a_regenerated_answer_is_asked_without_the_old_one_and_later_turns_see_only_it(
    remote,
):
    conversation_id, token = await started(model="gpt-test", system_prompt="Be brief.")
    remote.queue_reply("First answer.")
    await chat(conversation_id, token, "Question one?")
    old = await Message.objects.aget(role="assistant")

    remote.queue_reply("Second answer.")
    new = await wait_finished(await regenerated(mid(old), token))
    remote.queue_reply("Third answer.")
    await chat(conversation_id, token, "Question two?")

    first, again, later = remote.requests
    assert contents(first) == ["Be brief.", "Question one?"]
    assert contents(again) == ["Be brief.", "Question one?"]  # the old answer is not context
    assert contents(later) == ["Be brief.", "Question one?", "Second answer.", "Question two?"]
    assert (new.content, new.version, new.replaces_id) == ("Second answer.", 2, old.pk)
    await old.arefresh_from_db()
    assert old.content == "First answer."


async def regenerated(message_id: str, token: str) -> int:
    """Regenerate; the new version's pk."""
    status, body = await regenerate(message_id, token)
    assert status == 200 and "errors" not in body, body
    return int(from_base64(body["data"]["regenerateReply"]["reply"]["id"])[1])


async def test_only_the_last_reply_in_its_latest_version_may_be_regenerated(offline, settings):
    settings.REGENERATE_MAX_VERSIONS = 3
    conversation_id, token = await started()
    await chat(conversation_id, token, "First question")
    first_reply = await Message.objects.aget(role="assistant")
    await chat(conversation_id, token, "Second question")
    question = await Message.objects.filter(role="user").alast()
    last = await Message.objects.filter(role="assistant").alast()

    assert await error_code(mid(first_reply), token) == "INVALID"
    assert await error_code(mid(question), token) == "INVALID"
    second = await wait_finished(await regenerated(mid(last), token))
    assert await error_code(mid(last), token) == "INVALID"  # superseded
    third = await wait_finished(await regenerated(mid(second), token))
    _, body = await regenerate(mid(third), token)
    assert body["errors"][0]["extensions"]["code"] == "INVALID"
    assert "3 versions" in body["errors"][0]["message"]
    assert third.version == 3


async def test_regenerate_needs_the_conversations_chat_token(offline):
    conversation_id, token = await started()
    _, other_token = await started()
    await chat(conversation_id, token, "Hello there")
    reply = await Message.objects.aget(role="assistant")

    assert await error_code(mid(reply), None) == "NOT_FOUND"
    assert await error_code(mid(reply), other_token) == "NOT_FOUND"
    assert await error_code(to_base64("Message", 999999), token) == "NOT_FOUND"
    assert not await Message.objects.filter(version=2).aexists()


async def test_regenerate_is_refused_while_a_reply_is_in_progress(offline, settings):
    settings.OFFLINE_TOKEN_DELAY = 0.5
    conversation_id, token = await started()
    sent = await gql_data(
        SEND, {"input": {"conversationId": conversation_id, "text": "hi"}}, {"X-Chat-Token": token}
    )
    reply_id = sent["sendMessage"]["reply"]["id"]

    assert await error_code(reply_id, token) == "BUSY"

    stop = "mutation($i: StopGenerationInput!) { stopGeneration(input: $i) { __typename } }"
    await gql_data(stop, {"i": {"messageId": reply_id}}, {"X-Chat-Token": token})
    assert not await Message.objects.filter(version=2).aexists()


async def test_a_scripted_reply_is_refused_and_an_llm_step_reply_is_generated_again(offline):
    text_bot, _ = await make_scenario(
        [("hello", "message", {"text": "Welcome to the shop."})], bot_type="completion"
    )
    llm_bot, _ = await make_scenario(
        [("answer", "llm", {"prompt": "Explain the refund policy for order problems"})],
        bot_type="completion",
    )
    text_id, text_token = await start_conversation(to_base64("Bot", text_bot.pk))
    llm_id, llm_token = await start_conversation(to_base64("Bot", llm_bot.pk))
    await chat(text_id, text_token, "hi")
    await chat(llm_id, llm_token, "hi")
    scripted = await Message.objects.aget(conversation__bot=text_bot, role="assistant")
    generated = await Message.objects.aget(conversation__bot=llm_bot, role="assistant")

    _, body = await regenerate(mid(scripted), text_token)
    again = await wait_finished(await regenerated(mid(generated), llm_token))

    assert body["errors"][0]["extensions"]["code"] == "INVALID"
    assert "scripted" in body["errors"][0]["message"]
    assert again.status == "complete"
    assert again.step_id == generated.step_id
    # the same prompt again: the offline engine gives its other answer for a new version
    assert again.content and again.content != generated.content
