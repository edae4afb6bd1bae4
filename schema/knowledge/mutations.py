"""Document mutations: decode IDs and the upload, call a service, return the document."""

import base64
import binascii

import strawberry
import strawberry_django
from django.conf import settings
from django.core.exceptions import ValidationError

from knowledge import services
from schema.common import input_data, pk_from_global_id
from schema.context import Info
from schema.knowledge import inputs
from schema.knowledge.types import Document


def _field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _content(data: dict) -> dict:
    """The upload as bytes (`content` base64, or `text`); the size is checked on the
    encoded text before it is decoded."""
    encoded, text = data.pop("content", None), data.pop("text", None)
    url = data.pop("source_url", None)
    choices = (("content", encoded), ("text", text), ("source_url", url))
    given = [name for name, value in choices if value]
    if len(given) > 1:
        raise _field_error(given[1], "Give only one of content, text and sourceUrl.", "invalid")
    limit = settings.KNOWLEDGE_MAX_DOCUMENT_BYTES
    if encoded:
        if len(encoded) > (limit + 2) // 3 * 4 + 4:
            message = f"The document is larger than {limit} bytes."
            raise _field_error("content", message, "too_large")
        try:
            data["content"] = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _field_error("content", "The content is not valid base64.", "invalid") from exc
    elif text:
        data["content"] = text.encode()
    elif url:
        data["source_url"] = url.strip()
    for key in ("title", "filename", "format", "language"):
        if key in data and data[key] is None:
            del data[key]
    if "format" in data:
        data["format"] = data["format"].value
    if "language" in data:
        data["language"] = data["language"].value
    return data


@strawberry.type
class KnowledgeMutation:
    @strawberry_django.mutation(
        handle_django_errors=True,
        description="Add a document to a bot; it is indexed in the background (status).",
    )
    def create_document(self, info: Info, input: inputs.CreateDocumentInput) -> Document:
        data = _content(input_data(input))
        bot_id = pk_from_global_id(data.pop("bot_id"), "Bot", field="bot_id")
        return services.document_create(user=info.context.get_user(), bot_id=bot_id, **data)

    @strawberry_django.mutation(handle_django_errors=True)
    def update_document(self, info: Info, input: inputs.UpdateDocumentInput) -> Document:
        data = _content(input_data(input))
        document_id = pk_from_global_id(data.pop("id"), "Document")
        return services.document_update(
            user=info.context.get_user(), document_id=document_id, **data
        )

    @strawberry_django.mutation(handle_django_errors=True)
    def delete_document(self, info: Info, input: inputs.DocumentIdInput) -> Document:
        document_id = pk_from_global_id(input.id, "Document")
        return services.document_delete(user=info.context.get_user(), document_id=document_id)

    @strawberry_django.mutation(
        handle_django_errors=True, description="Index a document again (a URL is fetched again)."
    )
    def reindex_document(self, info: Info, input: inputs.DocumentIdInput) -> Document:
        document_id = pk_from_global_id(input.id, "Document")
        return services.document_reindex(user=info.context.get_user(), document_id=document_id)
