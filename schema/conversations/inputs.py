"""Inputs of the chat mutations and of the `chat` subscription."""

import strawberry
from strawberry import UNSET, relay
from strawberry.scalars import JSON

from schema.conversations.types import RatingEnum


@strawberry.input
class StartConversationInput:
    bot_id: relay.GlobalID
    scenario_id: relay.GlobalID | None = None
    user_session: str | None = None
    variables: JSON | None = strawberry.field(
        default=None,
        description="Values of the bot's start inputs (BotProfile.startInputs), by name; "
        "they become conversation variables.",
    )


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
class RegenerateReplyInput:
    message_id: relay.GlobalID


@strawberry.input
class RateMessageInput:
    message_id: relay.GlobalID
    rating: RatingEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="UP or DOWN; null revokes the rating."
    )
    comment: str | None = strawberry.field(
        default=None, description='Why; omitted or null keeps the current comment, "" clears it.'
    )


@strawberry.input
class ResetConversationInput:
    conversation_id: relay.GlobalID
