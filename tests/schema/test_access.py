"""Who may read and write what: owner, another user, staff and anonymous callers.

Owners see and change their own bots, scenarios and steps; staff see and change all;
another user gets null/empty on reads and `not_found` on writes (existence is not
revealed); anonymous callers get a GraphQL error on top-level reads and `unauthenticated`
on writes.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from django.forms.models import model_to_dict
from strawberry import relay

from bots.models import Bot, Scenario, Step
from tests.conftest import session_client
from tests.factories import BotFactory, ScenarioFactory, StepFactory
from tests.graphql_client import GraphQLClient

AUTH_REQUIRED = "Authentication required: log in or send an API token."

CALLERS = ["owner", "other", "staff", "anonymous"]
CLIENT_FIXTURES = {
    "owner": "owner_gql",
    "other": "other_gql",
    "staff": "staff_gql",
    "anonymous": "anon_gql",
}

BOTS = "query { bots { totalCount edges { node { id name } } } }"
BOT = "query($id: ID!) { bot(id: $id) { id name } }"
SCENARIOS = "query { scenarios { totalCount edges { node { id name } } } }"
SCENARIO = "query($id: ID!) { scenario(id: $id) { id name } }"
STEPS = "query { steps { totalCount edges { node { id name } } } }"
STEP = "query($id: ID!) { step(id: $id) { id name } }"
NODE = """
query($id: ID!) {
  node(id: $id) {
    id
    ... on Bot { name }
    ... on Scenario { name }
    ... on Step { name }
    ... on User { name: username }
  }
}
"""
BOT_SCENARIOS = """
query($id: ID!) { bot(id: $id) { name scenarios { totalCount edges { node { name } } } } }
"""
SCENARIO_STEPS = """
query($id: ID!) { scenario(id: $id) { name steps { totalCount edges { node { name } } } } }
"""
STEP_PARENTS = """
query($id: ID!) { step(id: $id) { name scenario { name bot { name owner { username } } } } }
"""
ME = "query { me { username isStaff } }"

_RESULT = """
    __typename
    ... on Node { id }
    ... on OperationInfo { messages { field message code kind } }
"""
CREATE_BOT = f"mutation($input: BotInput!) {{ createBot(input: $input) {{ {_RESULT} }} }}"
UPDATE_BOT = f"mutation($input: BotPartialInput!) {{ updateBot(input: $input) {{ {_RESULT} }} }}"
DELETE_BOT = f"mutation($input: DeleteInput!) {{ deleteBot(input: $input) {{ {_RESULT} }} }}"
CREATE_SCENARIO = (
    f"mutation($input: ScenarioInput!) {{ createScenario(input: $input) {{ {_RESULT} }} }}"
)
UPDATE_SCENARIO = (
    f"mutation($input: ScenarioPartialInput!) {{ updateScenario(input: $input) {{ {_RESULT} }} }}"
)
DELETE_SCENARIO = (
    f"mutation($input: DeleteInput!) {{ deleteScenario(input: $input) {{ {_RESULT} }} }}"
)
CREATE_STEP = f"mutation($input: StepInput!) {{ createStep(input: $input) {{ {_RESULT} }} }}"
UPDATE_STEP = f"mutation($input: StepPartialInput!) {{ updateStep(input: $input) {{ {_RESULT} }} }}"
DELETE_STEP = f"mutation($input: DeleteInput!) {{ deleteStep(input: $input) {{ {_RESULT} }} }}"
REORDER_STEPS = (
    f"mutation($input: ReorderStepsInput!) {{ reorderSteps(input: $input) {{ {_RESULT} }} }}"
)


def gid(obj) -> str:
    return str(relay.GlobalID(type(obj).__name__, str(obj.pk)))


@pytest.fixture
def world(owner):
    """The owner's bot with one scenario of two steps, the first being the initial one."""
    bot = BotFactory(owner=owner, name="Support bot")
    scenario = ScenarioFactory(bot=bot, name="Onboarding")
    first = StepFactory(scenario=scenario, name="greet", order=0)
    second = StepFactory(scenario=scenario, name="ask", order=1)
    scenario.initial_step = first
    scenario.save()
    return {"owner": owner, "bot": bot, "scenario": scenario, "steps": [first, second]}


@pytest.fixture(params=CALLERS)
def caller(request) -> tuple[str, GraphQLClient]:
    return request.param, request.getfixturevalue(CLIENT_FIXTURES[request.param])


def db_state() -> list[dict[str, Any]]:
    """Every bot, scenario and step as plain values, to prove a write changed nothing."""
    return [
        model_to_dict(obj)
        for model in (Bot, Scenario, Step)
        for obj in model.objects.order_by("pk")
    ]


def edge_names(connection: dict) -> list[str]:
    return [edge["node"]["name"] for edge in connection["edges"]]


# --- reads -------------------------------------------------------------------------


@dataclass
class Read:
    query: str
    target: str | None  # which object of `world` is passed as $id
    pick: Any  # data -> what we compare
    visible: Any  # what the owner and staff get
    hidden: Any  # what another user gets


def _first_step(world):
    return world["steps"][0]


READS = {
    "bots": Read(BOTS, None, lambda d: edge_names(d["bots"]), ["Support bot"], []),
    "bot": Read(BOT, "bot", lambda d: d["bot"] and d["bot"]["name"], "Support bot", None),
    "scenarios": Read(SCENARIOS, None, lambda d: edge_names(d["scenarios"]), ["Onboarding"], []),
    "scenario": Read(
        SCENARIO,
        "scenario",
        lambda d: d["scenario"] and d["scenario"]["name"],
        "Onboarding",
        None,
    ),
    "steps": Read(STEPS, None, lambda d: edge_names(d["steps"]), ["greet", "ask"], []),
    "step": Read(STEP, "step", lambda d: d["step"] and d["step"]["name"], "greet", None),
    "node(Bot)": Read(NODE, "bot", lambda d: d["node"] and d["node"]["name"], "Support bot", None),
    "node(Scenario)": Read(
        NODE, "scenario", lambda d: d["node"] and d["node"]["name"], "Onboarding", None
    ),
    "node(Step)": Read(NODE, "step", lambda d: d["node"] and d["node"]["name"], "greet", None),
    "bot.scenarios": Read(
        BOT_SCENARIOS,
        "bot",
        lambda d: d["bot"] and edge_names(d["bot"]["scenarios"]),
        ["Onboarding"],
        None,
    ),
    "scenario.steps": Read(
        SCENARIO_STEPS,
        "scenario",
        lambda d: d["scenario"] and edge_names(d["scenario"]["steps"]),
        ["greet", "ask"],
        None,
    ),
    "step.scenario.bot.owner": Read(
        STEP_PARENTS,
        "step",
        lambda d: d["step"] and d["step"]["scenario"]["bot"]["owner"]["username"],
        "owner",
        None,
    ),
}


def read_variables(read: Read, world) -> dict:
    if read.target is None:
        return {}
    target = _first_step(world) if read.target == "step" else world[read.target]
    return {"id": gid(target)}


@pytest.mark.parametrize("read_name", READS)
def test_read_access(caller, world, read_name):
    name, gql = caller
    read = READS[read_name]
    variables = read_variables(read, world)

    if name == "anonymous":
        errors = gql.errors(read.query, variables)
        assert [error["message"] for error in errors] == [AUTH_REQUIRED]
        return

    data = gql.execute(read.query, variables)
    expected = read.hidden if name == "other" else read.visible
    assert read.pick(data) == expected


def test_list_reads_count_only_visible_rows(world, other_user, other_gql, staff_gql):
    BotFactory(owner=other_user, name="Other bot")
    assert other_gql.execute(BOTS)["bots"]["totalCount"] == 1
    assert staff_gql.execute(BOTS)["bots"]["totalCount"] == 2


def test_staff_sees_the_owner_through_nested_fields(world, staff_gql):
    data = staff_gql.execute(STEP_PARENTS, {"id": gid(world["steps"][0])})
    assert data["step"]["scenario"]["bot"]["owner"]["username"] == "owner"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("owner", {"username": "owner", "isStaff": False}),
        ("other", {"username": "other", "isStaff": False}),
        ("staff", {"username": "staff", "isStaff": True}),
        ("anonymous", None),
    ],
)
def test_me(request, name, expected):
    gql = request.getfixturevalue(CLIENT_FIXTURES[name])
    assert gql.execute(ME) == {"me": expected}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("owner", "owner"), ("other", None), ("staff", "owner"), ("anonymous", None)],
)
def test_user_node_is_visible_to_self_and_staff(request, world, name, expected):
    # Anonymous callers get null here, not an error: a user is no secret, but not listed.
    gql = request.getfixturevalue(CLIENT_FIXTURES[name])
    data = gql.execute(NODE, {"id": gid(world["owner"])})
    assert (data["node"] and data["node"]["name"]) == expected


# --- writes ------------------------------------------------------------------------


@dataclass
class Write:
    query: str
    field: str
    typename: str
    not_found: str  # what another user is told
    input: Any  # world -> input
    applied: Any  # world -> bool: the write is in the database


def _renamed(model, pk, name) -> bool:
    return model.objects.filter(pk=pk, name=name).exists()


WRITES = {
    "updateBot": Write(
        UPDATE_BOT,
        "updateBot",
        "Bot",
        "Bot not found.",
        lambda w: {"id": gid(w["bot"]), "name": "Renamed", "temperature": 1.5},
        lambda w: Bot.objects.filter(pk=w["bot"].pk, name="Renamed", temperature=1.5).exists(),
    ),
    "deleteBot": Write(
        DELETE_BOT,
        "deleteBot",
        "Bot",
        "Bot not found.",
        lambda w: {"id": gid(w["bot"])},
        lambda w: not Bot.objects.filter(pk=w["bot"].pk).exists(),
    ),
    "createScenario": Write(
        CREATE_SCENARIO,
        "createScenario",
        "Scenario",
        "Bot not found.",
        lambda w: {"botId": gid(w["bot"]), "name": "Upsell"},
        lambda w: w["bot"].scenarios.filter(name="Upsell").exists(),
    ),
    "updateScenario": Write(
        UPDATE_SCENARIO,
        "updateScenario",
        "Scenario",
        "Scenario not found.",
        lambda w: {
            "id": gid(w["scenario"]),
            "name": "Renamed",
            "initialStepId": gid(w["steps"][1]),
        },
        lambda w: Scenario.objects.filter(
            pk=w["scenario"].pk, name="Renamed", initial_step=w["steps"][1]
        ).exists(),
    ),
    "deleteScenario": Write(
        DELETE_SCENARIO,
        "deleteScenario",
        "Scenario",
        "Scenario not found.",
        lambda w: {"id": gid(w["scenario"])},
        lambda w: not Scenario.objects.filter(pk=w["scenario"].pk).exists(),
    ),
    "createStep": Write(
        CREATE_STEP,
        "createStep",
        "Step",
        "Scenario not found.",
        lambda w: {
            "scenarioId": gid(w["scenario"]),
            "name": "bye",
            "stepType": "MESSAGE",
            "content": {"text": "Bye!"},
        },
        lambda w: w["scenario"].steps.filter(name="bye", order=2).exists(),
    ),
    "updateStep": Write(
        UPDATE_STEP,
        "updateStep",
        "Step",
        "Step not found.",
        lambda w: {"id": gid(w["steps"][0]), "name": "hello", "nextStepId": gid(w["steps"][1])},
        lambda w: Step.objects.filter(
            pk=w["steps"][0].pk, name="hello", next_step=w["steps"][1]
        ).exists(),
    ),
    "deleteStep": Write(
        DELETE_STEP,
        "deleteStep",
        "Step",
        "Step not found.",
        lambda w: {"id": gid(w["steps"][0])},
        lambda w: not Step.objects.filter(pk=w["steps"][0].pk).exists(),
    ),
    "reorderSteps": Write(
        REORDER_STEPS,
        "reorderSteps",
        "Scenario",
        "Scenario not found.",
        lambda w: {
            "scenarioId": gid(w["scenario"]),
            "stepIds": [gid(w["steps"][1]), gid(w["steps"][0])],
        },
        lambda w: (
            list(w["scenario"].steps.order_by("order").values_list("name", flat=True))
            == ["ask", "greet"]
        ),
    ),
}


def _messages(code: str, message: str, kind: str) -> list[dict]:
    return [{"field": None, "message": message, "code": code, "kind": kind}]


@pytest.mark.parametrize("write_name", WRITES)
def test_write_access(caller, world, write_name):
    name, gql = caller
    write = WRITES[write_name]
    before = db_state()

    data = gql.execute(write.query, {"input": write.input(world)})
    result = data[write.field]

    if name in ("owner", "staff"):
        assert result["__typename"] == write.typename, result
        assert write.applied(world)
        return
    assert result["__typename"] == "OperationInfo"
    if name == "other":
        assert result["messages"] == _messages("not_found", write.not_found, "ERROR")
    else:
        assert result["messages"] == _messages("unauthenticated", AUTH_REQUIRED, "PERMISSION")
    assert db_state() == before


@pytest.mark.parametrize("name", ["owner", "other", "staff"])
def test_create_bot_creates_a_bot_owned_by_the_caller(request, name):
    gql = request.getfixturevalue(CLIENT_FIXTURES[name])
    data = gql.execute(CREATE_BOT, {"input": {"name": f"{name}'s bot"}})
    assert data["createBot"]["__typename"] == "Bot"
    assert Bot.objects.get(name=f"{name}'s bot").owner.username == name


def test_create_bot_when_anonymous_is_unauthenticated(anon_gql):
    data = anon_gql.execute(CREATE_BOT, {"input": {"name": "Nope"}})
    assert data["createBot"] == {
        "__typename": "OperationInfo",
        "messages": _messages("unauthenticated", AUTH_REQUIRED, "PERMISSION"),
    }
    assert not Bot.objects.exists()


def test_other_user_cannot_point_a_scenario_at_a_foreign_step(world, other_user, other_gql):
    # The same error as for any step outside the scenario: it reveals nothing about it.
    own = ScenarioFactory(bot=BotFactory(owner=other_user))
    data = other_gql.execute(
        UPDATE_SCENARIO, {"input": {"id": gid(own), "initialStepId": gid(world["steps"][0])}}
    )
    result = data["updateScenario"]
    assert result["__typename"] == "OperationInfo"
    assert result["messages"][0]["field"] == "initialStep"
    own.refresh_from_db()
    assert own.initial_step is None


# --- the same rules over the session cookie ----------------------------------------------


def test_session_owner_reads_own_bots(world):
    data = session_client(world["owner"]).execute(BOTS)
    assert edge_names(data["bots"]) == ["Support bot"]


def test_session_other_user_reads_nothing(world, other_user):
    gql = session_client(other_user)
    assert gql.execute(BOTS)["bots"]["totalCount"] == 0
    assert gql.execute(BOT, {"id": gid(world["bot"])}) == {"bot": None}


def test_session_staff_reads_all(world, staff):
    data = session_client(staff).execute(BOT_SCENARIOS, {"id": gid(world["bot"])})
    assert edge_names(data["bot"]["scenarios"]) == ["Onboarding"]


def test_session_owner_updates_own_bot(world):
    data = session_client(world["owner"]).execute(
        UPDATE_BOT, {"input": {"id": gid(world["bot"]), "name": "Renamed"}}
    )
    assert data["updateBot"]["__typename"] == "Bot"
    assert _renamed(Bot, world["bot"].pk, "Renamed")


def test_session_other_user_cannot_delete_the_bot(world, other_user):
    before = db_state()
    data = session_client(other_user).execute(DELETE_BOT, {"input": {"id": gid(world["bot"])}})
    assert data["deleteBot"]["messages"] == _messages("not_found", "Bot not found.", "ERROR")
    assert db_state() == before


def test_anonymous_reads_carry_the_unauthenticated_code(anon_gql):
    for query in (
        "{ bots(first: 1) { totalCount } }",
        "{ conversations(first: 1) { totalCount } }",
    ):
        [error] = anon_gql.errors(query)
        assert error["extensions"]["code"] == "UNAUTHENTICATED", error
        assert "Authentication required" in error["message"]
