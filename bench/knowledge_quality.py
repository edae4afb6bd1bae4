"""Knowledge retrieval: hit@3 on the shop corpus (bench/knowledge/) with full text alone
(target >= 0.8), with embeddings alone and fused, and the latency of exact vector search
over a bot's chunks. Runs bench/knowledge/evaluate.py in `manage.py shell` on a fresh
database (SQLite, or BENCH_DATABASE_URL)."""

from __future__ import annotations

import json
import re

from bench.common import Databases, log, manage, pick

NAME = "knowledge"
TARGET = 0.8


def run() -> dict:
    url = Databases.fresh(NAME)
    sizes = pick([1000, 5000], [1000])
    output = manage(
        ["shell", "-c", "import bench.knowledge.evaluate as e; e.main()"],
        url,
        env={"BENCH_KNOWLEDGE_SIZES": json.dumps(sizes)},
        timeout=600,
    )
    match = re.search(r"^BENCH_JSON (.*)$", output, re.MULTILINE)
    if not match:
        raise RuntimeError(f"the knowledge evaluation printed no result:\n{output[-2000:]}")
    result = json.loads(match[1])
    log(
        f"hit@3 full text {result['full_text']['hit_at_3']}, vectors "
        f"{result['vectors_only']['hit_at_3']}, fused {result['fused']['hit_at_3']}"
    )
    table = [
        {
            "benchmark": NAME,
            "metric": "hit@3, full text alone",
            "target": f">= {TARGET}",
            "measured": result["full_text"]["hit_at_3"],
            "ok": result["full_text"]["hit_at_3"] >= TARGET,
        },
        {
            "benchmark": NAME,
            "metric": "hit@3, full text + embeddings (RRF)",
            "target": "-",
            "measured": result["fused"]["hit_at_3"],
            "ok": None,
        },
    ]
    for size, timing in result["exact_vector_search_ms"].items():
        table.append(
            {
                "benchmark": NAME,
                "metric": f"exact vector search, {size} chunks x 1536 dims (first / next ms)",
                "target": "-",
                "measured": f"{timing['first_ms']} / {timing['median_ms']}",
                "ok": None,
            }
        )
    return {**result, "table": table}
