"""conversations/stats.py: a bot's figures per hour or day, computed by the database in a
fixed number of queries, with nearest-rank latency percentiles."""

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import stats
from conversations.models import (
    Conversation,
    Feedback,
    Handoff,
    HandoffSource,
    Message,
    MessageStatus,
    Rating,
)
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db

DAY1 = datetime(2026, 3, 2, tzinfo=UTC)


def conversation(bot, at: datetime, label: str = "") -> Conversation:
    made = Conversation.objects.create(
        bot=bot, user_session=label, token_digest=f"{random.random()}"
    )
    Conversation.objects.filter(pk=made.pk).update(created_at=at)
    return made


def message(conv, at: datetime, **fields) -> Message:
    made = Message.objects.create(conversation=conv, role=fields.pop("role", "assistant"), **fields)
    Message.objects.filter(pk=made.pk).update(created_at=at)
    return made


def rate(msg: Message, rating: str, at: datetime) -> None:
    made = Feedback.objects.create(message=msg, bot_id=msg.conversation.bot_id, rating=rating)
    Feedback.objects.filter(pk=made.pk).update(updated_at=at)


def compute(bot, start, end, granularity=stats.Granularity.DAY, tz="UTC") -> stats.BotStats:
    checked = stats.stats_range(start=start, end=end, granularity=granularity, time_zone_name=tz)
    return stats.bot_stats(bot_id=bot.pk, stats=checked)


def nearest_rank(values: list[int], p: int) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


def test_each_figure_lands_in_its_day_and_other_bots_and_other_days_do_not_count():
    # given: two days of one bot, and noise around it
    bot, other = BotFactory(), BotFactory()
    a1 = conversation(bot, DAY1 + timedelta(hours=1), "alice")
    a2 = conversation(bot, DAY1 + timedelta(hours=5), "alice")  # the same visitor again
    conversation(bot, DAY1 + timedelta(hours=6), "")  # an unlabelled visitor
    b = conversation(bot, DAY1 + timedelta(days=1, hours=2), "bob")
    message(a1, DAY1 + timedelta(hours=1), role="user", content="hi")
    reply = message(a1, DAY1 + timedelta(hours=1), prompt_tokens=10, completion_tokens=3)
    message(a2, DAY1 + timedelta(hours=5), prompt_tokens=7, completion_tokens=2)
    message(a2, DAY1 + timedelta(hours=6), status=MessageStatus.FAILED, error_code="llm_timeout")
    failed = message(b, DAY1 + timedelta(days=1, hours=3), status="failed", error_code="timeout")
    message(b, DAY1 + timedelta(days=1, hours=4), status="interrupted", error_code="interrupted")
    rate(reply, Rating.UP, DAY1 + timedelta(hours=2))
    rate(failed, Rating.DOWN, DAY1 + timedelta(days=1, hours=5))
    noise = conversation(other, DAY1 + timedelta(hours=1), "carol")
    message(noise, DAY1 + timedelta(hours=1), prompt_tokens=1000)
    before = conversation(bot, DAY1 - timedelta(minutes=1), "dave")
    message(before, DAY1 - timedelta(minutes=1), prompt_tokens=1000)

    # when
    result = compute(bot, DAY1, DAY1 + timedelta(days=3))

    # then
    first, second, third = result.buckets
    assert [b.start for b in result.buckets] == [DAY1 + timedelta(days=d) for d in range(3)]
    assert (first.conversations, first.visitors, first.messages) == (3, 2, 4)
    assert (first.tokens_in, first.tokens_out) == (17, 5)
    assert (first.feedback_up, first.feedback_down) == (1, 0)
    assert first.failures == {"llm_timeout": 1}
    assert (second.conversations, second.visitors, second.messages) == (1, 1, 2)
    assert second.failures == {"timeout": 1, "interrupted": 1}
    assert (second.feedback_up, second.feedback_down) == (0, 1)
    assert third == stats.Bucket(start=third.start)
    totals = result.totals
    assert (totals.conversations, totals.visitors, totals.messages) == (4, 3, 6)
    assert (totals.tokens_in, totals.tokens_out, totals.feedback_up, totals.feedback_down) == (
        17,
        5,
        1,
        1,
    )
    assert totals.failures == {"llm_timeout": 1, "timeout": 1, "interrupted": 1}


def handoff(conv, at: datetime, *, ended: bool = True) -> Handoff:
    return Handoff.objects.create(
        conversation=conv,
        bot_id=conv.bot_id,
        source=HandoffSource.VISITOR,
        requested_at=at,
        timeout_at=at + timedelta(minutes=2),
        ended_at=at + timedelta(minutes=1) if ended else None,
    )


def test_handoffs_count_in_the_bucket_they_were_requested_in():
    bot, other = BotFactory(), BotFactory()
    first, second = conversation(bot, DAY1, "a"), conversation(bot, DAY1, "b")
    handoff(first, DAY1 + timedelta(hours=1))
    handoff(first, DAY1 + timedelta(hours=3))
    handoff(second, DAY1 + timedelta(days=1, hours=2), ended=False)  # still waiting
    handoff(conversation(other, DAY1, "c"), DAY1 + timedelta(hours=1))  # another bot's
    handoff(first, DAY1 - timedelta(minutes=1))  # before the range

    result = compute(bot, DAY1, DAY1 + timedelta(days=3))

    assert [b.handoffs for b in result.buckets] == [2, 1, 0]
    assert result.totals.handoffs == 3


def test_latency_percentiles_are_the_nearest_rank_per_hour_and_over_the_range():
    bot = BotFactory()
    conv = conversation(bot, DAY1, "x")
    rng = random.Random(7)
    first_hour = [rng.randint(50, 5000) for _ in range(37)]
    for value in first_hour:
        message(conv, DAY1 + timedelta(minutes=10), first_token_ms=value)
    message(conv, DAY1 + timedelta(hours=2), first_token_ms=700)
    message(conv, DAY1 + timedelta(hours=2), role="user")  # no latency: not ranked

    result = compute(bot, DAY1, DAY1 + timedelta(hours=4), stats.Granularity.HOUR)

    hours = result.buckets
    assert len(hours) == 4
    assert hours[0].first_token_p50_ms == nearest_rank(first_hour, 50)
    assert hours[0].first_token_p95_ms == nearest_rank(first_hour, 95)
    assert (hours[1].first_token_p50_ms, hours[1].first_token_p95_ms) == (None, None)
    assert (hours[2].first_token_p50_ms, hours[2].first_token_p95_ms) == (700, 700)
    everything = [*first_hour, 700]
    assert result.totals.first_token_p50_ms == nearest_rank(everything, 50)
    assert result.totals.first_token_p95_ms == nearest_rank(everything, 95)


def test_days_start_at_midnight_in_the_requested_time_zone():
    # 23:30 UTC on March 1st is 00:30 on March 2nd in Paris (UTC+1 in winter).
    bot = BotFactory()
    conv = conversation(bot, DAY1 - timedelta(minutes=30), "late")
    message(conv, DAY1 - timedelta(minutes=30))
    paris_start = datetime(2026, 3, 1, 23, tzinfo=UTC)  # Paris midnight, March 2nd

    result = compute(bot, paris_start, paris_start + timedelta(days=2), tz="Europe/Paris")

    assert [b.start.isoformat() for b in result.buckets] == [
        "2026-03-02T00:00:00+01:00",
        "2026-03-03T00:00:00+01:00",
    ]
    assert (result.buckets[0].conversations, result.buckets[0].messages) == (1, 1)
    in_utc = compute(bot, DAY1 - timedelta(days=1), DAY1 + timedelta(days=1))
    assert [b.messages for b in in_utc.buckets] == [1, 0]


@pytest.mark.parametrize("days", [1, 30])
def test_the_number_of_queries_does_not_grow_with_the_range_or_the_rows(days):
    bot = BotFactory()
    for day in range(days):
        conv = conversation(bot, DAY1 + timedelta(days=day), f"v{day}")
        message(conv, DAY1 + timedelta(days=day), first_token_ms=day + 1, error_code="x")
    with CaptureQueriesContext(connection) as queries:
        result = compute(bot, DAY1, DAY1 + timedelta(days=days), stats.Granularity.HOUR)
    assert len(queries) == stats.QUERIES
    assert sum(b.messages for b in result.buckets) == days


@pytest.mark.parametrize(
    ("start", "end", "granularity", "tz", "field", "code"),
    [
        (DAY1, DAY1, "day", "UTC", "to", "invalid_range"),
        (DAY1, DAY1 - timedelta(days=1), "day", "UTC", "to", "invalid_range"),
        (DAY1, DAY1 + timedelta(hours=1001), "hour", "UTC", "to", "range_too_long"),
        (DAY1, DAY1 + timedelta(days=1001), "day", "UTC", "to", "range_too_long"),
        (DAY1, DAY1 + timedelta(days=1), "day", "Mars/Olympus", "time_zone", "invalid_time_zone"),
        (
            DAY1,
            DAY1 + timedelta(days=1),
            "day",
            "../../etc/passwd",
            "time_zone",
            "invalid_time_zone",
        ),
    ],
)
def test_a_bad_range_is_a_field_error_with_a_code(start, end, granularity, tz, field, code):
    with pytest.raises(ValidationError) as caught:
        stats.stats_range(
            start=start, end=end, granularity=stats.Granularity(granularity), time_zone_name=tz
        )
    assert caught.value.error_dict[field][0].code == code


def test_the_largest_range_allowed_is_accepted():
    checked = stats.stats_range(
        start=DAY1, end=DAY1 + timedelta(hours=1000), granularity=stats.Granularity.HOUR
    )
    assert len(stats.bucket_starts(checked)) == 1000


def test_buckets_follow_a_daylight_saving_change_in_hours_and_days():
    # Paris moves from UTC+1 to UTC+2 at 01:00 UTC on 2026-03-29 (02:00 -> 03:00 local).
    bot = BotFactory()
    conv = conversation(bot, datetime(2026, 3, 28, 12, tzinfo=UTC), "dst")
    before = datetime(2026, 3, 29, 0, 59, tzinfo=UTC)  # 01:59 local, UTC+1
    after = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 local, UTC+2
    late = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # 00:30 on March 30th, UTC+2
    for moment in (before, after, late):
        message(conv, moment)
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)  # Paris midnight, March 29th

    end = datetime(2026, 3, 30, 22, tzinfo=UTC)  # Paris midnight, March 31st (UTC+2)
    days = compute(bot, start, end, tz="Europe/Paris")
    hours = compute(bot, start, start + timedelta(hours=6), stats.Granularity.HOUR, "Europe/Paris")

    assert [(b.start.isoformat(), b.messages) for b in days.buckets] == [
        ("2026-03-29T00:00:00+01:00", 2),
        ("2026-03-30T00:00:00+02:00", 1),
    ]
    assert [(b.start.isoformat(), b.messages) for b in hours.buckets] == [
        ("2026-03-29T00:00:00+01:00", 0),
        ("2026-03-29T01:00:00+01:00", 1),
        ("2026-03-29T03:00:00+02:00", 1),
        ("2026-03-29T04:00:00+02:00", 0),
        ("2026-03-29T05:00:00+02:00", 0),
        ("2026-03-29T06:00:00+02:00", 0),
    ]


def test_the_offsets_of_a_zone_change_at_its_transitions_to_the_minute():
    from zoneinfo import ZoneInfo

    from conversations.time_buckets import offsets

    start = datetime(2026, 1, 1, tzinfo=UTC)
    paris = offsets(ZoneInfo("Europe/Paris"), start, start + timedelta(days=365))
    assert paris == [
        (None, 60),
        (datetime(2026, 3, 29, 1, tzinfo=UTC), 120),
        (datetime(2026, 10, 25, 1, tzinfo=UTC), 60),
    ]
    st_johns = offsets(ZoneInfo("America/St_Johns"), start, start + timedelta(days=100))
    assert st_johns == [(None, -210), (datetime(2026, 3, 8, 5, 30, tzinfo=UTC), -150)]
    assert offsets(UTC, start, start + timedelta(days=365)) == [(None, 0)]
