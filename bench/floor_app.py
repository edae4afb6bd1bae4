"""The HTTP floor: the smallest ASGI app daphne can serve, answering a small JSON body.

`daphne bench.floor_app:app` gets the same requests as `/graphql` in the HTTP benchmark
(same method, path, headers and body, read in full), so the difference between the two
is what Django + Strawberry + the query cost on top of daphne itself.
"""

BODY = b'{"data":{"ok":true,"bots":[]}}'
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
