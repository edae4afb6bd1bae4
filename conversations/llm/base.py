"""The provider interface: what generation code needs from any LLM backend.

A provider turns an `LLMRequest` into an async stream of `Chunk`s. Text chunks come
first, in order; a final `Chunk(usage=...)` follows when the backend reports usage.
Every failure surfaces as an `LLMError` whose `code` is one of `LLMErrorCode`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Passage:
    """A passage of the bot's documents given to the model, cited as [number]."""

    number: int
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class LLMRequest:
    model: str
    # Built by the caller: system prompt first, then history, then the last user message.
    messages: tuple[ChatMessage, ...]
    temperature: float = 0.7
    max_tokens: int | None = None
    # Free text about the bot (name, description) that the offline engine uses as context.
    hint: str = ""
    # What the answer is for: "reply" (to the visitor) or "suggestions" (follow-up
    # questions, a JSON list). Remote models read the instructions in `messages`; the
    # offline engine, which cannot, answers by this.
    task: str = "reply"
    # Which answer among equally good ones: a regenerated reply asks for the next one.
    # Remote models sample anew anyway; the deterministic offline engine picks by it.
    variant: int = 0
    # The passages `messages` carries as data (knowledge): remote models read them there;
    # the offline engine quotes the best one.
    knowledge: tuple[Passage, ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str = ""
    usage: Usage | None = None


def estimate_tokens(text: str) -> int:
    """About four characters a token for English: what a reply counts against its bot's
    budget when the provider reports no usage, and enough to bound a request's size."""
    return len(text) // 4 + 1


class LLMErrorCode(StrEnum):
    AUTH_FAILED = "auth_failed"
    RATE_LIMITED = "rate_limited"
    BAD_REQUEST = "bad_request"
    UPSTREAM_ERROR = "upstream_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    STREAM_BROKEN = "stream_broken"
    NOT_CONFIGURED = "not_configured"
    # Not the provider's: the bot's token budget refused the reply (conversations/budgets.py).
    BUDGET_EXCEEDED = "budget_exceeded"


class LLMError(Exception):
    """A provider failure, safe to show to users and store on a message.

    `code` is a short snake_case `LLMErrorCode` value; `message` is human readable and
    never contains credentials.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = LLMErrorCode(code)
        self.message = message

    def __repr__(self) -> str:
        return f"LLMError({self.code.value!r}, {self.message!r})"


class Provider(Protocol):
    name: str
    description: str

    def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        """Stream the reply to `request`; raise `LLMError` on failure."""
        ...
