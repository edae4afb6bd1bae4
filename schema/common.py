"""Helpers shared by the domain schemas."""

from typing import Any, ClassVar

import strawberry
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from strawberry import relay
from strawberry_django import optimizer
from strawberry_django.relay.utils import resolve_model_node
from strawberry_django.resolvers import django_resolver
from strawberry_django.utils.typing import get_django_definition

from core.exceptions import ConversationExpired

# The range of the integer primary keys (Postgres bigint; SQLite INTEGER).
_PK_RANGE = range(-(2**63), 2**63)
# Digits of the longest key, with a sign: longer text is refused before int() reads it
# (Python refuses 4300 digits and more with a ValueError, and converting is quadratic).
_PK_MAX_CHARS = 20


def parse_pk(value: object) -> int | None:
    """An integer primary key from text, or None when no row can have it: not an
    integer, or outside the key's range (which the database would refuse)."""
    text = str(value).strip()
    if len(text) > _PK_MAX_CHARS:
        return None
    try:
        pk = int(text)
    except ValueError:
        return None
    return pk if pk in _PK_RANGE else None


def pk_from_global_id(value: relay.GlobalID | str, type_name: str, *, field: str = "id") -> int:
    """Decode a global ID of `type_name` into a primary key, or raise a field error."""
    try:
        gid = value if isinstance(value, relay.GlobalID) else relay.GlobalID.from_id(value)
        pk = parse_pk(gid.node_id) if gid.type_name == type_name else None
    except (ValueError, TypeError):
        pk = None
    if pk is None:
        raise ValidationError(
            {field: ValidationError(f"Expected the ID of a {type_name}.", code="invalid_id")}
        )
    return pk


def input_data(obj: Any, *, renames: dict[str, str] | None = None) -> dict[str, Any]:
    """Fields of a strawberry input that were given (UNSET dropped), renamed for the model."""
    renames = renames or {}
    data = {}
    for name, value in vars(obj).items():
        if value is strawberry.UNSET:
            continue
        data[renames.get(name, name)] = value
    return data


def is_top_level(info) -> bool:
    return info.path.prev is None


class ModelNode(relay.Node):
    """A Relay node whose ID is the model's pk.

    Strawberry finds a node's ID attribute by evaluating every type annotation of the
    class on each call (it never caches the answer): ~0.3 ms per object, the largest
    cost of list queries. Naming it here skips that search.
    """

    _id_attr: ClassVar[str | None] = "pk"

    @classmethod
    def resolve_node(cls, node_id, *, info, required: bool = False):
        node_id = _checked_node_id(cls, node_id, info)
        if node_id is None:
            return None
        return django_resolver(resolve_model_node)(cls, node_id, info=info, required=required)


def _checked_node_id(cls, node_id, info) -> str | None:
    """The node id to look up, or None when no object can have it.

    A well-formed global ID of another type asked for through a typed field
    (`bot(id: <a Scenario's ID>)`) is a clear client error, not the internal "Expected
    value of type 'Bot'"; an id that is not an integer in the primary key's range
    (`Bot:abc`) finds nothing, like an id that does not exist, instead of failing in the
    database ("expected a number", integer overflow) with an internal error.
    """
    expected = info.return_type if info is not None else None
    while hasattr(expected, "of_type"):  # Optional / NonNull wrappers
        expected = expected.of_type
    if isinstance(expected, type) and not issubclass(cls, expected):
        wanted = expected.__name__
        raise ValidationError(
            f"Expected the ID of a {wanted}, got the ID of a {cls.__name__}.", code="invalid_id"
        )
    if isinstance(node_id, relay.GlobalID):
        node_id = node_id.node_id
    pk = parse_pk(node_id)
    return None if pk is None else str(pk)


def visible(
    info, queryset: QuerySet, selector, *, visitors: bool = False, required: bool = True
) -> QuerySet:
    """The rows of `queryset` the caller may see, as the domain's `selector` decides
    (`bots.selectors`, `conversations.selectors`, `accounts.selectors`).

    `required`: an anonymous caller reading at the top level (a list, an ID lookup) is
    refused with UNAUTHENTICATED instead of being shown nothing. `visitors`: a chat token
    (X-Chat-Token, or chatToken in connection_init) admits the caller too, and the
    selector receives it.
    """
    context = info.context
    if visitors and context.expired_conversation_id and not context.user.is_authenticated:
        raise ConversationExpired(
            "This chat token's conversation has expired: start a new one with resetConversation."
        )
    admitted = context.user.is_authenticated or (visitors and context.chat_token)
    if required and not admitted and is_top_level(info):
        context.get_user(required=True)
    if visitors:
        return selector(user=context.user, chat_token=context.chat_token, queryset=queryset)
    return selector(user=context.user, queryset=queryset)


class ScopedNode(ModelNode):
    """A node whose visibility is decided where a query enters the graph: the one way
    every type of the schema is scoped.

    `scope(queryset, info)` narrows a queryset to what the caller may see (each type
    calls `visible` with its selector). It applies to the top-level lists (their
    resolvers call it) and to ID lookups (`node`, `bot`…, through `resolve_node(s)`
    below), not to relations nested under an object: what hangs off a visible object
    (a bot's owner, scenarios, steps, next step; a conversation's messages) is visible
    too, so filtering again at every level would only cost joins or subqueries.

    Not strawberry-django's `get_queryset`, which also runs on every nested relation: a
    type with one makes the optimizer prefetch its to-one relations in an extra query
    per relation, filtered by Django's `TupleIn`, instead of a JOIN; SQLite renders that
    `id = 1 OR id = 2 OR …` and refuses it past 1,000 ids ("Expression tree is too
    large"): the nested bots → scenarios → steps query failed from ~23 bots of 5 x 10
    steps.
    """

    @classmethod
    def scope(cls, queryset: QuerySet, info) -> QuerySet:
        raise NotImplementedError

    @classmethod
    def _scoped(cls, info) -> QuerySet:
        model = get_django_definition(cls, strict=True).model
        return cls.scope(model._default_manager.all(), info)

    @classmethod
    def resolve_node(cls, node_id, *, info, required: bool = False):
        node_id = _checked_node_id(cls, node_id, info)
        if node_id is None:
            return None
        queryset = _optimized(cls._scoped(info).filter(pk=node_id), info)
        return django_resolver(lambda: queryset.get() if required else queryset.first())()

    @classmethod
    def resolve_nodes(cls, *, info, node_ids=None, required: bool = False):
        queryset = cls._scoped(info)
        if node_ids is None:
            return django_resolver(lambda qs: qs, qs_hook=lambda qs: qs)(_optimized(queryset, info))
        ids = [i.node_id if isinstance(i, relay.GlobalID) else str(i) for i in node_ids]
        queryset = _optimized(queryset.filter(pk__in=ids), info)

        def fetch():
            found = {str(obj.pk): obj for obj in queryset}
            return [found[i] for i in ids] if required else [found.get(i) for i in ids]

        return django_resolver(fetch)()


def _optimized(queryset: QuerySet, info) -> QuerySet:
    extension = optimizer.optimizer.get()
    return extension.optimize(queryset, info=info) if extension is not None else queryset
