"""The committed schema.graphql is the contract frontends generate code from."""

from pathlib import Path

from django.conf import settings
from strawberry.printer import print_schema

from schema import schema

SCHEMA_FILE = Path(settings.BASE_DIR) / "schema.graphql"
REGENERATE = ".venv/bin/python manage.py export_schema schema --path schema.graphql"


def test_committed_schema_matches_the_code():
    committed = SCHEMA_FILE.read_text()
    assert print_schema(schema).strip() == committed.strip(), (
        f"schema.graphql is out of date with the code: regenerate it with `{REGENERATE}` "
        "and commit the diff (review it: frontends depend on every name in it)."
    )
