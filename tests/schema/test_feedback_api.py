"""Feedback over HTTP: visitors rate their bot replies (rateMessage, chat token), owners
read the ratings on messages, per-bot counts and a filtered, paged list."""

from datetime import timedelta

import pytest
from django.utils import timezone
from strawberry.relay import GlobalID, to_base64

from conversations.models import Feedback, Message, MessageStatus
from tests.factories import BotFactory
from tests.graphql_client import GraphQLClient

RATE = """
mutation($input: RateMessageInput!) {
  rateMessage(input: $input) {
    message { id role feedback { rating comment updatedAt } }
  }
}
"""
START = """
mutation($input: StartConversationInput!) {
  startConversation(input: $input) { chatToken conversation { id } }
}
"""
TRANSCRIPT = """
query($id: ID!) {
  conversation(id: $id) { messages { edges { node { content feedback { rating comment } } } } }
}
"""
BOT_FEEDBACK = """
query($id: ID!, $filters: FeedbackFilter, $first: Int, $after: String) {
  bot(id: $id) {
    feedbackCounts { up down total }
    feedback(filters: $filters, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id rating comment message { content conversationId } } }
    }
  }
}
"""
BOTS_COUNTS = "query { bots { edges { node { name feedbackCounts { up down total } } } } }"


class Chat:
    """A visitor's conversation (started over the API) with replies written directly."""

    def __init__(self, bot):
        data = GraphQLClient().execute(START, {"input": {"botId": to_base64("Bot", bot.pk)}})
        payload = data["startConversation"]
        self.id = payload["conversation"]["id"]
        self.conversation_pk = int(GlobalID.from_id(self.id).node_id)
        self.visitor = GraphQLClient(headers={"X-Chat-Token": payload["chatToken"]})

    def message(self, content: str, *, role="assistant", status=MessageStatus.COMPLETE):
        message = Message.objects.create(
            conversation_id=self.conversation_pk, role=role, content=content, status=status
        )
        return to_base64("Message", message.pk)

    def rate(self, message_id: str, **fields) -> dict:
        data = self.visitor.execute(RATE, {"input": {"messageId": message_id, **fields}})
        return data["rateMessage"]["message"]

    def rate_errors(self, message_id: str, **fields) -> list[dict]:
        return self.visitor.errors(RATE, {"input": {"messageId": message_id, **fields}})


@pytest.fixture(autouse=True)
def no_limits(settings):
    settings.RATE_LIMITS_ENABLED = False


@pytest.fixture
def bot(owner):
    return BotFactory(owner=owner, name="Support")


@pytest.fixture
def chat(bot):
    return Chat(bot)


def test_visitor_rates_a_reply_and_sees_it_on_the_message(chat):
    reply = chat.message("Try turning it off and on again.")

    rated = chat.rate(reply, rating="UP", comment="  Worked, thanks!  ")

    assert rated["id"] == reply
    assert rated["feedback"]["rating"] == "UP"
    assert rated["feedback"]["comment"] == "Worked, thanks!"
    transcript = chat.visitor.execute(TRANSCRIPT, {"id": chat.id})["conversation"]["messages"]
    assert [e["node"]["feedback"] for e in transcript["edges"]] == [
        {"rating": "UP", "comment": "Worked, thanks!"}
    ]


def test_rating_again_changes_it_and_an_omitted_comment_is_kept(chat):
    reply = chat.message("Answer")
    chat.rate(reply, rating="UP", comment="clear")

    changed = chat.rate(reply, rating="DOWN")

    assert changed["feedback"] == {
        "rating": "DOWN",
        "comment": "clear",
        "updatedAt": changed["feedback"]["updatedAt"],
    }
    assert Feedback.objects.count() == 1
    assert chat.rate(reply, rating="DOWN", comment="")["feedback"]["comment"] == ""


def test_a_null_rating_revokes_it(chat):
    reply = chat.message("Answer")
    chat.rate(reply, rating="DOWN", comment="wrong")

    revoked = chat.rate(reply, rating=None)

    assert revoked["feedback"] is None
    assert not Feedback.objects.exists()
    assert chat.rate(reply)["feedback"] is None  # revoking what is not rated is no error


def test_only_the_bots_replies_can_be_rated(chat):
    question = chat.message("My printer is on fire", role="user")

    [error] = chat.rate_errors(question, rating="UP")

    assert error["extensions"]["code"] == "INVALID"
    assert error["extensions"]["errors"][0]["field"] == "messageId"
    assert not Feedback.objects.exists()


def test_a_reply_still_generating_cannot_be_rated(chat):
    streaming = chat.message("Let me th", status=MessageStatus.STREAMING)

    [error] = chat.rate_errors(streaming, rating="UP")

    assert error["extensions"]["code"] == "BUSY"  # as sendMessage during a reply


def test_a_message_of_another_conversation_is_not_found(bot, chat):
    elsewhere = Chat(bot).message("Someone else's answer")

    [error] = chat.rate_errors(elsewhere, rating="DOWN")

    assert error["extensions"]["code"] == "NOT_FOUND"
    assert not Feedback.objects.exists()


def test_the_owner_cannot_rate_in_the_visitors_place(chat, owner_gql):
    reply = chat.message("Answer")

    [error] = owner_gql.errors(RATE, {"input": {"messageId": reply, "rating": "UP"}})

    assert error["extensions"]["code"] == "FORBIDDEN"


def test_rating_needs_the_chat_token(chat, anon_gql):
    reply = chat.message("Answer")

    [error] = anon_gql.errors(RATE, {"input": {"messageId": reply, "rating": "UP"}})

    assert error["extensions"]["code"] == "UNAUTHENTICATED"


def test_the_comment_length_is_capped(chat, settings):
    settings.FEEDBACK_COMMENT_MAX_LENGTH = 10
    reply = chat.message("Answer")

    [error] = chat.rate_errors(reply, rating="DOWN", comment="x" * 11)

    assert error["extensions"]["code"] == "TOO_LONG"
    assert error["extensions"]["errors"][0]["field"] == "comment"
    assert not Feedback.objects.exists()


@pytest.mark.parametrize("comment", ["nul\x00here", "lone\ud800surrogate"])
def test_a_comment_that_cannot_be_stored_is_refused(chat, comment):
    reply = chat.message("Answer")

    [error] = chat.rate_errors(reply, rating="DOWN", comment=comment)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "input.comment"
    assert not Feedback.objects.exists()


def test_owners_see_counts_and_a_filtered_newest_first_list(bot, owner_gql):
    first, second = Chat(bot), Chat(bot)
    old = first.message("Old answer")
    first.rate(old, rating="UP")
    Feedback.objects.update(updated_at=timezone.now() - timedelta(days=3))
    first.rate(first.message("Second answer"), rating="DOWN", comment="too vague")
    second.rate(second.message("Third answer"), rating="DOWN")
    bot_id = to_base64("Bot", bot.pk)

    everything = owner_gql.execute(BOT_FEEDBACK, {"id": bot_id})["bot"]

    assert everything["feedbackCounts"] == {"up": 1, "down": 2, "total": 3}
    nodes = [e["node"] for e in everything["feedback"]["edges"]]
    assert [n["message"]["content"] for n in nodes] == [
        "Third answer",
        "Second answer",
        "Old answer",
    ]
    assert nodes[0]["message"]["conversationId"] == second.id

    def contents(filters, **paging):
        found = owner_gql.execute(BOT_FEEDBACK, {"id": bot_id, "filters": filters, **paging})
        return [e["node"]["message"]["content"] for e in found["bot"]["feedback"]["edges"]]

    assert contents({"rating": "DOWN"}) == ["Third answer", "Second answer"]
    assert contents({"hasComment": True}) == ["Second answer"]
    assert contents({"hasComment": False}) == ["Third answer", "Old answer"]
    day_ago = (timezone.now() - timedelta(days=1)).isoformat()
    assert contents({"since": day_ago}) == ["Third answer", "Second answer"]
    assert contents({"until": day_ago}) == ["Old answer"]
    assert contents({"rating": "DOWN", "hasComment": False}) == ["Third answer"]

    page = owner_gql.execute(BOT_FEEDBACK, {"id": bot_id, "first": 2})["bot"]["feedback"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]
    assert contents({}, first=2, after=page["pageInfo"]["endCursor"]) == ["Old answer"]


def test_counts_in_a_bot_list_and_after_revoking(bot, owner, owner_gql, chat):
    BotFactory(owner=owner, name="Quiet")
    reply = chat.message("Answer")
    chat.rate(reply, rating="UP")

    listed = owner_gql.execute(BOTS_COUNTS)["bots"]["edges"]
    counts = {e["node"]["name"]: e["node"]["feedbackCounts"] for e in listed}
    assert counts == {
        "Support": {"up": 1, "down": 0, "total": 1},
        "Quiet": {"up": 0, "down": 0, "total": 0},
    }

    chat.rate(reply, rating=None)
    listed = owner_gql.execute(BOTS_COUNTS)["bots"]["edges"]
    assert [e["node"]["feedbackCounts"]["total"] for e in listed] == [0, 0]


def test_other_owners_see_no_feedback(bot, chat, other_gql):
    chat.rate(chat.message("Answer"), rating="UP")
    feedback_id = to_base64("Feedback", Feedback.objects.get().pk)

    assert other_gql.execute(BOT_FEEDBACK, {"id": to_base64("Bot", bot.pk)})["bot"] is None
    node = other_gql.execute("query($id: ID!) { node(id: $id) { id } }", {"id": feedback_id})
    assert node["node"] is None


def test_the_owner_reads_a_rating_on_the_transcript(chat, owner_gql):
    chat.rate(chat.message("Answer"), rating="DOWN", comment="rude")

    transcript = owner_gql.execute(TRANSCRIPT, {"id": chat.id})["conversation"]["messages"]

    assert transcript["edges"][0]["node"]["feedback"] == {"rating": "DOWN", "comment": "rude"}
