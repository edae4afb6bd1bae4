"""Build scenarios step by step and chat through them over the websocket."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asgiref.sync import sync_to_async
from strawberry.relay import to_base64

from bots.models import Scenario, Step
from tests.asgi_client import start_conversation, ws_client
from tests.chat_events import CHAT, rebuild
from tests.factories import BotFactory


@sync_to_async
def make_scenario(steps: list[tuple], *, bot_type="chat", active=True, **bot):
    """steps: (name, step_type, content[, next step name]) in order; the first is initial."""
    bot = BotFactory(bot_type=bot_type, **bot)
    scenario = Scenario.objects.create(bot=bot, name="Flow")
    created = {}
    for order, (name, step_type, content, *_) in enumerate(steps):
        step = Step(scenario=scenario, name=name, step_type=step_type, content=content, order=order)
        step.full_clean()
        step.save()
        created[name] = step
    for name, _, _, *following in steps:
        if following:
            Step.objects.filter(pk=created[name].pk).update(next_step=created[following[0]])
    scenario.initial_step = created[steps[0][0]]
    scenario.is_active = active
    scenario.save()
    return bot, scenario


class Chat:
    """One visitor: a conversation and a websocket, one `chat` subscription per turn."""

    def __init__(self, conversation_id: str, token: str):
        self.conversation_id = conversation_id
        self.token = token

    @classmethod
    async def start(cls, bot) -> "Chat":
        conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))
        return cls(conversation_id, token)

    async def say(self, text: str) -> list[dict]:
        """Send `text`; returns the turn's assistant messages (content, status)."""
        variables = {"input": {"conversationId": self.conversation_id, "text": text}}
        async with ws_client({"chatToken": self.token}) as ws:
            events = await subscription_events(ws, CHAT, variables)
        assert all("errors" not in e for e in events), events
        return [m for m in rebuild(events).values() if m["role"] == "ASSISTANT"]

    async def texts(self, text: str) -> list[str]:
        return [m["content"] for m in await self.say(text)]


async def subscription_events(ws, query: str, variables: dict, within: float = 30) -> list:
    """Run one graphql-transport-ws subscription to its end (a generous per-message wait:
    strawberry's testing helper allows 5 s, too little on a loaded CI machine)."""
    await ws.send_json_to(
        {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
    )
    events = []
    while True:
        message = await ws.receive_json_from(timeout=within)
        if message["type"] == "next":
            payload = message["payload"]
            if payload.get("errors"):
                events.append({"errors": [e["message"] for e in payload["errors"]]})
            else:
                events.append(next(iter(payload["data"].values())))
        elif message["type"] == "error":
            return [{"errors": [e["message"] for e in message["payload"]]}]
        elif message["type"] == "complete":
            return events


class JsonServer:
    """A local HTTP server answering JSON, for api_call steps (allowed via allow-list)."""

    def __init__(self, payload: dict, status: int = 200):
        self.payload, self.status, self.paths = payload, status, []
        self.headers: list[dict] = []  # of each request, names lower-cased
        self.redirect_to: str | None = None  # set: answer 302 to this URL
        self.delay = 0.0  # seconds before answering
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(outer.delay)
                outer.paths.append(self.path)
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                if outer.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", outer.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps(outer.payload).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
