"""Text out of a document's bytes, as sections under their headings.

Each format is read with a library made for it: Markdown with markdown-it-py (headings
are its tokens, so a `#` in a code block is no heading), HTML with Beautiful Soup
(scripts, styles and navigation dropped; h1-h6 as headings), PDF with pypdf (one
section per page). Runs in the task-queue worker, never on the event loop.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

from knowledge.models import DocumentFormat

# Beautiful Soup and pypdf are imported where they are used: only the worker extracts,
# and together they cost ~0.7 s of every server process's start (cold start, bench/).


@dataclass(frozen=True)
class Section:
    headings: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Extracted:
    title: str
    sections: list[Section]


class ExtractionError(Exception):
    """The document cannot be read; `code` says why (shown to the owner)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_HTML_DROP = ("script", "style", "noscript", "template", "nav", "footer", "header", "aside")
_HTML_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_HTML_BLOCKS = (*_HTML_HEADINGS, "p", "li", "pre", "blockquote", "td", "th", "dt", "dd")


def detect_format(data: bytes, *, content_type: str = "", name: str = "") -> str:
    """The format from a content type, else a file name's extension, else the bytes."""
    kind = content_type.split(";")[0].strip().lower()
    by_type = {
        "application/pdf": DocumentFormat.PDF,
        "text/html": DocumentFormat.HTML,
        "application/xhtml+xml": DocumentFormat.HTML,
        "text/markdown": DocumentFormat.MARKDOWN,
        "text/x-markdown": DocumentFormat.MARKDOWN,
        "text/plain": DocumentFormat.TEXT,
    }
    if kind in by_type:
        return by_type[kind]
    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    by_suffix = {"pdf": "pdf", "html": "html", "htm": "html", "md": "markdown", "txt": "text"}
    if suffix in by_suffix:
        return by_suffix[suffix]
    head = data[:512].lstrip().lower()
    if head.startswith(b"%pdf-"):
        return DocumentFormat.PDF
    if head.startswith((b"<!doctype html", b"<html")):
        return DocumentFormat.HTML
    return DocumentFormat.MARKDOWN  # plain text reads the same as Markdown without markup


def extract(data: bytes, fmt: str, *, max_pages: int) -> Extracted:
    """Sections of `data` read as `fmt`; raises ExtractionError."""
    if fmt == DocumentFormat.PDF:
        return _pdf(data, max_pages)
    text = _decode(data)
    if fmt == DocumentFormat.HTML:
        return _html(text)
    if fmt == DocumentFormat.MARKDOWN:
        return _markdown(text)
    return Extracted("", [Section((), _clean(text))] if _clean(text) else [])


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # never fails: every byte is a character
    return text.replace("\x00", "")


def _clean(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\x00", "").split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _markdown(text: str) -> Extracted:
    """Split on heading tokens; each section keeps the source lines under its heading."""
    lines = text.split("\n")
    tokens = MarkdownIt("commonmark").parse(text)
    marks: list[tuple[int, int, int, str]] = []  # (start line, end line, level, heading)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.map:
            level = int(token.tag[1])
            marks.append((token.map[0], token.map[1], level, tokens[index + 1].content.strip()))
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    body_start = 0
    title = ""
    for start, end, level, heading in [*marks, (len(lines), len(lines), 0, "")]:
        body = _clean("\n".join(lines[body_start:start]))
        if body:
            sections.append(Section(tuple(h for _, h in path), body))
        if level == 0:
            break
        title = title or (heading if level == 1 else "")
        path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
        body_start = end
    return Extracted(title, sections)


def _html(text: str) -> Extracted:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for element in soup(_HTML_DROP):
        element.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []

    def close() -> None:
        joined = _clean("\n\n".join(body))
        if joined:
            sections.append(Section(tuple(h for _, h in path), joined))
        body.clear()

    for element in root.find_all(_HTML_BLOCKS):
        if element.find_parent(_HTML_BLOCKS):
            continue  # its text is read with the block around it
        content = element.get_text(" ", strip=True)
        if not content:
            continue
        if element.name in _HTML_HEADINGS:
            close()
            level = int(element.name[1])
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, content)]
            title = title or (content if level == 1 else "")
        else:
            body.append(content)
    close()
    if not sections:  # no block elements: the page's plain text
        plain = _clean(root.get_text("\n"))
        sections = [Section((), plain)] if plain else []
    return Extracted(title, sections)


def _pdf(data: bytes, max_pages: int) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            message = "The PDF is encrypted; upload it without a password."
            raise ExtractionError("encrypted", message)
        if len(reader.pages) > max_pages:
            raise ExtractionError(
                "too_many_pages", f"The PDF has {len(reader.pages)} pages; at most {max_pages}."
            )
        title = str((reader.metadata or {}).get("/Title") or "").strip()
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            text = _clean(page.extract_text() or "")
            if text:
                sections.append(Section((f"Page {number}",), text))
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionError("unreadable", f"The PDF could not be read: {exc}") from exc
    return Extracted(title, sections)
