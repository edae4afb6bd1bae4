"""Proposed fixes, patched in at run time to measure their gain before anyone ships them.

Not application code: the benchmarks only. `BENCH_WHATIF=name,name` in a server's
environment makes the benchmark run daphne with `bench.whatif:application` (the real
`server.asgi:application` with the patches applied first); the nested-read worker
applies them in-process. Each patch stands for a concrete change proposed in
docs/BENCHMARKS.md:

node_id        relay types answer `resolve_id_attr()` with "pk" at once, instead of
               scanning every annotation of the class MRO (eval_type, ast.unparse,
               compile) for a NodeID on *every* `id` resolved: strawberry caches the
               answer only when a NodeID annotation exists, and strawberry-django types
               have none. Fix: a `resolve_id_attr` classmethod returning "pk" on the
               schema's Node types (schema/common.py mixin).
fk_join        forward foreign keys (Bot.owner, Scenario.initialStep, Step.nextStep) fetched
               with a JOIN instead of a Prefetch: strawberry-django prefetches any FK
               whose target type defines get_queryset, one extra query per FK with
               the ids as a TupleIn, which SQLite renders as an OR chain (slow to
               build, and past ~1000 ids "Expression tree is too large": the 50x5x10
               read fails). Fix: scope visibility at the top-level fields (resolvers or
               filters on `bots`/`scenarios`/`steps`/node) and drop get_queryset from
               the User/Scenario/Step types, so nested FKs become select_related.
annotation     annotated fields (Bot.scenarioCount) read from the instance, no thread:
               strawberry-django finds no model attribute named like the annotation,
               so it falls back to django_getattr = sync_to_async, one worker-thread hop
               per row (20 per `bots(first: 20)`). Fix: a StrawberryDjangoField subclass
               for annotated fields whose get_result returns `root.__dict__[name]` when
               present (field_cls=… on `scenario_count`), or the same upstream.
lean_mw        CommonMiddleware, MessageMiddleware, XFrameOptionsMiddleware and
               SecurityMiddleware out of the chain: Django runs each MiddlewareMixin hook
               of a sync-capable middleware through sync_to_async in an async request
               (2 hops per middleware). Measures what those hops cost; the fix would be a
               lean async path for /graphql.
layer_clean    channels' InMemoryChannelLayer runs _clean_expired (a scan of every channel
               and every group) on every send, group_send and receive: O(subscribers)
               per event, O(N^2) per second at N streams (14% of the CPU at N=200).
               Fix (embedded mode): a small InMemoryChannelLayer subclass in the
               project whose _clean_expired runs at most once a second.
parse_cache    ParserCache schema extension (parse each distinct query text once). Not
               ValidationCache: the QueryLimits rule depends on the request's variables,
               so a cached validation would skip it (a limit bypass).
limits_rule    schema/limits.py builds a new ValidationRule *class* on every request
               (query_limits_rule); graphql-core caches a visitor's enter/leave lookups
               per class, so each request pays class creation plus cold lookups (the
               `<lambda> (<string>)` and get_enter_leave_for_kind samples). Fix: one
               module-level rule class that reads the limits and this request's
               variables from a contextvar set in QueryLimits.on_validate.
async_static   WhiteNoise, the only sync-only middleware, taken out of the chain: with it
               every request hops loop -> worker thread -> loop (a new thread per
               request). Fix: an async-capable static-files middleware, or static
               files served by nginx in production.
redis_channel  ReplyWriter's gap-repair channel made with the layer's default prefix:
               channels-redis serves all process-local channels of one prefix with one
               BZPOPMIN loop, but holds ONE receive lock per layer, so a process with
               both "gen." and "specific." receivers blocks one prefix behind the
               other's 5 s BZPOPMIN timeout. Fix: `layer.new_channel()` in
               conversations/streaming.py ReplyWriter.__aenter__.
"""

from __future__ import annotations

import os

AVAILABLE = (
    "node_id",
    "fk_join",
    "annotation",
    "layer_clean",
    "parse_cache",
    "limits_rule",
    "async_static",
    "lean_mw",
    "redis_channel",
)
LEAN_DROPPED = (
    "CommonMiddleware",
    "MessageMiddleware",
    "XFrameOptionsMiddleware",
    "SecurityMiddleware",
)


def selected() -> list[str]:
    names = [n.strip() for n in os.environ.get("BENCH_WHATIF", "").split(",") if n.strip()]
    unknown = [n for n in names if n not in AVAILABLE]
    if unknown:
        raise ValueError(f"unknown BENCH_WHATIF patches {unknown}; choose from {AVAILABLE}")
    return names


def apply_settings(names: list[str]) -> None:
    """Patches that must precede django.setup() / get_asgi_application()."""
    if "async_static" in names:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
        from django.conf import settings

        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "whitenoise" not in m]
    if "lean_mw" in names:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
        from django.conf import settings

        settings.MIDDLEWARE = [
            m for m in settings.MIDDLEWARE if m.rsplit(".", 1)[-1] not in LEAN_DROPPED
        ]


def apply_runtime(names: list[str]) -> None:
    """Patches on classes, once Django and the schema are loaded."""
    if "node_id" in names:
        from strawberry import relay

        def walk(cls):
            for sub in cls.__subclasses__():
                yield sub
                yield from walk(sub)

        for cls in walk(relay.Node):
            if hasattr(cls, "__strawberry_django_definition__"):
                cls._id_attr = "pk"
    if "fk_join" in names:
        from strawberry_django import optimizer

        optimizer._must_use_prefetch_related = lambda config, field, model_field: False
    if "annotation" in names:
        from strawberry_django.fields.field import StrawberryDjangoField

        original_get_result = StrawberryDjangoField.get_result

        def get_result(self, source, info, args, kwargs):
            if source is not None and self.base_resolver is None:
                name = self.django_name or self.python_name
                if name in getattr(source, "__dict__", ()) and not hasattr(type(source), name):
                    return source.__dict__[name]
            return original_get_result(self, source, info, args, kwargs)

        StrawberryDjangoField.get_result = get_result
    if "layer_clean" in names:
        import time

        from channels.layers import InMemoryChannelLayer

        original_clean = InMemoryChannelLayer._clean_expired

        def clean_expired(self):
            now = time.monotonic()
            if now - getattr(self, "_bench_last_clean", 0.0) >= 1.0:
                self._bench_last_clean = now
                original_clean(self)

        InMemoryChannelLayer._clean_expired = clean_expired
    if "parse_cache" in names:
        from strawberry.extensions import ParserCache

        from schema import schema

        schema.extensions = (*schema.extensions, ParserCache)
    if "limits_rule" in names:
        _patch_limits_rule()
    if "redis_channel" in names:
        from channels_redis.core import RedisChannelLayer

        original = RedisChannelLayer.new_channel

        async def new_channel(self, prefix="specific"):
            return await original(self, "specific")

        RedisChannelLayer.new_channel = new_channel


def _patch_limits_rule() -> None:
    import contextvars
    from collections.abc import Mapping

    from graphql import IntValueNode, OperationDefinitionNode, ValidationRule

    import schema.extensions as extensions
    from schema import limits as limits_module

    current: contextvars.ContextVar = contextvars.ContextVar("bench_query_limits")

    class QueryLimitsRule(ValidationRule):
        def __init__(self, context) -> None:
            super().__init__(context)
            limits, values = current.get()
            for definition in context.document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    defaults = {
                        variable.variable.name.value: int(variable.default_value.value)
                        for variable in definition.variable_definitions or ()
                        if isinstance(variable.default_value, IntValueNode)
                    }
                    limits_module._Analyzer(context, limits, {**defaults, **values}).check(
                        definition
                    )

    def query_limits_rule(limits, variables=None):
        current.set((limits, variables if isinstance(variables, Mapping) else {}))
        return QueryLimitsRule

    limits_module.query_limits_rule = query_limits_rule
    extensions.query_limits_rule = query_limits_rule


def _application():
    names = selected()
    apply_settings(names)
    from server.asgi import application as app

    apply_runtime(names)
    return app


application = _application()
