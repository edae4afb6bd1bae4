"""overrides/prepared.py: a prepared query returns what its queryset returns, with the
call's values, on SQLite and Postgres alike."""

from datetime import timedelta

import pytest
from django.db.models import Exists, OuterRef
from django.utils import timezone

from conversations.models import Conversation, Message, MessageStatus
from overrides.prepared import PreparedQuery, PreparedUpdate
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db


def _conversation(bot, digest: str) -> Conversation:
    return Conversation.objects.create(bot=bot, token_digest=digest, variables={"d": digest[0]})


def _with_busy(digest):
    active = Message.objects.filter(conversation_id=OuterRef("pk"), status=MessageStatus.PENDING)
    return (
        Conversation.objects.filter(token_digest=digest)
        .annotate(busy=Exists(active))
        .select_related("bot")
        .order_by()
    )


def test_a_prepared_query_returns_the_rows_of_its_queryset_for_each_calls_values():
    bot = BotFactory(name="Ada")
    first, second = _conversation(bot, "a" * 64), _conversation(bot, "b" * 64)
    Message.objects.create(conversation=second, role="assistant", status=MessageStatus.PENDING)
    prepared = PreparedQuery(_with_busy, strs=("digest",))

    for conversation, busy in ((first, False), (second, True), (first, False)):
        (row,) = prepared.fetch(digest=conversation.token_digest)
        expected = _with_busy(conversation.token_digest).get()
        assert (row.pk, row.busy, row.bot.name) == (expected.pk, expected.busy, "Ada")
        assert row.busy is busy
        # Every column converted as the queryset converts it, call after call (the
        # converters are worked out once per connection): datetimes, JSON.
        for field in Conversation._meta.concrete_fields:
            assert getattr(row, field.attname) == getattr(expected, field.attname), field.name
        assert row.created_at.tzinfo is not None and row.variables == {"d": "b" if busy else "a"}
    assert prepared.fetch(digest="c" * 64) == []


def test_integer_parameters_and_in_lists_are_bound_in_place():
    bot = BotFactory()
    conversation = _conversation(bot, "d" * 64)
    messages = [
        Message.objects.create(conversation=conversation, role="user", content=f"m{i}")
        for i in range(4)
    ]
    prepared = PreparedQuery(
        lambda a, b: Message.objects.filter(pk__in=(a, b)).order_by("pk"), ints=("a", "b")
    )

    rows = prepared.fetch(a=messages[3].pk, b=messages[1].pk)

    assert [m.content for m in rows] == ["m1", "m3"]
    assert prepared.first(a=messages[0].pk, b=messages[0].pk).content == "m0"


def test_a_prepared_update_prepares_each_calls_values_like_update_does():
    bot = BotFactory()
    conversation = _conversation(bot, "e" * 64)
    closed = _conversation(bot, "f" * 64)
    Conversation.objects.filter(pk=closed.pk).update(closed_at=timezone.now())
    update = PreparedUpdate(
        lambda pk: Conversation.objects.filter(pk=pk, closed_at__isnull=True),
        ints=("pk",),
        sets=("expires_at", "variables"),
    )
    later = timezone.now() + timedelta(hours=1)

    assert update.run(pk=conversation.pk, expires_at=later, variables={"name": "Ada"}) == 1
    assert update.run(pk=closed.pk, expires_at=later, variables={}) == 0

    conversation.refresh_from_db()
    assert conversation.expires_at == later
    assert conversation.variables == {"name": "Ada"}
    assert update.run(pk=conversation.pk, expires_at=None, variables={}) == 1
    conversation.refresh_from_db()
    assert conversation.expires_at is None


def test_a_build_whose_parameter_django_transforms_is_refused():
    # The build computes with its parameter: the marker never reaches the SQL as
    # itself, so binding the call's value there would be wrong.
    prepared = PreparedQuery(lambda pk: Conversation.objects.filter(pk=pk + 1), ints=("pk",))

    with pytest.raises(ValueError, match="did not reach the SQL unchanged"):
        prepared.fetch(pk=1)
