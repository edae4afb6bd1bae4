"""2. Large nested read: 50 bots x 5 scenarios x 10 steps, all fields, through the real schema.

Side by side in one worker process (Django set up on a fresh database):
- real: `schema.execute_sync(QUERY, context_value=Context(user=<staff>))` (or `execute` on
  an event loop when the schema has async resolvers, as the server runs it) — Strawberry,
  strawberry-django's optimizer, the project's types and visibility rules (ScopedNode.scope);
- floor: graphql-core executing the same query text on a minimal schema of the same
  shape with dict resolvers, over the same rows fetched with `.values()` (4 queries) and
  assembled into dicts (global IDs, cursors, counts included).
Both results are compared (they must be identical), timed interleaved (median of
reps), and their SQL queries counted at first=10 and first=50 (constant = same count).
Target: real <= 1.5 x floor, constant query count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.common import (
    PROFILE,
    RESULTS,
    ROOT,
    SERVER_ENV,
    Databases,
    child_env,
    log,
    pick,
    summary,
    track,
)

NAME = "nested"
BOTS, SCENARIOS, STEPS = 50, 5, 10
TARGET_RATIO = 1.5

QUERY = """
query Nested($first: Int!) {
  bots(first: $first) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges {
      cursor
      node {
        id name description botType model temperature maxTokens systemPrompt isActive
        createdAt updatedAt scenarioCount
        owner { id username email isStaff }
        scenarios {
          totalCount
          edges { node {
            id name description isActive createdAt updatedAt
            initialStep { id name }
            steps {
              totalCount
              edges { node { id name stepType content order nextStep { id name } } }
            }
          } }
        }
      }
    }
  }
}
"""


# --- the worker (runs with Django set up) ---


def floor_schema():
    """graphql-core types of the same shape as the real schema, resolving from dicts."""
    from graphql import (
        GraphQLArgument,
        GraphQLBoolean,
        GraphQLEnumType,
        GraphQLEnumValue,
        GraphQLField,
        GraphQLFloat,
        GraphQLID,
        GraphQLInt,
        GraphQLList,
        GraphQLNonNull,
        GraphQLObjectType,
        GraphQLScalarType,
        GraphQLSchema,
        GraphQLString,
    )

    def nn(t):
        return GraphQLNonNull(t)

    date_time = GraphQLScalarType("DateTime", serialize=lambda v: v.isoformat())
    json_scalar = GraphQLScalarType("JSON", serialize=lambda v: v)
    bot_type = GraphQLEnumType(
        "BotType", {"CHAT": GraphQLEnumValue("chat"), "COMPLETION": GraphQLEnumValue("completion")}
    )
    step_type = GraphQLEnumType(
        "StepType",
        {
            n.upper(): GraphQLEnumValue(n)
            for n in ("message", "question", "condition", "api_call", "llm")
        },
    )
    page_info = GraphQLObjectType(
        "PageInfo",
        {
            "hasNextPage": GraphQLField(nn(GraphQLBoolean)),
            "hasPreviousPage": GraphQLField(nn(GraphQLBoolean)),
            "startCursor": GraphQLField(GraphQLString),
            "endCursor": GraphQLField(GraphQLString),
        },
    )

    def connection(name, node):
        edge = GraphQLObjectType(
            f"{name}Edge",
            {"cursor": GraphQLField(nn(GraphQLString)), "node": GraphQLField(nn(node))},
        )
        return GraphQLObjectType(
            f"{name}Connection",
            {
                "totalCount": GraphQLField(GraphQLInt),
                "pageInfo": GraphQLField(nn(page_info)),
                "edges": GraphQLField(nn(GraphQLList(nn(edge)))),
            },
        )

    user = GraphQLObjectType(
        "User",
        {
            "id": GraphQLField(nn(GraphQLID)),
            "username": GraphQLField(nn(GraphQLString)),
            "email": GraphQLField(nn(GraphQLString)),
            "isStaff": GraphQLField(nn(GraphQLBoolean)),
        },
    )
    step = GraphQLObjectType(
        "Step",
        lambda: {
            "id": GraphQLField(nn(GraphQLID)),
            "name": GraphQLField(nn(GraphQLString)),
            "stepType": GraphQLField(nn(step_type)),
            "content": GraphQLField(nn(json_scalar)),
            "order": GraphQLField(nn(GraphQLInt)),
            "nextStep": GraphQLField(step),
        },
    )
    scenario = GraphQLObjectType(
        "Scenario",
        {
            "id": GraphQLField(nn(GraphQLID)),
            "name": GraphQLField(nn(GraphQLString)),
            "description": GraphQLField(nn(GraphQLString)),
            "isActive": GraphQLField(nn(GraphQLBoolean)),
            "createdAt": GraphQLField(nn(date_time)),
            "updatedAt": GraphQLField(nn(date_time)),
            "initialStep": GraphQLField(step),
            "steps": GraphQLField(nn(connection("Step", step))),
        },
    )
    bot = GraphQLObjectType(
        "Bot",
        {
            "id": GraphQLField(nn(GraphQLID)),
            "name": GraphQLField(nn(GraphQLString)),
            "description": GraphQLField(nn(GraphQLString)),
            "botType": GraphQLField(nn(bot_type)),
            "model": GraphQLField(nn(GraphQLString)),
            "temperature": GraphQLField(nn(GraphQLFloat)),
            "maxTokens": GraphQLField(nn(GraphQLInt)),
            "systemPrompt": GraphQLField(nn(GraphQLString)),
            "isActive": GraphQLField(nn(GraphQLBoolean)),
            "owner": GraphQLField(nn(user)),
            "createdAt": GraphQLField(nn(date_time)),
            "updatedAt": GraphQLField(nn(date_time)),
            "scenarioCount": GraphQLField(nn(GraphQLInt)),
            "scenarios": GraphQLField(nn(connection("Scenario", scenario))),
        },
    )
    query = GraphQLObjectType(
        "Query",
        {
            "bots": GraphQLField(
                nn(connection("Bot", bot)),
                args={"first": GraphQLArgument(GraphQLInt)},
                resolve=lambda _root, _info, first=100: fetch_tree(first),
            )
        },
    )
    return GraphQLSchema(query=query)


def fetch_tree(first: int) -> dict:
    """The rows of the query, fetched with .values() and assembled into nested dicts."""
    from strawberry.relay import to_base64

    from bots.models import Bot, Scenario, Step

    def cursor(index: int) -> str:
        return to_base64("arrayconnection", index)

    def connection(nodes: list[dict], total: int, has_next: bool = False) -> dict:
        return {
            "totalCount": total,
            "pageInfo": {
                "hasNextPage": has_next,
                "hasPreviousPage": False,
                "startCursor": cursor(0) if nodes else None,
                "endCursor": cursor(len(nodes) - 1) if nodes else None,
            },
            "edges": [{"cursor": cursor(i), "node": n} for i, n in enumerate(nodes)],
        }

    bot_rows = list(
        Bot.objects.order_by("id").values(
            "id",
            "name",
            "description",
            "bot_type",
            "model",
            "temperature",
            "max_tokens",
            "system_prompt",
            "is_active",
            "created_at",
            "updated_at",
            "owner_id",
            "owner__username",
            "owner__email",
            "owner__is_staff",
        )[:first]
    )
    total = Bot.objects.count()
    bot_ids = [b["id"] for b in bot_rows]
    scenario_rows = list(
        Scenario.objects.filter(bot_id__in=bot_ids)
        .order_by("bot_id", "id")
        .values(
            "id",
            "bot_id",
            "name",
            "description",
            "is_active",
            "created_at",
            "updated_at",
            "initial_step_id",
        )
    )
    step_rows = list(
        Step.objects.filter(scenario__bot_id__in=bot_ids)
        .order_by("scenario_id", "order", "id")
        .values("id", "scenario_id", "name", "step_type", "content", "order", "next_step_id")
    )
    names = {s["id"]: s["name"] for s in step_rows}

    def ref(step_id):
        if step_id is None:
            return None
        return {"id": to_base64("Step", step_id), "name": names[step_id]}

    steps_by_scenario: dict[int, list] = {}
    for s in step_rows:
        steps_by_scenario.setdefault(s["scenario_id"], []).append(
            {
                "id": to_base64("Step", s["id"]),
                "name": s["name"],
                "stepType": s["step_type"],
                "content": s["content"],
                "order": s["order"],
                "nextStep": ref(s["next_step_id"]),
            }
        )
    scenarios_by_bot: dict[int, list] = {}
    for s in scenario_rows:
        steps = steps_by_scenario.get(s["id"], [])
        scenarios_by_bot.setdefault(s["bot_id"], []).append(
            {
                "id": to_base64("Scenario", s["id"]),
                "name": s["name"],
                "description": s["description"],
                "isActive": s["is_active"],
                "createdAt": s["created_at"],
                "updatedAt": s["updated_at"],
                "initialStep": ref(s["initial_step_id"]),
                "steps": connection(steps, len(steps)),
            }
        )
    nodes = []
    for b in bot_rows:
        scenarios = scenarios_by_bot.get(b["id"], [])
        nodes.append(
            {
                "id": to_base64("Bot", b["id"]),
                "name": b["name"],
                "description": b["description"],
                "botType": b["bot_type"],
                "model": b["model"],
                "temperature": b["temperature"],
                "maxTokens": b["max_tokens"],
                "systemPrompt": b["system_prompt"],
                "isActive": b["is_active"],
                "owner": {
                    "id": to_base64("User", b["owner_id"]),
                    "username": b["owner__username"],
                    "email": b["owner__email"],
                    "isStaff": b["owner__is_staff"],
                },
                "createdAt": b["created_at"],
                "updatedAt": b["updated_at"],
                "scenarioCount": len(scenarios),
                "scenarios": connection(scenarios, len(scenarios)),
            }
        )
    return connection(nodes, total, has_next=total > len(nodes))


def worker() -> dict:
    import django

    django.setup()
    import asyncio

    from django.contrib.auth import get_user_model
    from graphql import graphql_sync

    from bench.seed import nested_tree
    from schema import schema
    from schema.context import Context

    errors = _capture_errors()
    staff = get_user_model().objects.create_user("bench-staff", is_staff=True)
    owner = get_user_model().objects.create_user("bench-nested-owner", email="o@example.com")
    nested_tree(owner=owner, bots=BOTS, scenarios=SCENARIOS, steps=STEPS)
    floor = floor_schema()

    loop = asyncio.new_event_loop()
    mode = {"execution": "sync"}

    def real(first: int):
        context = Context(request=None, user=staff)
        variables = {"first": first}
        if mode["execution"] == "sync":
            result = schema.execute_sync(QUERY, variable_values=variables, context_value=context)
            if result.errors and "complete synchronously" in str(result.errors[0]):
                # The schema has async resolvers: run it as the server does (ORM work of
                # strawberry-django then goes through sync_to_async).
                mode["execution"] = "async"
        if mode["execution"] == "async":
            result = loop.run_until_complete(
                schema.execute(QUERY, variable_values=variables, context_value=context)
            )
        if result.errors:
            raise RuntimeError(result.errors)
        return result.data

    def base(first: int):
        result = graphql_sync(floor, QUERY, variable_values={"first": first})
        if result.errors:
            raise RuntimeError(result.errors)
        return result.data

    # The full size first; on failure (SQLite: see the docs) the largest size that works.
    failure = None
    size = BOTS
    sizes = [int(x) for x in os.environ.get("BENCH_NESTED_SIZES", "").split(",") if x]
    for size in sizes or (BOTS, 40, 30, 20, 15, 10):
        try:
            with CaptureQueries() as captured:
                real(size)
            break
        except RuntimeError as exc:
            failure = failure or {
                "first": size,
                "error": (errors[-1] if errors else str(exc))[:300],
                "longest_sql_chars": max(
                    (len(q["sql"]) for q in captured.captured_queries), default=0
                ),
                "or_terms": max(
                    (q["sql"].count(" OR ") + 1 for q in captured.captured_queries), default=0
                ),
            }
    if failure:
        from django.db import connection as db

        failure["database"] = db.vendor
        failure["measured_at_first"] = size
        print(
            f"real schema failed at first={failure['first']}: {failure['error'][:200]}",
            file=sys.stderr,
        )

    # Same answer, and the query counts at two sizes.
    counts = {}
    for first in (10, size):
        for name, run in (("real", real), ("floor", base)):
            with CaptureQueries() as captured:
                run(first)
            counts[f"{name}_first{first}"] = len(captured.captured_queries)
            counts.setdefault("sql_" + name, [q["sql"][:300] for q in captured.captured_queries])
    real_data, floor_data = real(size), base(size)
    identical = json.dumps(real_data, sort_keys=True) == json.dumps(floor_data, sort_keys=True)
    if not identical:
        _diff(real_data, floor_data)
    edges = real_data["bots"]["edges"]
    shape = {
        "bots": len(edges),
        "scenarios": sum(len(e["node"]["scenarios"]["edges"]) for e in edges),
        "steps": sum(
            len(s["node"]["steps"]["edges"]) for e in edges for s in e["node"]["scenarios"]["edges"]
        ),
        "response_bytes": len(json.dumps(real_data)),
    }

    reps = int(os.environ.get("BENCH_NESTED_REPS", pick(15, 5)))
    for _ in range(2):  # warm-up
        real(size), base(size)
    times = {"real": [], "floor": []}
    for _ in range(reps):
        for name, run in (("real", real), ("floor", base)):
            started = time.perf_counter_ns()
            run(size)
            times[name].append((time.perf_counter_ns() - started) / 1e6)

    profile = None
    if PROFILE:
        profile = _profile(lambda: real(size), reps=max(3, reps // 3))
    return {
        "execution": mode["execution"],
        "size": size,
        "failure": failure,
        "identical": identical,
        "shape": shape,
        "queries": counts,
        "times_ms": {k: summary(v) for k, v in times.items()},
        "reps": reps,
        "profile": profile,
    }


class CaptureQueries:
    """SQL run in any thread while active (the async path runs the ORM in a worker)."""

    def __enter__(self) -> CaptureQueries:
        from django.db.backends import utils

        self.captured_queries: list[dict] = []
        self._original = utils.CursorWrapper._execute
        original, captured = self._original, self.captured_queries

        def _execute(wrapper, sql, params, *ignored):
            try:
                text = sql % tuple(params) if params else sql
            except (TypeError, ValueError):
                text = sql
            captured.append({"sql": text})
            return original(wrapper, sql, params, *ignored)

        utils.CursorWrapper._execute = _execute
        return self

    def __exit__(self, *exc_info) -> None:
        from django.db.backends import utils

        utils.CursorWrapper._execute = self._original


def _capture_errors() -> list[str]:
    """Messages of the exceptions Strawberry logs (the response only has a masked error)."""
    import logging

    messages: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record):
            exc = record.exc_info[1] if record.exc_info else None
            messages.append(f"{type(exc).__name__}: {exc}" if exc else record.getMessage())

    logger = logging.getLogger("strawberry.execution")
    logger.handlers = [Handler()]
    logger.setLevel(logging.ERROR)
    logger.propagate = False
    return messages


def _diff(a, b, path="data") -> None:
    if type(a) is not type(b):
        print(f"DIFF {path}: {a!r:.200} != {b!r:.200}", file=sys.stderr)
    elif isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                print(f"DIFF {path}.{key}: missing on one side", file=sys.stderr)
            else:
                _diff(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        if len(a) != len(b):
            print(f"DIFF {path}: {len(a)} != {len(b)} items", file=sys.stderr)
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{path}[{index}]")
    elif a != b:
        print(f"DIFF {path}: {a!r:.200} != {b!r:.200}", file=sys.stderr)


def _profile(call, reps: int) -> dict:
    """cProfile of the real query: top functions by own and cumulative time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(reps):
        call()
    profiler.disable()
    RESULTS.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(RESULTS / "profile-nested.pstats")
    stats = pstats.Stats(profiler)
    total = stats.total_tt

    def top(key: int, n: int = 25) -> list:
        rows = sorted(stats.stats.items(), key=lambda item: -item[1][key])[:n]
        return [
            [f"{func[2]} ({_short(func[0])}:{func[1]})", round(100 * data[key] / total, 1), data[1]]
            for func, data in rows
        ]

    packages: dict[str, float] = {}
    for func, data in stats.stats.items():
        package = _short(func[0]).split("/", 1)[0]
        packages[package] = packages.get(package, 0.0) + data[2]
    return {
        "total_s": round(total, 3),
        "reps": reps,
        "self_percent": top(2),
        "cumulative_percent": top(3, 40),
        "package_self_percent": sorted(
            ([k, round(100 * v / total, 1)] for k, v in packages.items()), key=lambda r: -r[1]
        )[:20],
    }


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


# --- the parent ---


def run() -> dict:
    database = Databases.fresh(NAME)
    env = child_env({**SERVER_ENV, "DATABASE_URL": database})
    env["DJANGO_SETTINGS_MODULE"] = "server.settings"
    env["BENCH_PROFILE"] = "1" if PROFILE else "0"
    env["LOG_LEVEL"] = "CRITICAL"  # the masked-error log lines; failures are reported
    process = track(
        subprocess.Popen(
            [sys.executable, "-m", "bench.nested_read", "--worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
    )
    out, _ = process.communicate(timeout=600)
    if process.returncode:
        raise RuntimeError(f"nested worker failed ({process.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    real, floor = result["times_ms"]["real"], result["times_ms"]["floor"]
    ratio = real["p50"] / floor["p50"]
    q, size, failure = result["queries"], result["size"], result["failure"]
    constant = q[f"real_first{size}"] == q["real_first10"]
    log(
        f"nested: real p50 {real['p50']} ms, floor p50 {floor['p50']} ms, ratio {ratio:.2f}; "
        f"queries real {q['real_first10']}/{q[f'real_first{size}']} "
        f"floor {q['floor_first10']}/{q[f'floor_first{size}']}; identical {result['identical']}"
    )
    result["ratio_p50"] = round(ratio, 3)
    shape = result["shape"]
    rows = []
    if failure:
        rows.append(
            {
                "benchmark": "2. Nested read",
                "metric": f"real schema answers first={failure['first']} "
                f"({failure['first']} x {SCENARIOS} x {STEPS})",
                "target": "answers",
                "measured": f"**fails on {failure['database']}**: {failure['error'][:90]} "
                f"({failure['or_terms']}-term OR in one query)",
                "ok": False,
            }
        )
    rows += [
        {
            "benchmark": "2. Nested read",
            "metric": f"real schema ÷ graphql-core floor, p50 time ({shape['bots']} bots, "
            f"{shape['scenarios']} scenarios, {shape['steps']} steps)",
            "target": f"<= {TARGET_RATIO}x",
            "measured": f"{ratio:.2f}x ({real['p50']:.0f} ms vs {floor['p50']:.0f} ms)",
            "ok": ratio <= TARGET_RATIO,
        },
        {
            "benchmark": "2. Nested read",
            "metric": f"SQL queries at first=10 / first={size} (real; floor)",
            "target": "constant",
            "measured": f"{q['real_first10']} / {q[f'real_first{size}']}; "
            f"{q['floor_first10']} / {q[f'floor_first{size}']}",
            "ok": constant,
        },
        {
            "benchmark": "2. Nested read",
            "metric": "results identical (real vs floor)",
            "target": "yes",
            "measured": "yes" if result["identical"] else "no",
            "ok": result["identical"],
        },
    ]
    result["table"] = rows
    return result


if __name__ == "__main__" and "--worker" in sys.argv:
    print(json.dumps(worker()))
