"""The bots API over HTTP: lists, nesting, and create/update/delete with typed errors."""

import pytest
from django.forms.models import model_to_dict
from strawberry import relay

from bots.models import Bot, Scenario, Step
from tests.factories import BotFactory, ScenarioFactory, StepFactory

# --- documents -----------------------------------------------------------------------

BOT_FIELDS = (
    "id name description botType model temperature maxTokens systemPrompt isActive isPublic"
    " suggestionsEnabled suggestionsCount suggestionsPrompt"
)
MESSAGES = "... on OperationInfo { messages { field message code kind } }"

BOTS = """
query($filters: BotFilter, $ordering: [BotOrder!]! = [], $first: Int, $after: String,
      $last: Int, $before: String) {
  bots(filters: $filters, ordering: $ordering, first: $first, after: $after,
       last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { name } }
  }
}
"""
SCENARIOS = """
query($filters: ScenarioFilter) {
  scenarios(filters: $filters) { totalCount edges { node { name } } }
}
"""
STEPS = """
query($filters: StepFilter, $ordering: [StepOrder!]! = []) {
  steps(filters: $filters, ordering: $ordering) { totalCount edges { node { name } } }
}
"""
BOT_TREE = """
query($id: ID!) {
  bot(id: $id) {
    name
    owner { username }
    scenarioCount
    scenarios {
      totalCount
      edges { node {
        name
        isActive
        bot { name }
        initialStep { name }
        steps { edges { node { name order stepType content nextStep { name } scenario { name } } } }
      } }
    }
  }
}
"""
API_INFO = """
query { apiInfo { name version llmProvider channelLayer database subscriptionProtocols } }
"""
ME = "query { me { id username email isStaff } }"

CREATE_BOT = f"""
mutation($input: BotInput!) {{
  createBot(input: $input) {{
    __typename ... on Bot {{ {BOT_FIELDS} owner {{ username }} }} {MESSAGES}
  }}
}}
"""
UPDATE_BOT = f"""
mutation($input: BotPartialInput!) {{
  updateBot(input: $input) {{ __typename ... on Bot {{ {BOT_FIELDS} }} {MESSAGES} }}
}}
"""
DELETE_BOT = f"""
mutation($input: DeleteInput!) {{
  deleteBot(input: $input) {{ __typename ... on Bot {{ id name }} {MESSAGES} }}
}}
"""
CREATE_SCENARIO = f"""
mutation($input: ScenarioInput!) {{
  createScenario(input: $input) {{
    __typename
    ... on Scenario {{ id name description isActive bot {{ name }} initialStep {{ id }} }}
    {MESSAGES}
  }}
}}
"""
UPDATE_SCENARIO = f"""
mutation($input: ScenarioPartialInput!) {{
  updateScenario(input: $input) {{
    __typename ... on Scenario {{ id name isActive initialStep {{ name }} }} {MESSAGES}
  }}
}}
"""
DELETE_SCENARIO = f"""
mutation($input: DeleteInput!) {{
  deleteScenario(input: $input) {{ __typename ... on Scenario {{ id name }} {MESSAGES} }}
}}
"""
CREATE_STEP = f"""
mutation($input: StepInput!) {{
  createStep(input: $input) {{
    __typename
    ... on Step {{ id name stepType content order nextStep {{ name }} scenario {{ name }} }}
    {MESSAGES}
  }}
}}
"""
UPDATE_STEP = f"""
mutation($input: StepPartialInput!) {{
  updateStep(input: $input) {{
    __typename ... on Step {{ id name stepType content order nextStep {{ name }} }} {MESSAGES}
  }}
}}
"""
DELETE_STEP = f"""
mutation($input: DeleteInput!) {{
  deleteStep(input: $input) {{ __typename ... on Step {{ id name }} {MESSAGES} }}
}}
"""
REORDER_STEPS = f"""
mutation($input: ReorderStepsInput!) {{
  reorderSteps(input: $input) {{
    __typename ... on Scenario {{ steps {{ edges {{ node {{ name order }} }} }} }} {MESSAGES}
  }}
}}
"""


# --- helpers -------------------------------------------------------------------------


def gid(obj) -> str:
    return str(relay.GlobalID(type(obj).__name__, str(obj.pk)))


def names(connection: dict) -> list[str]:
    return [edge["node"]["name"] for edge in connection["edges"]]


def db_state() -> list[dict]:
    return [
        model_to_dict(obj)
        for model in (Bot, Scenario, Step)
        for obj in model.objects.order_by("pk")
    ]


def error(field, message, code, kind="VALIDATION") -> dict:
    return {"field": field, "message": message, "code": code, "kind": kind}


def operation_info(result: dict) -> list[dict]:
    assert result["__typename"] == "OperationInfo", result
    return result["messages"]


@pytest.fixture
def scenario(bot):
    """The owner's scenario: greet -> ask, greet being the initial step."""
    scenario = ScenarioFactory(bot=bot, name="Onboarding", is_active=True)
    greet = StepFactory(scenario=scenario, name="greet", order=0, content={"text": "Hi"})
    StepFactory(
        scenario=scenario,
        name="ask",
        order=1,
        step_type="question",
        content={"text": "Your email?", "variable": "email", "validation": {"type": "email"}},
    )
    greet.next_step = scenario.steps.get(name="ask")
    greet.save()
    scenario.initial_step = greet
    scenario.save()
    return scenario


@pytest.fixture
def foreign_scenario(bot):
    """Another scenario of the same bot, with one step."""
    scenario = ScenarioFactory(bot=bot, name="Elsewhere")
    StepFactory(scenario=scenario, name="far", order=0)
    return scenario


# --- lists: filters, ordering, paging ---------------------------------------------------------


@pytest.fixture
def three_bots(owner):
    BotFactory(owner=owner, name="Bravo", description="Answers support tickets")
    BotFactory(owner=owner, name="Alpha", bot_type="completion", temperature=0.1)
    BotFactory(owner=owner, name="Charlie", is_active=False, temperature=1.9)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"isActive": False}, ["Charlie"]),
        ({"isActive": True}, ["Alpha", "Bravo"]),
        ({"botType": "COMPLETION"}, ["Alpha"]),
        ({"botType": "CHAT"}, ["Bravo", "Charlie"]),
        ({"search": "SUPPORT"}, ["Bravo"]),  # description, any case
        ({"search": "arli"}, ["Charlie"]),  # name
        ({"search": "nothing like it"}, []),
        ({"isActive": True, "botType": "CHAT"}, ["Bravo"]),
    ],
)
def test_bots_filters(owner_gql, three_bots, filters, expected):
    data = owner_gql.execute(BOTS, {"filters": filters, "ordering": [{"name": "ASC"}]})
    assert names(data["bots"]) == expected
    assert data["bots"]["totalCount"] == len(expected)


def test_bots_filter_by_owner(staff_gql, owner, other_user, three_bots):
    BotFactory(owner=other_user, name="Delta")
    data = staff_gql.execute(BOTS, {"filters": {"owner": gid(other_user)}})
    assert names(data["bots"]) == ["Delta"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ([{"name": "ASC"}], ["Alpha", "Bravo", "Charlie"]),
        ([{"name": "DESC"}], ["Charlie", "Bravo", "Alpha"]),
        ([{"temperature": "DESC"}], ["Charlie", "Bravo", "Alpha"]),
        ([{"createdAt": "ASC"}], ["Bravo", "Alpha", "Charlie"]),
        ([], ["Charlie", "Alpha", "Bravo"]),  # newest first by default
    ],
)
def test_bots_ordering(owner_gql, three_bots, ordering, expected):
    data = owner_gql.execute(BOTS, {"ordering": ordering})
    assert names(data["bots"]) == expected


def test_bots_forward_paging(owner_gql, three_bots):
    ordering = [{"name": "ASC"}]
    first = owner_gql.execute(BOTS, {"ordering": ordering, "first": 2})["bots"]
    assert names(first) == ["Alpha", "Bravo"]
    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]

    after = first["pageInfo"]["endCursor"]
    rest = owner_gql.execute(BOTS, {"ordering": ordering, "first": 2, "after": after})["bots"]
    assert names(rest) == ["Charlie"]
    assert rest["totalCount"] == 3
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True


def test_bots_backward_paging(owner_gql, three_bots):
    ordering = [{"name": "ASC"}]
    last = owner_gql.execute(BOTS, {"ordering": ordering, "last": 1})["bots"]
    assert names(last) == ["Charlie"]
    assert last["pageInfo"]["hasPreviousPage"] is True
    assert last["pageInfo"]["hasNextPage"] is False

    before = last["pageInfo"]["startCursor"]
    earlier = owner_gql.execute(BOTS, {"ordering": ordering, "last": 2, "before": before})["bots"]
    assert names(earlier) == ["Alpha", "Bravo"]
    assert earlier["pageInfo"]["hasNextPage"] is True
    assert earlier["pageInfo"]["hasPreviousPage"] is False


def test_page_size_is_capped(owner_gql):
    errors = owner_gql.errors(BOTS, {"first": 1000})
    assert errors[0]["message"] == "Argument 'first' cannot be higher than 100."


def test_scenarios_filters(owner_gql, bot, scenario, foreign_scenario):
    other_bot = BotFactory(owner=bot.owner)
    ScenarioFactory(bot=other_bot, name="Other bot's")

    by_bot = owner_gql.execute(SCENARIOS, {"filters": {"bot": gid(bot)}})["scenarios"]
    assert sorted(names(by_bot)) == ["Elsewhere", "Onboarding"]
    active = owner_gql.execute(SCENARIOS, {"filters": {"isActive": True}})["scenarios"]
    assert names(active) == ["Onboarding"]
    both = {"bot": gid(bot), "isActive": False}
    assert names(owner_gql.execute(SCENARIOS, {"filters": both})["scenarios"]) == ["Elsewhere"]


def test_steps_filters_and_ordering(owner_gql, scenario, foreign_scenario):
    in_scenario = {"filters": {"scenario": gid(scenario)}}
    assert names(owner_gql.execute(STEPS, in_scenario)["steps"]) == ["greet", "ask"]
    questions = {"filters": {"stepType": "QUESTION"}}
    assert names(owner_gql.execute(STEPS, questions)["steps"]) == ["ask"]
    backwards = {**in_scenario, "ordering": [{"order": "DESC"}]}
    assert names(owner_gql.execute(STEPS, backwards)["steps"]) == ["ask", "greet"]
    by_name = {"ordering": [{"name": "ASC"}]}
    assert names(owner_gql.execute(STEPS, by_name)["steps"]) == ["ask", "far", "greet"]


# --- nesting -----------------------------------------------------------------------


def test_bot_tree_nests_scenarios_steps_and_references(owner_gql, bot, scenario):
    data = owner_gql.execute(BOT_TREE, {"id": gid(bot)})["bot"]

    assert data["owner"] == {"username": "owner"}
    assert data["scenarioCount"] == 1
    assert data["scenarios"]["totalCount"] == 1
    node = data["scenarios"]["edges"][0]["node"]
    assert node["bot"] == {"name": "Support bot"}
    assert node["initialStep"] == {"name": "greet"}
    steps = [edge["node"] for edge in node["steps"]["edges"]]
    assert steps == [
        {
            "name": "greet",
            "order": 0,
            "stepType": "MESSAGE",
            "content": {"text": "Hi"},
            "nextStep": {"name": "ask"},
            "scenario": {"name": "Onboarding"},
        },
        {
            "name": "ask",
            "order": 1,
            "stepType": "QUESTION",
            "content": {
                "text": "Your email?",
                "variable": "email",
                "validation": {"type": "email"},
            },
            "nextStep": None,
            "scenario": {"name": "Onboarding"},
        },
    ]


# --- apiInfo and me ------------------------------------------------------------------


def test_api_info_tells_anonymous_callers_only_the_name_and_protocols(anon_gql):
    assert anon_gql.execute(API_INFO)["apiInfo"] == {
        "name": "Botstream",
        "version": None,
        "llmProvider": None,
        "channelLayer": None,
        "database": None,
        "subscriptionProtocols": ["graphql-transport-ws", "graphql-ws"],
    }


def test_api_info_hides_server_details_from_owners_too(owner_gql):
    info = owner_gql.execute(API_INFO)["apiInfo"]

    assert info["version"] is info["database"] is info["llmProvider"] is None


def test_api_info_tells_staff_the_version_and_services(staff_gql, settings):
    # Both test passes: embedded (SQLite, in-memory) and services (Postgres, Redis).
    embedded = not settings.REDIS_URL
    engine = settings.DATABASES["default"]["ENGINE"]
    assert staff_gql.execute(API_INFO)["apiInfo"] == {
        "name": "Botstream",
        "version": "0.1.0",
        "llmProvider": "offline",
        "channelLayer": "in-memory" if embedded else "redis",
        "database": "sqlite3" if engine.endswith("sqlite3") else "postgresql",
        "subscriptionProtocols": ["graphql-transport-ws", "graphql-ws"],
    }


def test_me_returns_the_caller(owner_gql, owner):
    assert owner_gql.execute(ME)["me"] == {
        "id": gid(owner),
        "username": "owner",
        "email": "owner@example.com",
        "isStaff": False,
    }


# --- bots: create, update, delete --------------------------------------------------------


def test_create_bot_with_every_field(owner_gql):
    bot_input = {
        "name": "Tutor",
        "description": "Teaches maths",
        "botType": "COMPLETION",
        "model": "gpt-4o",
        "temperature": 0.2,
        "maxTokens": 512,
        "systemPrompt": "You are a patient tutor.",
        "isActive": False,
        "isPublic": True,
        "suggestionsEnabled": True,
        "suggestionsCount": 5,
        "suggestionsPrompt": "Suggest maths questions.",
    }
    result = owner_gql.execute(CREATE_BOT, {"input": bot_input})["createBot"]
    assert result["__typename"] == "Bot"
    assert {key: result[key] for key in bot_input} == bot_input
    assert result["owner"] == {"username": "owner"}
    assert Bot.objects.get(name="Tutor").max_tokens == 512


def test_create_bot_fills_defaults(owner_gql):
    result = owner_gql.execute(CREATE_BOT, {"input": {"name": "Plain"}})["createBot"]
    assert result["botType"] == "CHAT"
    assert result["temperature"] == 0.7
    assert result["maxTokens"] == 1024
    assert result["isActive"] is True
    assert result["isPublic"] is False  # listed on the public pages only when asked
    assert result["suggestionsEnabled"] is False  # an extra LLM call: only when asked
    assert (result["suggestionsCount"], result["suggestionsPrompt"]) == (3, "")


@pytest.mark.parametrize(
    ("bot_input", "expected"),
    [
        (
            {"temperature": 2.01},
            error("temperature", "Ensure this value is less than or equal to 2.0.", "max_value"),
        ),
        (
            {"temperature": -0.5},
            error("temperature", "Ensure this value is greater than or equal to 0.0.", "min_value"),
        ),
        (
            {"maxTokens": 0},
            error("maxTokens", "Ensure this value is greater than or equal to 1.", "min_value"),
        ),
        (
            {"maxTokens": -3},
            error("maxTokens", "Ensure this value is greater than or equal to 1.", "min_value"),
        ),
        (
            {"suggestionsCount": 0},
            error(
                "suggestionsCount", "Ensure this value is greater than or equal to 1.", "min_value"
            ),
        ),
        (
            {"suggestionsCount": 6},
            error("suggestionsCount", "Ensure this value is less than or equal to 5.", "max_value"),
        ),
        (
            {"suggestionsPrompt": "x" * 2001},
            error(
                "suggestionsPrompt",
                "Ensure this value has at most 2000 characters (it has 2001).",
                "max_length",
            ),
        ),
        ({"name": ""}, error("name", "This field cannot be blank.", "blank")),
        (
            {"name": "x" * 101},
            error(
                "name", "Ensure this value has at most 100 characters (it has 101).", "max_length"
            ),
        ),
    ],
)
def test_create_bot_rejects_bad_input(owner_gql, bot_input, expected):
    result = owner_gql.execute(CREATE_BOT, {"input": {"name": "Bot", **bot_input}})["createBot"]
    assert operation_info(result) == [expected]
    assert not Bot.objects.exists()


def test_update_bot_changes_only_given_fields(owner_gql, bot):
    result = owner_gql.execute(
        UPDATE_BOT, {"input": {"id": gid(bot), "temperature": 1.2, "isActive": False}}
    )["updateBot"]
    assert result["temperature"] == 1.2
    assert result["isActive"] is False
    assert result["name"] == "Support bot"
    bot.refresh_from_db()
    assert (bot.temperature, bot.is_active, bot.name) == (1.2, False, "Support bot")


def test_update_bot_turns_suggestions_on_and_rejects_a_count_out_of_range(owner_gql, bot):
    on = {"id": gid(bot), "suggestionsEnabled": True, "suggestionsCount": 2}
    result = owner_gql.execute(UPDATE_BOT, {"input": on})["updateBot"]
    assert (result["suggestionsEnabled"], result["suggestionsCount"]) == (True, 2)
    before = db_state()
    result = owner_gql.execute(UPDATE_BOT, {"input": {"id": gid(bot), "suggestionsCount": 9}})
    assert operation_info(result["updateBot"]) == [
        error("suggestionsCount", "Ensure this value is less than or equal to 5.", "max_value")
    ]
    assert db_state() == before


def test_update_bot_rejects_out_of_range_temperature(owner_gql, bot):
    before = db_state()
    result = owner_gql.execute(UPDATE_BOT, {"input": {"id": gid(bot), "temperature": 5}})
    assert operation_info(result["updateBot"]) == [
        error("temperature", "Ensure this value is less than or equal to 2.0.", "max_value")
    ]
    assert db_state() == before


def test_update_bot_rejects_another_types_id(owner_gql, bot, scenario):
    before = db_state()
    result = owner_gql.execute(UPDATE_BOT, {"input": {"id": gid(scenario), "name": "x"}})
    messages = operation_info(result["updateBot"])
    assert [(m["field"], m["message"]) for m in messages] == [("id", "Expected the ID of a Bot.")]
    assert db_state() == before


def test_malformed_global_id_is_a_graphql_error(owner_gql):
    errors = owner_gql.errors(UPDATE_BOT, {"input": {"id": "not-an-id", "name": "x"}})
    assert "GlobalID" in errors[0]["message"]


def test_delete_bot_deletes_its_scenarios_and_steps(owner_gql, bot, scenario):
    result = owner_gql.execute(DELETE_BOT, {"input": {"id": gid(bot)}})["deleteBot"]
    assert result == {"__typename": "Bot", "id": gid(bot), "name": "Support bot"}
    assert not Bot.objects.exists()
    assert not Scenario.objects.exists()
    assert not Step.objects.exists()


# --- scenarios -----------------------------------------------------------------------


def test_create_scenario(owner_gql, bot):
    scenario_input = {"botId": gid(bot), "name": "Sales", "description": "Qualify leads"}
    result = owner_gql.execute(CREATE_SCENARIO, {"input": scenario_input})["createScenario"]
    assert result["__typename"] == "Scenario"
    assert result["bot"] == {"name": "Support bot"}
    assert result["isActive"] is False
    assert result["initialStep"] is None
    assert bot.scenarios.get().description == "Qualify leads"


def test_create_scenario_rejects_a_second_active_scenario(owner_gql, bot, scenario):
    before = db_state()
    scenario_input = {"botId": gid(bot), "name": "Second", "isActive": True}
    result = owner_gql.execute(CREATE_SCENARIO, {"input": scenario_input})["createScenario"]
    messages = operation_info(result)
    assert [m["message"] for m in messages] == ["This bot already has an active scenario."]
    assert db_state() == before


def test_create_scenario_rejects_a_step_id_as_bot_id(owner_gql, scenario):
    step = scenario.steps.first()
    scenario_input = {"botId": gid(step), "name": "Sales"}
    result = owner_gql.execute(CREATE_SCENARIO, {"input": scenario_input})["createScenario"]
    messages = operation_info(result)
    assert [(m["field"], m["message"]) for m in messages] == [
        ("botId", "Expected the ID of a Bot.")
    ]


def test_update_scenario_sets_and_clears_the_initial_step(owner_gql, scenario):
    ask = scenario.steps.get(name="ask")
    data = owner_gql.execute(
        UPDATE_SCENARIO, {"input": {"id": gid(scenario), "initialStepId": gid(ask)}}
    )
    assert data["updateScenario"]["initialStep"] == {"name": "ask"}

    data = owner_gql.execute(
        UPDATE_SCENARIO, {"input": {"id": gid(scenario), "initialStepId": None}}
    )
    assert data["updateScenario"]["initialStep"] is None
    scenario.refresh_from_db()
    assert scenario.initial_step is None


def test_update_scenario_rejects_an_initial_step_of_another_scenario(
    owner_gql, scenario, foreign_scenario
):
    before = db_state()
    far = foreign_scenario.steps.get()
    result = owner_gql.execute(
        UPDATE_SCENARIO, {"input": {"id": gid(scenario), "initialStepId": gid(far)}}
    )
    messages = operation_info(result["updateScenario"])
    assert [(m["field"], m["message"]) for m in messages] == [
        ("initialStep", "The initial step must belong to this scenario.")
    ]
    assert db_state() == before


def test_update_scenario_rejects_activating_a_second_scenario(
    owner_gql, scenario, foreign_scenario
):
    before = db_state()
    result = owner_gql.execute(
        UPDATE_SCENARIO, {"input": {"id": gid(foreign_scenario), "isActive": True}}
    )
    messages = operation_info(result["updateScenario"])
    assert [m["message"] for m in messages] == ["This bot already has an active scenario."]
    assert db_state() == before


def test_delete_scenario_deletes_its_steps(owner_gql, scenario, foreign_scenario):
    result = owner_gql.execute(DELETE_SCENARIO, {"input": {"id": gid(scenario)}})
    assert result["deleteScenario"] == {
        "__typename": "Scenario",
        "id": gid(scenario),
        "name": "Onboarding",
    }
    assert list(Scenario.objects.values_list("name", flat=True)) == ["Elsewhere"]
    assert list(Step.objects.values_list("name", flat=True)) == ["far"]


# --- steps ---------------------------------------------------------------------------


def test_create_step_goes_after_the_last_one(owner_gql, scenario):
    step_input = {
        "scenarioId": gid(scenario),
        "name": "answer",
        "stepType": "LLM",
        "content": {"prompt": "Tell {{ email }} about us", "variable": "pitch"},
    }
    result = owner_gql.execute(CREATE_STEP, {"input": step_input})["createStep"]
    assert result["__typename"] == "Step"
    assert result["order"] == 2
    assert result["stepType"] == "LLM"
    assert result["content"] == {"prompt": "Tell {{ email }} about us", "variable": "pitch"}
    assert result["scenario"] == {"name": "Onboarding"}


def test_create_step_with_order_and_next_step(owner_gql, scenario):
    ask = scenario.steps.get(name="ask")
    step_input = {
        "scenarioId": gid(scenario),
        "name": "intro",
        "stepType": "MESSAGE",
        "content": {"text": "Welcome"},
        "order": 10,
        "nextStepId": gid(ask),
    }
    result = owner_gql.execute(CREATE_STEP, {"input": step_input})["createStep"]
    assert result["order"] == 10
    assert result["nextStep"] == {"name": "ask"}


def test_create_step_normalizes_content(owner_gql, scenario):
    step_input = {
        "scenarioId": gid(scenario),
        "name": "fetch",
        "stepType": "API_CALL",
        "content": {"method": "get", "url": "https://api.github.com/zen", "variable": "zen"},
    }
    result = owner_gql.execute(CREATE_STEP, {"input": step_input})["createStep"]
    assert result["content"]["method"] == "GET"
    assert result["content"]["timeout"] == 10.0


@pytest.mark.parametrize(
    ("step_type", "content", "expected"),
    [
        (
            "MESSAGE",
            {"txt": "Hi"},
            [
                error("content", "content.text: Field required", "missing"),
                error("content", "content.txt: Extra inputs are not permitted", "extra_forbidden"),
            ],
        ),
        (
            "QUESTION",
            {"text": "Email?"},
            [error("content", "content.variable: Field required", "missing")],
        ),
        ("MESSAGE", "Hi", [error("content", "content: must be a JSON object", "invalid_type")]),
        (
            "QUESTION",
            {"text": "?", "variable": "a", "validation": {"type": "regex", "pattern": r"(a)\1"}},
            [
                error(
                    "content",
                    "content.validation.pattern: invalid regular expression: invalid escape "
                    "sequence: \\1 (patterns use RE2 syntax: no backreferences or lookarounds)",
                    "invalid_regex",
                )
            ],
        ),
        (
            "CONDITION",
            {"branches": [{"variable": "a", "operator": "regex", "value": "(?=x)", "target": "b"}]},
            [
                error(
                    "content",
                    "content.branches.0.value: invalid regular expression: invalid perl "
                    "operator: (?= (patterns use RE2 syntax: no backreferences or lookarounds)",
                    "invalid_regex",
                )
            ],
        ),
    ],
)
def test_create_step_rejects_invalid_content(owner_gql, scenario, step_type, content, expected):
    before = db_state()
    step_input = {
        "scenarioId": gid(scenario),
        "name": "bad",
        "stepType": step_type,
        "content": content,
    }
    result = owner_gql.execute(CREATE_STEP, {"input": step_input})["createStep"]
    assert operation_info(result) == expected
    assert db_state() == before


def test_create_step_rejects_a_next_step_of_another_scenario(owner_gql, scenario, foreign_scenario):
    before = db_state()
    step_input = {
        "scenarioId": gid(scenario),
        "name": "jump",
        "stepType": "MESSAGE",
        "content": {"text": "Bye"},
        "nextStepId": gid(foreign_scenario.steps.get()),
    }
    result = owner_gql.execute(CREATE_STEP, {"input": step_input})["createStep"]
    messages = operation_info(result)
    assert [(m["field"], m["message"]) for m in messages] == [
        ("nextStep", "The next step must be another step of the same scenario.")
    ]
    assert db_state() == before


@pytest.mark.parametrize(
    ("duplicate", "message"),
    [
        ({"name": "greet"}, "Another step of this scenario has this name."),
        ({"order": 1}, "Another step of this scenario has this order."),
    ],
)
def test_create_step_rejects_a_duplicate(owner_gql, scenario, duplicate, message):
    before = db_state()
    step_input = {
        "scenarioId": gid(scenario),
        "name": "new",
        "stepType": "MESSAGE",
        "content": {"text": "Hi"},
        **duplicate,
    }
    result = owner_gql.execute(CREATE_STEP, {"input": step_input})["createStep"]
    assert [m["message"] for m in operation_info(result)] == [message]
    assert db_state() == before


def test_update_step_changes_type_and_content_together(owner_gql, scenario):
    greet = scenario.steps.get(name="greet")
    step_input = {"id": gid(greet), "stepType": "LLM", "content": {"prompt": "Say hi"}}
    result = owner_gql.execute(UPDATE_STEP, {"input": step_input})["updateStep"]
    assert result["stepType"] == "LLM"
    assert result["content"] == {"prompt": "Say hi"}
    assert result["nextStep"] == {"name": "ask"}


def test_update_step_type_revalidates_the_old_content(owner_gql, scenario):
    before = db_state()
    greet = scenario.steps.get(name="greet")
    result = owner_gql.execute(UPDATE_STEP, {"input": {"id": gid(greet), "stepType": "LLM"}})
    messages = operation_info(result["updateStep"])
    assert {m["field"] for m in messages} == {"content"}
    assert "content.prompt: Field required" in [m["message"] for m in messages]
    assert db_state() == before


@pytest.mark.parametrize("target", ["self", "foreign"])
def test_update_step_rejects_a_bad_next_step(owner_gql, scenario, foreign_scenario, target):
    before = db_state()
    greet = scenario.steps.get(name="greet")
    next_step = greet if target == "self" else foreign_scenario.steps.get()
    result = owner_gql.execute(
        UPDATE_STEP, {"input": {"id": gid(greet), "nextStepId": gid(next_step)}}
    )
    messages = operation_info(result["updateStep"])
    assert [(m["field"], m["message"]) for m in messages] == [
        ("nextStep", "The next step must be another step of the same scenario.")
    ]
    assert db_state() == before


def test_update_step_clears_the_next_step(owner_gql, scenario):
    greet = scenario.steps.get(name="greet")
    result = owner_gql.execute(UPDATE_STEP, {"input": {"id": gid(greet), "nextStepId": None}})
    assert result["updateStep"]["nextStep"] is None


def test_update_step_rejects_a_duplicate_order(owner_gql, scenario):
    before = db_state()
    greet = scenario.steps.get(name="greet")
    result = owner_gql.execute(UPDATE_STEP, {"input": {"id": gid(greet), "order": 1}})
    messages = operation_info(result["updateStep"])
    assert [m["message"] for m in messages] == ["Another step of this scenario has this order."]
    assert db_state() == before


def test_delete_step_unlinks_references_to_it(owner_gql, scenario):
    ask = scenario.steps.get(name="ask")
    result = owner_gql.execute(DELETE_STEP, {"input": {"id": gid(ask)}})["deleteStep"]
    assert result == {"__typename": "Step", "id": gid(ask), "name": "ask"}
    assert scenario.steps.get().next_step is None


def test_delete_step_of_the_initial_step_clears_it(owner_gql, scenario):
    greet = scenario.steps.get(name="greet")
    owner_gql.execute(DELETE_STEP, {"input": {"id": gid(greet)}})
    scenario.refresh_from_db()
    assert scenario.initial_step is None


# --- reorderSteps ----------------------------------------------------------------------


def test_reorder_steps(owner_gql, scenario):
    StepFactory(scenario=scenario, name="bye", order=7)
    ids = {step.name: gid(step) for step in scenario.steps.all()}
    order = [ids["bye"], ids["greet"], ids["ask"]]
    result = owner_gql.execute(
        REORDER_STEPS, {"input": {"scenarioId": gid(scenario), "stepIds": order}}
    )["reorderSteps"]
    steps = [edge["node"] for edge in result["steps"]["edges"]]
    assert steps == [
        {"name": "bye", "order": 0},
        {"name": "greet", "order": 1},
        {"name": "ask", "order": 2},
    ]


@pytest.mark.parametrize("problem", ["missing", "duplicate", "foreign"])
def test_reorder_steps_must_list_every_step_once(owner_gql, scenario, foreign_scenario, problem):
    greet, ask = scenario.steps.order_by("order")
    step_ids = {
        "missing": [gid(ask)],
        "duplicate": [gid(ask), gid(greet), gid(ask)],
        "foreign": [gid(ask), gid(greet), gid(foreign_scenario.steps.get())],
    }[problem]
    before = db_state()
    result = owner_gql.execute(
        REORDER_STEPS, {"input": {"scenarioId": gid(scenario), "stepIds": step_ids}}
    )
    assert operation_info(result["reorderSteps"]) == [
        error("stepIds", "List every step of the scenario exactly once.", "invalid")
    ]
    assert db_state() == before


def test_reorder_steps_rejects_another_types_id(owner_gql, bot, scenario):
    before = db_state()
    step_ids = [gid(step) for step in scenario.steps.all()] + [gid(bot)]
    result = owner_gql.execute(
        REORDER_STEPS, {"input": {"scenarioId": gid(scenario), "stepIds": step_ids}}
    )
    messages = operation_info(result["reorderSteps"])
    assert [(m["field"], m["message"]) for m in messages] == [
        ("stepIds", "Expected the ID of a Step.")
    ]
    assert db_state() == before


# --- every typed error carries a code and names the field the caller can change ----------


def _wrong_type_id(gql, world):
    return gql.execute(UPDATE_BOT, {"input": {"id": gid(world["scenario"]), "name": "x"}})[
        "updateBot"
    ]


def _foreign_initial_step(gql, world):
    far = world["foreign_scenario"].steps.get()
    variables = {"input": {"id": gid(world["scenario"]), "initialStepId": gid(far)}}
    return gql.execute(UPDATE_SCENARIO, variables)["updateScenario"]


def _foreign_next_step(gql, world):
    greet = world["scenario"].steps.get(name="greet")
    far = world["foreign_scenario"].steps.get()
    variables = {"input": {"id": gid(greet), "nextStepId": gid(far)}}
    return gql.execute(UPDATE_STEP, variables)["updateStep"]


def _duplicate_name(gql, world):
    ask = world["scenario"].steps.get(name="ask")
    return gql.execute(UPDATE_STEP, {"input": {"id": gid(ask), "name": "greet"}})["updateStep"]


def _second_active_scenario(gql, world):
    variables = {"input": {"id": gid(world["foreign_scenario"]), "isActive": True}}
    return gql.execute(UPDATE_SCENARIO, variables)["updateScenario"]


@pytest.mark.parametrize(
    ("attempt", "field", "code"),
    [
        pytest.param(_wrong_type_id, "id", "invalid_id", id="wrong-id-type"),
        pytest.param(_foreign_initial_step, "initialStep", "wrong_scenario", id="initial-step"),
        pytest.param(_foreign_next_step, "nextStep", "wrong_scenario", id="next-step"),
        pytest.param(_duplicate_name, "name", "unique", id="duplicate-name"),
        pytest.param(_second_active_scenario, "isActive", "unique", id="second-active"),
    ],
)
def test_validation_errors_carry_a_code(
    owner_gql, scenario, foreign_scenario, attempt, field, code
):
    world = {"scenario": scenario, "foreign_scenario": foreign_scenario}
    messages = operation_info(attempt(owner_gql, world))
    assert [(m["field"], m["code"]) for m in messages] == [(field, code)]
