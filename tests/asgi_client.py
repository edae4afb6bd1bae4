"""Async helpers that drive the real ASGI application (HTTP and websockets) in-process."""

import base64
import json
from typing import Any

from channels.testing import HttpCommunicator
from strawberry.channels.testing import GraphQLWebsocketCommunicator
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from server.asgi import application


async def gql_http(query: str, variables: dict | None = None, headers: dict | None = None):
    """POST a GraphQL operation through the ASGI app; returns (status, body)."""
    all_headers = [(b"content-type", b"application/json"), (b"host", b"127.0.0.1")]
    all_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    communicator = HttpCommunicator(
        application,
        "POST",
        "/graphql",
        body=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers=all_headers,
    )
    response = await communicator.get_response(timeout=10)
    return response["status"], json.loads(response["body"] or b"{}")


async def gql_data(query: str, variables: dict | None = None, headers: dict | None = None):
    status, body = await gql_http(query, variables, headers)
    assert status == 200 and not body.get("errors"), body
    return body["data"]


def ws_client(connection_params: dict[str, Any] | None = None, **kwargs):
    return GraphQLWebsocketCommunicator(
        application, "/graphql", connection_params=connection_params or {}, **kwargs
    )


def communicator(protocol=GRAPHQL_TRANSPORT_WS_PROTOCOL, origin=None, **kwargs):
    """A socket in `protocol` (not connected), from `origin` when given; pair it with `init`."""
    headers = [(b"origin", origin.encode())] if origin else []
    return GraphQLWebsocketCommunicator(
        application, "/graphql", headers=headers, protocol=protocol, **kwargs
    )


async def init(client, payload: dict | None = None) -> None:
    """Connect and send connection_init with `payload` (else the communicator's
    connection_params, else {}), then expect the ack (the communicator's own gql_init
    drops the params for graphql-ws)."""
    connected, _ = await client.connect()
    assert connected
    params = payload if payload is not None else client.connection_params
    await client.send_json_to({"type": "connection_init", "payload": params or {}})
    assert await client.receive_json_from(timeout=5) == {"type": "connection_ack"}


SEND = """
mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { userMessage { id content } reply { id status } }
}
"""
ME = "{ me { username } }"
LOGIN = """
mutation($input: LoginInput!) {
  login(input: $input) {
    __typename
    ... on OperationInfo { messages { field code message } }
  }
}
"""


def basic_auth(username: str, password: str) -> dict[str, str]:
    """HTTP Basic credentials, as a header or a connection_init payload."""
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


async def closed(client) -> dict:
    """The websocket.close the server sends next (any message before it is skipped)."""
    while (output := await client.receive_output(timeout=5))["type"] != "websocket.close":
        pass
    return output


async def close_after_init(payload: dict) -> dict:
    """Open a socket, send connection_init with `payload`: the close the server answers."""
    client = ws_client(payload)
    try:
        await client.connect()
        await client.send_json_to({"type": "connection_init", "payload": payload})
        return await closed(client)
    finally:
        await client.disconnect()


START = """
mutation($input: StartConversationInput!) {
  startConversation(input: $input) { chatToken conversation { id } }
}
"""


async def start_conversation(bot_id: str, **extra) -> tuple[str, str]:
    data = await gql_data(START, {"input": {"botId": bot_id, **extra}})
    payload = data["startConversation"]
    return payload["conversation"]["id"], payload["chatToken"]
