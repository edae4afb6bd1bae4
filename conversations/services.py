"""Writes of the chat runtime: start conversations, accept messages, stop, mark read."""

import secrets
from collections.abc import Awaitable, Callable, Sequence

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from bots.models import Bot, Scenario
from bots.selectors import bot_list
from conversations import events, transitions, turns
from conversations.models import (
    ACTIVE_STATUSES,
    Conversation,
    Message,
    MessageRole,
)
from core.exceptions import NotFound
from core.tokens import token_digest


def _startable_bot(*, user, bot_id: int) -> Bot:
    """Visitors may start chats with active bots; owners and staff also with inactive ones."""
    try:
        bot = Bot.objects.get(pk=bot_id)
    except Bot.DoesNotExist:
        raise NotFound("Bot not found.") from None
    if not bot.is_active and not bot_list(user=user).filter(pk=bot.pk).exists():
        raise NotFound("Bot not found.")
    return bot


def _scenario_for(*, user, bot: Bot, scenario_id: int | None) -> Scenario | None:
    """The chosen scenario (owners may test inactive ones), else the bot's active one."""
    if scenario_id is None:
        return bot.scenarios.filter(is_active=True).first()
    scenarios = bot.scenarios.all()
    if not bot_list(user=user).filter(pk=bot.pk).exists():
        scenarios = scenarios.filter(is_active=True)
    scenario = scenarios.filter(pk=scenario_id).first()
    if scenario is None:
        raise ValidationError(
            {"scenario_id": "No active scenario of this bot has this ID."}, code="invalid"
        )
    return scenario


@transaction.atomic
def conversation_start(
    *, user, bot_id: int, scenario_id: int | None = None, user_session: str = ""
) -> tuple[Conversation, str]:
    """Open a conversation; returns it and its chat token (shown once, stored hashed)."""
    bot = _startable_bot(user=user, bot_id=bot_id)
    scenario = _scenario_for(user=user, bot=bot, scenario_id=scenario_id)
    raw_token = "chat_" + secrets.token_urlsafe(32)
    conversation = Conversation(
        bot=bot,
        scenario=scenario,
        user_session=user_session[:200],
        current_step=scenario.initial_step if scenario else None,
        token_digest=token_digest(raw_token),
    )
    # Not the foreign keys: their rows were read above in this transaction, and
    # full_clean would query each one's existence again.
    conversation.full_clean(exclude=["token_digest", "bot", "scenario", "current_step"])
    conversation.save()
    return conversation, raw_token


def _check_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationError({"text": "The message is empty."}, code="empty")
    if len(text) > settings.MESSAGE_MAX_LENGTH:
        raise ValidationError(
            {"text": f"The message is longer than {settings.MESSAGE_MAX_LENGTH} characters."},
            code="too_long",
        )
    return text


def _busy() -> ValidationError:
    return ValidationError(
        "The bot is still answering: wait for the reply or stop it first.", code="busy"
    )


async def message_accept(
    *,
    conversation: Conversation,
    text: str,
    admit: Callable[[], Awaitable[None]] | None = None,
) -> tuple[Message, Message]:
    """Accept a visitor message: persist it and the pending reply slot, publish both,
    and start the turn that fills the slot in the background; returns at once.

    `admit` is the caller's policy (rate limits), run after the busy check so a message
    refused as busy is not counted against the conversation's allowance. The check reads
    `conversation.has_active_reply` when the caller read the row with it
    (`selectors.with_active_reply`), else queries. `message_send` checks again under the
    row lock: of two messages sent at once, both may be counted and one still refused.
    """
    busy = getattr(conversation, "has_active_reply", None)
    if busy is None:
        busy = await conversation.messages.filter(status__in=ACTIVE_STATUSES).aexists()
    if busy:
        raise _busy()
    if admit is not None:
        await admit()
    user_message, reply = await sync_to_async(message_send)(conversation=conversation, text=text)
    await events.publish(conversation.pk, events.created(user_message))
    await transitions.publish_created(reply)
    turns.start_turn(conversation.pk, user_message.pk, reply.pk)
    return user_message, reply


@transaction.atomic
def message_send(*, conversation: Conversation, text: str) -> tuple[Message, Message]:
    """Persist the visitor's message and the pending reply slot the turn will fill.

    `message_accept` publishes them and starts the turn after commit; the user message
    is stored before anything else can fail.
    """
    text = _check_text(text)
    # The UPDATE takes the row lock (as SELECT ... FOR UPDATE would; on SQLite, the write
    # lock at once) and touches updated_at in the same statement; no row: deleted since
    # the caller looked it up.
    if not Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now()):
        raise NotFound("Conversation not found.")
    if conversation.messages.filter(status__in=ACTIVE_STATUSES).exists():
        raise _busy()
    user_message = Message.objects.create(
        conversation=conversation, role=MessageRole.USER, content=text, is_read=True
    )
    reply = transitions.reply_slot(conversation=conversation)
    return user_message, reply


def messages_mark_read(
    *, conversation: Conversation, message_ids: Sequence[int] | None = None
) -> int:
    """Mark finished messages read (all of the conversation's, or the given ones)."""
    queryset = conversation.messages.filter(is_read=False).exclude(status__in=ACTIVE_STATUSES)
    if message_ids is not None:
        queryset = queryset.filter(pk__in=message_ids)
    return queryset.update(is_read=True)


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> Conversation:
    """Delete a conversation and its messages; the caller then ends its streams.

    The row is locked first, as `message_send` locks it: a message sent meanwhile is
    either committed before (and deleted with the rest) or finds no conversation.
    """
    pk = conversation.pk
    locked = Conversation.objects.select_for_update().filter(pk=pk).first()
    if locked is None:
        raise NotFound("Conversation not found.")
    locked.delete()
    conversation.pk = pk
    return conversation
