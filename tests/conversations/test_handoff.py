"""Human handoff through the real ASGI app: the visitor asks for a human over HTTP, an
operator claims, answers and hands back, and the visitor's one event stream (a real
websocket) shows all of it, live and again on resume, exactly once."""

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Handoff, HandoffOutcome, Message, MessageRole
from core import events as domain_events
from tests.chat_events import rebuild
from tests.conversations.handoff_helpers import (
    CLAIM,
    HAND_BACK,
    REQUEST,
    SAY,
    SEND,
    Stream,
    codes,
    completed,
    handoff_bot,
    handoff_to,
    mutate,
    visitor,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0


@pytest.fixture
def requested():
    """The handoff.requested domain events announced during the test."""
    seen: list[domain_events.Event] = []

    def listener(event):
        if event.name == domain_events.HANDOFF_REQUESTED:
            seen.append(event)

    domain_events.listen(listener)
    yield seen
    domain_events._listeners.remove(listener)


def _pk(global_id: str) -> int:
    from strawberry.relay import GlobalID

    return int(GlobalID.from_id(global_id).node_id)


async def test_visitor_operator_and_back_to_the_bot_in_one_stream(requested):
    bot, _, operator = await handoff_bot()
    conversation_id, token = await visitor(bot)
    chat = {"X-Chat-Token": token}
    ids = {"conversationId": conversation_id}

    async with Stream(conversation_id, {"chatToken": token}) as stream:
        # the visitor asks for a human
        asked = await mutate(REQUEST, ids, chat)
        assert asked == {"__typename": "Conversation", "id": conversation_id, "mode": "WAITING"}
        waiting = (await stream.until(handoff_to("WAITING")))[-1]
        assert waiting["conversation"]["mode"] == "WAITING"
        assert waiting["message"]["role"] == "SYSTEM"
        assert [e.payload["source"] for e in requested] == ["visitor"]
        assert requested[0].bot_id == bot.pk

        # while waiting the bot does not answer: the message is stored, no reply
        sent = await mutate(SEND, {**ids, "text": "is anyone there?"}, chat)
        assert sent["reply"] is None
        await stream.until(completed("USER"))

        # the operator claims: the visitor sees the display name only
        claimed = await mutate(CLAIM, ids, operator)
        assert claimed["mode"] == "HUMAN" and claimed["operatorName"] == "Ana"
        joined = (await stream.until(handoff_to("HUMAN")))[-1]
        assert joined["operatorName"] == "Ana"
        assert joined["conversation"]["operatorName"] == "Ana"
        assert "Ana joined" in joined["message"]["content"]
        assert "Secret" not in str(stream.events)

        # the operator answers; the visitor's reply goes to the operator, not the bot
        said = await mutate(SAY, {**ids, "text": "Hi, Ana here."}, operator)
        assert said["role"] == "OPERATOR" and said["authorName"] == "Ana"
        got = await stream.until(completed("OPERATOR"))
        created = [e for e in got if e["__typename"] == "MessageCreated"]
        assert created[-1]["message"]["authorName"] == "Ana"
        assert (await mutate(SEND, {**ids, "text": "thanks"}, chat))["reply"] is None

        # handed back: the next visitor message is the bot's again
        back = await mutate(HAND_BACK, ids, operator)
        assert back["mode"] == "BOT"
        await stream.until(handoff_to("BOT"))
        assert (await mutate(SEND, {**ids, "text": "and now?"}, chat))["reply"] is not None
        await stream.until(completed("ASSISTANT"))

    live = stream.events
    roles = [m["role"] for m in rebuild(live).values()]
    assert roles == [
        "SYSTEM", "USER", "SYSTEM", "OPERATOR", "USER", "SYSTEM", "USER", "ASSISTANT"
    ]  # fmt: skip
    changes = [e["mode"] for e in live if e["__typename"] == "HandoffChanged"]
    assert changes == ["WAITING", "HUMAN", "BOT"]

    # a reconnecting visitor gets the same history, each change once
    async with Stream(conversation_id, {"chatToken": token}) as again:
        replayed = await again.until(completed("ASSISTANT"))
    assert rebuild(replayed) == rebuild(live)
    assert [e["mode"] for e in replayed if e["__typename"] == "HandoffChanged"] == changes

    # resuming from the operator's message replays only what came after it
    operator_message = said["id"]
    resume = {"messageId": operator_message, "offset": len("Hi, Ana here.")}
    async with Stream(conversation_id, {"chatToken": token}, resume) as resumed:
        after = await resumed.until(completed("ASSISTANT"))
    assert [e["mode"] for e in after if e["__typename"] == "HandoffChanged"] == ["BOT"]
    assert not [e for e in after if e.get("message", {}).get("id") == operator_message][1:]

    # every action is in the transcript with who did it
    rows = [m async for m in Message.objects.filter(conversation_id=_pk(conversation_id))]
    notices = [(m.handoff_mode, m.author_id is not None) for m in rows if m.handoff_mode]
    assert notices == [("waiting", False), ("human", True), ("bot", True)]
    handoff = await Handoff.objects.aget(conversation_id=_pk(conversation_id))
    assert handoff.outcome == HandoffOutcome.HANDED_BACK
    assert handoff.claimed_at >= handoff.requested_at and handoff.ended_at >= handoff.claimed_at


async def test_the_operator_history_reads_messages_with_roles_and_authors():
    bot, _, operator = await handoff_bot()
    conversation_id, token = await visitor(bot)
    ids = {"conversationId": conversation_id}
    await mutate(REQUEST, ids, {"X-Chat-Token": token})
    await mutate(CLAIM, ids, operator)
    await mutate(SAY, {**ids, "text": "Hello"}, operator)

    from tests.asgi_client import gql_data

    query = """
    query($id: ID!) { conversation(id: $id) { mode operatorName
      messages { edges { node { role content authorName handoffMode } } } } }
    """
    data = await gql_data(query, {"id": conversation_id}, operator)
    conversation = data["conversation"]
    assert conversation["mode"] == "HUMAN" and conversation["operatorName"] == "Ana"
    nodes = [e["node"] for e in conversation["messages"]["edges"]]
    assert [(n["role"], n["handoffMode"]) for n in nodes] == [
        ("SYSTEM", "WAITING"),
        ("SYSTEM", "HUMAN"),
        ("OPERATOR", None),
    ]
    assert nodes[-1]["authorName"] == "Ana"


async def test_requests_and_claims_are_refused_with_codes():
    bot, owner, operator = await handoff_bot()
    conversation_id, token = await visitor(bot)
    chat = {"X-Chat-Token": token}
    ids = {"conversationId": conversation_id}

    # not claimed yet: no operator message, no hand back
    assert await codes(SAY, {**ids, "text": "hi"}, operator) == ["not_claimed"]
    assert await codes(HAND_BACK, ids, operator) == ["not_claimed"]
    # the visitor cannot claim, nor an operator of another bot
    assert await codes(CLAIM, ids, chat) == ["unauthenticated"]
    _, _, stranger = await handoff_bot()
    assert await codes(CLAIM, ids, stranger) == ["not_found"]
    assert await codes(SAY, {**ids, "text": "hi"}, stranger) == ["not_found"]

    assert (await mutate(REQUEST, ids, chat))["mode"] == "WAITING"
    assert await codes(REQUEST, ids, chat) == ["handoff_active"]
    assert (await mutate(CLAIM, ids, operator))["mode"] == "HUMAN"
    # another operator (the owner) cannot take it or speak in it
    assert await codes(CLAIM, ids, owner) == ["handoff_claimed"]
    assert await codes(SAY, {**ids, "text": "me too"}, owner) == ["handoff_claimed"]
    # an operator never writes as the visitor
    assert await codes(SEND, {**ids, "text": "I am the visitor"}, operator) == ["FORBIDDEN"]
    # bad text is a field error
    assert await codes(SAY, {**ids, "text": "   "}, operator) == ["empty"]
    # the bot cannot be asked to regenerate while a human answers
    assert await Conversation.objects.filter(mode="human").acount() == 1


async def test_a_bot_without_handoff_refuses_the_visitor():
    bot, _, _ = await handoff_bot()
    await sync_to_async(type(bot).objects.filter(pk=bot.pk).update)(handoff_enabled=False)
    conversation_id, token = await visitor(bot)
    ids = {"conversationId": conversation_id}
    assert await codes(REQUEST, ids, {"X-Chat-Token": token}) == ["handoff_unavailable"]


async def test_an_operator_takes_over_a_conversation_the_bot_answers(requested):
    bot, owner, _ = await handoff_bot()
    conversation_id, _ = await visitor(bot)
    ids = {"conversationId": conversation_id}
    claimed = await mutate(CLAIM, ids, owner)
    assert claimed["mode"] == "HUMAN"
    assert claimed["operatorName"] == "Operator"  # the owner has no display name set
    assert [e.payload["source"] for e in requested] == ["operator"]
    handoff = await Handoff.objects.aget(conversation_id=_pk(conversation_id))
    assert handoff.claimed_at == handoff.requested_at
    assert (await Message.objects.filter(role=MessageRole.USER).acount()) == 0
