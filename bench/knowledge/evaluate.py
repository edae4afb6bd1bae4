"""Run inside Django (`manage.py shell`, started by bench/knowledge_quality.py): index
the corpus with the real task code, then measure retrieval.

- hit@3: a question hits when its source document is among the documents of the top 3
  chunks (and, stricter, `section_hit@3`: its section among their headings); full text
  alone, embeddings alone, and both fused (RRF), embeddings from the fake
  OpenAI-compatible server (tests/fake_openai.py: a hashed bag of word stems).
- Latency of one retrieval: full text over the corpus; exact vector search over N
  synthetic chunks of 1536-dimension vectors (KNOWLEDGE_MAX_CHUNKS_PER_BOT is the bound),
  the first question (vectors loaded from the database) and the next ones (in memory).
Prints `BENCH_JSON {...}`.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from bench.knowledge import documents, questions
from bots.models import Bot
from knowledge import embeddings, retrieval, services
from knowledge.models import Chunk, Document
from knowledge.tasks import index_document
from tests.fake_openai import FakeOpenAI


def _index_corpus(bot: Bot, user) -> dict[int, str]:
    names = {}
    for name, text in documents().items():
        document = services.document_create(
            user=user, bot_id=bot.pk, content=text.encode(), filename=name, title=name
        )
        index_document.call(document.pk, document.revision)
        names[document.pk] = name
    return names


def _reindex(bot: Bot) -> None:
    for document in Document.objects.filter(bot=bot):
        Document.objects.filter(pk=document.pk).update(revision=document.revision + 1)
        index_document.call(document.pk, document.revision + 1)


def _score(bot: Bot, names: dict[int, str], mode: str) -> dict:
    hits = section_hits = 0
    misses = []
    timings = []
    for item in questions():
        vector = None
        if mode != "full_text":
            vector = embeddings.embed_texts([item["question"]])[0]
        started = time.perf_counter()
        if mode == "vectors":
            ids = retrieval.vector_ids(bot_id=bot.pk, query_vector=vector, limit=3)
            found = [Chunk.objects.select_related("document").get(pk=pk) for pk in ids]
            top = [(names[c.document_id], c.heading) for c in found]
        else:
            found = retrieval.search(bot_id=bot.pk, query=item["question"], limit=3,
                                     query_vector=vector)  # fmt: skip
            top = [(names[h.document_id], h.heading) for h in found]
        timings.append((time.perf_counter() - started) * 1000)
        hit = any(source == item["source"] for source, _ in top)
        hits += hit
        section_hits += any(
            source == item["source"] and heading.endswith(item["section"])
            for source, heading in top
        )
        if not hit:
            misses.append({"question": item["question"], "expected": item["source"], "got": top})
    count = len(questions())
    return {
        "hit_at_3": round(hits / count, 3),
        "section_hit_at_3": round(section_hits / count, 3),
        "questions": count,
        "median_ms": round(statistics.median(timings), 2),
        "misses": misses,
    }


def _vector_latency(user, sizes: list[int], dimensions: int = 1536) -> dict:
    rng = np.random.default_rng(7)
    results = {}
    for size in sizes:
        bot = Bot.objects.create(owner=user, name=f"vectors {size}")
        document = Document.objects.create(
            bot=bot, title="synthetic", status="ready", chunk_count=size, indexed_at=timezone.now()
        )
        vectors = embeddings.normalized(rng.standard_normal((size, dimensions)).tolist())
        Chunk.objects.bulk_create(
            [
                Chunk(document=document, bot=bot, position=i, text="x", embedding=v.tobytes())
                for i, v in enumerate(vectors)
            ],
            batch_size=500,
        )
        query = vectors[size // 2]
        started = time.perf_counter()
        retrieval.vector_ids(bot_id=bot.pk, query_vector=query, limit=20)
        cold = (time.perf_counter() - started) * 1000
        timings = []
        for _ in range(15):
            started = time.perf_counter()
            best = retrieval.vector_ids(bot_id=bot.pk, query_vector=query, limit=20)
            timings.append((time.perf_counter() - started) * 1000)
        assert Chunk.objects.get(pk=best[0]).position == size // 2
        results[str(size)] = {
            "first_ms": round(cold, 1),  # loads the vectors from the database
            "median_ms": round(statistics.median(timings), 1),
            "max_ms": round(max(timings), 1),
        }
    return results


def _pgvector_available() -> bool | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        return cursor.fetchone() is not None


def main() -> None:
    sizes = json.loads(os.environ.get("BENCH_KNOWLEDGE_SIZES", "[1000, 5000]"))
    user = get_user_model().objects.create(username="bench-knowledge")
    bot = Bot.objects.create(owner=user, name="Lumen & Leaf")
    with override_settings(EMBEDDINGS_MODEL=""):
        names = _index_corpus(bot, user)
        full_text = _score(bot, names, "full_text")
    with (
        FakeOpenAI() as fake,
        override_settings(
            EMBEDDINGS_MODEL="fake-embed",
            EMBEDDINGS_API_KEY="sk-bench",
            EMBEDDINGS_BASE_URL=fake.base_url,
        ),
    ):
        _reindex(bot)
        vectors = _score(bot, names, "vectors")
        fused = _score(bot, names, "fused")
        latency = _vector_latency(user, sizes)
    result = {
        "database": connection.vendor,
        "documents": len(names),
        "chunks": Chunk.objects.filter(bot=bot).count(),
        "full_text": full_text,
        "vectors_only": vectors,
        "fused": fused,
        "exact_vector_search_ms": latency,
        "pgvector_available": _pgvector_available(),
    }
    print("BENCH_JSON " + json.dumps(result))
