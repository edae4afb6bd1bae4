"""Documents a bot answers from, and the chunks they are split into for retrieval.

Full-text search uses the database's own index: on Postgres `Chunk.search_vector` (a
tsvector in the document's language, GIN-indexed, written by the indexing task); on
SQLite an FTS5 table `knowledge_chunk_fts` kept in sync with `knowledge_chunk` by
triggers (both created in migration 0002). Embeddings, when configured, are float32
bytes in `Chunk.embedding` (see knowledge.retrieval).
"""

from django.contrib.postgres.search import SearchVectorField
from django.core.validators import URLValidator
from django.db import models

from bots.models import Bot


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    INDEXING = "indexing", "Indexing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DocumentFormat(models.TextChoices):
    TEXT = "text", "Plain text"
    MARKDOWN = "markdown", "Markdown"
    HTML = "html", "HTML"
    PDF = "pdf", "PDF"


class DocumentLanguage(models.TextChoices):
    """Postgres text-search configurations (stemming and stop words) a document may use."""

    SIMPLE = "simple", "Any language (no stemming)"
    ENGLISH = "english", "English"
    GERMAN = "german", "German"
    FRENCH = "french", "French"
    SPANISH = "spanish", "Spanish"
    ITALIAN = "italian", "Italian"
    PORTUGUESE = "portuguese", "Portuguese"
    DUTCH = "dutch", "Dutch"
    RUSSIAN = "russian", "Russian"


class Document(models.Model):
    """A text, Markdown, HTML or PDF document of a bot, uploaded or fetched by URL."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=200, blank=True)
    source_url = models.URLField(
        max_length=2000,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Fetched from here (empty: uploaded).",
    )
    format = models.CharField(max_length=10, choices=DocumentFormat.choices, blank=True)
    language = models.CharField(
        max_length=20, choices=DocumentLanguage.choices, default=DocumentLanguage.ENGLISH
    )
    content = models.BinaryField(
        blank=True, editable=False, help_text="The uploaded file (kept for re-indexing)."
    )
    size = models.PositiveIntegerField(default=0, help_text="Bytes of the file last indexed.")
    status = models.CharField(
        max_length=10, choices=DocumentStatus.choices, default=DocumentStatus.PENDING
    )
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    # Bumped by every (re)index request: a task only writes the revision it was queued
    # for, so of two overlapping runs the older one's result is dropped.
    revision = models.PositiveIntegerField(default=1, editable=False)
    indexed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["bot", "-created_at"], name="document_bot_recent_idx")]

    def __str__(self) -> str:
        return self.title or self.source_url or f"Document {self.pk}"


class Chunk(models.Model):
    """A passage of a document: a section's text (or a window of it) under its headings."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    # Repeats the document's bot: retrieval reads one indexed table per bot.
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    heading = models.CharField(max_length=500, blank=True, help_text="Its headings, joined.")
    text = models.TextField()
    search_vector = SearchVectorField(null=True, editable=False)
    embedding = models.BinaryField(null=True, editable=False)

    class Meta:
        ordering = ["document_id", "position"]
        indexes = [models.Index(fields=["bot", "document"], name="chunk_bot_document_idx")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position} {self.heading[:40]}"
