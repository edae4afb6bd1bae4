"""Issue 16 in the Django admin: feedback as a read-only list with filters, shown on the
message page (inline) and in the conversation's transcript; a bot's start inputs checked
on save like over the API."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from bots.models import Bot
from conversations.models import Conversation, Feedback, Message
from conversations.services import conversation_start, message_rate
from tests.factories import BotFactory, UserFactory


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def rated_reply(bot, content: str, rating: str, comment: str = "") -> Message:
    conversation, _ = conversation_start(user=bot.owner, bot_id=bot.pk)
    reply = Message.objects.create(conversation=conversation, role="assistant", content=content)
    return message_rate(message=reply, rating=rating, comment=comment)


@pytest.fixture
def ratings(owner):
    bot = BotFactory(owner=owner, name="Support")
    return {
        "praised": rated_reply(bot, "Restart the router.", "up"),
        "panned": rated_reply(bot, "Buy a new one.", "down", "Not helpful at all"),
    }


def listed(client, **params) -> list[str]:
    response = client.get(url(Feedback, "changelist"), params)
    assert response.status_code == 200
    return sorted(f.message.content for f in response.context["cl"].result_list)


def test_the_list_filters_by_rating_and_comment_and_searches(admin_client, ratings):
    assert listed(admin_client) == ["Buy a new one.", "Restart the router."]
    assert listed(admin_client, rating="down") == ["Buy a new one."]
    assert listed(admin_client, has_comment="yes") == ["Buy a new one."]
    assert listed(admin_client, has_comment="no") == ["Restart the router."]
    assert listed(admin_client, q="helpful") == ["Buy a new one."]


def test_feedback_is_read_only_in_the_admin(admin_client, ratings):
    feedback = Feedback.objects.get(rating="down")

    page = admin_client.get(url(Feedback, "change", feedback.pk))
    admin_client.post(url(Feedback, "change", feedback.pk), {"rating": "up", "comment": "x"})

    assert page.status_code == 200
    assert admin_client.get(url(Feedback, "add")).status_code == 403
    feedback.refresh_from_db()
    assert (feedback.rating, feedback.comment) == ("down", "Not helpful at all")


def test_the_message_page_shows_its_rating_inline(admin_client, ratings):
    response = admin_client.get(url(Message, "change", ratings["panned"].pk))

    [formset] = [
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is Feedback
    ]
    assert [form.instance.comment for form in formset.forms] == ["Not helpful at all"]


def test_the_conversation_transcript_shows_each_rating(admin_client, ratings):
    conversation = Conversation.objects.get(messages=ratings["panned"])

    response = admin_client.get(url(Conversation, "change", conversation.pk))

    assert "Thumbs down: Not helpful at all" in response.content.decode()


def test_staff_editors_see_only_their_bots_feedback(client, owner, ratings):
    editor = UserFactory(username="editor", is_staff=True)
    editor.user_permissions.set(Permission.objects.filter(content_type__app_label="conversations"))
    rated_reply(BotFactory(owner=editor, name="Mine"), "My answer", "up")
    client.force_login(editor)

    assert listed(client) == ["My answer"]
    theirs = Feedback.objects.get(rating="down")
    assert client.get(url(Feedback, "change", theirs.pk)).status_code == 302


def bot_form(bot, start_inputs: str) -> dict:
    """The bot change form as the admin posts it (no scenarios in the inline)."""
    return {
        "owner": bot.owner_id,
        "name": bot.name,
        "description": bot.description,
        "bot_type": bot.bot_type,
        "model": bot.model,
        "temperature": bot.temperature,
        "max_tokens": bot.max_tokens,
        "system_prompt": bot.system_prompt,
        "is_active": "on",
        "suggestions_count": bot.suggestions_count,
        "inactivity_timeout": bot.inactivity_timeout,
        "monthly_token_budget": bot.monthly_token_budget,
        "conversation_token_cap": bot.conversation_token_cap,
        "handoff_timeout": bot.handoff_timeout,
        "start_inputs": start_inputs,
        "scenarios-TOTAL_FORMS": 0,
        "scenarios-INITIAL_FORMS": 0,
    }


def test_the_bot_admin_checks_start_inputs_like_the_api(admin_client, owner):
    bot = BotFactory(owner=owner)
    page = url(Bot, "change", bot.pk)

    refused = admin_client.post(page, bot_form(bot, '[{"name": "plan", "type": "select"}]'))
    saved = admin_client.post(page, bot_form(bot, '[{"name": "plan", "type": "string"}]'))

    assert "start_inputs" in refused.context["adminform"].form.errors
    assert saved.status_code == 302
    bot.refresh_from_db()
    assert bot.start_inputs == [
        {"name": "plan", "label": "plan", "type": "string", "required": False}
    ]
