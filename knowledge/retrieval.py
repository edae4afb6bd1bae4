"""Find the chunks of a bot's documents that answer a question.

Full text is the database's own: on Postgres an OR of plainto_tsquery terms over the
GIN-indexed tsvector (each document's language), ranked by ts_rank; SQLite FTS5 with the
porter stemmer, ranked by bm25 (heading weighs twice the text). The visitor's words are
data: each term goes to the database as a bound parameter (Postgres) or a quoted FTS5
string (SQLite), so no query syntax in a question can fail or widen the search.

With embeddings configured, the question's vector is compared with the bot's chunk
vectors by exact search (a dot product with numpy over at most
KNOWLEDGE_MAX_CHUNKS_PER_BOT rows, kept in memory per bot between changes;
bench/knowledge_quality.py measures it), and the two rankings
are combined by reciprocal rank fusion: score = sum of 1 / (60 + rank) over the lists a
chunk is in. `retrieve` (the reply path) runs the database work off the event loop and
gives up after KNOWLEDGE_RETRIEVAL_TIMEOUT: a reply never waits long for its sources.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Count, F, Max, Sum

from knowledge import embeddings
from knowledge.models import Chunk, Document, DocumentStatus

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

RRF_K = 60
CANDIDATES = 20  # per list, before fusion
MAX_TERMS = 32
_WORD = re.compile(r"\w+")
# Words that say nothing about the topic; Postgres drops its own per language, FTS5 none.
_STOP_WORDS_TEXT = """a an and are as at be by can could do does for from has have how i if in is
it its me my of on or our should so that the their there this to was we what when where which
who why will with would you your"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    title: str
    url: str
    heading: str
    text: str
    score: float


def terms(query: str) -> list[str]:
    """The question's searchable words: lowercased, without stop words, at most 32."""
    words = [w for w in _WORD.findall(query.lower()) if w not in STOP_WORDS and len(w) > 1]
    return list(dict.fromkeys(words))[:MAX_TERMS]


def search(
    *, bot_id: int, query: str, limit: int, query_vector: np.ndarray | None = None
) -> list[Hit]:
    """The `limit` best chunks of the bot for `query` (blocking: run it off the loop)."""
    ranked = [full_text_ids(bot_id=bot_id, query=query, limit=CANDIDATES)]
    if query_vector is not None:
        ranked.append(vector_ids(bot_id=bot_id, query_vector=query_vector, limit=CANDIDATES))
    fused = fuse(ranked)[:limit]
    rows = Chunk.objects.filter(pk__in=[pk for pk, _ in fused]).select_related("document")
    found = {row.pk: row for row in rows}
    return [_hit(found[pk], score) for pk, score in fused if pk in found]


def fuse(rankings: list[list[int]]) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of ranked id lists, best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, pk in enumerate(ranking, start=1):
            scores[pk] = scores.get(pk, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def full_text_ids(*, bot_id: int, query: str, limit: int) -> list[int]:
    words = terms(query)
    if not words:
        return []
    if connection.vendor == "postgresql":
        return _postgres_ids(bot_id, words, limit)
    return _sqlite_ids(bot_id, words, limit)


def _postgres_ids(bot_id: int, words: list[str], limit: int) -> list[int]:
    # Any term may match (OR); ts_rank orders by how many and how often. Each term is
    # parsed by plainto_tsquery in its document's configuration.
    config = F("document__language")
    query = reduce(operator.or_, (SearchQuery(w, config=config) for w in words))
    chunks = (
        Chunk.objects.filter(bot_id=bot_id, search_vector=query)
        .annotate(rank=SearchRank(F("search_vector"), query))
        .order_by("-rank", "pk")
    )
    return list(chunks.values_list("pk", flat=True)[:limit])


def _sqlite_ids(bot_id: int, words: list[str], limit: int) -> list[int]:
    match = " OR ".join('"' + word.replace('"', '""') + '"' for word in words)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rowid FROM knowledge_chunk_fts WHERE knowledge_chunk_fts MATCH %s "
            "AND bot_id = %s ORDER BY bm25(knowledge_chunk_fts, 2.0, 1.0, 0.0), rowid LIMIT %s",
            [match, bot_id, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def vector_ids(*, bot_id: int, query_vector: np.ndarray, limit: int) -> list[int]:
    """Exact nearest neighbours among the bot's chunk vectors (cosine, best first)."""
    import numpy as np  # here, not at start: embeddings are optional (embeddings.py)

    ids, matrix = _bot_vectors(bot_id, query_vector.size)
    if not ids:
        return []
    scores = matrix @ query_vector
    best = np.argsort(-scores, kind="stable")[:limit]
    return [ids[i] for i in best]


# bot id -> (stamp, chunk ids, their vectors as one float32 matrix), most recent last
_vector_cache: OrderedDict[int, tuple[tuple, list[int], np.ndarray]] = OrderedDict()
_cache_lock = threading.Lock()


def _bot_vectors(bot_id: int, dimensions: int) -> tuple[list[int], np.ndarray]:
    """The bot's vectors, read once per change of its chunks: loading 5,000 rows of 1536
    floats took 0.4-1 s per question (bench/knowledge_quality.py). The stamp is an
    aggregate over the bot's few document rows (how many are ready, the last indexing,
    their chunk count): indexing, a failure or a delete changes it; counting the chunks
    themselves cost SQLite a read of every vector row. At most KNOWLEDGE_VECTOR_CACHE_BOTS
    bots are kept."""
    import numpy as np

    rows = Chunk.objects.filter(bot_id=bot_id, embedding__isnull=False)
    documents = Document.objects.filter(bot_id=bot_id, status=DocumentStatus.READY)
    totals = documents.aggregate(n=Count("pk"), last=Max("indexed_at"), chunks=Sum("chunk_count"))
    stamp = (*totals.values(), dimensions)
    with _cache_lock:
        cached = _vector_cache.get(bot_id)
        if cached is not None and cached[0] == stamp:
            _vector_cache.move_to_end(bot_id)
            return cached[1], cached[2]
    size = dimensions * 4
    loaded = rows.order_by("pk").values_list("pk", "embedding")
    pairs = [(pk, bytes(v)) for pk, v in loaded[: settings.KNOWLEDGE_MAX_CHUNKS_PER_BOT]]
    pairs = [(pk, vector) for pk, vector in pairs if len(vector) == size]
    ids = [pk for pk, _ in pairs]
    matrix = np.frombuffer(b"".join(v for _, v in pairs), dtype=np.float32)
    matrix = matrix.reshape(len(ids), dimensions)
    with _cache_lock:
        _vector_cache[bot_id] = (stamp, ids, matrix)
        _vector_cache.move_to_end(bot_id)
        while len(_vector_cache) > settings.KNOWLEDGE_VECTOR_CACHE_BOTS:
            _vector_cache.popitem(last=False)
    return ids, matrix


def _hit(chunk: Chunk, score: float) -> Hit:
    document = chunk.document
    return Hit(
        chunk_id=chunk.pk,
        document_id=chunk.document_id,
        title=document.title or document.source_url or f"Document {document.pk}",
        url=document.source_url,
        heading=chunk.heading,
        text=chunk.text,
        score=round(score, 6),
    )


async def retrieve(*, bot_id: int, query: str, limit: int | None = None) -> list[Hit]:
    """`search` for the reply path: bounded in time, never failing the reply (an error
    or the timeout gives no sources; it is logged)."""
    limit = limit or settings.KNOWLEDGE_TOP_K
    try:
        async with asyncio.timeout(settings.KNOWLEDGE_RETRIEVAL_TIMEOUT):
            vector = await query_vector(query)
            return await sync_to_async(search)(
                bot_id=bot_id, query=query, limit=limit, query_vector=vector
            )
    except TimeoutError:
        logger.warning("knowledge retrieval for bot %s timed out", bot_id)
    except Exception:
        logger.exception("knowledge retrieval for bot %s failed", bot_id)
    return []


async def query_vector(query: str) -> np.ndarray | None:
    """The question's embedding; None (full text alone) when off or failing."""
    if not embeddings.enabled() or not query.strip():
        return None
    try:
        return await embeddings.embed_query(query)
    except embeddings.EmbeddingError as exc:
        logger.warning("%s; using full text only", exc)
        return None
