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


def _insert(model, columns: list[str], rows) -> int:
    """Insert `rows` (tuples of `columns`; every other field takes its default) fast:
    COPY on Postgres, executemany in batches on SQLite. Returns the row count."""
    from django.db import connection, transaction

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    given = {name: i for i, name in enumerate(columns)}
    names = [f.column for f in fields]
    defaults = {
        f.column: f.get_db_prep_save(f.get_default(), connection)
        for f in fields
        if f.attname not in given
    }

    def full(row):
        return [
            f.get_db_prep_save(row[given[f.attname]], connection)
            if f.attname in given
            else defaults[f.column]
            for f in fields
        ]

    table = model._meta.db_table
    count = 0
    # One transaction: SQLite in autocommit would sync the file after every row.
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row([_copy_value(v) for v in full(row)])
                    count += 1
            return count
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        sql = sql.replace("?", "%s")
        batch = []
        for row in rows:
            batch.append(full(row))
            if len(batch) == 20_000:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def _copy_value(value):
    # JSON columns come prepared as psycopg Jsonb wrappers; COPY's text format wants str.
    return json.dumps(value.obj) if hasattr(value, "obj") else value


def analytics(*, messages: int, small: int, days: int = 30) -> dict:
    """Two bots for the analytics and export benches: `big` with `messages` messages over
    the last `days` days (10 per conversation, labels shared by 2 conversations each, user
    and assistant turns, LLM latencies, 1 % failures, a rating on about every 10th reply), and
    `small` with `small` messages the same way."""
    import random
    from datetime import UTC, datetime, timedelta

    from django.db import connection
    from strawberry.relay import to_base64

    from bots.models import Bot
    from conversations.models import Conversation, Message

    owner, token = _owner("bench-analytics-owner")
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=days)
    rng = random.Random(42)
    result = {"token": token, "start": start.isoformat(), "end": now.isoformat()}
    for name, count in (("big", messages), ("small", small)):
        bot = Bot.objects.create(owner=owner, name=f"Analytics {name}", model="bench-model")
        conversations = max(1, count // 10)
        step = (now - start) / conversations
        first = Conversation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        _insert(
            Conversation,
            ["bot_id", "user_session", "token_digest", "created_at", "updated_at"],
            (
                (bot.pk, f"visitor-{i // 2}" if i % 5 else "", f"{name}-{i}", at, at)
                for i in range(conversations)
                for at in [start + step * i]
            ),
        )
        ids = list(
            Conversation.objects.filter(bot=bot, pk__gt=first)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

        def rows(ids=ids, step=step, count=count):
            codes = ("timeout", "rate_limited", "upstream_error")
            for n in range(count):
                conversation = ids[min(n // 10, len(ids) - 1)]
                at = start + step * (n // 10) + timedelta(seconds=n % 10)
                if n % 2 == 0:
                    yield (
                        conversation,
                        "user",
                        f"Question {n} about the order",
                        "complete",
                        "",
                        0,
                        0,
                        None,
                        at,
                        at,
                    )
                    continue
                failed = n % 100 == 1
                latency = int(rng.lognormvariate(6.2, 0.5))
                yield (
                    conversation,
                    "assistant",
                    f"Answer {n}: thanks, the order ships tomorrow." + " More detail." * (n % 7),
                    "failed" if failed else "complete",
                    codes[n % 3] if failed else "",
                    120 + n % 400,
                    30 + n % 200,
                    None if failed else latency,
                    at,
                    at,
                )

        _insert(
            Message,
            [
                "conversation_id",
                "role",
                "content",
                "status",
                "error_code",
                "prompt_tokens",
                "completion_tokens",
                "first_token_ms",
                "created_at",
                "updated_at",
            ],
            rows(),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO conversations_feedback (message_id, bot_id, rating, comment, "
                "created_at, updated_at) SELECT m.id, %s, CASE WHEN m.id %% 3 = 0 THEN 'down' "
                "ELSE 'up' END, '', m.created_at, m.created_at FROM conversations_message m "
                "JOIN conversations_conversation c ON c.id = m.conversation_id "
                "WHERE c.bot_id = %s AND m.role = 'assistant' AND m.id %% 20 < 2",
                [bot.pk, bot.pk],
            )
        result[name] = {"bot_id": to_base64("Bot", bot.pk), "pk": bot.pk, "messages": count}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # fresh statistics, as autovacuum would make
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return result


def main() -> None:
    request = json.loads(os.environ["BENCH_SEED"])
    result = globals()[request["kind"]](**request.get("params", {}))
    print("BENCH_JSON " + json.dumps(result))
