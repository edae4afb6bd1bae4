"""Small real-network clients for the end-to-end tests.

`GraphQLWebSocket` speaks both GraphQL websocket subprotocols on the `websockets` library:

- `graphql-transport-ws` (the `graphql-ws` npm library): connection_init → connection_ack,
  subscribe → next… → complete, ping/pong;
- legacy `graphql-ws` (subscriptions-transport-ws): connection_init → connection_ack (+ ka),
  start → data… → complete, stop.

`GraphQLHTTP` posts operations with httpx. The subscriptions and `rebuild` (the streaming
contract, checked the way a chat client applies events) are in tests/chat_events.py.
Every wait is bounded so a broken server fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import websockets
from websockets.exceptions import ConnectionClosed

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, LEGACY_WS)


class ConnectionRejected(Exception):
    """The server refused connection_init (or closed the socket before acking it)."""


class GraphQLWebSocket:
    """One websocket connection carrying any number of GraphQL operations."""

    def __init__(
        self,
        url: str,
        *,
        protocol: str = TRANSPORT_WS,
        params: dict[str, Any] | None = None,
        origin: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        assert protocol in PROTOCOLS, protocol
        self.url = url
        self.protocol = protocol
        self.params = params
        self.origin = origin
        self.timeout = timeout
        self.socket: websockets.ClientConnection | None = None
        self.close_code: int | None = None
        self._queues: dict[str, asyncio.Queue] = {}
        self._ids = itertools.count(1)
        self._ack: asyncio.Future | None = None
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> GraphQLWebSocket:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the socket and complete connection_init; raises ConnectionRejected."""
        self.socket = await websockets.connect(
            self.url,
            subprotocols=[self.protocol],
            origin=self.origin,
            open_timeout=self.timeout,
            close_timeout=2,
            proxy=None,
        )
        try:
            assert self.socket.subprotocol == self.protocol, self.socket.subprotocol
            self._ack = asyncio.get_running_loop().create_future()
            self._reader = asyncio.create_task(self._read())
            init: dict[str, Any] = {"type": "connection_init"}
            if self.params is not None:
                init["payload"] = self.params
            await self._send(init)
            async with asyncio.timeout(self.timeout):
                await self._ack
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.socket.close(), 5)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader

    async def subscribe(self, query: str, variables: dict | None = None) -> Subscription:
        op_id = str(next(self._ids))
        self._queues[op_id] = asyncio.Queue()
        payload: dict[str, Any] = {"query": query, "variables": variables or {}}
        start = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self._send({"id": op_id, "type": start, "payload": payload})
        return Subscription(self, op_id)

    async def _send(self, message: dict) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(message))

    async def _read(self) -> None:
        assert self.socket is not None and self._ack is not None
        try:
            async for raw in self.socket:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "connection_ack":
                    if not self._ack.done():
                        self._ack.set_result(message)
                elif kind == "connection_error":
                    if not self._ack.done():
                        self._ack.set_exception(ConnectionRejected(message.get("payload")))
                elif kind == "ping":
                    await self._send({"type": "pong"})
                elif kind in ("ka", "pong"):
                    continue
                elif (queue := self._queues.get(str(message.get("id")))) is not None:
                    queue.put_nowait(message)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.socket.close_code
            if not self._ack.done():
                self._ack.set_exception(
                    ConnectionRejected(f"closed before ack (code {self.close_code})")
                )
            for queue in self._queues.values():
                queue.put_nowait({"type": "closed", "code": self.close_code})


class Subscription:
    """The results of one operation: an async iterator of `{"data", "errors"}` payloads."""

    def __init__(self, connection: GraphQLWebSocket, op_id: str) -> None:
        self.connection = connection
        self.id = op_id
        self.done = False

    async def next(self, within: float) -> dict | None:
        """The next payload, or None once the operation completed; errors end it too."""
        if self.done:
            return None
        queue = self.connection._queues[self.id]
        async with asyncio.timeout(within):
            message = await queue.get()
        kind = message["type"]
        if kind in ("next", "data"):
            return message["payload"]
        self.done = True
        if kind == "error":
            errors = message["payload"]
            return {"data": None, "errors": errors if isinstance(errors, list) else [errors]}
        if kind == "closed":
            raise ConnectionError(f"socket closed (code {message['code']}) mid-operation")
        return None  # complete

    async def payloads(self, within: float = 20.0) -> AsyncIterator[dict]:
        """Payloads until complete; `within` (seconds) bounds the whole operation."""
        deadline = time.monotonic() + within
        while (payload := await self.next(max(0.0, deadline - time.monotonic()))) is not None:
            yield payload

    async def stop(self) -> None:
        """Cancel the operation on the server (complete / stop)."""
        if self.done:
            return
        self.done = True
        kind = "complete" if self.connection.protocol == TRANSPORT_WS else "stop"
        with contextlib.suppress(ConnectionClosed):
            await self.connection._send({"id": self.id, "type": kind})


def single_field(payload: dict) -> dict:
    """The value of a result's only root field; fails on GraphQL errors."""
    assert not payload.get("errors"), payload["errors"]
    (value,) = payload["data"].values()
    return value


async def collect_events(
    subscription: Subscription,
    *,
    until: Callable[[list[dict]], bool] | None = None,
    within: float = 20.0,
) -> list[dict]:
    """Events of a subscription until it completes or `until(events)` holds."""
    events: list[dict] = []
    async for payload in subscription.payloads(within):
        events.append(single_field(payload))
        if until is not None and until(events):
            break
    return events


def finished(message_id: str) -> Callable[[list[dict]], bool]:
    """`until` predicate: the message reached a terminal event."""

    def check(events: list[dict]) -> bool:
        return any(
            e["__typename"] in ("MessageCompleted", "MessageFailed")
            and e["message"]["id"] == message_id
            for e in events
        )

    return check


def terminal_event(events: list[dict], message_id: str) -> dict:
    (event,) = [
        e
        for e in events
        if e["__typename"] in ("MessageCompleted", "MessageFailed")
        and e["message"]["id"] == message_id
    ]
    return event


def assistant_ids(events: list[dict]) -> list[str]:
    return [
        e["message"]["id"]
        for e in events
        if e["__typename"] == "MessageCreated" and e["message"]["role"] == "ASSISTANT"
    ]


class GraphQLError(AssertionError):
    def __init__(self, errors: list[dict]) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors


class GraphQLHTTP:
    """GraphQL over HTTP at one server; each call uses a short-lived httpx client."""

    def __init__(self, url: str, *, timeout: float = 15.0) -> None:
        self.url = url
        self.timeout = timeout

    async def post(
        self,
        query: str,
        variables: dict | None = None,
        *,
        token: str | None = None,
        chat_token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict]:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        if chat_token:
            all_headers["X-Chat-Token"] = chat_token
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
            response = await client.post(
                self.url, json={"query": query, "variables": variables or {}}, headers=all_headers
            )
        return response.status_code, response.json()

    async def data(self, query: str, variables: dict | None = None, **kwargs) -> dict:
        """Run an operation that must succeed; its `data`."""
        status, body = await self.post(query, variables, **kwargs)
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        assert status == 200, (status, body)
        return body["data"]

    async def errors(self, query: str, variables: dict | None = None, **kwargs) -> list[dict]:
        """Run an operation that must fail with GraphQL errors; the errors."""
        _, body = await self.post(query, variables, **kwargs)
        assert body.get("errors"), body
        return body["errors"]


# --- Botstream operations used by several end-to-end modules ---

CREATE_BOT = """
mutation CreateBot($input: BotInput!) {
  createBot(input: $input) {
    __typename
    ... on Bot { id }
    ... on OperationInfo { messages { field message code } }
  }
}
"""

START_CONVERSATION = """
mutation Start($input: StartConversationInput!) {
  startConversation(input: $input) { chatToken conversation { id } }
}
"""

SEND_MESSAGE = """
mutation Send($input: SendMessageInput!) {
  sendMessage(input: $input) { userMessage { id content } reply { id status } }
}
"""

STOP_GENERATION = """
mutation Stop($input: StopGenerationInput!) {
  stopGeneration(input: $input) {
    __typename
    ... on Message { id content status }
    ... on OperationInfo { messages { message code } }
  }
}
"""

DELETE_CONVERSATION = """
mutation Delete($input: DeleteConversationInput!) {
  deleteConversation(input: $input) {
    __typename
    ... on Conversation { id }
    ... on OperationInfo { messages { message code } }
  }
}
"""

CONVERSATION_MESSAGES = """
query Messages($id: ID!) {
  conversation(id: $id) {
    id
    messages { edges { node { id role content status errorCode error } } }
  }
}
"""


async def create_bot(http: GraphQLHTTP, token: str, **fields: Any) -> str:
    """Create a bot as the owner of `token`; returns its global id."""
    payload = {"name": "E2E bot", "model": "e2e-model", **fields}
    data = await http.data(CREATE_BOT, {"input": payload}, token=token)
    result = data["createBot"]
    assert result["__typename"] == "Bot", result
    return result["id"]


async def start_conversation(http: GraphQLHTTP, bot_id: str) -> tuple[str, str]:
    """Start a conversation as an anonymous visitor; returns (conversation id, chat token)."""
    data = await http.data(START_CONVERSATION, {"input": {"botId": bot_id}})
    payload = data["startConversation"]
    return payload["conversation"]["id"], payload["chatToken"]


async def send_message(http: GraphQLHTTP, conversation_id: str, chat_token: str, text: str):
    data = await http.data(
        SEND_MESSAGE,
        {"input": {"conversationId": conversation_id, "text": text}},
        chat_token=chat_token,
    )
    return data["sendMessage"]


async def stop_generation(http: GraphQLHTTP, message_id: str, chat_token: str) -> dict:
    data = await http.data(
        STOP_GENERATION, {"input": {"messageId": message_id}}, chat_token=chat_token
    )
    return data["stopGeneration"]


async def delete_conversation(http: GraphQLHTTP, conversation_id: str, chat_token: str) -> dict:
    data = await http.data(
        DELETE_CONVERSATION, {"input": {"id": conversation_id}}, chat_token=chat_token
    )
    return data["deleteConversation"]


async def conversation_messages(
    http: GraphQLHTTP, conversation_id: str, chat_token: str
) -> list[dict]:
    data = await http.data(CONVERSATION_MESSAGES, {"id": conversation_id}, chat_token=chat_token)
    assert data["conversation"] is not None, "conversation not visible"
    return [edge["node"] for edge in data["conversation"]["messages"]["edges"]]


async def message_by_id(
    http: GraphQLHTTP, conversation_id: str, chat_token: str, message_id: str
) -> dict:
    messages = await conversation_messages(http, conversation_id, chat_token)
    (message,) = [m for m in messages if m["id"] == message_id]
    return message


ACTIVE = ("PENDING", "STREAMING")


def streamed_at_least(chars: int) -> Callable[[dict], bool]:
    """For `wait_for_message`: the message is streaming with `chars` characters stored."""
    return lambda m: m["status"] == "STREAMING" and len(m["content"]) >= chars


async def wait_for_message(
    http: GraphQLHTTP,
    conversation_id: str,
    chat_token: str,
    message_id: str,
    *,
    until: Callable[[dict], bool] = lambda m: m["status"] not in ACTIVE,
    within: float = 15.0,
    interval: float = 0.05,
) -> dict:
    """Poll the message over GraphQL until `until(message)` (default: terminal)."""
    deadline = time.monotonic() + within
    while True:
        message = await message_by_id(http, conversation_id, chat_token, message_id)
        if until(message):
            return message
        assert time.monotonic() < deadline, f"message never reached the state: {message}"
        await asyncio.sleep(interval)


async def send_and_wait(
    http: GraphQLHTTP,
    conversation_id: str,
    chat_token: str,
    text: str,
    *,
    until: Callable[[dict], bool],
    read_by: GraphQLHTTP | None = None,
) -> str:
    """Send `text`; return its reply's id once the reply, polled through `read_by`
    (default: `http`), satisfies `until`."""
    sent = await send_message(http, conversation_id, chat_token, text)
    reply_id = sent["reply"]["id"]
    await wait_for_message(read_by or http, conversation_id, chat_token, reply_id, until=until)
    return reply_id
