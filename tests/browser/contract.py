"""Which issue 16 client features the committed schema.graphql has: the one skip marker
for the browser tests of parts whose server side is built on other branches.

`server/chat_page.py:FEATURES` names the schema members each feature needs; the pages
read them from the running schema, these tests from the committed file, so a test runs
exactly when its feature's server side has been merged (and the schema exported).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema

from server.chat_page import FEATURES, features_of

SCHEMA = Path(__file__).resolve().parents[2] / "schema.graphql"
COMMITTED = features_of(build_schema(SCHEMA.read_text()))


def needs(feature: str) -> pytest.MarkDecorator:
    """Skip unless schema.graphql has every member `feature` needs."""
    members = ", ".join(FEATURES[feature])
    return pytest.mark.skipif(
        feature not in COMMITTED, reason=f"schema.graphql lacks {members} (issue 16)"
    )
