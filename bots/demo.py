"""Demo data: a `demo` user owning three bots whose scenarios use every step type (the
support bot's alone hands off to a human), and an
`admin` superuser for the Django admin (staff only; owners use the console).

`demo_load()` is idempotent: bots are keyed by owner and name, scenarios by bot and
name, steps by scenario and name, so loading twice leaves the same rows with the same
values. Every row goes through `full_clean()` and each scenario's step graph through
`bots.validation` before the transaction commits.

The `api_call` steps fetch https://api.github.com/zen (a harmless one-line text) and
name an `error_target`, so offline the scenario takes the fallback path and goes on.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from bots.models import Bot, Scenario, Step
from bots.validation import scenario_validate

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # DEBUG only: the command refuses to create it otherwise.
DEMO_STAFF_USERNAME = "admin"
DEMO_STAFF_PASSWORD = "admin"  # DEBUG only, likewise.
ZEN_URL = "https://api.github.com/zen"


def _step(name: str, step_type: str, content: dict, next_step: str | None = None) -> dict:
    return {"name": name, "step_type": step_type, "content": content, "next_step": next_step}


def _zen_call(variable: str, error_target: str) -> dict:
    return {
        "method": "GET",
        "url": ZEN_URL,
        "headers": {"Accept": "text/plain"},
        "timeout": 5,
        "max_bytes": 2048,
        "variable": variable,
        "error_target": error_target,
    }


SUPPORT = {
    "name": "Support assistant",
    "description": "Answers customer questions and routes billing, technical and account issues.",
    "temperature": 0.3,
    "max_tokens": 600,
    "system_prompt": (
        "You are the support assistant of Botstream, a platform for building chatbots. "
        "Be friendly, concise and concrete: give numbered steps when the visitor has to do "
        "something. Never invent features, prices or policies; when you are not sure, say "
        "so and offer to hand the conversation to a human. Reply in the visitor's language."
    ),
    "handoff_enabled": True,
    "scenario": "Triage",
    "scenario_description": "Find the topic, collect an email, check status, answer.",
    "steps": [
        _step("welcome", "message", {"text": "Hi! I'm the Botstream support assistant."}),
        _step(
            "ask_topic",
            "question",
            {
                "text": "What do you need help with: billing, technical or account?",
                "variable": "topic",
                "validation": {"type": "choice", "options": ["billing", "technical", "account"]},
                "reask_text": "Please pick one: billing, technical or account (or 1, 2, 3).",
            },
        ),
        _step(
            "route",
            "condition",
            {
                "branches": [
                    {
                        "variable": "topic",
                        "operator": "eq",
                        "value": "billing",
                        "target": "billing",
                    },
                    {"variable": "topic", "operator": "eq", "value": "account", "target": "human"},
                ],
                "default_target": "ask_email",
            },
        ),
        _step(
            "billing",
            "message",
            {"text": "Invoices and payment methods live under Settings → Billing."},
            "ask_email",
        ),
        # Account issues go to a person (the owner answers on /operator/); once handed
        # back, the scenario goes on with the email question.
        _step("human", "handoff", {"text": "Account questions are for a person: one moment."}),
        _step(
            "ask_email",
            "question",
            {
                "text": "Which email should a human use if I can't solve this?",
                "variable": "email",
                "validation": {"type": "email"},
                "reask_text": "That doesn't look like an email address. Could you retype it?",
            },
        ),
        _step("status", "api_call", _zen_call("status_note", "status_unknown")),
        _step("status_ok", "message", {"text": "Our systems are up. {{ status_note }}"}, "answer"),
        _step(
            "status_unknown",
            "message",
            {"text": "I couldn't reach the status page, but that won't stop me helping."},
        ),
        _step(
            "answer",
            "llm",
            {
                "prompt": (
                    "The visitor needs help with {{ topic }}; their email is {{ email }}. "
                    "Greet them, ask what exactly went wrong, and list what you can do for "
                    "a {{ topic }} issue in three short bullet points."
                ),
                "variable": "first_answer",
            },
        ),
    ],
}

EDUCATION = {
    "name": "Study buddy",
    "description": "Explains any topic at the learner's level and checks understanding.",
    "temperature": 0.5,
    "max_tokens": 900,
    "system_prompt": (
        "You are Ada, a patient tutor. Explain one idea at a time with a concrete example, "
        "use plain words before jargon, and end every explanation with one short question "
        "that checks understanding. If the learner is wrong, explain the mistake kindly. "
        "Adapt depth to the learner's level; keep answers under 250 words."
    ),
    "scenario": "Lesson",
    "scenario_description": "Ask the topic and level, then explain.",
    "steps": [
        _step("intro", "message", {"text": "Hi, I'm Ada, your study buddy."}),
        _step(
            "ask_topic",
            "question",
            {
                "text": "What would you like to learn about today?",
                "variable": "topic",
                "validation": {"type": "text", "min_length": 2, "max_length": 120},
                "reask_text": "Tell me a topic in a few words (2 to 120 characters).",
            },
        ),
        _step(
            "ask_level",
            "question",
            {
                "text": "How well do you know {{ topic }}: beginner, intermediate or advanced?",
                "variable": "level",
                "validation": {
                    "type": "choice",
                    "options": ["beginner", "intermediate", "advanced"],
                },
            },
        ),
        _step(
            "by_level",
            "condition",
            {
                "branches": [
                    {
                        "variable": "level",
                        "operator": "eq",
                        "value": "beginner",
                        "target": "encourage",
                    }
                ],
                "default_target": "fetch_wisdom",
            },
        ),
        _step("encourage", "message", {"text": "Great choice! We'll start from the very basics."}),
        _step("fetch_wisdom", "api_call", _zen_call("wisdom", "explain")),
        _step("wisdom", "message", {"text": "A thought before we start: {{ wisdom }}"}),
        _step(
            "explain",
            "llm",
            {
                "prompt": (
                    "Explain {{ topic }} to a {{ level }} learner in under 200 words with "
                    "one everyday example, then ask one question to check understanding."
                ),
                "variable": "explanation",
            },
        ),
    ],
}

SALES = {
    "name": "Sales advisor",
    "description": "Qualifies leads by team size and suggests a plan.",
    "temperature": 0.8,
    "max_tokens": 700,
    "system_prompt": (
        "You are a helpful sales advisor for Botstream. Recommend the Team plan for teams "
        "under 50 people and Enterprise (SSO, audit logs, a dedicated manager) for larger "
        "ones. Be enthusiastic but honest, never pressure, never promise discounts, and "
        "answer pricing questions by offering a call with the sales team."
    ),
    "scenario": "Qualify lead",
    "scenario_description": "Ask the team size, pick a plan, collect an email, summarise.",
    "steps": [
        _step("greet", "message", {"text": "Hi! I can help you pick the right Botstream plan."}),
        _step(
            "ask_team_size",
            "question",
            {
                "text": "How many people would use Botstream?",
                "variable": "team_size",
                "validation": {"type": "number", "min": 1, "max": 100000},
                "reask_text": "Please answer with a number of people, e.g. 12.",
            },
        ),
        _step(
            "size_check",
            "condition",
            {
                "branches": [
                    {
                        "variable": "team_size",
                        "operator": "gte",
                        "value": 50,
                        "target": "enterprise",
                    }
                ],
                "default_target": "team",
            },
        ),
        _step(
            "enterprise",
            "message",
            {"text": "With {{ team_size }} people, Enterprise fits best: SSO and audit logs."},
            "ask_email",
        ),
        _step("team", "message", {"text": "For {{ team_size }} people the Team plan is ideal."}),
        _step(
            "ask_email",
            "question",
            {
                "text": "Where should we send your personalised proposal?",
                "variable": "email",
                "validation": {"type": "email"},
                "reask_text": "I need a valid email address, e.g. alex@example.com.",
            },
        ),
        _step("fetch_motto", "api_call", _zen_call("motto", "proposal")),
        _step("motto", "message", {"text": "While I write it, a motto from GitHub: {{ motto }}"}),
        _step(
            "proposal",
            "llm",
            {
                "prompt": (
                    "Write a three-sentence proposal for a team of {{ team_size }} people, "
                    "to be sent to {{ email }}: the recommended plan, its two most useful "
                    "features for them, and an invitation to book a call."
                ),
                "variable": "proposal",
            },
        ),
    ],
}

DEMO_BOTS = [SUPPORT, EDUCATION, SALES]


def demo_user_get_or_create():
    """The `demo` user, with the password `demo` (for local development only)."""
    user, _ = get_user_model().objects.get_or_create(
        username=DEMO_USERNAME, defaults={"email": "demo@example.com"}
    )
    if not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def demo_staff_get_or_create():
    """The `admin` superuser with the password `admin`: the admin is for staff, and the
    demo owner is not staff (for local development only)."""
    user, _ = get_user_model().objects.get_or_create(
        username=DEMO_STAFF_USERNAME, defaults={"email": "admin@example.com"}
    )
    user.is_staff = user.is_superuser = True
    if not user.check_password(DEMO_STAFF_PASSWORD):
        user.set_password(DEMO_STAFF_PASSWORD)
    user.save()
    return user


def _bot_upsert(owner, spec: dict) -> Bot:
    bot, _ = Bot.objects.update_or_create(
        owner=owner,
        name=spec["name"],
        defaults={
            "description": spec["description"],
            "bot_type": "chat",
            "model": settings.DEFAULT_MODEL,
            "temperature": spec["temperature"],
            "max_tokens": spec["max_tokens"],
            "system_prompt": spec["system_prompt"],
            "is_active": True,
            # Listed on / and /chat/, so `make run` shows them.
            "is_public": True,
            # The reference clients show suggestion chips: the demo bots make them.
            "suggestions_enabled": True,
            # Visitors may ask for a human where the demo shows it (the support bot).
            "handoff_enabled": spec.get("handoff_enabled", False),
        },
    )
    bot.full_clean()
    return bot


def _steps_upsert(scenario: Scenario, specs: list[dict]) -> list[Step]:
    names = [spec["name"] for spec in specs]
    scenario.steps.exclude(name__in=names).delete()
    # Move current orders out of the way so renumbering never hits the unique constraint.
    scenario.steps.update(order=F("order") + len(specs) + 1_000)
    steps = {}
    for order, spec in enumerate(specs):
        steps[spec["name"]], _ = Step.objects.update_or_create(
            scenario=scenario,
            name=spec["name"],
            defaults={"step_type": spec["step_type"], "content": spec["content"], "order": order},
        )
    # Second pass: next_step may point at a step created after this one.
    for spec in specs:
        step = steps[spec["name"]]
        step.next_step = steps[spec["next_step"]] if spec["next_step"] else None
        step.full_clean()  # validates and normalizes the content
        step.save(update_fields=["content", "next_step"])
    return [steps[name] for name in names]


def _scenario_upsert(bot: Bot, spec: dict) -> Scenario:
    scenario, _ = Scenario.objects.update_or_create(
        bot=bot,
        name=spec["scenario"],
        defaults={"description": spec["scenario_description"], "is_active": True},
    )
    steps = _steps_upsert(scenario, spec["steps"])
    scenario.initial_step = steps[0]
    scenario.full_clean()
    scenario.save(update_fields=["initial_step"])
    report = scenario_validate(scenario)
    if report.errors or report.warnings:
        raise ValidationError(f"Demo scenario {scenario.name!r}: {report.errors + report.warnings}")
    return scenario


@transaction.atomic
def demo_load() -> list[Bot]:
    """Create or update the demo users, bots, scenarios and steps; return the bots."""
    owner = demo_user_get_or_create()
    demo_staff_get_or_create()
    bots = []
    for spec in DEMO_BOTS:
        bot = _bot_upsert(owner, spec)
        _scenario_upsert(bot, spec)
        bots.append(bot)
    return bots
