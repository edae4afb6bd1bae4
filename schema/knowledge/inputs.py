import strawberry
from strawberry import UNSET, relay

from schema.knowledge.types import DocumentFormatEnum, DocumentLanguageEnum

_CONTENT = (
    "The file, base64-encoded (any client can send it in JSON variables). Give one of "
    "content, text or sourceUrl."
)


@strawberry.input(description="A document from an upload (content or text) or a URL.")
class CreateDocumentInput:
    bot_id: relay.GlobalID
    title: str | None = UNSET
    content: str | None = strawberry.field(default=UNSET, description=_CONTENT)
    text: str | None = strawberry.field(
        default=UNSET, description="The document as text (plain or Markdown), not encoded."
    )
    source_url: str | None = strawberry.field(
        default=UNSET, description="Fetched (and fetched again by reindexDocument)."
    )
    filename: str | None = strawberry.field(
        default=UNSET, description="Names the format when `format` is not given (.pdf, .md…)."
    )
    format: DocumentFormatEnum | None = strawberry.field(
        default=UNSET, description="Default: by filename, the URL's content type or the bytes."
    )
    language: DocumentLanguageEnum | None = UNSET


@strawberry.input(description="New content, URL, format or language index the document again.")
class UpdateDocumentInput:
    id: relay.GlobalID
    title: str | None = UNSET
    content: str | None = strawberry.field(default=UNSET, description=_CONTENT)
    text: str | None = UNSET
    source_url: str | None = UNSET
    filename: str | None = UNSET
    format: DocumentFormatEnum | None = UNSET
    language: DocumentLanguageEnum | None = UNSET


@strawberry.input
class DocumentIdInput:
    id: relay.GlobalID


@strawberry.input
class KnowledgeSearchInput:
    bot_id: relay.GlobalID
    query: str
    limit: int | None = strawberry.field(default=UNSET, description="1 to 20; default 5.")
