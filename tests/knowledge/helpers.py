"""Shared by the knowledge tests: a small PDF made with pypdf, and documents indexed
through the real task queue."""

from __future__ import annotations

import io

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from knowledge import services
from knowledge.models import Document
from tests.tasks_worker import drain

SHOP_MARKDOWN = """# Northwind Shop help

## Shipping

We ship to Canada and the United States. Standard shipping takes 5 to 7 business days;
express shipping takes 2 days and costs 12 euros.

## Returns

You may return any item within 30 days of delivery for a full refund. Sale items can be
exchanged but not refunded.

## Warranty

Every kettle has a two-year warranty covering the heating element.
"""


def make_pdf(pages: list[str]) -> bytes:
    """A PDF with one line of Helvetica text per page."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    font_ref = writer._add_object(font)
    for text in pages:
        page = writer.add_blank_page(612, 792)
        fonts = DictionaryObject({NameObject("/F1"): font_ref})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
        stream = DecodedStreamObject()
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream.set_data(f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode())
        page[NameObject("/Contents")] = writer._add_object(stream)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def indexed_document(*, user, bot, text: str = SHOP_MARKDOWN, **fields) -> Document:
    """A document added by the service and indexed by the task queue's worker."""
    document = services.document_create(
        user=user, bot_id=bot.pk, content=text.encode(), filename="help.md", **fields
    )
    drain()
    document.refresh_from_db()
    return document
