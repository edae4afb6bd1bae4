"""The knowledge benchmark's corpus: Markdown documents about a fictional tea shop, and
questions with the document (and section) that answers each (questions.json)."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


def documents() -> dict[str, str]:
    """File name -> Markdown text, in name order."""
    return {path.name: path.read_text() for path in sorted(CORPUS.glob("*.md"))}


def questions() -> list[dict[str, str]]:
    """Each {question, source (a file name), section (a heading of that file)}."""
    return json.loads((HERE / "questions.json").read_text())
