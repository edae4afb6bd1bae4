"""The task queue as processes: two `manage.py worker` processes beside daphne, on one
database and one Redis channel layer.

The expiry sweep runs in a worker process, closes an idle conversation and its event
reaches the visitor's subscription on daphne; with two workers polling the same queue
the periodic job never runs twice at once and stays one chain. Needs Redis (the worker
reaches subscribers through it): skipped when it is unreachable, except under CI=true.
"""

import asyncio
import itertools
import json
import subprocess
import sys
import time

import pytest

from tests.chat_events import CONVERSATION_EVENTS
from tests.e2e.conftest import SERVER_ENV, _child_env, _manage
from tests.e2e.wsclient import (
    ConnectionRejected,
    GraphQLWebSocket,
    collect_events,
    create_bot,
    finished,
    send_message,
    start_conversation,
)
from tests.support import ROOT

SWEEP_INTERVAL = "0.3"
UPDATE_BOT = """
mutation($input: BotPartialInput!) { updateBot(input: $input) { ... on Bot { inactivityTimeout } } }
"""
CLOSED = "query($id: ID!) { conversation(id: $id) { status closedAt } }"
RUNS = """
import json
from core.periodic import run_periodic
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
now = timezone.now()
rows = DBTaskResult.objects.filter(task_path=run_periodic.module_path)
print("RUNS", json.dumps([
    [r.status, r.return_value, r.worker_ids, r.started_at and r.started_at.isoformat(),
     r.finished_at and r.finished_at.isoformat(), (r.run_after - now).total_seconds()]
    for r in rows.filter(args_kwargs__args__0="expire-idle-conversations")
]))
"""


pytestmark = pytest.mark.usefixtures("redis_db")


@pytest.fixture(scope="module")
def server_env(redis_db):
    return {"REDIS_URL": redis_db, "CONVERSATION_EXPIRY_SWEEP_INTERVAL": SWEEP_INTERVAL}


@pytest.fixture(scope="module")
def workers(server, database, redis_db, tmp_path_factory):
    """Two worker processes, as two containers would run them."""
    env = _child_env(
        {
            **SERVER_ENV,
            "DATABASE_URL": database.url,
            "REDIS_URL": redis_db,
            "CONVERSATION_EXPIRY_SWEEP_INTERVAL": SWEEP_INTERVAL,
        }
    )
    log_dir = tmp_path_factory.mktemp("workers")
    processes = []
    for index in range(2):
        with (log_dir / f"worker-{index}.log").open("ab") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "worker", "--no-reload", "--interval", "0.1"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    logs = [log_dir / f"worker-{index}.log" for index in range(2)]
    deadline = time.monotonic() + 60
    while not all("Starting worker" in log.read_text(errors="replace") for log in logs):
        assert time.monotonic() < deadline, "the workers did not start"
        assert all(process.poll() is None for process in processes), "a worker exited"
        time.sleep(0.2)
    yield processes
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for index in range(2):
        print((log_dir / f"worker-{index}.log").read_text(errors="replace")[-3000:])


async def test_the_sweep_in_a_worker_process_ends_the_visitors_stream(
    server, workers, database, script
):
    # given a visitor following a conversation over a real websocket, on a bot whose
    # owner then shortens the inactivity timeout to one second (it applies from the
    # next activity: the second exchange)
    bot_id = await create_bot(server.http, database.owner_token, inactivityTimeout=600)
    conversation_id, chat_token = await start_conversation(server.http, bot_id)
    script.replies["hello"] = "Hi there."
    script.replies["again"] = "Hello again."
    async with GraphQLWebSocket(server.ws_url, params={"chatToken": chat_token}) as ws:
        subscription = await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        sent = await send_message(server.http, conversation_id, chat_token, "hello")
        events = await collect_events(subscription, until=finished(sent["reply"]["id"]))
        one_second = {"input": {"id": bot_id, "inactivityTimeout": 1}}
        shortened = await server.http.data(UPDATE_BOT, one_second, token=database.owner_token)
        assert shortened["updateBot"] == {"inactivityTimeout": 1}
        sent = await send_message(server.http, conversation_id, chat_token, "again")
        events += await collect_events(subscription, until=finished(sent["reply"]["id"]))
        # when the conversation stays idle, the workers' sweep closes it
        events += await collect_events(subscription, within=30)

    # then the stream's last event is ConversationExpired (closed by the sweep), and
    # the stream completed
    assert subscription.done
    last = events[-1]
    assert last["__typename"] == "ConversationExpired"
    assert last["conversation"]["status"] == "EXPIRED"
    # and a worker's sweep closed it (only the sweep sets closedAt; the stream may have
    # seen the expiry itself first, at expiresAt)
    for _ in range(150):
        data = await server.http.data(CLOSED, {"id": conversation_id}, token=database.owner_token)
        if data["conversation"]["closedAt"] is not None:
            break
        await asyncio.sleep(0.2)
    assert data["conversation"]["closedAt"] is not None, "no worker closed the conversation"
    assert data["conversation"]["status"] == "EXPIRED"
    # and the visitor's token now opens no socket (4410)
    with pytest.raises(ConnectionRejected) as refused:
        async with GraphQLWebSocket(server.ws_url, params={"chatToken": chat_token}):
            pass
    assert "4410" in str(refused.value)


async def test_two_workers_never_run_the_periodic_job_at_once(workers, database):
    # given the two workers polling the queue for a while
    await asyncio.sleep(3)
    for process in workers:
        assert process.poll() is None, "a worker died"
    # (stopped gracefully, each finishing the run it holds, so no run is in flight)
    for process in workers:
        process.terminate()
    for process in workers:
        process.wait(timeout=15)

    # then the runs that took the lease never overlapped, and one chain is left
    output = await asyncio.to_thread(_manage, ["shell", "-c", RUNS], database.url)
    rows = json.loads(output.split("RUNS ", 1)[1].splitlines()[0])
    ran = sorted((row[3], row[4]) for row in rows if row[1] is True)
    assert len(ran) >= 3, rows
    for (_, previous_end), (next_start, _) in itertools.pairwise(ran):
        assert previous_end <= next_start, ran
    # (a worker that started while a run held the lease enqueued a run due when that
    # lease ends, in case the holder had crashed: it will find the job not due and end)
    soon = [row for row in rows if row[0] == "READY" and row[5] < 2 * float(SWEEP_INTERVAL) + 5]
    assert len(soon) == 1, rows
