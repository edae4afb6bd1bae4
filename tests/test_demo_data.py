"""The demo data (bots.demo, `manage.py load_demo`): valid, idempotent, runnable."""

from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict

from bots.demo import DEMO_BOTS, demo_load
from bots.models import Bot, Scenario, Step, StepType
from bots.validation import scenario_validate
from conversations.engine import runner
from conversations.engine.http_call import ApiCallResult
from conversations.engine.runner import Output, TurnState, run_scenario_turn
from tests.graphql_client import GraphQLClient

LOGIN = """
mutation {
  login(input: {username: "demo", password: "demo"}) { __typename ... on User { username } }
}
"""
BOTS = """
query {
  bots { totalCount edges { node { name scenarios(filters: {isActive: true}) { totalCount } } } }
}
"""

TIMESTAMPS = {"created_at", "updated_at"}


def snapshot() -> dict[str, list[dict]]:
    """Every demo row's values (timestamps aside), to compare two loads."""
    return {
        model.__name__: [
            {k: v for k, v in model_to_dict(obj).items() if k not in TIMESTAMPS}
            for obj in model.objects.order_by("pk")
        ]
        for model in (Bot, Scenario, Step)
    }


def step_names(scenario) -> list[str]:
    return list(scenario.steps.order_by("order").values_list("name", flat=True))


@pytest.fixture
def demo(db):
    return demo_load()


def test_demo_owner_owns_three_bots(demo):
    owner = get_user_model().objects.get(username="demo")
    assert owner.check_password("demo")
    assert not owner.is_staff
    assert sorted(bot.name for bot in owner.bots.all()) == [
        "Sales advisor",
        "Study buddy",
        "Support assistant",
    ]


def test_every_bot_has_a_system_prompt_and_one_active_scenario(demo):
    for bot in demo:
        assert len(bot.system_prompt) > 100
        assert bot.is_active
        active = bot.scenarios.get(is_active=True)
        assert active.initial_step == active.steps.order_by("order").first()


def test_demo_bots_are_public_so_the_pages_list_them(demo, client):
    # `make run` shows them on / and /chat/ (only public bots are listed there).
    page = client.get("/chat/").content.decode()

    assert all(bot.is_public for bot in demo)
    assert all(bot.name in page for bot in demo)


def test_loading_twice_changes_nothing(demo):
    counts = {model: model.objects.count() for model in (Bot, Scenario, Step)}
    before = snapshot()

    demo_load()

    assert {model: model.objects.count() for model in (Bot, Scenario, Step)} == counts
    assert snapshot() == before
    assert get_user_model().objects.filter(username="demo").count() == 1


def test_loading_again_repairs_edits(demo):
    before = snapshot()
    scenario = Scenario.objects.get(name="Triage")
    scenario.steps.filter(name="welcome").update(content={"text": "edited"})
    scenario.steps.filter(name="answer").delete()
    Step.objects.create(scenario=scenario, name="stray", step_type="message", order=99)
    Bot.objects.filter(name="Study buddy").update(temperature=2)

    demo_load()

    after = snapshot()
    assert after["Bot"] == before["Bot"]
    assert step_names(scenario) == [
        "welcome",
        "ask_topic",
        "route",
        "billing",
        "human",
        "ask_email",
        "status",
        "status_ok",
        "status_unknown",
        "answer",
    ]
    assert Step.objects.get(scenario=scenario, name="status_ok").next_step.name == "answer"
    welcome = Step.objects.get(scenario__name="Triage", name="welcome")
    assert welcome.content == {"text": "Hi! I'm the Botstream support assistant."}


def test_every_row_validates(demo):
    for model in (Bot, Scenario, Step):
        for obj in model.objects.all():
            obj.full_clean()


def test_every_scenario_graph_is_clean(demo):
    for scenario in Scenario.objects.all():
        report = scenario_validate(scenario)
        assert (report.errors, report.warnings) == ([], [])


def test_every_scenario_uses_every_step_type(demo):
    # A handoff to a human belongs in the support bot's scenario only.
    for scenario in Scenario.objects.all():
        used = set(scenario.steps.values_list("step_type", flat=True))
        expected = set(StepType.values) - ({"handoff"} if scenario.name != "Triage" else set())
        assert used == expected, scenario.name


def test_questions_validate_and_conditions_branch_on_answers(demo):
    for scenario in Scenario.objects.all():
        questions = scenario.steps.filter(step_type=StepType.QUESTION)
        # Every answer is checked: a choice, a number, an email or a bounded text.
        assert all(q.content["validation"] != {"type": "text"} for q in questions)
        asked = {q.content["variable"] for q in questions}
        for condition in scenario.steps.filter(step_type=StepType.CONDITION):
            assert {b["variable"] for b in condition.content["branches"]} <= asked


def test_api_calls_are_harmless_and_degrade(demo):
    for step in Step.objects.filter(step_type=StepType.API_CALL):
        assert step.content["url"] == "https://api.github.com/zen"
        assert step.content["method"] == "GET"
        assert Step.objects.filter(scenario=step.scenario, name=step.content["error_target"])


# --- the scenarios run end to end ----------------------------------------------------------

# bot: (the visitor's messages, what the final LLM prompt must mention)
CONVERSATIONS = {
    "Support assistant": (["Hello", "billing", "me@example.com"], "me@example.com"),
    "Study buddy": (["Hi", "photosynthesis", "beginner"], "photosynthesis to a beginner"),
    "Sales advisor": (["Hi", "120", "lead@example.com"], "a team of 120 people"),
}


async def offline(*args, **kwargs) -> ApiCallResult:
    return ApiCallResult(False, error="network unreachable", error_code="network")


async def online(*args, **kwargs) -> ApiCallResult:
    return ApiCallResult(True, 200, "Design for failure.")


def run_conversation(bot: Bot, answers: list[str]) -> tuple[TurnState, list[Output]]:
    scenario = bot.scenarios.get(is_active=True)
    steps = list(scenario.steps.all())
    state = TurnState(
        variables={},
        current_step=scenario.initial_step,
        scenario_started=False,
        awaiting_input=False,
        is_completed=False,
    )
    outputs: list[Output] = []

    async def emit(output: Output) -> str:
        outputs.append(output)
        return "An LLM reply." if output.prompt else output.text

    for text in answers:
        async_to_sync(run_scenario_turn)(steps, state, text, emit)
    return state, outputs


@pytest.mark.parametrize("api", [offline, online], ids=["offline", "online"])
@pytest.mark.parametrize("bot_name", list(CONVERSATIONS))
def test_demo_scenario_runs_to_the_end(demo, monkeypatch, api, bot_name):
    monkeypatch.setattr(runner, "perform_api_call", api)
    answers, in_prompt = CONVERSATIONS[bot_name]

    state, outputs = run_conversation(Bot.objects.get(name=bot_name), answers)

    assert state.is_completed
    assert not any("template error" in output.text for output in outputs)
    llm = [output for output in outputs if output.prompt]
    assert len(llm) == 1
    assert in_prompt in llm[0].prompt  # rendered with the answers collected on the way
    if api is online:
        assert any("Design for failure." in output.text for output in outputs)


def test_support_scenario_reasks_an_invalid_answer(demo, monkeypatch):
    monkeypatch.setattr(runner, "perform_api_call", offline)
    bot = Bot.objects.get(name="Support assistant")

    state, outputs = run_conversation(bot, ["Hello", "bananas"])

    assert not state.is_completed
    assert state.current_step.name == "ask_topic"
    assert outputs[-1].text.startswith("Please pick one: billing, technical or account")


def test_sales_scenario_branches_on_team_size(demo, monkeypatch):
    monkeypatch.setattr(runner, "perform_api_call", offline)
    bot = Bot.objects.get(name="Sales advisor")

    _, big = run_conversation(bot, ["Hi", "120"])
    _, small = run_conversation(bot, ["Hi", "5"])

    assert big[-2].step.name == "enterprise"
    assert small[-2].step.name == "team"


# --- the management command ------------------------------------------------------------------


def test_command_loads_the_demo_and_prints_the_credentials(db, settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert "(/console/) and GraphiQL (/graphql): 'demo' / 'demo'" in out.getvalue()
    assert "Admin (/admin/, staff only): 'admin' / 'admin'" in out.getvalue()
    assert Bot.objects.filter(owner__username="demo").count() == len(DEMO_BOTS)


def test_command_twice_is_idempotent(db, settings):
    settings.DEBUG = True
    call_command("load_demo", stdout=StringIO())
    before = snapshot()
    call_command("load_demo", stdout=StringIO())
    assert snapshot() == before


def test_command_refuses_without_debug(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("load_demo", stdout=StringIO())
    assert not get_user_model().objects.filter(username="demo").exists()


def test_demo_user_logs_in_and_sees_the_bots(demo):
    gql = GraphQLClient()
    assert gql.execute(LOGIN)["login"] == {"__typename": "User", "username": "demo"}
    gql.headers["X-CSRFToken"] = gql.client.cookies["csrftoken"].value
    data = gql.execute(BOTS)["bots"]
    assert data["totalCount"] == 3
    assert {edge["node"]["scenarios"]["totalCount"] for edge in data["edges"]} == {1}


@pytest.mark.parametrize(("username", "admitted"), [("admin", True), ("demo", False)])
def test_the_admin_opens_for_the_demo_staff_login_only(demo, client, username, admitted):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": username}
    )
    assert (response.status_code == 302) is admitted
    assert (client.get("/admin/").status_code == 200) is admitted


def test_the_console_opens_for_the_demo_owner(demo, client):
    page = client.get("/console/")
    assert page.status_code == 200 and "csrftoken" in page.cookies  # sent as X-CSRFToken
    gql = GraphQLClient(client)
    assert gql.execute(LOGIN)["login"] == {"__typename": "User", "username": "demo"}
    me = gql.execute(
        "query { me { username isStaff } }",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert me["me"] == {"username": "demo", "isStaff": False}
