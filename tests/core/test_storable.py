"""One definition of storable text, for the boundary (refuse) and the engine (repair)."""

import pytest

from core.storable import is_storable, storable_json, storable_text, unstorable_reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("plain, accents: é, emoji: 😀", None),
        ("a\x00b", "nul_character"),
        ("a\ud800b", "lone_surrogate"),
        ("\udfff", "lone_surrogate"),
    ],
)
def test_nul_and_lone_surrogates_are_unstorable_with_their_reason(text, reason):
    assert unstorable_reason(text) == reason
    assert is_storable(text) is (reason is None)


def test_engine_output_is_repaired_instead_nul_dropped_surrogates_replaced():
    assert storable_text("a\x00b\ud800c") == "ab\ufffdc"
    assert storable_json({"k\x00": ["\ud800", 1, {"x": "y\x00"}]}) == {
        "k": ["\ufffd", 1, {"x": "y"}]
    }
    assert is_storable(storable_text("\x00\udfff"))
