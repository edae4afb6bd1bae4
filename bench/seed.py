"""Benchmark data, written with the ORM (bulk inserts) inside `manage.py shell`.

`bench.common.seed(url, kind, **params)` runs `main()` here with BENCH_SEED set; the
result is printed as one `BENCH_JSON {...}` line. Bot, scenario and step rows are made
with bulk_create (fast, no per-row validation): the data is valid by construction.
"""

import itertools
import json
import os

STEP_TYPES = ("message", "question", "llm", "message", "condition")


def _owner(name: str, *, staff: bool = False):
    from django.contrib.auth import get_user_model

    from accounts.services import api_token_create

    user = get_user_model().objects.create_user(
        name, password="bench-password-not-secret", is_staff=staff
    )
    return user, api_token_create(user=user, name="bench")[1]


def _content(kind: str, bot: int, scenario: int, index: int, next_name: str) -> dict:
    tag = f"b{bot}s{scenario}n{index}"
    if kind == "message":
        return {"text": f"Hello {{{{ name }}}}, this is step {tag}."}
    if kind == "question":
        return {
            "text": f"Question {tag}: tea or coffee?",
            "variable": f"v{index}",
            "validation": {"type": "choice", "options": ["Tea", "Coffee"]},
            "reask_text": "Please pick one.",
        }
    if kind == "llm":
        return {"prompt": f"Suggest something for {{{{ v{index - 1} }}}} ({tag}).", "end": False}
    return {
        "branches": [
            {"variable": f"v{index}", "operator": "eq", "value": "Tea", "target": next_name}
        ],
        "default_target": next_name,
    }


def nested_tree(*, owner, bots: int, scenarios: int, steps: int, prefix: str = "Bench") -> None:
    """`bots` bots of `owner`, each with `scenarios` scenarios of `steps` steps."""
    from bots.models import Bot, Scenario, Step

    bot_rows = Bot.objects.bulk_create(
        Bot(
            owner=owner,
            name=f"{prefix} bot {b:03d}",
            description=f"Benchmark bot number {b}, answering questions about topic {b}.",
            bot_type="chat" if b % 3 else "completion",
            model="bench-model",
            temperature=round(0.1 * (b % 10), 1),
            max_tokens=512 + b,
            system_prompt=f"You are benchmark bot {b}. Answer briefly and politely.",
            is_active=b % 4 != 3,
        )
        for b in range(bots)
    )
    scenario_rows = Scenario.objects.bulk_create(
        Scenario(
            bot=bot,
            name=f"Scenario {s}",
            description=f"Flow {s} of {bot.name}",
            is_active=s == 0,
        )
        for bot in bot_rows
        for s in range(scenarios)
    )
    step_rows = Step.objects.bulk_create(
        Step(
            scenario=scenario,
            name=f"Step {i}",
            step_type=STEP_TYPES[i % len(STEP_TYPES)],
            content=_content(
                STEP_TYPES[i % len(STEP_TYPES)], scenario.bot_id, scenario.pk, i, f"Step {i + 1}"
            ),
            order=i,
        )
        for scenario in scenario_rows
        for i in range(steps)
    )
    by_scenario: dict[int, list] = {}
    for step in step_rows:
        by_scenario.setdefault(step.scenario_id, []).append(step)
    linked = []
    for rows in by_scenario.values():
        for current, following in itertools.pairwise(rows):
            current.next_step_id = following.pk
            linked.append(current)
    Step.objects.bulk_update(linked, ["next_step"], batch_size=500)
    for scenario in scenario_rows:
        first = by_scenario.get(scenario.pk)
        scenario.initial_step_id = first[0].pk if first else None
    Scenario.objects.bulk_update(scenario_rows, ["initial_step"], batch_size=500)


def bots(*, count: int = 20, scenarios: int = 2, steps: int = 3) -> dict:
    """An owner (API token) with `count` bots: the HTTP benchmark's data."""
    owner, token = _owner("bench-owner")
    nested_tree(owner=owner, bots=count, scenarios=scenarios, steps=steps)
    return {"token": token}


def chat(*, conversations: int = 1, welcome: bool = True) -> dict:
    """A bot and `conversations` conversations (visitors' chat tokens).

    Each conversation holds one finished assistant message ("welcome"), so a new
    subscription replays it at once: the client knows the subscription is live (the
    server joins the group before replaying).
    """
    from django.contrib.auth.models import AnonymousUser
    from django.db import transaction
    from strawberry.relay import to_base64

    from bots.models import Bot
    from conversations.models import Message, MessageRole, MessageStatus
    from conversations.services import conversation_start

    owner, token = _owner("bench-chat-owner")
    bot = Bot.objects.create(
        owner=owner,
        name="Bench chat bot",
        model="bench-model",
        system_prompt="You are a benchmark bot.",
        max_tokens=4096,
    )
    rows = []
    with transaction.atomic():
        for _ in range(conversations):
            conversation, chat_token = conversation_start(user=AnonymousUser(), bot_id=bot.pk)
            rows.append((conversation, chat_token))
        if welcome:
            Message.objects.bulk_create(
                Message(
                    conversation=conversation,
                    role=MessageRole.ASSISTANT,
                    content="Welcome! Ask me anything.",
                    status=MessageStatus.COMPLETE,
                )
                for conversation, _ in rows
            )
    return {
        "owner_token": token,
        "bot_id": to_base64("Bot", bot.pk),
        "conversations": [
            {"id": to_base64("Conversation", c.pk), "token": t, "pk": c.pk} for c, t in rows
        ],
    }


# About 1.5 s of CPU each (0.8 ms a loop iteration), within every per-template limit.
SLOW_TEMPLATE = (
    "{% set s = 'ab' * 45000 %}{% for i in range(1900) %}{% if s.split('b')|length %}"
    "{% endif %}{% endfor %}v"
)


def engine_attack(*, visitors: int = 2) -> dict:
    """Two bots whose scenarios are the issue's attacks, each with `visitors` conversations.

    `regex`: a question validated by ``(\\w+\\s?)*`` (catastrophic for a backtracking
    engine). `templates`: an api_call with four header templates of ~1.5 s each.
    """
    from django.contrib.auth.models import AnonymousUser
    from strawberry.relay import to_base64

    from bots.models import Bot, Scenario, Step
    from conversations.services import conversation_start

    owner, _ = _owner("bench-engine-owner")
    flows = {
        "regex": [
            (
                "question",
                {
                    "text": "Words?",
                    "variable": "words",
                    "validation": {"type": "regex", "pattern": r"(\w+\s?)*"},
                },
            )
        ],
        "templates": [
            (
                "api_call",
                {
                    "url": "http://127.0.0.1:9/orders",
                    "headers": {f"X-Slow-{n}": SLOW_TEMPLATE for n in range(4)},
                    "variable": "order",
                },
            ),
            ("message", {"text": "done", "end": True}),
        ],
    }
    result = {}
    for name, steps in flows.items():
        bot = Bot.objects.create(owner=owner, name=f"Attack {name}", model="bench-model")
        scenario = Scenario.objects.create(bot=bot, name=name)
        rows = []
        for order, (step_type, content) in enumerate(steps):
            step = Step(scenario=scenario, name=f"s{order}", step_type=step_type, order=order)
            step.content = content
            step.full_clean()
            step.save()
            rows.append(step)
        scenario.initial_step, scenario.is_active = rows[0], True
        scenario.save()
        result[name] = [
            {"id": to_base64("Conversation", c.pk), "token": t}
            for c, t in (
                conversation_start(user=AnonymousUser(), bot_id=bot.pk) for _ in range(visitors)
            )
        ]
    return result


def main() -> None:
    request = json.loads(os.environ["BENCH_SEED"])
    result = globals()[request["kind"]](**request.get("params", {}))
    print("BENCH_JSON " + json.dumps(result))
