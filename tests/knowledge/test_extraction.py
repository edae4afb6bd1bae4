"""Extraction (Markdown, HTML, PDF, text) and chunking along headings with overlap."""

import itertools

import pytest

from knowledge.chunking import chunk_sections, split_text
from knowledge.extraction import ExtractionError, Section, detect_format, extract
from tests.knowledge.helpers import SHOP_MARKDOWN, make_pdf


def test_markdown_is_split_at_headings_and_a_hash_in_code_is_no_heading():
    text = "# Guide\n\nIntro.\n\n## Setup\n\n```\n# not a heading\n```\n\nRun it.\n"
    extracted = extract(text.encode(), "markdown", max_pages=10)
    assert extracted.title == "Guide"
    assert extracted.sections == [
        Section(("Guide",), "Intro."),
        Section(("Guide", "Setup"), "```\n# not a heading\n```\n\nRun it."),
    ]


def test_html_keeps_headings_and_text_and_drops_scripts_and_navigation():
    html = """<html><head><title>Help</title><script>steal()</script></head><body>
      <nav>Home | Shop</nav><main><h1>Returns</h1><p>Within <b>30 days</b>.</p>
      <h2>Sale items</h2><ul><li>Exchange only.</li></ul></main></body></html>"""
    extracted = extract(html.encode(), "html", max_pages=10)
    assert extracted.title == "Help"
    assert extracted.sections == [
        Section(("Returns",), "Within 30 days ."),
        Section(("Returns", "Sale items"), "Exchange only."),
    ]


def test_pdf_text_is_read_page_by_page():
    data = make_pdf(["Returns within 30 days.", "Warranty two years."])
    extracted = extract(data, "pdf", max_pages=10)
    assert [s.headings for s in extracted.sections] == [("Page 1",), ("Page 2",)]
    assert "Returns within 30 days." in extracted.sections[0].text


def test_a_pdf_over_the_page_limit_or_unreadable_fails_with_a_code():
    with pytest.raises(ExtractionError) as too_many:
        extract(make_pdf(["a", "b", "c"]), "pdf", max_pages=2)
    assert too_many.value.code == "too_many_pages"
    with pytest.raises(ExtractionError) as broken:
        extract(b"%PDF-1.4 nothing else", "pdf", max_pages=2)
    assert broken.value.code == "unreadable"


def test_the_format_comes_from_the_content_type_the_name_or_the_bytes():
    assert detect_format(b"", content_type="application/pdf; x=1") == "pdf"
    assert detect_format(b"", name="notes.md") == "markdown"
    assert detect_format(b"  <!DOCTYPE html><html>") == "html"
    assert detect_format(b"%PDF-1.7") == "pdf"


def test_chunks_follow_headings_and_never_cross_them():
    sections = extract(SHOP_MARKDOWN.encode(), "markdown", max_pages=1).sections
    chunks = chunk_sections(sections, size=1000, overlap=100)
    assert [c.heading for c in chunks] == [
        "Northwind Shop help > Shipping",
        "Northwind Shop help > Returns",
        "Northwind Shop help > Warranty",
    ]
    assert "refund" in chunks[1].text and "refund" not in chunks[0].text


def test_a_long_section_is_cut_under_the_size_with_overlap_between_windows():
    text = " ".join(f"Sentence number {n} is here." for n in range(200))
    windows = split_text(text, size=300, overlap=60)
    assert len(windows) > 5
    assert all(len(w) <= 300 + 60 + 1 for w in windows)
    for before, after in itertools.pairwise(windows):
        assert after[:20] in before  # the next window starts inside the previous one
    assert "Sentence number 199 is here." in windows[-1]
