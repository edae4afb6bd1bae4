"""The floors: the smallest ASGI app daphne can serve, over HTTP and over a websocket.

HTTP: `daphne bench.floor_app:app` gets the same requests as `/graphql` in the HTTP
benchmark (same method, path, headers and body, read in full), so the difference between
the two is what Django + Strawberry + the query cost on top of daphne itself.

Websocket (bench/transport_floor.py): a connection to `/?frames=F&interval=S` is
accepted and sent F text frames, one every S seconds from the connection's own timer,
each a graphql-transport-ws `next` frame the size of a streamed reply's delta (its
sequence number in `offset`), then closed: what daphne itself costs per frame, with no
Django, channels or GraphQL behind it.
"""

import asyncio
import json
from urllib.parse import parse_qs

BODY = b'{"data":{"ok":true,"bots":[]}}'
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
]


def delta_frame(offset: int) -> str:
    event = {
        "__typename": "MessageDelta",
        "messageId": "TWVzc2FnZU5vZGU6MTIzNDU2",
        "offset": offset,
        "delta": "bench-reply word ",
    }
    return json.dumps(
        {"id": "1", "type": "next", "payload": {"data": {"conversationEvents": event}}}
    )


async def websocket(scope, receive, send) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    query = parse_qs(scope["query_string"].decode())
    frames = int(query.get("frames", ["0"])[0])
    interval = float(query.get("interval", ["0.04"])[0])
    await send({"type": "websocket.accept"})
    for offset in range(frames):
        await asyncio.sleep(interval)
        await send({"type": "websocket.send", "text": delta_frame(offset)})
    await send({"type": "websocket.close", "code": 1000})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        return await websocket(scope, receive, send)
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
