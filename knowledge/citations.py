"""What a reply tells about its sources: one citation per passage it was given."""

from __future__ import annotations

from knowledge.retrieval import Hit

SNIPPET_CHARS = 300


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of `text`, cut at a word and marked with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit] + "…"


def citations_of(hits: list[Hit]) -> list[dict]:
    """Citations numbered as the request lists the passages ([1] is the first)."""
    return [
        {
            "number": number,
            "document_id": hit.document_id,
            "title": hit.title,
            "url": hit.url,
            "heading": hit.heading,
            "snippet": snippet(hit.text),
            "score": hit.score,
        }
        for number, hit in enumerate(hits, start=1)
    ]
