"""The demo chat page: one per public active bot, plain HTML + JavaScript served by the app.

The page is a visitor client of the public API, nothing more: it starts a conversation
and talks to it with GraphQL over HTTP and `graphql-transport-ws` (static/chat/chat.js),
so it shows in a few hundred lines what any frontend has to do, resuming included.
"""

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from graphql import GraphQLSchema
from strawberry import relay

from bots.models import Bot
from schema import schema
from schema.common import parse_pk, pk_from_global_id

# What the chat clients (static/chat/client.js) can use, by the schema members each
# needs ("Type" or "Type.field"): the pages ask only for fields this server has.
FEATURES = {
    "feedback": ("Message.feedback", "Mutation.rateMessage"),
    "suggestions": ("Message.suggestions", "SuggestionsReady"),
    "regenerate": ("Message.replacesId", "Mutation.regenerateReply"),
    "expiry": ("ConversationExpired", "Mutation.resetConversation"),
    "startInputs": ("StartConversationInput.variables",),
    "citations": ("Message.citations",),
    "handoff": ("HandoffChanged", "Mutation.requestHandoff", "BotProfile.handoffEnabled"),
}


def _has(graphql_schema: GraphQLSchema, member: str) -> bool:
    type_name, _, field = member.partition(".")
    found = graphql_schema.get_type(type_name)
    return found is not None and (not field or field in getattr(found, "fields", {}))


def features_of(graphql_schema: GraphQLSchema) -> tuple[str, ...]:
    """The FEATURES whose every member `graphql_schema` has."""
    return tuple(
        name
        for name, members in FEATURES.items()
        if all(_has(graphql_schema, member) for member in members)
    )


@cache
def client_features() -> tuple[str, ...]:
    """The FEATURES of this server's schema (Strawberry's graphql-core schema)."""
    return features_of(schema._schema)


@dataclass(frozen=True)
class ChatBot:
    """What the pages show of a bot; `id` is its GraphQL global ID."""

    id: str
    name: str
    description: str

    @property
    def url(self) -> str:
        return reverse("chat", args=[self.id])


def _chat_bot(bot: Bot) -> ChatBot:
    return ChatBot(id=relay.to_base64("Bot", bot.pk), name=bot.name, description=bot.description)


def _listed():
    """Bots anyone may see on these pages: active ones their owner made public. Other
    active bots still chat through the API with their ID (startConversation), but their
    names and descriptions are not shown to strangers."""
    return Bot.objects.filter(is_active=True, is_public=True)


async def public_bots() -> list[ChatBot]:
    """Public active bots, by name."""
    return [_chat_bot(bot) async for bot in _listed().order_by("name", "pk")]


def _bot_pk(reference: str) -> int | None:
    """A bot's primary key from its global ID ("Qm90OjE=") or its plain pk ("1")."""
    if reference.isascii() and reference.isdecimal():
        return parse_pk(reference)
    try:
        return pk_from_global_id(reference, "Bot")
    except ValidationError:
        return None


async def chat_index(request: HttpRequest) -> HttpResponse:
    return render(request, "chat.html", {"bots": await public_bots()})


async def chat(request: HttpRequest, bot_ref: str) -> HttpResponse:
    pk = _bot_pk(bot_ref)
    bot = await _listed().filter(pk=pk).afirst() if pk is not None else None
    if bot is None:
        raise Http404("No public active bot with this ID.")
    context = {
        "bot": _chat_bot(bot),
        "max_length": settings.MESSAGE_MAX_LENGTH,
        "features": client_features(),
    }
    return render(request, "chat.html", context)
