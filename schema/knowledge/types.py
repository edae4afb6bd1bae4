from datetime import datetime

import strawberry
import strawberry_django
from strawberry import auto, relay
from strawberry_django.relay import DjangoListConnection

from knowledge import models
from knowledge.selectors import chunk_list, document_list
from schema.common import ScopedNode, visible

DocumentStatusEnum = strawberry.enum(models.DocumentStatus, name="DocumentStatus")
DocumentFormatEnum = strawberry.enum(models.DocumentFormat, name="DocumentFormat")
DocumentLanguageEnum = strawberry.enum(
    models.DocumentLanguage,
    name="DocumentLanguage",
    description="Stemming and stop words of full-text search (Postgres); SIMPLE: none.",
)


@strawberry_django.filter_type(models.Document)
class DocumentFilter:
    status: DocumentStatusEnum | None


@strawberry_django.order_type(models.Document)
class DocumentOrder:
    created_at: auto
    title: auto


@strawberry_django.type(models.Chunk)
class Chunk(ScopedNode):
    """A passage of a document, as retrieval finds it."""

    position: auto
    heading: auto
    text: auto

    @strawberry_django.field(only=["embedding"], description="Whether it has an embedding.")
    def has_embedding(self, root: models.Chunk) -> bool:
        return root.embedding is not None

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, chunk_list)


@strawberry_django.type(models.Document, filters=DocumentFilter, ordering=DocumentOrder)
class Document(ScopedNode):
    """A document a bot answers from; `status` follows its indexing."""

    title: auto
    source_url: auto = strawberry_django.field(description="Fetched from here; empty: uploaded.")
    language: DocumentLanguageEnum
    size: auto
    status: DocumentStatusEnum
    error: auto = strawberry_django.field(description="Why indexing failed (status FAILED).")
    error_code: auto = strawberry_django.field(
        description="invalid_url, blocked_address, timeout, too_large, http_error, "
        "connection_error, bad_response, too_many_redirects, unreadable, encrypted, "
        "too_many_pages, empty, too_many_chunks, embeddings_failed, internal."
    )
    chunk_count: auto
    indexed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    chunks: DjangoListConnection[Chunk] = strawberry_django.connection(
        description="Its passages in document order."
    )

    @strawberry_django.field(
        only=["format"], description="Null until known (a URL's is known once fetched)."
    )
    def format(self, root: models.Document) -> DocumentFormatEnum | None:  # type: ignore[valid-type]
        return DocumentFormatEnum(root.format) if root.format else None

    @strawberry_django.field(only=["bot_id"])
    def bot_id(self, root: models.Document) -> relay.GlobalID:
        return relay.GlobalID("Bot", str(root.bot_id))

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, document_list)


@strawberry.type(description="A passage knowledgeSearch found, best first.")
class KnowledgeHit:
    document_id: relay.GlobalID
    chunk_id: relay.GlobalID
    title: str
    url: str
    heading: str
    text: str
    score: float = strawberry.field(description="Reciprocal-rank-fusion score; higher is better.")
