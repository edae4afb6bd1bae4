"""Nested list queries cost a fixed number of SQL queries, whatever the number of rows."""

import itertools

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
    # session + user, bots (with the count), owners, scenarios, initial steps, steps,
    # next steps: one query per level, not per row.
    assert queries == 8
