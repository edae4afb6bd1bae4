"""Token budgets: a bot's monthly budget and its cap per conversation.

Usage is what each reply's provider reported (`Message.prompt_tokens` and
`completion_tokens`; estimated from the text, about four characters a token, when the
provider reports none). Each finished reply adds its tokens to its bot's counter row for
the month (`BotTokenUsage`, one atomic UPDATE), so the monthly check reads one row by a
unique index whatever the number of messages; the conversation's own total is a SUM over
its messages (by the conversation index), read only for bots that set a cap.

The check runs before an LLM reply starts (`refusal`), never during one: a reply that
starts under budget finishes, and replies running at once may each start, so a budget
can be overshot by the replies in flight (a soft limit, like any budget read before the
cost is known). Bots with neither limit set cost no query.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from bots.models import Bot
from conversations.models import BotTokenUsage, Conversation, Message
from core import metrics

DEFAULT_MESSAGE = (
    "Sorry, this assistant has reached its usage limit for now. Please try again later."
)


@dataclass(frozen=True)
class Refusal:
    scope: str  # "month" (the bot's monthly budget) or "conversation" (the cap)
    error: str  # Message.error (visitors read it too: no amounts)
    visitor_text: str  # what the visitor reads (the reply's content)


def month_of(now: datetime) -> date:
    """The counter row's month: the first day of `now`'s month in UTC."""
    return now.astimezone(UTC).date().replace(day=1)


def record(*, bot_id: int, tokens: int, now: datetime | None = None) -> None:
    """Add `tokens` to the bot's counter for the month (sync; one UPDATE, and an INSERT
    for the month's first reply)."""
    if tokens <= 0:
        return
    month = month_of(now or timezone.now())
    counter = BotTokenUsage.objects.filter(bot_id=bot_id, month=month)
    if counter.update(tokens=F("tokens") + tokens):
        return
    try:
        with transaction.atomic():
            BotTokenUsage.objects.create(bot_id=bot_id, month=month, tokens=tokens)
    except IntegrityError:  # another reply created the row meanwhile
        counter.update(tokens=F("tokens") + tokens)


def used_this_month(bot_id: int, *, now: datetime | None = None) -> int:
    row = BotTokenUsage.objects.filter(bot_id=bot_id, month=month_of(now or timezone.now()))
    return row.values_list("tokens", flat=True).first() or 0


def month_usage(bot_ref=None, *, now: datetime | None = None) -> Subquery:
    """The tokens of the month for `bot_ref` (default: the outer query's bot), as a
    subquery expression (0 without a row), to annotate bot lists with."""
    rows = BotTokenUsage.objects.filter(
        bot_id=bot_ref if bot_ref is not None else OuterRef("pk"),
        month=month_of(now or timezone.now()),
    )
    return Coalesce(Subquery(rows.values("tokens")[:1]), 0)


def _conversation_usage() -> Subquery:
    totals = (
        Message.objects.filter(conversation_id=OuterRef("pk"))
        .order_by()
        .values("conversation_id")
        .annotate(total=Sum(F("prompt_tokens") + F("completion_tokens")))
        .values("total")[:1]
    )
    return Coalesce(Subquery(totals), 0)


async def refusal(*, conversation_id: int, bot: Bot) -> Refusal | None:
    """Why `bot` may not start another LLM reply in the conversation, else None.

    One query (both totals as subqueries of one SELECT) for a bot with a limit; none
    for a bot without. A refusal is counted in the metrics.
    """
    budget, cap = bot.monthly_token_budget, bot.conversation_token_cap
    if not budget and not cap:
        return None
    annotations = {}
    if budget:
        annotations["month_used"] = month_usage(bot.pk)
    if cap:
        annotations["conversation_used"] = _conversation_usage()
    used = (
        await Conversation.objects.filter(pk=conversation_id)
        .annotate(**annotations)
        .values(*annotations)
        .afirst()
    )
    if used is None:
        return None
    visitor_text = bot.budget_exceeded_message.strip() or DEFAULT_MESSAGE
    found = None
    if budget and used["month_used"] >= budget:
        error = "This bot's monthly token budget is used up."
        found = Refusal("month", error, visitor_text)
    elif cap and used["conversation_used"] >= cap:
        error = "This conversation has used all the tokens it may use."
        found = Refusal("conversation", error, visitor_text)
    if found is not None:
        metrics.count_budget_refusal(bot.pk, found.scope)
    return found
