import pytest
from django.db import transaction

from core import events


@pytest.fixture
def received():
    seen: list[events.Event] = []
    events.listen(seen.append)
    yield seen
    events._listeners.remove(seen.append)


@pytest.mark.django_db(transaction=True)
def test_an_event_reaches_listeners_only_after_its_transaction_commits(received):
    with transaction.atomic():
        events.emit(events.FEEDBACK_GIVEN, bot_id=7, payload={"rating": "up"})
        assert received == []
    assert received == [events.Event(events.FEEDBACK_GIVEN, 7, {"rating": "up"})]


@pytest.mark.django_db(transaction=True)
def test_an_event_of_a_rolled_back_transaction_is_never_announced(received):
    with pytest.raises(RuntimeError), transaction.atomic():
        events.emit(events.CONVERSATION_STARTED, bot_id=1, payload={})
        raise RuntimeError("rolled back")
    assert received == []


def test_an_unknown_event_name_is_refused():
    with pytest.raises(ValueError, match="unknown event"):
        events.emit("conversation.exploded", bot_id=1, payload={})
