"""What every chat test shares about the event stream: the selection of the event union,
the two subscriptions that carry it, and the client-side rebuild of streamed messages.

In-process tests (tests/asgi_client.py), the end-to-end clients (tests/e2e/wsclient.py)
and the resume property all read events through these, so a change to the event types
is made once.
"""

from __future__ import annotations

EVENT_FIELDS = """
  __typename
  ... on MessageCreated { message { id role content status errorCode error version replacesId } }
  ... on MessageDelta { messageId offset text }
  ... on MessageCompleted { message { id role content status errorCode error } }
  ... on MessageFailed { message { id role content status errorCode error } code error }
  ... on ConversationDeleted { conversationId }
  ... on SuggestionsReady { messageId suggestions }
  ... on ConversationExpired { conversation { id status closedAt expiresAt } }
"""

CHAT = f"""
subscription Chat($input: SendMessageInput!) {{ chat(input: $input) {{ {EVENT_FIELDS} }} }}
"""

CONVERSATION_EVENTS = f"""
subscription Events($id: ID!, $resume: ResumeFromInput) {{
  conversationEvents(conversationId: $id, resumeFrom: $resume) {{ {EVENT_FIELDS} }}
}}
"""


def apply_event(messages: dict[str, dict], event: dict) -> None:
    """Apply one event to `messages` the way a chat client does, asserting the streaming
    contract: no duplicate MessageCreated, each delta starts where the text held ends (no
    gap, no overlap), and the final message equals the text rebuilt from the deltas. A
    new version of a reply (`replacesId`) takes the place of the one it supersedes;
    suggestions are kept on their message."""
    kind = event["__typename"]
    if kind == "MessageCreated":
        message = event["message"]
        assert message["id"] not in messages, f"duplicate MessageCreated {message['id']}"
        created = {
            "content": message["content"],
            "status": message["status"],
            "role": message["role"],
        }
        replaced = message.get("replacesId")
        if replaced in messages:
            swapped = {(message["id"] if k == replaced else k): v for k, v in messages.items()}
            swapped[message["id"]] = created
            messages.clear()
            messages.update(swapped)
        else:
            messages[message["id"]] = created
    elif kind == "SuggestionsReady":
        messages[event["messageId"]]["suggestions"] = event["suggestions"]
    elif kind == "MessageDelta":
        current = messages[event["messageId"]]
        assert event["offset"] == len(current["content"]), ("gap or overlap", event, current)
        current["content"] += event["text"]
    elif kind in ("MessageCompleted", "MessageFailed"):
        message = event["message"]
        current = messages[message["id"]]
        assert current["content"] == message["content"], ("final mismatch", event, current)
        current["status"] = message["status"]


def rebuild(events: list[dict], messages: dict[str, dict] | None = None) -> dict[str, dict]:
    """The messages (content, status, role by id) that `events` build.

    Pass the `messages` of an earlier subscription to continue them after a resume.
    """
    messages = {} if messages is None else messages
    for event in events:
        apply_event(messages, event)
    return messages
