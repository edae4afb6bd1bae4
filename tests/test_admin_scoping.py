"""The admin for staff who are not superusers: their own objects only, everywhere.

A staff "editor" with every admin permission of the project's apps, owning one bot, next
to an owner with a bot, a scenario, steps, an API token and a conversation. Through
Django's test client on the admin: lists, list filters, change pages, foreign-key
choices, and posted forms that name another owner's objects.
"""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import ApiToken
from accounts.services import api_token_create
from bots.models import Bot, Scenario, Step
from conversations.models import Conversation, Message
from conversations.services import conversation_start
from tests.factories import BotFactory, ScenarioFactory, StepFactory, UserFactory

APPS = ("accounts", "bots", "conversations")


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def theirs(owner):
    bot = BotFactory(owner=owner, name="Their bot")
    scenario = ScenarioFactory(bot=bot, name="Their scenario")
    step = StepFactory(scenario=scenario, name="their step", order=0)
    token, _ = api_token_create(user=owner, name="their token")
    conversation, _ = conversation_start(user=owner, bot_id=bot.pk)
    Message.objects.create(conversation=conversation, role="user", content="their message")
    return {
        Bot: bot,
        Scenario: scenario,
        Step: step,
        ApiToken: token,
        Conversation: conversation,
        Message: Message.objects.get(conversation=conversation),
    }


@pytest.fixture
def editor(db):
    user = UserFactory(username="editor", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=APPS))
    return user


@pytest.fixture
def mine(editor):
    """Two bots (a list filter shows only with two choices or more), each with a
    scenario, a step and a conversation."""
    made = {}
    for name in ("Editor's bot", "Editor's other bot"):
        bot = BotFactory(owner=editor, name=name)
        scenario = ScenarioFactory(bot=bot, name=f"{name} scenario")
        step = StepFactory(scenario=scenario, name=f"{name} step")
        conversation, _ = conversation_start(user=editor, bot_id=bot.pk)
        Message.objects.create(conversation=conversation, role="user", content="mine")
        made.setdefault(Bot, bot)
        made.setdefault(Scenario, scenario)
        made.setdefault(Step, step)
    return made


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


def choices(response, field: str) -> set[str]:
    form = response.context["adminform"].form
    return {obj.name for obj in form.fields[field].queryset}


def filter_choices(response, title: str) -> set[str]:
    [spec] = [spec for spec in response.context["cl"].filter_specs if spec.title == title]
    return {label for _, label in spec.lookup_choices}


@pytest.mark.parametrize("model", [Bot, Scenario, Step, ApiToken, Conversation, Message])
def test_lists_and_change_pages_hold_only_own_objects(editor_client, theirs, mine, model):
    listed = editor_client.get(url(model, "changelist")).context["cl"].result_list
    theirs_page = editor_client.get(url(model, "change", theirs[model].pk))

    assert theirs[model] not in listed
    assert theirs_page.status_code == 302  # "doesn't exist or was deleted", back to the index


@pytest.mark.parametrize("model", [Scenario, Step, Conversation, Message])
def test_list_filters_offer_only_own_bots(editor_client, theirs, mine, model):
    response = editor_client.get(url(model, "changelist"))

    assert filter_choices(response, "bot") == {"Editor's bot", "Editor's other bot"}


def test_foreign_key_choices_are_own_objects(editor_client, theirs, mine):
    scenario_add = editor_client.get(url(Scenario, "add"))
    step_add = editor_client.get(url(Step, "add"))
    step_change = editor_client.get(url(Step, "change", mine[Step].pk))

    assert choices(scenario_add, "bot") == {"Editor's bot", "Editor's other bot"}
    assert choices(step_add, "scenario") == {
        "Editor's bot scenario",
        "Editor's other bot scenario",
    }
    assert choices(step_change, "next_step") == {"Editor's bot step", "Editor's other bot step"}


def test_a_scenario_cannot_be_added_to_another_owners_bot(editor_client, theirs, mine):
    form = {
        "bot": theirs[Bot].pk,
        "name": "Hijack",
        "description": "",
        "steps-TOTAL_FORMS": "0",
        "steps-INITIAL_FORMS": "0",
    }

    response = editor_client.post(url(Scenario, "add"), form)

    assert response.status_code == 200  # the form again, with the error
    assert "bot" in response.context["adminform"].form.errors
    assert not Scenario.objects.filter(name="Hijack").exists()


def test_a_bot_added_by_an_editor_is_the_editors(editor_client, owner):
    form = {
        "name": "New one",
        "owner": owner.pk,  # ignored: the owner is read-only for non-superusers
        "bot_type": "chat",
        "model": "gpt-4o-mini",
        "temperature": "0.5",
        "max_tokens": "100",
        "suggestions_count": "3",
        "inactivity_timeout": "3600",  # the form shows the default; a browser sends it
        "monthly_token_budget": "0",  # likewise (0: no limit)
        "conversation_token_cap": "0",
        "handoff_timeout": "120",
        "scenarios-TOTAL_FORMS": "0",
        "scenarios-INITIAL_FORMS": "0",
    }

    response = editor_client.post(url(Bot, "add"), form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Bot.objects.get(name="New one").owner.username == "editor"


def test_an_api_token_cannot_be_given_to_someone_else(editor_client, editor, owner):
    token, _ = api_token_create(user=editor, name="mine")

    response = editor_client.get(url(ApiToken, "change", token.pk))
    editor_client.post(url(ApiToken, "change", token.pk), {"name": "mine", "user": owner.pk})

    assert "user" not in response.context["adminform"].form.fields  # read-only
    token.refresh_from_db()
    assert token.user == editor


def test_superusers_still_see_and_choose_everything(admin_client, theirs, mine):
    bots = admin_client.get(url(Bot, "changelist")).context["cl"].result_list
    scenario_add = admin_client.get(url(Scenario, "add"))

    assert {bot.name for bot in bots} >= {"Their bot", "Editor's bot"}
    assert choices(scenario_add, "bot") >= {"Their bot", "Editor's bot"}
