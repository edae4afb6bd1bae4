"""5. Idle connections: daphne's memory per subscribed, idle websocket.

Each socket (its own conversation) sends connection_init with the chat token and
subscribes to `conversationEvents`; the welcome message it replays proves the
subscription is live. Sockets open in stages (e.g. 250, 500, 1000) from a client process
(`bench.stream_client`, idle mode); after each stage settles, the bench reads daphne's
VmRSS from /proc/<pid>/status. Per socket = (RSS at 1000 - RSS before) / 1000, after a
warm-up of 20 sockets opened and closed (code paths loaded, caches filled); the slope of
a least-squares fit over the stages is reported too. A few sockets then get a message
to show the subscriptions still deliver. Target: <= 100 KB per socket.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from bench.common import (
    RESULTS,
    ROOT,
    Daphne,
    Databases,
    child_env,
    env_int,
    log,
    pick,
    proc_status_kb,
    seed,
    stop_process,
    track,
)
from bench.streaming import Upstream

NAME = "idle"
TARGET_KB = 100.0
SETTLE_SECONDS = 2.0


class IdleClients:
    def __init__(self, server, conversations: list[dict], stages: list[int]) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(
                {
                    "mode": "idle",
                    "sub_url": server.ws_url,
                    "send_url": server.graphql_url,
                    "batches": [conversations],
                    "stages": stages,
                    "timeout": 120,
                },
                handle,
            )
        self.config = handle.name
        self.process = track(
            subprocess.Popen(
                [sys.executable, "-m", "bench.stream_client", self.config],
                cwd=ROOT,
                env=child_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )

    def read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("idle clients exited")
        return json.loads(line)

    def command(self, text: str) -> None:
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        try:
            self.command("close")
            self.process.wait(60)
        except (OSError, subprocess.TimeoutExpired):
            pass
        stop_process(self.process)
        __import__("os").unlink(self.config)


def settle_rss(pid: int) -> int:
    time.sleep(SETTLE_SECONDS)
    return proc_status_kb(pid, "VmRSS")


def run() -> dict:
    sockets = env_int("BENCH_IDLE_SOCKETS", pick(1000, 300))
    stages = sorted({sockets // 4, sockets // 2, sockets})
    warm = 20
    database = Databases.fresh(NAME)
    pool = seed(database, "chat", conversations=sockets + warm)["conversations"]
    for index, conversation in enumerate(pool):
        conversation["tag"] = f"idle-{index}"
    upstream = Upstream(5, 0.005)
    memtrace = os.environ.get("BENCH_MEMTRACE", "") not in ("", "0")
    trace_out = RESULTS / "memtrace-idle.json"
    env = {"DATABASE_URL": database, "OPENAI_BASE_URL": upstream.base_url}
    if memtrace:  # allocation sites of the growth (slower; RSS figures then include it)
        RESULTS.mkdir(parents=True, exist_ok=True)
        trace_out.unlink(missing_ok=True)
        env["BENCH_MEMTRACE_OUT"] = str(trace_out)
    app = "bench.memtrace:application" if memtrace else "server.asgi:application"
    server = Daphne(NAME, env, app=app).start()
    try:
        warmup = IdleClients(server, pool[:warm], [warm])
        first = warmup.read()
        warmup.command("probe 2")
        probe = warmup.read()
        warmup.close()
        if first["ready"] != warm or probe["complete"] != 2:
            raise RuntimeError(f"warm-up failed: {first} {probe}")
        base_kb = settle_rss(server.pid)
        if memtrace:
            os.kill(server.pid, signal.SIGUSR1)
        points = [(0, base_kb)]
        clients = IdleClients(server, pool[warm:], stages)
        stage_info = []
        try:
            for stage in stages:
                info = clients.read()
                if info["ready"] != stage:
                    raise RuntimeError(f"only {info['ready']} of {stage} sockets live: {info}")
                rss = settle_rss(server.pid)
                points.append((stage, rss))
                stage_info.append(
                    {**info, "rss_kb": rss, "threads": proc_status_kb(server.pid, "Threads")}
                )
                log(
                    f"idle: {stage} sockets live, RSS {rss / 1024:.1f} MiB "
                    f"(+{(rss - base_kb) / stage:.1f} KB/socket), connect {info['connect_s']} s"
                )
                if stage != stages[-1]:
                    clients.command("next")
            if memtrace:
                os.kill(server.pid, signal.SIGUSR1)
                for _ in range(100):
                    if trace_out.exists():
                        break
                    time.sleep(0.2)
            clients.command("probe 5")
            probe = clients.read()
        finally:
            clients.close()
        after_close_kb = settle_rss(server.pid)
    finally:
        server.stop()
        upstream.stop()

    per_socket = (points[-1][1] - base_kb) / sockets
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    trace = json.loads(trace_out.read_text()) if memtrace and trace_out.exists() else None
    return {
        "memtrace": trace,
        "sockets": sockets,
        "baseline_rss_kb": base_kb,
        "stages": stage_info,
        "per_socket_kb": round(per_socket, 1),
        "slope_kb_per_socket": round(slope, 1),
        "after_close_rss_kb": after_close_kb,
        "probe": probe,
        "table": [
            {
                "benchmark": "5. Idle connections",
                "metric": f"daphne RSS per subscribed idle websocket ({sockets} sockets)",
                "target": f"<= {TARGET_KB:g} KB",
                "measured": f"{per_socket:.1f} KB (fit {slope:.1f} KB; "
                f"{base_kb / 1024:.0f} -> {points[-1][1] / 1024:.0f} MiB); "
                f"probe {probe['complete']}/{probe['probed']} delivered",
                "ok": per_socket <= TARGET_KB and probe["complete"] == probe["probed"],
            }
        ],
    }
