"""Inputs of the chat mutations and of the `chat` subscription."""

import strawberry
from strawberry import UNSET, relay


@strawberry.input
class StartConversationInput:
    bot_id: relay.GlobalID
    scenario_id: relay.GlobalID | None = None
    user_session: str | None = None


@strawberry.input
class SendMessageInput:
    conversation_id: relay.GlobalID
    text: str


@strawberry.input
class StopGenerationInput:
    message_id: relay.GlobalID


@strawberry.input
class MarkMessagesReadInput:
    conversation_id: relay.GlobalID
    message_ids: list[relay.GlobalID] | None = strawberry.field(
        default=UNSET, description="Only these messages; all finished ones when omitted."
    )


@strawberry.input
class DeleteConversationInput:
    id: relay.GlobalID


@strawberry.input
class ResetConversationInput:
    conversation_id: relay.GlobalID
