"""9. Fan-out: the CPU an event costs on its way from a subscription to the wire frame.

One child process (`python -m bench.fanout --child`, Django set up, no server) pushes
replies through the websocket handlers into a sink (tests/frames.py): per reply one
MessageCreated, BENCH_FANOUT_DELTAS MessageDelta events and one MessageCompleted, each
converted from the typed event by the real `to_graphql`, with the selection the chat
clients use (bench/stream_client.py). `old` is Strawberry's execution and handlers
(graphql-core runs the selection set and `json.dumps` builds the frame, per subscriber);
`new` the product's (frame plans, overrides/strawberry_frames.py). For 1 subscriber and
for S subscribers of one conversation (same document), old and new alternate in one run
for R rounds; the figure is events delivered per CPU second (process time of the
child), median of the rounds. The frames of both are compared too (they must be equal).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.common import ROOT, SERVER_ENV, CpuMeter, child_env, env_int, log, median, pick, track
from bench.stream_client import EVENTS as QUERY  # the selection the clients use

NAME = "fanout"


def run() -> dict:
    config = {
        "deltas": env_int("BENCH_FANOUT_DELTAS", pick(200, 50)),
        "replies": env_int("BENCH_FANOUT_REPLIES", pick(10, 4)),
        "subscribers": env_int("BENCH_FANOUT_SUBSCRIBERS", 50),
        "rounds": env_int("BENCH_FANOUT_ROUNDS", pick(7, 3)),
    }
    env = child_env({**SERVER_ENV, "DJANGO_SETTINGS_MODULE": "server.settings"})
    process = track(
        subprocess.Popen(
            [sys.executable, "-m", "bench.fanout", "--child", json.dumps(config)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
    )
    meter = CpuMeter()
    out, _ = process.communicate(timeout=1800)
    elapsed = time.monotonic() - meter.wall
    if process.returncode:
        raise RuntimeError(f"fanout child failed ({process.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    # The child has exited: its own CPU (reported) is taken out of `others`.
    cpu = meter.read(untracked_ours=result["cpu_seconds"] / elapsed)
    cpu["child"] = round(result["cpu_seconds"] / elapsed, 3)
    result["cpu_share"] = cpu
    result["config"] = config
    rows = []
    for case in result["cases"]:
        rows.append(
            {
                "benchmark": "9. Fan-out",
                "metric": f"events/CPU-s, {case['subscribers']} subscriber(s): old / new",
                "target": "new > old",
                "measured": f"{case['old']:,.0f} / {case['new']:,.0f} "
                f"(x{case['ratio']:.1f}; others {cpu['others']:.2f} cores)",
                "ok": case["ratio"] > 1,
            }
        )
    result["table"] = rows
    return result


# --- the child ---


def _domain_events(replies: int, deltas: int) -> list:
    from datetime import UTC, datetime

    from conversations import events

    now = datetime.now(UTC)
    out = []
    for reply in range(replies):
        message_id = 1000 + reply
        snapshot = events.MessageSnapshot(
            id=message_id,
            conversation_id=1,
            role="assistant",
            content="",
            status="pending",
            created_at=now,
            updated_at=now,
        )
        out.append(events.MessageCreated(1, snapshot))
        text = ""
        for k in range(deltas):
            piece = f"word{k} tök{k} "  # about two tokens per 40 ms window at 50 tokens/s
            out.append(events.MessageDelta(1, message_id, len(text), piece))
            text += piece
        final = events.MessageSnapshot(**{**vars(snapshot), "content": text, "status": "complete"})
        out.append(events.MessageCompleted(1, final))
    return out


def _child(config: dict) -> dict:
    import asyncio

    import django

    django.setup()
    from strawberry import relay

    from tests.frames import FAST, STOCK, TRANSPORT, Sink, frames, graphql_events

    domain = _domain_events(config["replies"], config["deltas"])
    variables = {"id": relay.to_base64("Conversation", 1)}

    async def once(schema, subscribers: int) -> tuple[float, list[str]]:
        items = graphql_events(domain)  # converted per run, as each subscriber does
        ids = tuple(str(i) for i in range(subscribers))
        sink = Sink()
        started = time.process_time()
        await frames(schema, TRANSPORT, QUERY, variables, items, ids, sink)
        used = time.process_time() - started
        return len(domain) * subscribers / used, sink.sent

    async def main() -> list[dict]:
        cases = []
        for subscribers in (1, config["subscribers"]):
            rates = {"old": [], "new": []}
            for _ in range(config["rounds"]):
                old, old_frames = await once(STOCK, subscribers)
                new, new_frames = await once(FAST, subscribers)
                if sorted(old_frames) != sorted(new_frames):
                    raise AssertionError("old and new frames differ")
                rates["old"].append(old)
                rates["new"].append(new)
            case = {
                "subscribers": subscribers,
                "events": len(domain) * subscribers,
                "old": round(median(rates["old"])),
                "new": round(median(rates["new"])),
                "old_rounds": [round(r) for r in rates["old"]],
                "new_rounds": [round(r) for r in rates["new"]],
            }
            case["ratio"] = round(case["new"] / case["old"], 2)
            case["old_us_per_event"] = round(1e6 / case["old"], 1)
            case["new_us_per_event"] = round(1e6 / case["new"], 1)
            log(
                f"{subscribers} subscriber(s): old {case['old']:,} events/CPU-s "
                f"({case['old_us_per_event']} us), new {case['new']:,} "
                f"({case['new_us_per_event']} us): x{case['ratio']}"
            )
            cases.append(case)
        return cases

    cases = asyncio.run(main())
    return {
        "cases": cases,
        "events_per_reply": config["deltas"] + 2,
        "cpu_seconds": time.process_time(),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
        print(json.dumps(_child(json.loads(sys.argv[2]))))
    else:
        sys.exit("run it as `python -m bench fanout`")
