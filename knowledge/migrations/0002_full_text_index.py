"""The full-text index of chunks, in each database's own way.

Postgres: a GIN index on Chunk.search_vector (the indexing task writes the tsvector).
SQLite: an FTS5 table (porter stemmer) whose rowid is the chunk's id, kept in sync with
knowledge_chunk by triggers, so cascaded deletes (a document's, a bot's) leave nothing
behind. Django's SQLite ids are AUTOINCREMENT: a rowid is never reused.

A later migration that makes SQLite remake knowledge_chunk (most field changes do: a new
table is copied and renamed) drops these triggers with the old table: run SQLITE_CREATE's
triggers again after it.
"""

from django.db import migrations

SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE knowledge_chunk_fts USING fts5("
    "heading, text, bot_id UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER knowledge_chunk_fts_insert AFTER INSERT ON knowledge_chunk BEGIN "
    "INSERT INTO knowledge_chunk_fts (rowid, heading, text, bot_id) "
    "VALUES (new.id, new.heading, new.text, new.bot_id); END",
    "CREATE TRIGGER knowledge_chunk_fts_delete AFTER DELETE ON knowledge_chunk BEGIN "
    "DELETE FROM knowledge_chunk_fts WHERE rowid = old.id; END",
    "CREATE TRIGGER knowledge_chunk_fts_update AFTER UPDATE OF heading, text, bot_id "
    "ON knowledge_chunk BEGIN "
    "DELETE FROM knowledge_chunk_fts WHERE rowid = old.id; "
    "INSERT INTO knowledge_chunk_fts (rowid, heading, text, bot_id) "
    "VALUES (new.id, new.heading, new.text, new.bot_id); END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_update",
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_insert",
    "DROP TABLE IF EXISTS knowledge_chunk_fts",
]
POSTGRES_CREATE = [
    "CREATE INDEX knowledge_chunk_search_gin ON knowledge_chunk USING gin (search_vector)"
]
POSTGRES_DROP = ["DROP INDEX IF EXISTS knowledge_chunk_search_gin"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_CREATE, "postgresql": POSTGRES_CREATE}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        )
    ]
