"""Human handoff: a conversation answered by the bot, waiting for a human, or by a human.

States (`Conversation.mode`): BOT → WAITING (requested by a scenario's `handoff` step,
the visitor, or an operator) → HUMAN (an operator claimed it; an operator may also take
a BOT conversation over at once) → BOT again (the operator hands back, or nobody claimed
it within the bot's `handoff_timeout`: the worker's `handoff_timeout` task). While the
mode is not BOT the bot does not answer: visitor messages are stored and reach the
operator through the same event stream.

Every change is one transaction on the locked conversation row that also writes a
notice message (`handoff_mode` set, `author` = who did it, `author_name` = what the
visitor may see) and updates the `Handoff` record; the async wrappers publish the
notice after commit as `MessageCreated`, `MessageCompleted`, `HandoffChanged`, and tell
the operators' inboxes. Because the notice is a row, the replay repeats the change once
(conversations/replay.py).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from bots.models import Bot, BotOperator
from conversations import events, lifecycle
from conversations.models import (
    Conversation,
    ConversationMode,
    Handoff,
    HandoffOutcome,
    HandoffSource,
    Message,
    MessageRole,
    MessageStatus,
)
from conversations.selectors import conversation_for_update
from conversations.texts import check_text
from core import events as domain_events
from core import metrics

INBOX_TYPE = "handoff.inbox"
WAITING_NOTICE = "Waiting for an operator…"
JOINED_NOTICE = "{name} joined the conversation."
HANDED_BACK_NOTICE = "{name} handed the conversation back to the bot."
TIMED_OUT_NOTICE = "No operator is available right now, so the bot carries on."
DEFAULT_OPERATOR_NAME = "Operator"


def inbox_group(bot_id: int) -> str:
    """The channel-layer group of a bot's operator inboxes."""
    return f"handoff.bot.{bot_id}"


@dataclass(frozen=True)
class Change:
    """What one handoff change wrote: its notice (published after commit) and record."""

    conversation: Conversation
    notice: Message
    handoff: Handoff


def _error(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def operator_name(*, bot_id: int, user) -> str:
    """The display name visitors see for `user` on `bot_id`: its operator row's, else
    the user's first name, else "Operator" (never the username)."""
    row = BotOperator.objects.filter(bot_id=bot_id, user_id=user.pk).first()
    if row is not None:
        return row.display_name
    return (user.first_name or DEFAULT_OPERATOR_NAME)[:60]


async def aoperator_name(*, bot_id: int, user_id: int) -> str:
    """`operator_name` from async code, by user id."""
    row = await BotOperator.objects.filter(bot_id=bot_id, user_id=user_id).afirst()
    if row is not None:
        return row.display_name
    user = await get_user_model().objects.filter(pk=user_id).afirst()
    return ((user.first_name if user else "") or DEFAULT_OPERATOR_NAME)[:60]


def _notice(conversation: Conversation, mode: str, text: str, *, user=None, name: str = ""):
    return Message.objects.create(
        conversation=conversation,
        role=MessageRole.SYSTEM,
        content=text,
        status=MessageStatus.COMPLETE,
        handoff_mode=mode,
        author=user,
        author_name=name,
        is_read=True,
    )


def _switch(conversation: Conversation, mode: str, *, operator=None, now: datetime) -> None:
    conversation.mode = mode
    conversation.operator = operator
    Conversation.objects.filter(pk=conversation.pk).update(
        mode=mode,
        operator=operator,
        updated_at=now,
        expires_at=lifecycle.expiry_after(conversation.bot, now),
    )


def _open_handoff(conversation: Conversation) -> Handoff | None:
    return conversation.handoffs.filter(ended_at__isnull=True).first()


def _start(conversation: Conversation, *, source: str, user, now: datetime) -> Handoff:
    bot: Bot = conversation.bot
    handoff = Handoff.objects.create(
        conversation=conversation,
        bot=bot,
        source=source,
        requested_by=user if user is not None and user.is_authenticated else None,
        requested_at=now,
        timeout_at=now + timedelta(seconds=bot.handoff_timeout),
    )
    domain_events.emit(
        domain_events.HANDOFF_REQUESTED,
        bot_id=bot.pk,
        payload={
            "conversation_id": str(conversation.pk),
            "handoff_id": str(handoff.pk),
            "source": source,
            "requested_at": now.isoformat(),
        },
    )
    transaction.on_commit(lambda: metrics.count_handoff(bot.pk))
    return handoff


@transaction.atomic
def handoff_request(*, conversation: Conversation, source: str, user=None) -> Change:
    """Ask for a human: the conversation waits for an operator (the bot stops answering)
    until one claims it or the bot's `handoff_timeout` passes. The bot must allow
    handoffs (`handoff_enabled`); a conversation already waiting or with a human is
    refused (code handoff_active). A scenario's `handoff` step needs no `handoff_enabled`:
    the owner put it there."""
    locked = conversation_for_update(conversation.pk)
    now = timezone.now()
    lifecycle.ensure_open_locked(locked, now=now)
    if source != HandoffSource.STEP and not locked.bot.handoff_enabled:
        raise _error("This bot does not hand conversations over to humans.", "handoff_unavailable")
    if locked.mode != ConversationMode.BOT:
        raise _error("A human is already requested or answering.", "handoff_active")
    handoff = _start(locked, source=source, user=user, now=now)
    _switch(locked, ConversationMode.WAITING, now=now)
    notice = _notice(locked, ConversationMode.WAITING, WAITING_NOTICE, user=handoff.requested_by)
    handoff_id = handoff.pk
    transaction.on_commit(lambda: schedule_timeout(handoff_id, handoff.timeout_at))
    return Change(locked, notice, handoff)


@transaction.atomic
def conversation_claim(*, conversation: Conversation, user) -> Change:
    """An operator takes the conversation: a waiting one, or one the bot answers (an
    operator's own handoff, claimed at once). Refused when another operator has it
    (code handoff_claimed)."""
    locked = conversation_for_update(conversation.pk)
    now = timezone.now()
    lifecycle.ensure_open_locked(locked, now=now)
    if locked.mode == ConversationMode.HUMAN:
        if locked.operator_id == user.pk:
            raise _error("You are already answering this conversation.", "handoff_claimed")
        raise _error("Another operator is answering this conversation.", "handoff_claimed")
    handoff = _open_handoff(locked)
    if handoff is None:
        handoff = _start(locked, source=HandoffSource.OPERATOR, user=user, now=now)
    handoff.operator = user
    handoff.claimed_at = now
    handoff.save(update_fields=["operator", "claimed_at"])
    name = operator_name(bot_id=locked.bot_id, user=user)
    _switch(locked, ConversationMode.HUMAN, operator=user, now=now)
    notice = _notice(
        locked, ConversationMode.HUMAN, JOINED_NOTICE.format(name=name), user=user, name=name
    )
    wait, bot_id = handoff.wait_seconds, locked.bot_id
    transaction.on_commit(lambda: metrics.observe_handoff_wait(bot_id, wait))
    return Change(locked, notice, handoff)


def _assigned(locked: Conversation, user) -> None:
    if locked.mode != ConversationMode.HUMAN:
        raise _error("No human is answering this conversation: claim it first.", "not_claimed")
    if locked.operator_id != user.pk:
        raise _error("Another operator is answering this conversation.", "handoff_claimed")


@transaction.atomic
def operator_message_send(*, conversation: Conversation, user, text: str) -> Message:
    """A message from the operator answering the conversation (role OPERATOR, shown
    with the operator's display name)."""
    text = check_text(text)
    locked = conversation_for_update(conversation.pk)
    _assigned(locked, user)
    now = timezone.now()
    _switch(locked, ConversationMode.HUMAN, operator=user, now=now)  # touches the expiry
    return Message.objects.create(
        conversation=locked,
        role=MessageRole.OPERATOR,
        content=text,
        status=MessageStatus.COMPLETE,
        author=user,
        author_name=operator_name(bot_id=locked.bot_id, user=user),
    )


@transaction.atomic
def handoff_end(*, conversation: Conversation, user) -> Change:
    """The operator hands the conversation back: the bot answers the next visitor
    message again (the scenario goes on after its handoff step, or free chat)."""
    locked = conversation_for_update(conversation.pk)
    _assigned(locked, user)
    now = timezone.now()
    handoff = _open_handoff(locked)
    if handoff is not None:
        handoff.ended_at = now
        handoff.outcome = HandoffOutcome.HANDED_BACK
        handoff.save(update_fields=["ended_at", "outcome"])
    name = operator_name(bot_id=locked.bot_id, user=user)
    _switch(locked, ConversationMode.BOT, now=now)
    text = HANDED_BACK_NOTICE.format(name=name)
    notice = _notice(locked, ConversationMode.BOT, text, user=user, name=name)
    return Change(locked, notice, handoff)


@transaction.atomic
def handoff_time_out(*, handoff_id: int, now: datetime | None = None) -> Change | None:
    """Nobody claimed handoff `handoff_id` in time: the bot says so and carries on.
    None when it was claimed or ended meanwhile, or is not due yet."""
    now = now or timezone.now()
    handoff = Handoff.objects.filter(pk=handoff_id, ended_at__isnull=True).first()
    if handoff is None or handoff.claimed_at is not None or handoff.timeout_at > now:
        return None
    locked = conversation_for_update(handoff.conversation_id)
    handoff = Handoff.objects.select_for_update().get(pk=handoff_id)
    if handoff.ended_at is not None or handoff.claimed_at is not None:
        return None
    handoff.ended_at = now
    if locked.closed_at is not None:  # expired or reset meanwhile: nobody to tell
        handoff.outcome = HandoffOutcome.CLOSED
        handoff.save(update_fields=["ended_at", "outcome"])
        return None
    handoff.outcome = HandoffOutcome.TIMED_OUT
    handoff.save(update_fields=["ended_at", "outcome"])
    _switch(locked, ConversationMode.BOT, now=now)
    notice = _notice(locked, ConversationMode.BOT, TIMED_OUT_NOTICE)
    bot_id = locked.bot_id
    transaction.on_commit(lambda: metrics.count_handoff_timeout(bot_id))
    return Change(locked, notice, handoff)


@task()
def handoff_timeout(handoff_id: int) -> bool:
    """On the task queue, due at the handoff's `timeout_at`: if nobody claimed it, the
    bot says so and answers again. True if it timed out now."""
    change = handoff_time_out(handoff_id=handoff_id)
    if change is None:
        return False
    async_to_sync(publish)(change)
    return True


def schedule_timeout(handoff_id: int, due: datetime) -> None:
    """Enqueue the timeout check on the task queue, due at `due`."""
    handoff_timeout.using(run_after=due).enqueue(handoff_id)


async def publish(change: Change) -> None:
    """Tell the conversation's subscribers (the notice, then the change) and the bot's
    operator inboxes; after the change's transaction committed."""
    notice = change.notice
    conversation_id = change.conversation.pk
    await events.publish(conversation_id, events.created(notice))
    await events.publish(conversation_id, events.finished(notice))
    await events.publish(conversation_id, events.handoff_changed(notice))
    await notify_inbox(change.conversation.bot_id)


async def publish_message(message: Message) -> None:
    await events.publish(message.conversation_id, events.created(message))
    await events.publish(message.conversation_id, events.finished(message))


async def notify_inbox(bot_id: int) -> None:
    """Ask the bot's operator inboxes to read their list again."""
    try:
        await get_channel_layer().group_send(
            inbox_group(bot_id), {"type": INBOX_TYPE, "bot_id": bot_id}
        )
    except Exception:  # the inbox re-reads on its own schedule too
        return


async def arequest(*, conversation: Conversation, source: str, user=None) -> Change:
    change = await sync_to_async(handoff_request)(
        conversation=conversation, source=source, user=user
    )
    await publish(change)
    return change
