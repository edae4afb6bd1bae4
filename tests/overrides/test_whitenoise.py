"""overrides/whitenoise.py is WhiteNoiseMiddleware.__call__ made async: pin the upstream
call and what it calls (whitenoise 6.12.0)."""

from whitenoise.middleware import WhiteNoiseMiddleware

from tests.overrides.upstream import changed

PINNED = {
    "WhiteNoiseMiddleware.__call__": (WhiteNoiseMiddleware.__call__, "538b06958308b801"),
    "WhiteNoiseMiddleware.find_file": (WhiteNoiseMiddleware.find_file, "f338d02358b615c5"),
    "WhiteNoiseMiddleware.serve": (WhiteNoiseMiddleware.serve, "5858d32edfbb9db2"),
}


def test_upstream_call_is_the_one_the_override_was_written_against():
    assert changed(PINNED) == []


def test_upstream_middleware_is_still_sync_only():
    # Once WhiteNoise serves async requests itself, the override can go. Django reads a
    # missing async_capable as False.
    assert getattr(WhiteNoiseMiddleware, "async_capable", False) is False
