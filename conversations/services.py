"""Writes of the chat runtime: start conversations, accept messages, stop, rate, mark read."""

import contextlib
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from bots.models import Bot, Scenario, StepType
from bots.selectors import bot_list
from bots.start_inputs import start_variables
from conversations import events, handoff, lifecycle, transitions, turns
from conversations.models import (
    ACTIVE_STATUSES,
    Conversation,
    ConversationMode,
    Feedback,
    Message,
    MessageRole,
    MessageStatus,
)
from conversations.selectors import conversation_for_update, reply_state_of
from conversations.texts import check_text as _check_text
from core import events as domain_events
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
    *,
    user,
    bot_id: int,
    scenario_id: int | None = None,
    user_session: str = "",
    variables: object = None,
) -> tuple[Conversation, str]:
    """Open a conversation; returns it and its chat token (shown once, stored hashed).

    `variables` are checked against the bot's start inputs (bots.start_inputs) and
    become the conversation's first variables.
    """
    bot = _startable_bot(user=user, bot_id=bot_id)
    scenario = _scenario_for(user=user, bot=bot, scenario_id=scenario_id)
    initial = _within_variables_cap(start_variables(bot.start_inputs, variables))
    return _open(bot=bot, scenario=scenario, user_session=user_session, variables=initial)


def _open(
    *, bot: Bot, scenario: Scenario | None, user_session: str, variables: dict
) -> tuple[Conversation, str]:
    raw_token = "chat_" + secrets.token_urlsafe(32)
    conversation = Conversation(
        bot=bot,
        scenario=scenario,
        variables=variables,
        user_session=user_session[:200],
        current_step=scenario.initial_step if scenario else None,
        token_digest=token_digest(raw_token),
        expires_at=lifecycle.expiry_after(bot, timezone.now()),
    )
    # Not the foreign keys: their rows were read above in this transaction, and
    # full_clean would query each one's existence again.
    conversation.full_clean(exclude=["token_digest", "bot", "scenario", "current_step"])
    conversation.save()
    domain_events.emit(
        domain_events.CONVERSATION_STARTED,
        bot_id=bot.pk,
        payload={
            "conversation_id": str(conversation.pk),
            "scenario_id": str(scenario.pk) if scenario else None,
            "user_session": conversation.user_session,
            "variables": variables,
            "started_at": conversation.created_at.isoformat(),
        },
    )
    return conversation, raw_token


def _within_variables_cap(variables: dict) -> dict:
    """Start values that fit the conversation's variables (CONVERSATION_VARIABLES_MAX_BYTES
    of JSON, the cap the scenario engine keeps too)."""
    limit = settings.CONVERSATION_VARIABLES_MAX_BYTES
    if len(json.dumps(variables)) > limit:
        message = f"variables: larger than {limit} bytes of JSON together"
        raise ValidationError({"variables": ValidationError(message, code="too_long")})
    return variables


@transaction.atomic
def conversation_reset(*, user, conversation: Conversation) -> tuple[Conversation, str]:
    """A fresh conversation (new chat token) on the same bot, scenario and user session,
    for a visitor whose conversation expired or who starts over; the old one is closed
    unless a reply of it is still in progress (it then expires on its own).

    The bot must still be startable (active, for visitors); the scenario is kept only
    while it is still the bot's (and active, for visitors), else the bot's active one.
    """
    bot = _startable_bot(user=user, bot_id=conversation.bot_id)
    scenario = None
    if conversation.scenario_id is not None:
        with contextlib.suppress(ValidationError):
            scenario = _scenario_for(user=user, bot=bot, scenario_id=conversation.scenario_id)
    if scenario is None:
        scenario = _scenario_for(user=user, bot=bot, scenario_id=None)
    # The visitor's start values carry over (collected variables do not).
    declared = {spec.get("name") for spec in bot.start_inputs}
    carried = {k: v for k, v in conversation.variables.items() if k in declared}
    lifecycle.close(conversation)
    return _open(
        bot=bot, scenario=scenario, user_session=conversation.user_session, variables=carried
    )


def _busy() -> ValidationError:
    return ValidationError(
        "The bot is still answering: wait for the reply or stop it first.", code="busy"
    )


async def message_accept(
    *,
    conversation: Conversation,
    text: str,
    admit: Callable[[], Awaitable[None]] | None = None,
) -> tuple[Message, Message | None]:
    """Accept a visitor message: persist it and the pending reply slot, publish both,
    and start the turn that fills the slot in the background; returns at once. While
    the conversation is handed off to a human (mode not BOT) there is no reply slot and
    no turn: the message waits for the operator (reply None).

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
    await lifecycle.ensure_open(conversation)
    if admit is not None:
        await admit()
    user_message, reply = await sync_to_async(message_send)(conversation=conversation, text=text)
    await events.publish(conversation.pk, events.created(user_message))
    if reply is None:  # a human answers, or is awaited: no turn (conversations.handoff)
        await events.publish(conversation.pk, events.finished(user_message))
        await events.publish(conversation.pk, events.TurnDone(conversation.pk, user_message.pk))
        await handoff.notify_inbox(conversation.bot_id)
        return user_message, None
    await transitions.publish_created(reply)
    turns.start_turn(conversation.pk, user_message.pk, reply.pk)
    return user_message, reply


@transaction.atomic
def message_send(*, conversation: Conversation, text: str) -> tuple[Message, Message | None]:
    """Persist the visitor's message and the pending reply slot the turn will fill.

    `message_accept` publishes them and starts the turn after commit; the user message
    is stored before anything else can fail.
    """
    text = _check_text(text)
    # The UPDATE takes the row lock (as SELECT ... FOR UPDATE would; on SQLite, the write
    # lock at once) and touches updated_at and the inactivity deadline in the same
    # statement (undone with the transaction if the message is refused below). No row:
    # deleted, or closed by the expiry sweep, since the caller looked it up.
    now = timezone.now()
    if not lifecycle.extend(conversation, conversation.bot, now=now):
        if Conversation.objects.filter(pk=conversation.pk).exists():
            raise lifecycle.refused()
        raise NotFound("Conversation not found.")
    # One read under the lock: is a reply in progress, and who answers (a handoff may
    # have started since the caller read the row).
    is_busy, mode = reply_state_of(conversation.pk) or (False, ConversationMode.BOT)
    if is_busy:
        raise _busy()
    lifecycle.ensure_open_locked(conversation, now=now)
    user_message = Message.objects.create(
        conversation=conversation, role=MessageRole.USER, content=text, is_read=True
    )
    if mode != ConversationMode.BOT:
        return user_message, None
    reply = transitions.reply_slot(conversation=conversation)
    return user_message, reply


async def reply_regenerate_accept(
    *,
    conversation: Conversation,
    message: Message,
    admit: Callable[[], Awaitable[None]] | None = None,
) -> Message:
    """Generate the conversation's last reply again, as a new version of it: persist the
    pending version, publish it (its `replaces_id` tells clients which message it
    supersedes) and start its generation in the background; returns at once.

    `admit` is the caller's policy, run after the busy check as in `message_accept`.
    """
    if await conversation.messages.filter(status__in=ACTIVE_STATUSES).aexists():
        raise _busy()
    await lifecycle.ensure_open(conversation)
    if admit is not None:
        await admit()
    user_message_id, reply = await sync_to_async(reply_regenerate)(
        conversation=conversation, message_id=message.pk
    )
    await transitions.publish_created(reply)
    turns.start_turn(conversation.pk, user_message_id, reply.pk, regenerate=True)
    return reply


def _not_regenerable(message: str) -> ValidationError:
    return ValidationError({"message_id": ValidationError(message, code="invalid")})


@transaction.atomic
def reply_regenerate(*, conversation: Conversation, message_id: int) -> tuple[int, Message]:
    """Persist a pending new version of reply `message_id`; returns the id of the visitor
    message it answers, and the version. Only the conversation's last message, a bot
    reply from free chat or an `llm` step, may be regenerated: a scripted step's text
    would come out the same. Earlier versions are kept."""
    conversation = conversation_for_update(conversation.pk)
    if conversation.messages.filter(status__in=ACTIVE_STATUSES).exists():
        raise _busy()
    now = timezone.now()
    lifecycle.ensure_open_locked(conversation, now=now)
    if conversation.mode != ConversationMode.BOT:
        raise ValidationError("A human answers this conversation now.", code="handoff_active")
    message = conversation.messages.select_related("step").filter(pk=message_id).first()
    if message is None:
        raise NotFound("Message not found.")
    if message.role != MessageRole.ASSISTANT:
        raise _not_regenerable("Only the bot's replies can be regenerated.")
    if conversation.messages.filter(pk__gt=message.pk).exists():
        raise _not_regenerable("Only the conversation's last reply can be regenerated.")
    if message.step is not None and message.step.step_type != StepType.LLM:
        raise _not_regenerable("A scripted step's reply is fixed text: it cannot be regenerated.")
    if message.version >= settings.REGENERATE_MAX_VERSIONS:
        raise _not_regenerable(
            f"This reply has {settings.REGENERATE_MAX_VERSIONS} versions already."
        )
    user_message_id = (
        conversation.messages.filter(pk__lt=message.pk, role=MessageRole.USER)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if user_message_id is None:
        raise _not_regenerable("This reply answers no visitor message.")
    reply = Message.objects.create(
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        status=MessageStatus.PENDING,
        step_id=message.step_id,
        version=message.version + 1,
        replaces=message,
        original_id=message.original_id or message.pk,
    )
    # Superseded: listed nowhere as unread (Conversation.unreadCount counts every row).
    Message.objects.filter(pk=message.pk).update(is_read=True)
    Conversation.objects.filter(pk=conversation.pk).update(
        updated_at=now, expires_at=lifecycle.expiry_after(conversation.bot, now)
    )
    return user_message_id, reply


@transaction.atomic
def message_rate(*, message: Message, rating: str | None, comment: str | None = None) -> Message:
    """Record the visitor's rating of a finished bot reply, change it, or (rating None)
    revoke it. A comment of None keeps the current one; "" clears it."""
    locked = Message.objects.select_for_update().filter(pk=message.pk).first()
    if locked is None:
        raise NotFound("Message not found.")
    if locked.role != MessageRole.ASSISTANT:
        message_error = ValidationError("Only the bot's replies can be rated.", code="invalid")
        raise ValidationError({"message_id": message_error})
    if not locked.is_terminal:
        raise ValidationError(
            "The reply is still being generated: rate it once it is done.", code="busy"
        )
    if rating is None:
        Feedback.objects.filter(message=locked).delete()
        return locked
    feedback = Feedback.objects.filter(message=locked).first() or Feedback(
        message=locked, bot_id=locked.conversation.bot_id
    )
    feedback.rating = rating
    if comment is not None:
        feedback.comment = _check_comment(comment)
    feedback.save()
    domain_events.emit(
        domain_events.FEEDBACK_GIVEN,
        bot_id=feedback.bot_id,
        payload={
            "conversation_id": str(locked.conversation_id),
            "message_id": str(locked.pk),
            "rating": feedback.rating,
            "comment": feedback.comment,
            "rated_at": feedback.updated_at.isoformat(),
        },
    )
    return locked


def _check_comment(comment: str) -> str:
    comment = comment.strip()
    if len(comment) > settings.FEEDBACK_COMMENT_MAX_LENGTH:
        limit = settings.FEEDBACK_COMMENT_MAX_LENGTH
        too_long = ValidationError(
            f"The comment is longer than {limit} characters.", code="too_long"
        )
        raise ValidationError({"comment": too_long})
    return comment


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
    conversation_for_update(pk).delete()
    conversation.pk = pk
    return conversation
