"""Indexing on the task queue: fetch (by URL), extract, chunk, embed, store.

CPU and network work (PDF parsing, embeddings) runs here in the worker, never on a
server's event loop. A run writes only the revision it was queued for (`revision`), so
a re-index requested meanwhile wins. A failure leaves the document FAILED with a code
and a reason the owner sees, and no chunks.
"""

from __future__ import annotations

import logging
import uuid

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.db import connection, transaction
from django.db.models import Value
from django.utils import timezone
from django_tasks import task

from knowledge import embeddings
from knowledge.chunking import chunk_sections
from knowledge.extraction import Extracted, ExtractionError, detect_format, extract
from knowledge.fetching import FetchError, fetch
from knowledge.models import Chunk, Document, DocumentStatus

logger = logging.getLogger(__name__)


class IndexingFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@task()
def index_document(document_id: int, revision: int) -> str:
    """Index revision `revision` of a document; returns its final status."""
    claimed = Document.objects.filter(pk=document_id, revision=revision).update(
        status=DocumentStatus.INDEXING, error="", error_code=""
    )
    if not claimed:
        return "superseded"  # deleted, or re-indexed again since
    document = Document.objects.select_related("bot").get(pk=document_id)
    try:
        return _index(document, revision)
    except (IndexingFailed, ExtractionError, FetchError) as exc:
        return _fail(document_id, revision, exc.code, str(exc))
    except embeddings.EmbeddingError as exc:
        return _fail(document_id, revision, exc.code, str(exc))
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        logger.exception("indexing document %s failed (error id %s)", document_id, error_id)
        return _fail(document_id, revision, "internal", f"Internal error (id {error_id}).")


def _index(document: Document, revision: int) -> str:
    data, fmt = _source(document)
    extracted = extract(data, fmt, max_pages=settings.KNOWLEDGE_MAX_PDF_PAGES)
    pieces = chunk_sections(
        extracted.sections,
        size=settings.KNOWLEDGE_CHUNK_CHARS,
        overlap=settings.KNOWLEDGE_CHUNK_OVERLAP,
    )
    if not pieces:
        raise IndexingFailed("empty", "No text was found in the document.")
    others = Chunk.objects.filter(bot_id=document.bot_id).exclude(document_id=document.pk)
    limit = settings.KNOWLEDGE_MAX_CHUNKS_PER_BOT
    if others.count() + len(pieces) > limit:
        raise IndexingFailed(
            "too_many_chunks",
            f"The bot's documents would make more than {limit} chunks "
            f"(this one makes {len(pieces)}); remove documents or raise "
            "KNOWLEDGE_MAX_CHUNKS_PER_BOT.",
        )
    vectors = None
    if embeddings.enabled():
        vectors = embeddings.embed_texts([f"{p.heading}\n{p.text}".strip() for p in pieces])
    chunks = [
        Chunk(
            document_id=document.pk,
            bot_id=document.bot_id,
            position=position,
            heading=piece.heading,
            text=piece.text,
            embedding=None if vectors is None else vectors[position].tobytes(),
        )
        for position, piece in enumerate(pieces)
    ]
    return _store(document, revision, chunks, extracted, fmt, len(data))


def _source(document: Document) -> tuple[bytes, str]:
    """The document's bytes and format: the upload, or the URL fetched now."""
    if not document.source_url:
        data = bytes(document.content)
        return data, document.format or detect_format(data)
    fetched = async_to_sync(fetch)(
        document.source_url,
        max_bytes=settings.KNOWLEDGE_MAX_DOCUMENT_BYTES,
        timeout=settings.KNOWLEDGE_FETCH_TIMEOUT,
        allow_hosts=settings.API_CALL_ALLOW_HOSTS,
    )
    fmt = document.format or detect_format(
        fetched.body, content_type=fetched.content_type, name=fetched.url.split("?")[0]
    )
    return fetched.body, fmt


@transaction.atomic
def _store(
    document: Document,
    revision: int,
    chunks: list[Chunk],
    extracted: Extracted,
    fmt: str,
    size: int,
) -> str:
    current = Document.objects.select_for_update().filter(pk=document.pk, revision=revision)
    if not current.exists():
        return "superseded"
    Chunk.objects.filter(document_id=document.pk).delete()
    Chunk.objects.bulk_create(chunks)
    if connection.vendor == "postgresql":
        # The tsvector in the document's language: headings weigh more than the text.
        config = Value(document.language)
        Chunk.objects.filter(document_id=document.pk).update(
            search_vector=SearchVector("heading", weight="A", config=config)
            + SearchVector("text", weight="B", config=config)
        )
    current.update(
        status=DocumentStatus.READY,
        chunk_count=len(chunks),
        size=size,
        format=fmt,
        title=document.title or extracted.title[:200] or document.source_url[:200],
        indexed_at=timezone.now(),
    )
    return DocumentStatus.READY


def _fail(document_id: int, revision: int, code: str, message: str) -> str:
    with transaction.atomic():
        current = Document.objects.filter(pk=document_id, revision=revision)
        if current.update(status=DocumentStatus.FAILED, error=message[:2000], error_code=code):
            Chunk.objects.filter(document_id=document_id).delete()
    return DocumentStatus.FAILED
