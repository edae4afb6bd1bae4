"""`botStats`: a bot's analytics per hour or day (conversations/stats.py computes them)."""

from datetime import datetime
from enum import Enum

import strawberry
from asgiref.sync import sync_to_async
from strawberry import relay

from bots import models as bot_models
from bots.selectors import bot_list
from conversations import stats
from core.exceptions import NotFound
from schema.bots.types import Bot
from schema.common import pk_from_global_id
from schema.context import Info
from schema.errors import graphql_errors


@strawberry.enum(name="StatsGranularity")
class StatsGranularity(Enum):
    HOUR = "hour"
    DAY = "day"


@strawberry.input
class BotStatsInput:
    bot_id: relay.GlobalID
    from_: datetime = strawberry.field(
        name="from", description="Start of the range (included); without an offset: in timeZone."
    )
    to: datetime = strawberry.field(description="End of the range (excluded).")
    granularity: StatsGranularity = StatsGranularity.DAY
    time_zone: str = strawberry.field(
        default="UTC", description="IANA name (Europe/Paris): where hours and days start."
    )


@strawberry.type
class FailureCount:
    code: str
    count: int


@strawberry.type(description="The figures of one hour or day (or of the whole range).")
class StatsBucket:
    start: datetime
    conversations: int = strawberry.field(description="Conversations started.")
    messages: int = strawberry.field(description="Messages created (every role).")
    visitors: int = strawberry.field(
        description="Distinct visitors among the conversations started: distinct non-empty "
        "userSession labels, plus each conversation without a label."
    )
    tokens_in: int = strawberry.field(description="Prompt tokens of the replies.")
    tokens_out: int = strawberry.field(description="Completion tokens of the replies.")
    feedback_up: int = strawberry.field(description="Ratings UP given (last changed) then.")
    feedback_down: int
    handoffs: int = strawberry.field(description="Handoffs to a human requested.")
    first_token_p50_ms: int | None = strawberry.field(
        description="Median wait for an LLM reply's first text, from the reply's creation; "
        "null without LLM replies."
    )
    first_token_p95_ms: int | None
    failures: list[FailureCount] = strawberry.field(
        description="Messages with an error code (failed, interrupted), by code."
    )

    @classmethod
    def of(cls, bucket: stats.Bucket) -> "StatsBucket":
        failures = [FailureCount(code=c, count=n) for c, n in sorted(bucket.failures.items())]
        return cls(
            start=bucket.start,
            conversations=bucket.conversations,
            messages=bucket.messages,
            visitors=bucket.visitors,
            tokens_in=bucket.tokens_in,
            tokens_out=bucket.tokens_out,
            feedback_up=bucket.feedback_up,
            feedback_down=bucket.feedback_down,
            handoffs=bucket.handoffs,
            first_token_p50_ms=bucket.first_token_p50_ms,
            first_token_p95_ms=bucket.first_token_p95_ms,
            failures=failures,
        )


@strawberry.type
class BotStats:
    bot: Bot
    from_: datetime = strawberry.field(name="from")
    to: datetime
    granularity: StatsGranularity
    time_zone: str
    buckets: list[StatsBucket] = strawberry.field(
        description="Every hour or day of the range in order, empty ones included."
    )
    totals: StatsBucket = strawberry.field(
        description="The whole range (visitors and percentiles over the range, not summed)."
    )


@strawberry.type
class StatsQuery:
    @strawberry.field(
        description="A bot's analytics per hour or day: its owner or staff only. Errors: "
        "INVALID_ID, NOT_FOUND, INVALID_RANGE, RANGE_TOO_LONG, OUT_OF_RANGE, INVALID_TIME_ZONE, "
        "UNAUTHENTICATED."
    )
    async def bot_stats(self, info: Info, input: BotStatsInput) -> BotStats:
        with graphql_errors():
            info.context.get_user(required=True)
            pk = pk_from_global_id(input.bot_id, "Bot", field="botId")
            checked = stats.stats_range(
                start=input.from_,
                end=input.to,
                granularity=stats.Granularity(input.granularity.value),
                time_zone_name=input.time_zone,
            )
            bot = await bot_list(user=info.context.user).filter(pk=pk).afirst()
            if bot is None:
                raise NotFound("No such bot, or not yours.")
            # The aggregates run in the database; the loop only waits for them.
            result = await sync_to_async(stats.bot_stats)(bot_id=bot.pk, stats=checked)
        return _to_graphql(bot, result, input)


def _to_graphql(bot: bot_models.Bot, result: stats.BotStats, input: BotStatsInput) -> BotStats:
    return BotStats(
        bot=bot,  # type: ignore[arg-type]
        from_=result.range.start,
        to=result.range.end,
        granularity=input.granularity,
        time_zone=input.time_zone,
        buckets=[StatsBucket.of(b) for b in result.buckets],
        totals=StatsBucket.of(result.totals),
    )
