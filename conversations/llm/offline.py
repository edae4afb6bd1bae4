"""The offline reply engine: plausible, deterministic answers with no network.

It is the embedded default, so a fresh checkout chats out of the box, and it gives
tests and benchmarks a provider with exact, repeatable output.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from collections.abc import AsyncIterator

from .base import Chunk, LLMRequest, Passage, Usage

DOMAIN_KEYWORDS = {
    "support": ("help", "error", "problem", "issue", "refund", "order", "password", "login",
                "broken", "crash", "bug", "account", "support", "fix"),
    "education": ("learn", "course", "lesson", "explain", "study", "teach", "homework",
                  "exam", "tutor", "understand", "student"),
    "sales": ("price", "buy", "plan", "discount", "demo", "cost", "pricing", "trial",
              "purchase", "subscription", "quote"),
}  # fmt: skip
GREETINGS = ("hi", "hello", "hey", "greetings", "howdy", "morning", "evening", "afternoon")
THANKS = ("thanks", "thank", "thx", "cheers", "appreciate")
# Verbs and fillers that make poor topics ("explain", "help"): the topic is a noun.
NOT_TOPICS = frozenset({
    "about", "after", "again", "also", "because", "been", "before", "being", "broken",
    "cannot", "can't", "could", "does", "doesn't", "doing", "explain", "from", "have", "help",
    "hello", "into", "isn't", "just", "know", "learn", "like", "make", "much", "need",
    "please", "should", "some", "study", "teach", "that", "their", "them", "then", "there",
    "these", "they", "thing", "this", "those", "want", "what", "when", "where", "which",
    "while", "will", "with", "won't", "working", "would", "your", "yours", "thanks", "thank",
})  # fmt: skip

ANSWERS = {
    "support": (
        "I'm sorry you're having trouble with your {topic}. Could you tell me exactly what "
        "happens and what you expected instead? With that detail I can walk you through "
        "the fix step by step.",
        "Let's get your {topic} problem sorted out. Please share any error message you see "
        "and the steps that lead to it, but never your password. I'll suggest the quickest "
        "way to fix it.",
    ),
    "education": (
        "Great question about {topic}! Let's start with the core idea and then build on it "
        "with a small example. Tell me what you already know, so I can pitch the "
        "explanation at the right level.",
        "Happy to help you learn about {topic}. A good way in is to take it in three parts: "
        "the key terms, a worked example, and a short exercise to check your understanding. "
        "Which part would you like to start with?",
    ),
    "sales": (
        "Thanks for your interest in the {topic}! We have options for individuals and for "
        "teams, and I can point you to the one that fits. How many people would use it, "
        "and which features matter most to you?",
        "Good question about the {topic}. The price depends on the plan and your usage, and "
        "there is a free trial so you can try everything before you buy. Would you like me "
        "to set up a short demo?",
    ),
    "generic": (
        "You asked about {topic}. I'm running in offline mode without a language model, "
        "so my answers are brief, but I can still help you think it through. What outcome "
        "are you after, and what have you tried so far?",
        "Thanks for your message about {topic}. This assistant is running in offline mode, "
        "so it can't look anything up right now. Tell me a bit more about what you need "
        "and I'll do my best to point you in the right direction.",
    ),
}
OFFERS = {
    "support": "questions about your account, orders or technical problems",
    "education": "learning new topics, explaining concepts and working through exercises",
    "sales": "our plans and pricing, and choosing the right option",
    "generic": "your questions",
}
SUGGESTIONS = {
    "support": (
        "What details do you need about my {topic}?",
        "Can you walk me through the fix step by step?",
        "How long does this usually take to solve?",
        "Can I talk to a person about this?",
        "How do I avoid this problem next time?",
    ),
    "education": (
        "Can you give me an example about {topic}?",
        "What should I learn before this?",
        "Can you give me a short exercise?",
        "What are the most common mistakes?",
        "Where can I read more?",
    ),
    "sales": (
        "Is there a free trial?",
        "Which plan fits a small team?",
        "Can I get a discount for a yearly plan?",
        "Can I book a demo?",
        "What is included in the {topic}?",
    ),
    "generic": (
        "Can you tell me more about {topic}?",
        "What would you suggest I try first?",
        "What are the alternatives?",
        "Can you summarize that?",
        "What should I ask next?",
    ),
}
GREETING = "Hello! I'm here to help with {offer}. What would you like to talk about?"
THANKS_ANSWER = "You're welcome! I'm glad I could help. If anything else comes up, just ask."

_WORD = re.compile(r"[a-z][a-z'-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
QUOTE_CHARS = 300
_TOKEN = re.compile(r"\S+\s*|\s+")


def compose_reply(request: LLMRequest) -> str:
    """Return the full offline answer for `request`; the same request gives the same text."""
    user_text = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    if request.knowledge:
        return compose_cited(request.knowledge[0], user_text)
    context = request.hint
    if request.messages and request.messages[0].role == "system":
        context = f"{request.messages[0].content} {context}"
    words = _words(user_text)
    domain = _domain(words, _words(context))
    offer = OFFERS[domain]
    if not _has_keyword(words, "support", "education", "sales") and len(words) <= 6:
        if any(word in THANKS for word in words):
            return THANKS_ANSWER
        if any(word in GREETINGS for word in words):
            return GREETING.format(offer=offer)
    variants = ANSWERS[domain]
    # crc32, unlike hash(), is stable across processes, so replies are reproducible.
    answer = variants[(zlib.crc32(user_text.encode()) + request.variant) % len(variants)]
    return answer.format(topic=_topic(words))


def compose_cited(passage: Passage, question: str) -> str:
    """Quote the best passage's sentences that share the most words with the question
    (up to QUOTE_CHARS), with its citation: what a model told to cite would answer."""
    asked = {_stem(word) for word in _words(question) if word not in NOT_TOPICS}
    sentences = [s for s in _SENTENCE_END.split(" ".join(passage.text.split())) if s]
    scores = [len(asked & {_stem(w) for w in _words(sentence)}) for sentence in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i)) if sentences else 0
    quote = ""
    for sentence in sentences[best:]:
        if quote and len(quote) + len(sentence) > QUOTE_CHARS:
            break
        quote = f"{quote} {sentence}".strip()
    if len(quote) > QUOTE_CHARS:
        quote = quote[:QUOTE_CHARS].rsplit(" ", 1)[0] + "…"
    return f'From "{passage.title}": "{quote}" [{passage.number}]'


def _stem(word: str) -> str:
    return word[:5]


def compose_suggestions(request: LLMRequest) -> str:
    """Follow-up questions for a `task="suggestions"` request, as a JSON list: five for
    the domain of the visitor's words (the caller keeps as many as the bot wants)."""
    words = _words(_last_question(request))
    domain = _domain(words, _words(request.hint))
    topic = _topic(words)
    return json.dumps([text.format(topic=topic) for text in SUGGESTIONS[domain]])


def split_tokens(text: str) -> list[str]:
    """Split `text` into word tokens that keep their trailing whitespace ("".join == text)."""
    return _TOKEN.findall(text)


class OfflineProvider:
    """Provider that streams `compose_reply` word by word, like a model would."""

    name = "offline"

    def __init__(self, *, token_delay: float = 0.0) -> None:
        self.token_delay = token_delay
        self.description = "offline reply engine (no network, deterministic answers)"

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        """Stream the answer one word per chunk, then usage; `max_tokens` caps the chunks."""
        compose = compose_suggestions if request.task == "suggestions" else compose_reply
        tokens = split_tokens(compose(request))
        if request.max_tokens is not None:
            tokens = tokens[: max(request.max_tokens, 0)]
        for index, token in enumerate(tokens):
            if index and self.token_delay > 0:
                await asyncio.sleep(self.token_delay)
            yield Chunk(text=token)
        prompt_words = sum(len(m.content.split()) for m in request.messages)
        yield Chunk(usage=Usage(prompt_tokens=prompt_words, completion_tokens=len(tokens)))


def _last_question(request: LLMRequest) -> str:
    """The visitor's last message in the request's `<conversation>` data (JSON turns)."""
    text = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    _, _, data = text.partition("<conversation>")
    data, _, _ = data.partition("</conversation>")
    try:
        turns = json.loads(data)
        return next(t["content"] for t in reversed(turns) if t.get("role") == "user")
    except (ValueError, TypeError, KeyError, AttributeError, StopIteration):
        return text


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _has_keyword(words: list[str], *domains: str) -> bool:
    return any(_score(words, domain) for domain in domains)


def _score(words: list[str], domain: str) -> int:
    # Prefix match so "refunds", "learning" or "prices" count as their keyword.
    return sum(1 for word in words for key in DOMAIN_KEYWORDS[domain] if word.startswith(key))


def _domain(user_words: list[str], context_words: list[str]) -> str:
    # The user's own words weigh more than the bot's context; ties keep dict order.
    scores = {
        domain: 3 * _score(user_words, domain) + _score(context_words, domain)
        for domain in DOMAIN_KEYWORDS
    }
    best = max(scores, key=lambda domain: scores[domain])
    return best if scores[best] else "generic"


def _topic(words: list[str]) -> str:
    candidates = [w.strip("'-") for w in words if len(w) >= 4 and w not in NOT_TOPICS]
    if not candidates:
        return "that"
    return max(candidates, key=len)
