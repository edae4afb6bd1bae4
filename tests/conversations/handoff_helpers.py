"""What the handoff tests share: operations, an operator with a bearer token, and a
visitor's live event stream over the real websocket."""

from asgiref.sync import sync_to_async
from strawberry.relay import to_base64

from accounts.services import api_token_create
from bots.models import BotOperator
from tests.asgi_client import gql_data, gql_http, start_conversation, ws_client
from tests.chat_events import EVENT_FIELDS
from tests.factories import BotFactory, UserFactory

HANDOFF_FIELDS = (
    EVENT_FIELDS
    + """
  ... on MessageCreated { message { authorName handoffMode } }
  ... on HandoffChanged {
    mode operatorName conversation { id mode operatorName } message { id role content }
  }
"""
)
EVENTS = f"""
subscription Events($id: ID!, $resume: ResumeFromInput) {{
  conversationEvents(conversationId: $id, resumeFrom: $resume) {{ {HANDOFF_FIELDS} }}
}}
"""
PAYLOAD_ERRORS = "... on OperationInfo { messages { code field message } }"
REQUEST = f"""
mutation($input: HandoffInput!) {{
  requestHandoff(input: $input) {{ __typename ... on Conversation {{ id mode }} {PAYLOAD_ERRORS} }}
}}
"""
CLAIM = f"""
mutation($input: HandoffInput!) {{
  claimConversation(input: $input) {{
    __typename ... on Conversation {{ id mode operatorName }} {PAYLOAD_ERRORS}
  }}
}}
"""
SAY = f"""
mutation($input: SendOperatorMessageInput!) {{
  sendOperatorMessage(input: $input) {{
    __typename ... on Message {{ id role content authorName status }} {PAYLOAD_ERRORS}
  }}
}}
"""
HAND_BACK = f"""
mutation($input: HandoffInput!) {{
  handBack(input: $input) {{ __typename ... on Conversation {{ id mode }} {PAYLOAD_ERRORS} }}
}}
"""
SEND = """
mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { userMessage { id content } reply { id } }
}
"""


def bearer(user) -> dict[str, str]:
    _, secret = api_token_create(user=user, name="tests")
    return {"Authorization": f"Bearer {secret}"}


@sync_to_async
def handoff_bot(**fields):
    """A bot with handoff on, its owner, and an operator (display name "Ana") with their
    bearer headers: (bot, owner headers, operator headers)."""
    bot = BotFactory(handoff_enabled=True, **fields)
    operator = UserFactory(username=f"ana{bot.pk}", first_name="Ana Secret-Surname")
    BotOperator.objects.create(bot=bot, user=operator, display_name="Ana")
    return bot, bearer(bot.owner), bearer(operator)


async def visitor(bot) -> tuple[str, str]:
    return await start_conversation(to_base64("Bot", bot.pk))


async def mutate(query: str, variables: dict, headers: dict) -> dict:
    data = await gql_data(query, {"input": variables}, headers)
    return next(iter(data.values()))


async def codes(query: str, variables: dict, headers: dict) -> list[str]:
    """The error codes of a mutation: its payload's OperationInfo, or GraphQL errors."""
    _, body = await gql_http(query, {"input": variables}, headers)
    if body.get("errors"):
        return [e["extensions"]["code"] for e in body["errors"]]
    payload = next(iter(body["data"].values()))
    return [m["code"] for m in payload.get("messages", [])]


class Stream:
    """One conversationEvents subscription on its own socket."""

    def __init__(self, conversation_id: str, params: dict, resume: dict | None = None):
        self.conversation_id = conversation_id
        self.ws = ws_client(params)
        self.resume = resume
        self.events: list[dict] = []

    async def __aenter__(self) -> "Stream":
        await self.ws.__aenter__()
        variables = {"id": self.conversation_id, "resume": self.resume}
        await self.ws.send_json_to(
            {"id": "1", "type": "subscribe", "payload": {"query": EVENTS, "variables": variables}}
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.__aexit__(*exc)

    async def until(self, done, within: float = 30) -> list[dict]:
        """Events received until `done(event)` holds for one (that one included)."""
        got = []
        while True:
            message = await self.ws.receive_json_from(timeout=within)
            assert message["type"] == "next", message
            assert not message["payload"].get("errors"), message
            event = message["payload"]["data"]["conversationEvents"]
            got.append(event)
            self.events.append(event)
            if done(event):
                return got


def handoff_to(mode: str):
    return lambda e: e["__typename"] == "HandoffChanged" and e["mode"] == mode


def completed(role: str):
    return lambda e: e["__typename"] == "MessageCompleted" and e["message"]["role"] == role
