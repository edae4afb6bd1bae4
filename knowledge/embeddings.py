"""Embeddings from an OpenAI-compatible `/embeddings` endpoint, through the openai SDK.

On when EMBEDDINGS_MODEL is set (its key and base URL default to the chat provider's,
OPENAI_API_KEY and OPENAI_BASE_URL). Vectors are stored as float32 bytes normalized to
length 1, so a dot product is their cosine similarity.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import TYPE_CHECKING

import openai
from django.conf import settings
from openai import AsyncOpenAI, OpenAI

if TYPE_CHECKING:
    import numpy as np

DEFAULT_BASE_URL = "https://api.openai.com/v1"
BATCH = 64


class EmbeddingError(Exception):
    """The endpoint failed; the message never contains the key."""

    code = "embeddings_failed"


def enabled() -> bool:
    return bool(settings.EMBEDDINGS_MODEL and _key())


def _key() -> str:
    return settings.EMBEDDINGS_API_KEY or settings.OPENAI_API_KEY


def _config() -> tuple[str, str, float]:
    base = settings.EMBEDDINGS_BASE_URL or settings.OPENAI_BASE_URL or DEFAULT_BASE_URL
    return base, _key(), settings.EMBEDDINGS_TIMEOUT


@functools.lru_cache(maxsize=4)
def _sync_client(base_url: str, api_key: str, timeout: float) -> OpenAI:
    return OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=2)


# One async client per event loop: its pooled connections belong to the loop.
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _async_client() -> AsyncOpenAI:
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    config = _config()
    if config not in per_loop:
        base_url, api_key, timeout = config
        per_loop[config] = AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0
        )
    return per_loop[config]


def normalized(vectors: list[list[float]]) -> np.ndarray:
    import numpy as np  # here: ~0.5 s at start for servers with embeddings off

    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def embed_texts(texts: list[str]) -> np.ndarray:
    """One normalized row per text (blocking: the indexing task's)."""
    client = _sync_client(*_config())
    rows: list[list[float]] = []
    for start in range(0, len(texts), BATCH):
        try:
            response = client.embeddings.create(
                model=settings.EMBEDDINGS_MODEL, input=texts[start : start + BATCH]
            )
        except openai.APIError as exc:
            raise EmbeddingError(_message(exc)) from exc
        rows += [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
    return normalized(rows)


async def embed_query(text: str) -> np.ndarray:
    """The normalized vector of a visitor's question (one request, no retry)."""
    try:
        response = await _async_client().embeddings.create(
            model=settings.EMBEDDINGS_MODEL, input=[text]
        )
    except openai.APIError as exc:
        raise EmbeddingError(_message(exc)) from exc
    return normalized([response.data[0].embedding])[0]


def _message(exc: openai.APIError) -> str:
    message = f"The embeddings endpoint failed: {exc.message}"
    return message.replace(_key(), "***") if _key() else message
