"""Nested list queries cost a fixed number of SQL queries, whatever the number of rows."""

import itertools
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import session_client
from tests.factories import BotFactory, ScenarioFactory, StepFactory

NESTED_BOTS = """
query {
  bots {
    edges { node {
      name
      owner { username }
      scenarioCount
      scenarios { edges { node {
        name
        initialStep { name }
        steps { edges { node { name nextStep { name } } } }
      } } }
    } }
  }
}
"""

NESTED_SCENARIOS = """
query {
  scenarios {
    totalCount
    edges { node {
      name
      bot { name owner { username } }
      steps { totalCount edges { node { name scenario { name } } } }
    } }
  }
}
"""

NESTED_STEPS = """
query { steps { edges { node { name nextStep { name } scenario { name bot { name } } } } } }
"""


def add_bots(owner, count: int, *, scenarios: int = 2, steps: int = 3) -> None:
    """Bots with scenarios whose steps are chained and whose initial step is set."""
    for _ in range(count):
        bot = BotFactory(owner=owner)
        for _ in range(scenarios):
            scenario = ScenarioFactory(bot=bot)
            chain = [StepFactory(scenario=scenario) for _ in range(steps)]
            for step, following in itertools.pairwise(chain):
                step.next_step = following
                step.save()
            scenario.initial_step = chain[0]
            scenario.save()


def count_queries(gql, query: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        data = gql.execute(query)
    return len(captured.captured_queries), data


@pytest.mark.parametrize("query", [NESTED_BOTS, NESTED_SCENARIOS, NESTED_STEPS])
def test_nested_list_query_count_does_not_grow_with_rows(owner, query):
    gql = session_client(owner)
    add_bots(owner, 2)
    few, _ = count_queries(gql, query)

    add_bots(owner, 8)
    many, _ = count_queries(gql, query)

    assert few == many


def test_nested_bots_query_returns_every_level(owner):
    gql = session_client(owner)
    add_bots(owner, 10)

    queries, data = count_queries(gql, NESTED_BOTS)

    bots = [edge["node"] for edge in data["bots"]["edges"]]
    assert len(bots) == 10
    assert {bot["scenarioCount"] for bot in bots} == {2}
    scenario = bots[0]["scenarios"]["edges"][0]["node"]
    steps = [edge["node"] for edge in scenario["steps"]["edges"]]
    assert scenario["initialStep"]["name"] == steps[0]["name"]
    assert [step["nextStep"] and step["nextStep"]["name"] for step in steps] == [
        steps[1]["name"],
        steps[2]["name"],
        None,
    ]
    # session + user, bots (with the count, owners joined), scenarios (initial steps
    # joined), steps (next steps joined): one query per list, not per row, and to-one
    # relations joined rather than prefetched (see schema.common.ScopedNode).
    assert queries == 5


LARGE_NESTED = """
query {
  bots(first: 25) { edges { node {
    name owner { username }
    scenarios(first: 5) { edges { node {
      name initialStep { name }
      steps(first: 10) { edges { node { name nextStep { name } } } }
    } } }
  } } }
}
"""


def test_large_nested_read_joins_to_one_relations(owner, settings):
    """1,250 steps whose next steps are fetched in one go: to-one relations are joined.
    Prefetched instead, Django filters them with a `TupleIn` that SQLite renders as a
    1,250-term OR and refuses ("Expression tree is too large")."""
    from bench.seed import nested_tree

    settings.GRAPHQL_MAX_COST = 10_000
    nested_tree(owner=owner, bots=25, scenarios=5, steps=10)
    gql = session_client(owner)

    queries, data = count_queries(gql, LARGE_NESTED)

    bots = [edge["node"] for edge in data["bots"]["edges"]]
    assert len(bots) == 25
    assert {bot["owner"]["username"] for bot in bots} == {owner.username}
    steps = [
        step["node"]
        for bot in bots
        for scenario in bot["scenarios"]["edges"]
        for step in scenario["node"]["steps"]["edges"]
    ]
    assert len(steps) == 1250
    assert sum(step["nextStep"] is not None for step in steps) == 25 * 5 * 9
    assert all(
        step["nextStep"]["name"] == f"Step {int(step['name'].split()[1]) + 1}"
        for step in steps
        if step["nextStep"]
    )
    assert queries == 5


NESTED_FEEDBACK = """
query {
  conversations { edges { node {
    messages { edges { node { content feedback { rating comment } } } }
  } } }
  bots { edges { node {
    feedbackCounts { up down }
    feedback { edges { node { rating message { content } } } }
  } } }
}
"""


def add_rated_chats(bot, count: int) -> None:
    """Conversations of `bot` with two replies each, the first one rated."""
    from conversations.models import Conversation, Feedback, Message

    for _ in range(count):
        conversation = Conversation.objects.create(bot=bot, token_digest=uuid.uuid4().hex)
        first, _ = (
            Message.objects.create(conversation=conversation, role="assistant", content=text)
            for text in ("rated", "not rated")
        )
        Feedback.objects.create(message=first, bot=bot, rating="up")


def test_feedback_reads_cost_the_same_whatever_the_number_of_ratings(owner):
    gql = session_client(owner)
    bots = [BotFactory(owner=owner) for _ in range(2)]
    for bot in bots:
        add_rated_chats(bot, 1)
    few, _ = count_queries(gql, NESTED_FEEDBACK)

    for bot in bots:
        add_rated_chats(bot, 5)
    many, data = count_queries(gql, NESTED_FEEDBACK)

    assert few == many
    ratings = [
        m["node"]["feedback"]
        for c in data["conversations"]["edges"]
        for m in c["node"]["messages"]["edges"]
    ]
    assert ratings.count({"rating": "UP", "comment": ""}) == 12 and ratings.count(None) == 12
    assert [b["node"]["feedbackCounts"] for b in data["bots"]["edges"]] == [
        {"up": 6, "down": 0}
    ] * 2
