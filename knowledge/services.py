"""Writes on documents: add (upload or URL), change, delete, re-index.

Indexing itself runs on the task queue (knowledge.tasks.index_document), queued once
the write commits; the document's `status` tells the owner where it is.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from bots.selectors import bot_list
from core.exceptions import NotFound
from knowledge import tasks
from knowledge.extraction import detect_format
from knowledge.models import Document, DocumentStatus
from knowledge.selectors import document_list

# Changing one of these changes what the chunks hold: the document is indexed again.
_REINDEX_FIELDS = ("source_url", "content", "format", "language")


def _field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _check_content(content: bytes) -> None:
    limit = settings.KNOWLEDGE_MAX_DOCUMENT_BYTES
    if len(content) > limit:
        raise _field_error("content", f"The document is larger than {limit} bytes.", "too_large")
    if not content:
        raise _field_error("content", "The document is empty.", "required")


def _visible_document(user, document_id: int) -> Document:
    document = document_list(user=user).select_for_update().filter(pk=document_id).first()
    if document is None:
        raise NotFound("Document not found.")
    return document


def _queue(document: Document) -> None:
    pk, revision = document.pk, document.revision
    transaction.on_commit(lambda: tasks.index_document.enqueue(pk, revision))


@transaction.atomic
def document_create(
    *,
    user,
    bot_id: int,
    title: str = "",
    source_url: str = "",
    content: bytes | None = None,
    filename: str = "",
    format: str = "",
    language: str = "",
) -> Document:
    """Add a document to one of `user`'s bots, from `content` (an upload) or
    `source_url` (fetched by the indexing task); exactly one of them."""
    bot = bot_list(user=user).select_for_update().filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("Bot not found.")
    if bool(content) == bool(source_url):
        message = "Give either the document's content or its URL."
        raise _field_error("source_url" if content else "content", message, "required")
    if content is not None and not source_url:
        _check_content(content)
        format = format or detect_format(content, name=filename)
    limit = settings.KNOWLEDGE_MAX_DOCUMENTS_PER_BOT
    if bot.documents.count() >= limit:
        raise ValidationError(f"A bot has at most {limit} documents.", code="too_many_documents")
    document = Document(
        bot=bot,
        title=title or filename,
        source_url=source_url,
        content=content or b"",
        size=len(content or b""),
        format=format,
        language=language or Document._meta.get_field("language").default,
    )
    document.full_clean()
    document.save()
    _queue(document)
    return document


@transaction.atomic
def document_update(*, user, document_id: int, **data: Any) -> Document:
    """Change a document; a new content, URL, format or language indexes it again."""
    document = _visible_document(user, document_id)
    filename = data.pop("filename", "") or ""
    if data.get("content") is not None:
        _check_content(data["content"])
        data["source_url"] = ""
        data["format"] = data.get("format") or detect_format(data["content"], name=filename)
    elif data.get("source_url"):
        data["content"] = b""
        data["format"] = data.get("format") or ""  # known once fetched
    reindex = any(
        name in data and data[name] is not None and data[name] != getattr(document, name)
        for name in _REINDEX_FIELDS
    )
    for name, value in data.items():
        if value is not None:
            setattr(document, name, value)
    document.full_clean()
    if reindex:
        _mark_pending(document)
    document.save()
    if reindex:
        document.refresh_from_db()
        _queue(document)
    return document


def _mark_pending(document: Document) -> None:
    document.status = DocumentStatus.PENDING
    document.error = document.error_code = ""
    document.revision = F("revision") + 1


@transaction.atomic
def document_reindex(*, user, document_id: int) -> Document:
    """Index the document again (a URL is fetched again)."""
    document = _visible_document(user, document_id)
    _mark_pending(document)
    document.save()
    document.refresh_from_db()
    _queue(document)
    return document


@transaction.atomic
def document_delete(*, user, document_id: int) -> Document:
    document = _visible_document(user, document_id)
    document.delete()
    document.pk = document_id
    return document
