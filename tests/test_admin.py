"""The Django admin: every page of bots and API tokens renders, filters and searches."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import ApiToken
from accounts.services import api_token_create
from bots.models import Bot, Scenario, Step
from tests.factories import BotFactory, ScenarioFactory, StepFactory, UserFactory

MODELS = [Bot, Scenario, Step, ApiToken]


@pytest.fixture
def data(owner):
    bot = BotFactory(owner=owner, name="Support bot")
    scenario = ScenarioFactory(bot=bot, name="Onboarding")
    greet = StepFactory(scenario=scenario, name="greet", order=0)
    ask = StepFactory(
        scenario=scenario,
        name="ask",
        order=1,
        step_type="question",
        content={"text": "Email?", "variable": "email", "validation": {"type": "email"}},
    )
    greet.next_step = ask
    greet.save()
    scenario.initial_step = greet
    scenario.save()
    token, _ = api_token_create(user=owner, name="ci")
    return {Bot: bot, Scenario: scenario, Step: greet, ApiToken: token}


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_renders(admin_client, data, model):
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == model.objects.count()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_change_page_renders(admin_client, data, model):
    response = admin_client.get(url(model, "change", data[model].pk))
    assert response.status_code == 200
    assert response.context["original"] == data[model]


@pytest.mark.parametrize("model", [Bot, Scenario, Step], ids=lambda m: m.__name__)
def test_add_page_renders(admin_client, db, model):
    assert admin_client.get(url(model, "add")).status_code == 200


def test_api_tokens_cannot_be_added_in_the_admin(admin_client, db):
    assert admin_client.get(url(ApiToken, "add")).status_code == 403


def inline_formset(response, model):
    return next(
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is model
    )


def test_bot_page_shows_its_scenarios_inline(admin_client, data):
    response = admin_client.get(url(Bot, "change", data[Bot].pk))
    formset = inline_formset(response, Scenario)
    assert [form.instance for form in formset.forms] == [data[Scenario]]
    # The initial step can only be one of this bot's steps.
    choices = formset.forms[0].fields["initial_step"].queryset
    assert set(choices) == set(Step.objects.filter(scenario__bot=data[Bot]))


def test_scenario_page_shows_its_steps_inline(admin_client, data):
    other_step = StepFactory(name="elsewhere")
    response = admin_client.get(url(Scenario, "change", data[Scenario].pk))
    formset = inline_formset(response, Step)
    assert [form.instance.name for form in formset.forms] == ["greet", "ask"]
    next_steps = formset.forms[0].fields["next_step"].queryset
    assert other_step not in next_steps
    initial_steps = response.context["adminform"].form.fields["initial_step"].queryset
    assert set(initial_steps) == set(data[Scenario].steps.all())


@pytest.mark.parametrize(
    ("model", "query", "count"),
    [
        (Bot, {"q": "support"}, 1),
        (Bot, {"q": "owner"}, 1),
        (Bot, {"bot_type__exact": "chat"}, 1),
        (Bot, {"bot_type__exact": "completion"}, 0),
        (Bot, {"is_active__exact": "1"}, 1),
        (Bot, {"model": "gpt-4o-mini"}, 1),
        (Bot, {"created_at__gte": "2000-01-01 00:00:00+00:00"}, 1),
        (Scenario, {"q": "onboard"}, 1),
        (Scenario, {"is_active__exact": "0"}, 1),
        (Scenario, {"bot__id__exact": "BOT"}, 1),
        (Step, {"q": "greet"}, 1),
        (Step, {"q": "onboarding"}, 2),
        (Step, {"step_type__exact": "question"}, 1),
        (Step, {"scenario__bot__id__exact": "BOT"}, 2),
        (ApiToken, {"q": "ci"}, 1),
        (ApiToken, {"revoked_at__isnull": "True"}, 1),
        (ApiToken, {"created_at__gte": "2000-01-01 00:00:00+00:00"}, 1),
    ],
)
def test_list_filters_and_search(admin_client, data, model, query, count):
    query = {key: str(data[Bot].pk) if value == "BOT" else value for key, value in query.items()}
    response = admin_client.get(url(model, "changelist"), query)
    assert response.status_code == 200
    assert response.context["cl"].result_count == count


def test_search_that_matches_nothing(admin_client, data):
    response = admin_client.get(url(Bot, "changelist"), {"q": "no such bot"})
    assert response.context["cl"].result_count == 0


def test_step_change_form_validates_content(admin_client, data):
    step = data[Step]
    form = {
        "scenario": step.scenario_id,
        "name": step.name,
        "step_type": "llm",
        "content": '{"text": "not a prompt"}',
        "order": step.order,
        "next_step": "",
    }
    response = admin_client.post(url(Step, "change", step.pk), form)
    assert response.status_code == 200  # the form again, with errors
    assert "content" in response.context["adminform"].form.errors
    step.refresh_from_db()
    assert step.step_type == "message"


def test_staff_without_superuser_sees_only_own_bots(client, data, owner):
    staff = UserFactory(username="editor", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="bots"))
    BotFactory(owner=staff, name="Editor's bot")
    client.force_login(staff)

    response = client.get(url(Bot, "changelist"))

    assert [bot.name for bot in response.context["cl"].result_list] == ["Editor's bot"]
    assert client.get(url(Bot, "change", data[Bot].pk)).status_code == 302


def test_conversations_are_filtered_by_expiry_status(admin_client, owner):
    from datetime import timedelta

    from django.utils import timezone

    from conversations.models import Conversation

    bot = BotFactory(owner=owner)
    now = timezone.now()
    Conversation.objects.create(bot=bot, token_digest="x", expires_at=now - timedelta(minutes=1))
    Conversation.objects.create(bot=bot, token_digest="y", expires_at=now + timedelta(hours=1))
    changelist = url(Conversation, "changelist")
    for status, label in (("expired", "Expired"), ("active", "Active")):
        response = admin_client.get(changelist, {"status": status})
        assert response.status_code == 200
        assert response.context["cl"].result_count == 1
        assert f'<td class="field-status">{label}</td>' in response.text
