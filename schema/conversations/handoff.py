"""Human handoff over GraphQL: the visitor's request, the operator's claim, messages and
hand back, and the operator's live inbox (conversations/handoff.py has the rules)."""

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
import strawberry_django
from asgiref.sync import sync_to_async
from strawberry import relay

from conversations import handoff, models
from conversations.selectors import inbox_bot_ids, operable_conversation_list, operator_inbox
from core.exceptions import Forbidden, NotFound
from schema.common import pk_from_global_id
from schema.context import Info
from schema.conversations.access import conversation_for
from schema.conversations.policy import handoff_admit
from schema.conversations.types import Conversation, ConversationModeEnum, Message
from schema.errors import graphql_errors

# How often an open inbox reads its list even without news (a dropped channel-layer
# message, a timeout run by the task worker in another process).
INBOX_REFRESH_SECONDS = 10.0
INBOX_LIMIT = 100


@strawberry.input
class HandoffInput:
    conversation_id: relay.GlobalID


@strawberry.input
class SendOperatorMessageInput:
    conversation_id: relay.GlobalID
    text: str


async def _operable(info: Info, conversation_id: relay.GlobalID) -> models.Conversation:
    """A conversation of a bot the caller owns or operates (staff: any)."""
    user = info.context.get_user()
    pk = pk_from_global_id(conversation_id, "Conversation", field="conversation_id")
    visible = operable_conversation_list(user=user).select_related("bot")
    conversation = await visible.filter(pk=pk).afirst()
    if conversation is None:
        raise NotFound("Conversation not found.")
    return conversation


@strawberry.type
class HandoffMutation:
    @strawberry_django.mutation(
        handle_django_errors=True,
        description="The visitor asks for a human (chat token): the conversation waits "
        "for an operator, and the bot stops answering meanwhile. Codes: "
        "handoff_unavailable (the bot has no handoff), handoff_active.",
    )
    async def request_handoff(self, info: Info, input: HandoffInput) -> Conversation:
        conversation = await conversation_for(info, input.conversation_id)
        await handoff_admit(info, conversation)
        change = await handoff.arequest(
            conversation=conversation,
            source=models.HandoffSource.VISITOR,
            user=info.context.user,
        )
        return change.conversation

    @strawberry_django.mutation(
        handle_django_errors=True,
        description="An operator takes a conversation of a bot it operates: a waiting one, "
        "or one the bot answers (taken over at once). Code handoff_claimed: another "
        "operator has it.",
    )
    async def claim_conversation(self, info: Info, input: HandoffInput) -> Conversation:
        conversation = await _operable(info, input.conversation_id)
        change = await sync_to_async(handoff.conversation_claim)(
            conversation=conversation, user=info.context.user
        )
        await handoff.publish(change)
        return change.conversation

    @strawberry_django.mutation(
        handle_django_errors=True,
        description="A message from the operator answering the conversation (role "
        "OPERATOR); the visitor gets it in conversationEvents. Code not_claimed: claim first.",
    )
    async def send_operator_message(self, info: Info, input: SendOperatorMessageInput) -> Message:
        conversation = await _operable(info, input.conversation_id)
        message = await sync_to_async(handoff.operator_message_send)(
            conversation=conversation, user=info.context.user, text=input.text
        )
        await handoff.publish_message(message)
        return message

    @strawberry_django.mutation(
        handle_django_errors=True,
        description="The operator hands the conversation back to the bot, which answers "
        "the next visitor message (the scenario goes on after its handoff step).",
    )
    async def hand_back(self, info: Info, input: HandoffInput) -> Conversation:
        conversation = await _operable(info, input.conversation_id)
        change = await sync_to_async(handoff.handoff_end)(
            conversation=conversation, user=info.context.user
        )
        await handoff.publish(change)
        return change.conversation


@strawberry.type(description="A conversation in an operator's inbox.")
class InboxEntry:
    conversation: Conversation
    mode: ConversationModeEnum
    bot_name: str
    waiting_since: datetime | None = strawberry.field(description="When the handoff was requested.")
    assigned_to_me: bool
    last_visitor_message: str | None = strawberry.field(
        description="The visitor's latest message (its first 200 characters)."
    )


@strawberry.type(
    description="The whole inbox, sent again whenever it changes: conversations waiting "
    "for an operator on your bots, and those you answer."
)
class OperatorInbox:
    entries: list[InboxEntry]


async def _inbox(user) -> tuple[OperatorInbox, tuple]:
    rows = [c async for c in operator_inbox(user=user, limit=INBOX_LIMIT)]
    ids = [c.pk for c in rows]
    since = {
        h["conversation_id"]: h["requested_at"]
        async for h in models.Handoff.objects.filter(
            conversation_id__in=ids, ended_at__isnull=True
        ).values("conversation_id", "requested_at")
    }
    last: dict[int, str] = {}
    visitor = models.Message.objects.filter(conversation_id__in=ids, role=models.MessageRole.USER)
    async for message in visitor.order_by("conversation_id", "id").values(
        "conversation_id", "content"
    ):
        last[message["conversation_id"]] = message["content"][:200]
    entries = [
        InboxEntry(
            conversation=c,
            mode=models.ConversationMode(c.mode),
            bot_name=c.bot.name,
            waiting_since=since.get(c.pk),
            assigned_to_me=c.operator_id == user.pk,
            last_visitor_message=last.get(c.pk),
        )
        for c in sorted(rows, key=lambda c: (since.get(c.pk) or c.updated_at, c.pk))
    ]
    key = tuple(
        (e.conversation.pk, e.mode, e.assigned_to_me, e.last_visitor_message) for e in entries
    )
    return OperatorInbox(entries=entries), key


@strawberry.type
class HandoffSubscription:
    @strawberry.subscription(
        description="Your inbox as an operator (log in first): sent at once, then again "
        "whenever a conversation starts waiting, is claimed, handed back, or its visitor "
        "writes."
    )
    async def operator_inbox(self, info: Info) -> AsyncGenerator[OperatorInbox, None]:
        with graphql_errors():
            ws = info.context.ws
            if ws is None:
                raise Forbidden("Subscriptions are served over websockets at /graphql.")
            user = info.context.get_user()
            bot_ids = await sync_to_async(inbox_bot_ids)(user=user)
        groups = [handoff.inbox_group(bot_id) for bot_id in bot_ids]
        async with ws.listen_to_channel(handoff.INBOX_TYPE, groups=groups) as listener:
            inbox, shown = await _inbox(user)
            yield inbox
            pending: asyncio.Task | None = None
            try:
                while True:
                    if pending is None:
                        pending = asyncio.ensure_future(anext(listener))
                    done, _ = await asyncio.wait({pending}, timeout=INBOX_REFRESH_SECONDS)
                    if done:
                        pending.result()
                        pending = None
                    inbox, key = await _inbox(user)
                    if key != shown:
                        shown = key
                        yield inbox
            finally:
                if pending is not None and not pending.done():
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        await pending
