"""Frame plans (overrides/strawberry_frames.py) as a property: over random subscription
documents (selections, aliases, fragments, inline fragments, @include/@skip with
variables, __typename) and random events (unicode, lone surrogates, empty text, offsets
past 32 bits, nulls), the frames sent to a subscriber are byte for byte the frames of
Strawberry's own execution and handlers, on both websocket protocols, for one subscriber
and for several sharing the document, and for a visitor and an owner subscribed to the
same conversation with the same document (plans and their filled text are shared by
every connection: a field that differs by user, `privateVariables`, must not be)."""

import asyncio
import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry import relay

from conversations import events
from conversations.models import MessageRole, MessageStatus
from overrides import strawberry_frames
from tests.frames import FAST, LEGACY, STOCK, TRANSPORT, frames, graphql_events, staff_user

MESSAGE_FIELDS = (
    "id",
    "role",
    "content",
    "status",
    "error",
    "errorCode",
    "isRead",
    "promptTokens",
    "completionTokens",
    "createdAt",
    "updatedAt",
    "conversationId",
)
CONVERSATION_FIELDS = (
    "id",
    "isCompleted",
    "variables",
    "userSession",
    "createdAt",
    "updatedAt",
    "privateVariables",
)
# Per event type: its fields, with the sub-fields of object fields.
TYPES = {
    "MessageDelta": {"messageId": None, "offset": None, "text": None},
    "ConversationDeleted": {"conversationId": None},
    "MessageCreated": {"message": MESSAGE_FIELDS},
    "MessageCompleted": {"message": MESSAGE_FIELDS},
    "MessageFailed": {"message": MESSAGE_FIELDS, "code": None, "error": None},
    "ConversationUpdated": {"conversation": CONVERSATION_FIELDS},
}
UNION = "ConversationEvent"
ALIASES = ("a", "b", "text", "offset", "x1")
ERROR_ID = re.compile(r"(?<=id )[0-9a-f]{12}(?=\)\.)|(?<=\"errorId\":\")[0-9a-f]{12}")
TEXTS = ("", "é", "😀", "\u2028", "\ud800", '"\\\n\t', "\x00", "a" * 300)


class Document:
    """A random subscription document, drawn piece by piece."""

    def __init__(self, data) -> None:
        self.draw = data.draw
        self.fragments: list[str] = []
        self.variables: dict[str, bool] = {}

    def directive(self) -> str:
        choice = self.draw(st.sampled_from(["", "", "var", "literal"]))
        if choice == "":
            return ""
        name = self.draw(st.sampled_from(["include", "skip"]))
        if choice == "literal":
            return f" @{name}(if: {self.draw(st.sampled_from(['true', 'false']))})"
        variable = self.draw(st.sampled_from(["v1", "v2"]))
        self.variables.setdefault(variable, self.draw(st.booleans()))
        return f" @{name}(if: ${variable})"

    def alias(self) -> str:
        return f"{self.draw(st.sampled_from(ALIASES))}: " if self.draw(st.booleans()) else ""

    def selections(self, type_name: str, depth: int) -> str:
        count = self.draw(st.integers(1, 4))
        return " ".join(self.selection(type_name, depth) for _ in range(count))

    def selection(self, type_name: str, depth: int) -> str:
        kinds = ["typename", "inline", "bare_inline", "spread"]
        fields = TYPES.get(type_name)
        if fields is not None:
            kinds += ["field"] * 4
        elif type_name == UNION:
            kinds += ["inline"] * 3
        if depth > 2:
            kinds = [k for k in kinds if k in ("typename", "field")] or ["typename"]
        kind = self.draw(st.sampled_from(kinds))
        if kind == "typename":
            return f"{self.alias()}__typename{self.directive()}"
        if kind == "field":
            name = self.draw(st.sampled_from(sorted(fields)))
            sub = fields[name]
            if sub is None:
                return f"{self.alias()}{name}{self.directive()}"
            chosen = self.draw(st.lists(st.sampled_from(sub), min_size=1, max_size=5))
            inner = " ".join(f"{self.alias()}{field}{self.directive()}" for field in chosen)
            return f"{self.alias()}{name}{self.directive()} {{ {inner} }}"
        if kind == "bare_inline":
            return f"...{self.directive()} {{ {self.selections(type_name, depth + 1)} }}"
        target = type_name
        if type_name == UNION:
            target = self.draw(st.sampled_from([UNION, *TYPES]))
        body = self.selections(target, depth + 1)
        if kind == "inline":
            return f"... on {target}{self.directive()} {{ {body} }}"
        name = f"F{len(self.fragments)}"
        self.fragments.append(f"fragment {name} on {target} {{ {body} }}")
        return f"...{name}{self.directive()}"

    def text(self) -> str:
        body = self.selections(UNION, 0)
        # Refused by validation at the subscription's root: seldom worth an example.
        root_directive = self.directive() if self.draw(st.integers(0, 9)) == 0 else ""
        declared = "".join(f", ${name}: Boolean!" for name in sorted(self.variables))
        alias = self.alias()
        operation = (
            f"subscription Events($id: ID!{declared}) {{ "
            f"{alias}conversationEvents(conversationId: $id){root_directive} {{ {body} }} }}"
        )
        return " ".join([operation, *self.fragments])


texts = st.one_of(st.sampled_from(TEXTS), st.text(max_size=40))
offsets = st.one_of(st.integers(0, 2**31 - 1), st.sampled_from([0, 2**31 - 1, 2**31, 2**40]))
ids = st.integers(1, 2**40)
dates = st.one_of(
    st.none(), st.datetimes(timezones=st.just(UTC)), st.just(datetime(2026, 1, 1, tzinfo=UTC))
)


@st.composite
def snapshots(draw) -> events.MessageSnapshot:
    return events.MessageSnapshot(
        id=draw(ids),
        conversation_id=1,
        role=draw(st.sampled_from(MessageRole.values)),
        content=draw(texts),
        status=draw(st.sampled_from(MessageStatus.values)),
        error=draw(texts),
        error_code=draw(st.sampled_from(["", "upstream_error"])),
        prompt_tokens=draw(st.integers(0, 2**31)),
        completion_tokens=draw(st.integers(0, 10**6)),
        is_read=draw(st.booleans()),
        created_at=draw(dates),
        updated_at=draw(dates),
    )


domain_events = st.one_of(
    st.builds(events.MessageDelta, st.just(1), ids, offsets, texts),
    st.builds(events.MessageDelta, st.just(1), ids, offsets, texts),
    st.builds(events.MessageDelta, st.just(1), ids, offsets, texts),
    st.builds(events.MessageCreated, st.just(1), snapshots()),
    st.builds(events.MessageCompleted, st.just(1), snapshots()),
    st.builds(events.MessageFailed, st.just(1), snapshots()),
    st.builds(events.ConversationDeleted, st.just(1)),
    st.builds(
        events.ConversationUpdated,
        st.just(1),
        st.dictionaries(st.text(max_size=5), st.integers() | texts, max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers() | texts, max_size=2),
        st.booleans(),
        dates,
    ),
)


def by_operation(sent: list[str]) -> dict[str, list[str]]:
    """Frames per operation id (operations run at once interleave), with the random id
    of each masked error (schema/extensions.py) replaced by the same text."""
    out: dict[str, list[str]] = {}
    for frame in sent:
        # A close (a document over the token limit is a syntax error) is not JSON.
        operation = None if frame.startswith("<close") else json.loads(frame).get("id")
        out.setdefault(operation, []).append(ERROR_ID.sub("<error id>", frame))
    return out


async def compare(query: str, variables: dict, domain: list, subscribers: int, users=None) -> None:
    users = users or (None, staff_user())
    operation_ids = tuple(str(i) for i in range(1, subscribers + 1))
    for protocol in (TRANSPORT, LEGACY):
        for user in users:  # a visitor's connection, then an owner's, sharing the plans
            # Each schema yields its own objects, as each subscriber decodes its own event.
            fast = await frames(
                FAST, protocol, query, variables, graphql_events(domain), operation_ids, user=user
            )
            stock = await frames(
                STOCK, protocol, query, variables, graphql_events(domain), operation_ids, user=user
            )
            assert by_operation(fast) == by_operation(stock), (protocol, user, query, variables)


@settings(
    max_examples=75,  # x 2 users: the executions of 150 examples for one
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), domain=st.lists(domain_events, max_size=6), subscribers=st.integers(1, 3))
def test_planned_frames_are_the_frames_of_execution(data, domain, subscribers):
    document = Document(data)
    query = document.text()
    conversation = relay.to_base64("Conversation", 1)
    # The same document again with every condition flipped: plans are per variables.
    flipped = {name: not value for name, value in document.variables.items()}
    for conditions in (document.variables, flipped):
        asyncio.run(compare(query, {"id": conversation, **conditions}, domain, subscribers))


DELTAS = """subscription Events($id: ID!, $full: Boolean!) {
  conversationEvents(conversationId: $id) {
    __typename
    ... on MessageDelta { id: messageId at: offset text @include(if: $full) }
    ...Deleted
  }
}
fragment Deleted on ConversationDeleted { gone: conversationId __typename }"""


@pytest.mark.parametrize("full", [True, False])
async def test_the_hot_events_are_planned_and_filled_once(full, monkeypatch):
    # The property above holds whether or not a plan applies; this checks that deltas
    # and deletions take the plan, filled once for all the subscribers of a document.
    domain = [
        events.MessageDelta(1, 7, 0, "Hé"),
        events.MessageDelta(1, 7, 2, "llo 😀"),
        events.ConversationDeleted(1),
    ]
    variables = {"id": relay.to_base64("Conversation", 1), "full": full}
    planned, fills = _recording(monkeypatch)
    await compare(DELTAS, variables, domain, subscribers=3, users=(None,))
    # Every event of every subscriber (2 protocols x 3 subscribers) took the plan ...
    assert len(planned) == 2 * 3 * len(domain)
    # ... filled once per event: the plan is shared by all six subscriptions.
    assert len(fills) == len(domain)
    text = ',"text":"llo \\ud83d\\ude00"' if full else ""
    second = '{"conversationEvents":{"__typename":"MessageDelta","id":"TWVzc2FnZTo3","at":2'
    assert second + text + "}}" in planned
    deleted = '"__typename":"ConversationDeleted","gone":"Q29udmVyc2F0aW9uOjE="'
    assert '{"conversationEvents":{' + deleted + "}}" in planned


MESSAGES = """subscription Events($id: ID!) {
  conversationEvents(conversationId: $id) {
    __typename
    ... on MessageCreated { message { ...M } }
    ... on MessageCompleted { message { ...M } }
    ... on MessageFailed { message { ...M } code error }
    ... on ConversationUpdated {
      conversation { id isCompleted variables userSession createdAt updatedAt %s }
    }
  }
}
fragment M on Message {
  id role content status error errorCode isRead promptTokens completionTokens
  createdAt updatedAt conversationId
}"""
AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def _message(status: str, content: str) -> events.MessageSnapshot:
    return events.MessageSnapshot(
        id=7, conversation_id=1, role="assistant", content=content, status=status,
        created_at=AT, updated_at=AT,
    )  # fmt: skip


def _recording(monkeypatch) -> tuple[list[str], list[tuple]]:
    planned: list[str] = []
    fills: list[tuple] = []
    data, fill = strawberry_frames.EncodedData.__init__, strawberry_frames._ObjectEncoder.fill

    def record_data(self, text):
        planned.append(text)
        data(self, text)

    def record_fill(self, values):
        fills.append(values)
        return fill(self, values)

    monkeypatch.setattr(strawberry_frames.EncodedData, "__init__", record_data)
    monkeypatch.setattr(strawberry_frames._ObjectEncoder, "fill", record_fill)
    strawberry_frames._plans.clear()
    return planned, fills


MESSAGE_EVENTS = [
    events.MessageCreated(1, _message("pending", "")),
    events.MessageCompleted(1, _message("complete", "Hé 😀")),
    events.MessageFailed(1, _message("failed", "partial")),
]


async def test_message_events_are_planned_for_visitors_and_owners_alike(monkeypatch):
    # Message fields are columns, a Node id and a root-only resolver: the same for every
    # subscriber, so both users' six subscriptions share one text per event.
    planned, fills = _recording(monkeypatch)
    updated = events.ConversationUpdated(1, {"name": "Ann"}, {"secret": 1}, False, AT)
    domain = [*MESSAGE_EVENTS, updated]
    variables = {"id": relay.to_base64("Conversation", 1)}

    await compare(MESSAGES % "", variables, domain, subscribers=3)

    # 2 protocols x 2 users x 3 subscribers, every event planned ...
    assert len(planned) == 2 * 2 * 3 * len(domain)
    # ... a message event filled once for all of them (its text and its message's); a
    # ConversationUpdated for each (`variables` is a dict, which cannot key the cache),
    # still without execution.
    subscriptions = 2 * 2 * 3
    assert len(fills) == 2 * len(MESSAGE_EVENTS) + 2 * subscriptions
    created = next(text for text in planned if "MessageCreated" in text)
    assert '"id":"TWVzc2FnZTo3","role":"ASSISTANT","content":""' in created
    assert '"createdAt":"2026-03-01T12:30:00+00:00"' in created
    assert created.endswith('"conversationId":"Q29udmVyc2F0aW9uOjE="}}}')


async def test_a_field_that_differs_by_user_is_executed_per_subscriber(monkeypatch):
    # privateVariables is the owner's (null for a visitor): ConversationUpdated with it is
    # executed for each subscriber, while the message events keep their plan.
    planned, _ = _recording(monkeypatch)
    updated = events.ConversationUpdated(1, {}, {"secret": 1}, True, AT)
    variables = {"id": relay.to_base64("Conversation", 1)}
    owner, visitor = staff_user(), None

    seen = {}
    for user in (owner, visitor):
        sent = await frames(
            FAST, TRANSPORT, MESSAGES % "privateVariables", variables,
            graphql_events([*MESSAGE_EVENTS, updated]), user=user,
        )  # fmt: skip
        frame = json.loads(sent[-2])  # the last event's; then `complete`
        seen[user] = frame["payload"]["data"]["conversationEvents"]

    assert not any("ConversationUpdated" in text for text in planned)
    assert len(planned) == 2 * len(MESSAGE_EVENTS)
    assert seen[owner]["conversation"]["privateVariables"] == {"secret": 1}
    assert seen[visitor]["conversation"]["privateVariables"] is None
