"""LLM providers: pick one from settings, stream chunks from it.

provider = get_provider()
async for chunk in provider.stream(LLMRequest(model=..., messages=(...))):
    ...
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import (
    ChatMessage,
    Chunk,
    LLMError,
    LLMErrorCode,
    LLMRequest,
    Passage,
    Provider,
    Usage,
)
from .offline import OfflineProvider
from .openai_provider import OpenAIProvider

__all__ = [
    "ChatMessage",
    "Chunk",
    "LLMError",
    "LLMErrorCode",
    "LLMRequest",
    "OfflineProvider",
    "OpenAIProvider",
    "Passage",
    "Provider",
    "Usage",
    "get_provider",
    "provider_info",
]


def get_provider() -> Provider:
    """Return the provider selected by `settings.LLM_PROVIDER` ("openai" or "offline").

    Settings are read on every call, so overriding them (tests, reloads) takes effect;
    providers are cached per distinct configuration.
    """
    name = settings.LLM_PROVIDER
    if name == "openai":
        return _openai_provider(
            settings.OPENAI_API_KEY,
            settings.OPENAI_BASE_URL,
            float(settings.OPENAI_TIMEOUT),
            int(settings.OPENAI_MAX_RETRIES),
            settings.OPENAI_HTTP_CLIENT,
        )
    if name == "offline":
        return _offline_provider(float(settings.OFFLINE_TOKEN_DELAY))
    raise ImproperlyConfigured(f'LLM_PROVIDER must be "openai" or "offline", not {name!r}.')


def provider_info() -> dict[str, str]:
    """Describe the active provider for the landing page and `apiInfo` (no credentials)."""
    provider = get_provider()
    return {
        "name": provider.name,
        "description": provider.description,
        "base_url": getattr(provider, "base_url", ""),
    }


@lru_cache(maxsize=8)
def _openai_provider(
    api_key: str, base_url: str, timeout: float, retries: int, transport: str
) -> Provider:
    return OpenAIProvider(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=retries,
        transport=transport,
    )


@lru_cache(maxsize=8)
def _offline_provider(token_delay: float) -> Provider:
    return OfflineProvider(token_delay=token_delay)
