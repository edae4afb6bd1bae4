"""Small pure parts: query terms, rank fusion, citations' snippets, the offline quote."""

from conversations.llm import Passage
from conversations.llm.offline import QUOTE_CHARS, compose_cited
from knowledge.citations import snippet
from knowledge.retrieval import MAX_TERMS, fuse, terms


def test_terms_drop_stop_words_punctuation_and_duplicates_and_are_capped():
    assert terms('How do I "return" a KETTLE? return NEAR(kettle*)') == ["return", "kettle", "near"]
    assert len(terms(" ".join(f"word{n}" for n in range(100)))) == MAX_TERMS
    assert terms("?? the a") == []


def test_fusion_favours_what_both_rankings_found():
    fused = fuse([[1, 2, 3], [3, 4]])
    assert [pk for pk, _ in fused] == [3, 1, 2, 4]
    assert fused[0][1] == 1 / 63 + 1 / 61


def test_a_snippet_is_cut_at_a_word_with_an_ellipsis():
    text = "word " * 100
    cut = snippet(text, limit=50)
    assert cut.endswith("…") and len(cut) <= 51 and not cut[:-1].endswith(" ")
    assert snippet("short  text\n here") == "short text here"


def test_the_offline_quote_is_the_sentence_that_answers_and_cites_it():
    passage = Passage(
        2, "Returns", "Returns are free. Sale items are exchanged, not refunded. We are kind."
    )
    answer = compose_cited(passage, "Is a sale item refunded?")
    assert answer == ('From "Returns": "Sale items are exchanged, not refunded. We are kind." [2]')
    long = Passage(1, "Long", "refund " * 200)
    assert len(compose_cited(long, "refund")) < QUOTE_CHARS + 40
