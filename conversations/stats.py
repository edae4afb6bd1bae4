"""Analytics of one bot per hour or day (`botStats`): computed by the database.

Every figure is an aggregate query grouped by time bucket (the start of its hour or day in
the caller's time zone: `time_buckets.py`); Python only places the grouped rows (at most
a few per bucket) into the bucket list. A fixed number of queries whatever the range (see
`QUERIES`), the same on SQLite and Postgres.

Definitions (README "Analytics"):
- conversations: conversations started in the bucket;
- visitors: of those, distinct non-empty `user_session` labels, plus each conversation
  without a label (an unlabelled visitor cannot be told apart from another);
- messages, tokens in/out (prompt/completion tokens), failures by `error_code`: messages
  created in the bucket (every role);
- feedback up/down: ratings by when they were last given (`Feedback.updated_at`);
- handoffs: handoffs to a human requested in the bucket (`Handoff.requested_at`, from a
  step, the visitor or an operator);
- first-token latency p50/p95: `Message.first_token_ms` of the LLM replies created in the
  bucket, nearest-rank percentiles (the value at rank ceil(p * n) in ascending order),
  ranked by a window function per bucket (no percentile_cont: SQLite has none).
Totals: the same figures over the whole range (visitors and percentiles are computed
over the range, not summed from the buckets).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, F, Q, Sum, Window
from django.db.models.functions import RowNumber

from conversations.models import Conversation, Feedback, Handoff, Message, Rating
from conversations.time_buckets import bucket_expression, bucket_start

# The queries one call runs (besides the caller's visibility check): conversations and
# visitors per bucket, visitors over the range, messages/tokens/failures, feedback,
# handoffs, latency percentiles. Pinned by tests/conversations/test_stats.py.
QUERIES = 6


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class Granularity(StrEnum):
    HOUR = "hour"
    DAY = "day"


_PERCENTILES = {"p50": 50, "p95": 95}


@dataclass
class Bucket:
    start: datetime
    conversations: int = 0
    messages: int = 0
    visitors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    feedback_up: int = 0
    feedback_down: int = 0
    handoffs: int = 0
    first_token_p50_ms: int | None = None
    first_token_p95_ms: int | None = None
    failures: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StatsRange:
    """A checked request: [start, end) in `tz`, bucketed by `granularity`."""

    start: datetime
    end: datetime
    granularity: Granularity
    tz: tzinfo


@dataclass
class BotStats:
    range: StatsRange
    buckets: list[Bucket]
    totals: Bucket


def time_zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            {
                "time_zone": ValidationError(
                    f"Unknown time zone: {name!r}.", code="invalid_time_zone"
                )
            }
        ) from exc


def time_range(*, start: datetime, end: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) checked: aware (naive times are in `tz`), within EARLIEST..LATEST,
    start before end. Field errors (`from`, `to`) with codes otherwise."""
    start, end = (t if t.tzinfo else t.replace(tzinfo=tz) for t in (start, end))
    for name, moment in (("from", start), ("to", end)):
        # Far from year 1 and 9999, so no shift to a time zone overflows.
        if not EARLIEST <= moment <= LATEST:
            error = ValidationError(
                f"Must be between {EARLIEST.year} and {LATEST.year}.", code="out_of_range"
            )
            raise ValidationError({name: error})
    if start >= end:
        raise ValidationError(
            {"to": ValidationError("`to` must be after `from`.", code="invalid_range")}
        )
    return start, end


def stats_range(
    *, start: datetime, end: datetime, granularity: Granularity, time_zone_name: str = "UTC"
) -> StatsRange:
    """Check a request: `time_range`, and at most STATS_MAX_BUCKETS buckets."""
    tz = time_zone(time_zone_name)
    start, end = time_range(start=start, end=end, tz=tz)
    step = timedelta(hours=1) if granularity == Granularity.HOUR else timedelta(days=1)
    limit = settings.STATS_MAX_BUCKETS
    if end - start > step * limit:
        raise ValidationError(
            {
                "to": ValidationError(
                    f"At most {limit} buckets ({granularity.value}s) per request: narrow the "
                    "range or use a coarser granularity.",
                    code="range_too_long",
                )
            }
        )
    return StatsRange(start, end, granularity, tz)


def bucket_starts(r: StatsRange) -> list[datetime]:
    """Every bucket of the range, empty or not, as the database truncates them."""
    local = r.start.astimezone(r.tz)
    starts = []
    if r.granularity == Granularity.DAY:
        day = local.date()
        while (moment := datetime.combine(day, time(), tzinfo=r.tz)) < r.end:
            starts.append(moment)
            day += timedelta(days=1)
        return starts
    moment = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    while moment < r.end:
        starts.append(moment.astimezone(r.tz))
        moment += timedelta(hours=1)
    return starts


def bot_stats(*, bot_id: int, stats: StatsRange) -> BotStats:
    """The figures of one bot over `stats`: one `Bucket` per bucket, and the totals."""

    def trunc(field: str):
        return bucket_expression(field, stats.granularity.value, stats.tz, stats.start, stats.end)

    buckets = {_key(s): Bucket(start=s) for s in bucket_starts(stats)}
    totals = Bucket(start=stats.start)

    def at(value) -> Bucket:
        # Database and Python agree on bucket starts; a DST fold may still map a
        # database bucket to none of ours: count it in the totals only.
        moment = bucket_start(value, stats.tz)
        return buckets.get(_key(moment)) or Bucket(start=moment)

    conversations = Conversation.objects.filter(
        bot_id=bot_id, created_at__gte=stats.start, created_at__lt=stats.end
    ).order_by()
    for row in (
        conversations.annotate(bucket=trunc("created_at"))
        .values("bucket")
        .annotate(conversations=Count("id"), **_visitors())
    ):
        b = at(row["bucket"])
        b.conversations = row["conversations"]
        b.visitors = row["labelled"] + row["unlabelled"]
        totals.conversations += b.conversations
    whole = conversations.aggregate(**_visitors())
    totals.visitors = whole["labelled"] + whole["unlabelled"]

    messages = Message.objects.filter(
        conversation__bot_id=bot_id, created_at__gte=stats.start, created_at__lt=stats.end
    ).order_by()
    # Grouped by bucket and error code: a few rows per bucket (most have code "").
    for row in (
        messages.annotate(bucket=trunc("created_at"))
        .values("bucket", "error_code")
        .annotate(
            n=Count("id"), tokens_in=Sum("prompt_tokens"), tokens_out=Sum("completion_tokens")
        )
    ):
        b = at(row["bucket"])
        for target in (b, totals):
            target.messages += row["n"]
            target.tokens_in += row["tokens_in"] or 0
            target.tokens_out += row["tokens_out"] or 0
            if row["error_code"]:
                code = row["error_code"]
                target.failures[code] = target.failures.get(code, 0) + row["n"]

    for row in (
        Feedback.objects.filter(
            bot_id=bot_id, updated_at__gte=stats.start, updated_at__lt=stats.end
        )
        .order_by()
        .annotate(bucket=trunc("updated_at"))
        .values("bucket")
        .annotate(
            up=Count("id", filter=Q(rating=Rating.UP)),
            down=Count("id", filter=Q(rating=Rating.DOWN)),
        )
    ):
        b = at(row["bucket"])
        b.feedback_up, b.feedback_down = row["up"], row["down"]
        totals.feedback_up += row["up"]
        totals.feedback_down += row["down"]

    for row in (
        Handoff.objects.filter(
            bot_id=bot_id, requested_at__gte=stats.start, requested_at__lt=stats.end
        )
        .order_by()
        .annotate(bucket=trunc("requested_at"))
        .values("bucket")
        .annotate(n=Count("id"))
    ):
        at(row["bucket"]).handoffs = row["n"]
        totals.handoffs += row["n"]

    for row in _latency_ranks(messages, trunc("created_at")):
        b = at(row["bucket"])
        for name, p in _PERCENTILES.items():
            if row["rank"] == _nearest_rank(p, row["count"]):
                setattr(b, f"first_token_{name}_ms", row["first_token_ms"])
            if row["rank_all"] == _nearest_rank(p, row["count_all"]):
                setattr(totals, f"first_token_{name}_ms", row["first_token_ms"])

    return BotStats(range=stats, buckets=list(buckets.values()), totals=totals)


def _key(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _visitors() -> dict:
    return {
        "labelled": Count("user_session", distinct=True, filter=~Q(user_session="")),
        "unlabelled": Count("id", filter=Q(user_session="")),
    }


def _nearest_rank(p: int, n: int) -> int:
    return (p * n + 99) // 100  # ceil(p/100 * n) in integers


def _rank_of(p: int, count):
    """The nearest rank as an SQL expression (integer division on both databases)."""
    return (count * p + 99) / 100


def _latency_ranks(messages, bucket):
    """The rows at the percentile ranks only: per bucket (`rank` of `count`) and over the
    whole range (`rank_all` of `count_all`). The window functions rank every reply in the
    database; at most 2 rows per bucket plus 2 come back."""
    ordered = [F("first_token_ms").asc(), F("id").asc()]
    ranked = messages.filter(first_token_ms__isnull=False).annotate(
        bucket=bucket,
        rank=Window(RowNumber(), partition_by=[bucket], order_by=ordered),
        count=Window(Count("id"), partition_by=[bucket]),
        rank_all=Window(RowNumber(), order_by=ordered),
        count_all=Window(Count("id")),
    )
    wanted = Q()
    for p in _PERCENTILES.values():
        wanted |= Q(rank=_rank_of(p, F("count"))) | Q(rank_all=_rank_of(p, F("count_all")))
    return ranked.filter(wanted).values(
        "bucket", "first_token_ms", "rank", "count", "rank_all", "count_all"
    )
