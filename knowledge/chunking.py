"""Split extracted sections into chunks for retrieval.

A chunk never crosses a heading: each section is cut into windows of about `size`
characters on paragraph, then sentence, then word boundaries, and each window after the
first repeats about `overlap` characters of the one before, so a fact split across a
cut is still whole in one chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.extraction import Section

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
HEADING_SEPARATOR = " > "


@dataclass(frozen=True)
class ChunkText:
    heading: str
    text: str


def chunk_sections(sections: list[Section], *, size: int, overlap: int) -> list[ChunkText]:
    chunks = []
    for section in sections:
        heading = HEADING_SEPARATOR.join(section.headings)[:500]
        for text in split_text(section.text, size=size, overlap=overlap):
            chunks.append(ChunkText(heading, text))
    return chunks


def split_text(text: str, *, size: int, overlap: int) -> list[str]:
    pieces = _pieces(text, size)
    windows: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}\n\n{piece}" if current else piece
        if current and len(candidate) > size:
            windows.append(current)
            tail = _tail(current, overlap)
            current = f"{tail} {piece}" if tail else piece
        else:
            current = candidate
    if current:
        windows.append(current)
    return windows


def _pieces(text: str, size: int) -> list[str]:
    """Paragraphs, those longer than `size` cut into sentences, then words."""
    pieces = []
    for paragraph in text.split("\n\n"):
        if len(paragraph) <= size:
            pieces.append(paragraph)
            continue
        for sentence in _SENTENCE.split(paragraph):
            while len(sentence) > size:
                cut = sentence.rfind(" ", 0, size)
                cut = cut if cut > size // 2 else size
                pieces.append(sentence[:cut])
                sentence = sentence[cut:].lstrip()
            if sentence:
                pieces.append(sentence)
    return [piece for piece in pieces if piece.strip()]


def _tail(text: str, overlap: int) -> str:
    """About the last `overlap` characters of `text`, starting at a word."""
    if overlap <= 0 or len(text) <= overlap:
        return "" if overlap <= 0 else text
    cut = text.find(" ", len(text) - overlap)
    return text[cut + 1 :] if cut != -1 else ""
