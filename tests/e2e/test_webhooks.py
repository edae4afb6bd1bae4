"""Webhooks end to end: an owner registers an endpoint over GraphQL on a real daphne
server, a visitor chats (the real openai SDK against the fake upstream), and a separate
`manage.py worker` process delivers the events, signed, to a real loopback endpoint;
the owner reads the delivery log over GraphQL."""

import asyncio
import subprocess
import sys
import time

import pytest
from standardwebhooks import Webhook as Verifier

from tests.e2e.conftest import SERVER_ENV, _child_env
from tests.e2e.wsclient import create_bot, send_and_wait, start_conversation
from tests.integrations.receiver import running_receiver
from tests.support import ROOT

ALLOW = {"API_CALL_ALLOW_HOSTS": "127.0.0.1", "CONVERSATION_EXPIRY_SWEEP_INTERVAL": "0"}
CREATE_WEBHOOK = """
mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) {
    __typename
    ... on CreatedWebhook { secret webhook { id } }
    ... on OperationInfo { messages { field code message } }
  }
}
"""
LOG = """
query($id: ID!) {
  bot(id: $id) { webhooks { edges { node { deliveries {
    edges { node { event status attempts responseCode } }
  } } } } }
}
"""


@pytest.fixture(scope="module")
def server_env():
    return dict(ALLOW)


@pytest.fixture(scope="module")
def receiver():
    with running_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def worker(server, database, tmp_path_factory):
    log = tmp_path_factory.mktemp("webhook-worker") / "worker.log"
    env = _child_env({**SERVER_ENV, **ALLOW, "DATABASE_URL": database.url})
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--no-reload", "--interval", "0.1"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    print(log.read_text(errors="replace")[-3000:])


async def test_a_chat_on_daphne_is_delivered_by_a_worker_process(
    server, worker, database, receiver, script
):
    # given an owner's endpoint for the bot's starts and completed messages
    token = database.owner_token
    bot_id = await create_bot(server.http, token)
    created = await server.http.data(
        CREATE_WEBHOOK,
        {
            "input": {
                "botId": bot_id,
                "url": receiver.url,
                "events": ["CONVERSATION_STARTED", "MESSAGE_COMPLETED"],
            }
        },
        token=token,
    )
    assert created["createWebhook"]["__typename"] == "CreatedWebhook", created
    secret = created["createWebhook"]["secret"]
    script.replies["hello"] = "Hello from the fake upstream."

    # when a visitor chats
    conversation_id, chat_token = await start_conversation(server.http, bot_id)
    reply_id = await send_and_wait(
        server.http, conversation_id, chat_token, "hello", until=lambda m: m["status"] == "COMPLETE"
    )

    # then the worker delivers both events, and the owner's log shows them succeeded
    deadline = time.monotonic() + 30
    while True:
        log = await server.http.data(LOG, {"id": bot_id}, token=token)
        [hook] = log["bot"]["webhooks"]["edges"]
        deliveries = [edge["node"] for edge in hook["node"]["deliveries"]["edges"]]
        if len(deliveries) == 2 and all(d["status"] == "SUCCEEDED" for d in deliveries):
            break
        assert worker.poll() is None, "the worker died"
        assert time.monotonic() < deadline, deliveries
        await asyncio.sleep(0.2)
    assert sorted(d["event"] for d in deliveries) == ["CONVERSATION_STARTED", "MESSAGE_COMPLETED"]
    assert {(d["attempts"], d["responseCode"]) for d in deliveries} == {(1, 200)}
    bodies = {
        body["type"]: body["data"]
        for body in (Verifier(secret).verify(r.body, r.headers) for r in receiver.requests)
    }
    assert bodies["conversation.started"]["conversation_id"] == conversation_id
    completed = bodies["message.completed"]
    assert (completed["message_id"], completed["content"]) == (
        reply_id,
        "Hello from the fake upstream.",
    )
