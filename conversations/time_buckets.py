"""The start of a row's hour or day in a time zone, as a database expression.

Postgres (and any backend but SQLite): Django's `TruncHour`/`TruncDay` with the zone
(`date_trunc` over `AT TIME ZONE`), native. SQLite has no time zones: Django's `Trunc`
calls a Python function for every row there (`django_datetime_trunc`), which made the
analytics queries ~8x slower (0.8 s against 0.1 s for 20,000 messages). `SQLiteBucket`
stays in SQLite's C functions instead: the zone's UTC offset is constant between two of
its transitions, so the expression is a CASE over the transitions inside the requested
range (usually none or two a year), each branch `strftime(<truncated format>, column,
'+<offset> minutes')`. It yields the local start as text ('2026-03-02 00:00:00'), which
`bucket_start` turns back into an aware datetime.
"""

from datetime import UTC, datetime, timedelta, tzinfo

from django.db import connection
from django.db.models import CharField, Expression, F
from django.db.models.functions import TruncDay, TruncHour

_FORMATS = {"hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d 00:00:00"}
_TRUNC = {"hour": TruncHour, "day": TruncDay}


def bucket_expression(field: str, kind: str, tz: tzinfo, start: datetime, end: datetime):
    """The bucket of `field` ("hour" or "day") for rows between `start` and `end`."""
    if connection.vendor == "sqlite":
        return SQLiteBucket(field, kind, offsets(tz, start, end))
    return _TRUNC[kind](field, tzinfo=tz)


def bucket_start(value, tz: tzinfo) -> datetime:
    """A bucket value from either expression as an aware datetime."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=tz)
    return value


def offsets(tz: tzinfo, start: datetime, end: datetime) -> list[tuple[datetime | None, int]]:
    """[(from, minutes)]: the zone's UTC offset in minutes from each transition on (the
    first from the range's start: None), found hour by hour, then to the minute."""

    def minutes(moment: datetime) -> int:
        return int(moment.astimezone(tz).utcoffset().total_seconds() // 60)

    found: list[tuple[datetime | None, int]] = [(None, minutes(start))]
    moment = start
    while moment < end:
        step = min(timedelta(hours=1), end - moment)
        if minutes(moment + step) != found[-1][1]:
            low, high = moment, moment + step  # the change is in (low, high]
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if minutes(middle) == found[-1][1] else (low, middle)
            found.append((high, minutes(high)))
        moment += step
    return found


class SQLiteBucket(Expression):
    output_field = CharField()

    def __init__(self, field: str, kind: str, offsets: list[tuple[datetime | None, int]]):
        super().__init__()
        self.source = F(field)
        self.kind = kind
        self.offsets = offsets

    def get_source_expressions(self):
        return [self.source]

    def set_source_expressions(self, exprs):
        (self.source,) = exprs

    def resolve_expression(
        self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False
    ):
        clone = self.copy()
        clone.source = self.source.resolve_expression(
            query, allow_joins, reuse, summarize, for_save
        )
        return clone

    def as_sql(self, compiler, connection):
        column, params = compiler.compile(self.source)
        fmt = _FORMATS[self.kind]

        def shifted(minutes: int):
            return f"strftime(%s, {column}, %s)", [fmt, *params, f"{minutes:+d} minutes"]

        if len(self.offsets) == 1:
            return shifted(self.offsets[0][1])
        sql, values = ["CASE"], []
        for (_, minutes), (until, _) in zip(self.offsets, self.offsets[1:], strict=False):
            branch, branch_params = shifted(minutes)
            # Stored datetimes are UTC text ('YYYY-MM-DD HH:MM:SS[.ffffff]'): they compare
            # as text.
            sql.append(f"WHEN {column} < %s THEN {branch}")
            values += [*params, _utc_text(until), *branch_params]
        branch, branch_params = shifted(self.offsets[-1][1])
        sql.append(f"ELSE {branch} END")
        values += branch_params
        return " ".join(sql), values


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
