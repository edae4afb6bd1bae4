"""Analytics and transcript export at a million messages (issue 19, points 2 and 3).

Seeds two bots (bench.seed.analytics: COPY on Postgres, executemany on SQLite): `big`
with BENCH_ANALYTICS_MESSAGES messages (default 1,000,000; 100,000 with BENCH_QUICK)
over the last 30 days, `small` with 10,000. Then, in one worker process (Django set up
on that database, DEBUG off):

- botStats over the 30 days, per DAY and per HOUR, through GraphQL over HTTP in
  process (Django's test client, the project's middleware and view, a bearer token):
  wall time of each of REPS runs after one warm-up, and the SQL queries of one request
  (authentication included) next to `conversations.stats.QUERIES`;
- on Postgres, the plan (EXPLAIN ANALYZE) of the messages aggregate, the largest query;
- the transcript export of each bot, JSONL and CSV, through the same async iterator the
  HTTP endpoint streams (`conversations.export.transcript_chunks`): rows, bytes, seconds,
  and the peak of Python allocations during it (tracemalloc), to show the memory is
  bounded by one page whatever the number of messages.
Targets: botStats's query count constant (= QUERIES + auth); export peak memory at 1M
within 2x of the peak at 10k.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.common import (
    QUICK,
    ROOT,
    SERVER_ENV,
    Databases,
    child_env,
    log,
    seed,
    summary,
    track,
)

NAME = "analytics"
REPS = 3
SMALL = 10_000


def run() -> dict:
    messages = int(os.environ.get("BENCH_ANALYTICS_MESSAGES", 100_000 if QUICK else 1_000_000))
    database = Databases.fresh(NAME)
    began = time.monotonic()
    seeded = seed(database, "analytics", timeout=1800, messages=messages, small=SMALL)
    seed_seconds = round(time.monotonic() - began, 1)
    log(f"analytics: seeded {messages} + {SMALL} messages in {seed_seconds} s")
    env = child_env({**SERVER_ENV, "DATABASE_URL": database})
    env["DJANGO_SETTINGS_MODULE"] = "server.settings"
    env["LOG_LEVEL"] = "CRITICAL"
    env["BENCH_ANALYTICS"] = json.dumps(seeded)
    process = track(
        subprocess.Popen(
            [sys.executable, "-m", "bench.analytics", "--worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
    )
    out, _ = process.communicate(timeout=3600)
    if process.returncode:
        raise RuntimeError(f"analytics worker failed ({process.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["seed_seconds"] = seed_seconds
    result["messages"] = messages
    rows = []
    for granularity, stats in result["bot_stats"].items():
        log(
            f"analytics: botStats 30 days per {granularity}: p50 {stats['ms']['p50']} ms, "
            f"{stats['queries']} queries ({stats['stats_queries']} for the figures)"
        )
        rows.append(
            {
                "benchmark": "19. Analytics",
                "metric": f"botStats over 30 days per {granularity}, {messages:,} messages",
                "target": "constant queries",
                "measured": f"{stats['ms']['p50']} ms, {stats['queries']} queries",
                "ok": stats["stats_queries"] == result["expected_queries"],
            }
        )
    exports = result["export"]
    for fmt in ("jsonl", "csv"):
        small, big = exports[f"small_{fmt}"], exports[f"big_{fmt}"]
        log(
            f"analytics: export {fmt}: {small['rows']} rows peak {small['peak_kib']} KiB; "
            f"{big['rows']} rows peak {big['peak_kib']} KiB in {big['seconds']} s"
        )
        rows.append(
            {
                "benchmark": "19. Export",
                "metric": f"{fmt} peak memory, {big['rows']:,} vs {small['rows']:,} messages",
                "target": "<= 2x",
                "measured": f"{big['peak_kib']} vs {small['peak_kib']} KiB "
                f"({big['rows_per_s']:,} rows/s)",
                "ok": big["peak_kib"] <= 2 * small["peak_kib"],
            }
        )
    result["table"] = rows
    return result


# --- the worker (Django set up on the seeded database) ---


def _bot_stats(client, seeded, granularity: str) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    query = """query($input: BotStatsInput!) { botStats(input: $input) {
      buckets { start conversations messages visitors tokensIn tokensOut feedbackUp
                feedbackDown firstTokenP50Ms firstTokenP95Ms failures { code count } }
      totals { conversations messages visitors tokensIn tokensOut feedbackUp feedbackDown
               firstTokenP50Ms firstTokenP95Ms failures { code count } } } }"""
    variables = {
        "input": {
            "botId": seeded["big"]["bot_id"],
            "from": seeded["start"],
            "to": seeded["end"],
            "granularity": granularity,
        }
    }
    body = json.dumps({"query": query, "variables": variables})
    headers = {"Authorization": f"Bearer {seeded['token']}", "Host": "127.0.0.1"}

    def once():
        response = client.post(
            "/graphql", data=body, content_type="application/json", headers=headers
        )
        data = response.json()
        assert "errors" not in data, data
        return data["data"]["botStats"]

    once()  # warm-up: imports, caches, the database's buffers
    times = []
    for _ in range(REPS):
        started = time.perf_counter()
        result = once()
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        once()
    figures = [q["sql"] for q in captured.captured_queries if "conversations_" in q["sql"]]
    return {
        "ms": summary(times, 1),
        "buckets": len(result["buckets"]),
        "totals": result["totals"],
        "queries": len(captured.captured_queries),
        "stats_queries": len(figures),
        "sql": [q["sql"][:300] for q in captured.captured_queries],
    }


def _explain(seeded) -> str | None:
    from datetime import datetime

    from django.db import connection
    from django.db.models import Count, Sum
    from django.db.models.functions import TruncDay

    from conversations.models import Message

    if connection.vendor != "postgresql":
        return None
    start, end = (datetime.fromisoformat(seeded[k]) for k in ("start", "end"))
    queryset = (
        Message.objects.filter(
            conversation__bot_id=seeded["big"]["pk"], created_at__gte=start, created_at__lt=end
        )
        .order_by()
        .annotate(bucket=TruncDay("created_at"))
        .values("bucket", "error_code")
        .annotate(n=Count("id"), i=Sum("prompt_tokens"), o=Sum("completion_tokens"))
    )
    return queryset.explain(analyze=True)


def _export(seeded, which: str, fmt: str) -> dict:
    import asyncio
    import tracemalloc
    from datetime import datetime

    from conversations import export

    start, end = (datetime.fromisoformat(seeded[k]) for k in ("start", "end"))
    messages = export.bot_messages(bot_id=seeded[which]["pk"], start=start, end=end)

    async def consume() -> tuple[int, int]:
        size = lines = 0
        async for chunk in export.transcript_chunks(messages, export.ExportFormat(fmt)):
            size += len(chunk)
            lines += chunk.count(b"\n")
        return size, lines

    tracemalloc.start()
    began = time.perf_counter()
    size, lines = asyncio.run(consume())
    seconds = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = lines - (1 if fmt == "csv" else 0)  # CSV: the header line
    return {
        "rows": rows,
        "mib": round(size / 2**20, 1),
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "peak_kib": round(peak / 1024),
        # Under tracemalloc (which slows Python down): rows/s are a lower bound.
    }


def worker() -> dict:
    import django

    django.setup()
    from django.test import Client

    from conversations import stats

    seeded = json.loads(os.environ["BENCH_ANALYTICS"])
    client = Client()
    result = {
        "expected_queries": stats.QUERIES,
        "bot_stats": {g: _bot_stats(client, seeded, g) for g in ("DAY", "HOUR")},
        "explain_messages_aggregate": _explain(seeded),
        "export": {},
    }
    for which in ("small", "big"):
        for fmt in ("jsonl", "csv"):
            result["export"][f"{which}_{fmt}"] = _export(seeded, which, fmt)
    return result


if __name__ == "__main__" and "--worker" in sys.argv:
    print(json.dumps(worker()))
