"""Conversation list filters an owner's console needs: dates and failures."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, Message, MessageRole, MessageStatus
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db

CONVERSATIONS = """
query($filters: ConversationFilter) {
  conversations(filters: $filters, ordering: [{createdAt: ASC}]) {
    totalCount edges { node { userSession } }
  }
}
"""


def _conversation(bot, label: str, *, days_ago: int, status: str) -> Conversation:
    conversation = Conversation.objects.create(bot=bot, user_session=label, token_digest=label)
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    Message.objects.create(
        conversation=conversation, role=MessageRole.ASSISTANT, content="x", status=status
    )
    return conversation


@pytest.fixture
def history(owner):
    bot = BotFactory(owner=owner)
    _conversation(bot, "old-ok", days_ago=10, status=MessageStatus.COMPLETE)
    _conversation(bot, "old-failed", days_ago=9, status=MessageStatus.FAILED)
    _conversation(bot, "new-interrupted", days_ago=1, status=MessageStatus.INTERRUPTED)
    _conversation(bot, "new-ok", days_ago=0, status=MessageStatus.COMPLETE)
    return bot


def _sessions(client, filters) -> list[str]:
    data = client.execute(CONVERSATIONS, {"filters": filters})["conversations"]
    return [edge["node"]["userSession"] for edge in data["edges"]]


def test_has_failed_selects_conversations_with_a_failed_or_interrupted_reply(owner_gql, history):
    assert _sessions(owner_gql, {"hasFailed": True}) == ["old-failed", "new-interrupted"]
    assert _sessions(owner_gql, {"hasFailed": False}) == ["old-ok", "new-ok"]


def test_created_after_and_before_bound_the_start_time(owner_gql, history):
    five_days_ago = (timezone.now() - timedelta(days=5)).isoformat()
    two_days_ago = (timezone.now() - timedelta(days=2)).isoformat()

    assert _sessions(owner_gql, {"createdAfter": five_days_ago}) == ["new-interrupted", "new-ok"]
    assert _sessions(owner_gql, {"createdBefore": five_days_ago}) == ["old-ok", "old-failed"]
    both = {"createdBefore": two_days_ago, "createdAfter": five_days_ago}
    assert _sessions(owner_gql, both) == []


def test_filters_combine_and_keep_to_the_callers_bots(owner_gql, other_gql, history):
    recent_failures = {
        "hasFailed": True,
        "createdAfter": (timezone.now() - timedelta(days=5)).isoformat(),
    }
    assert _sessions(owner_gql, recent_failures) == ["new-interrupted"]
    assert _sessions(other_gql, {"hasFailed": True}) == []
