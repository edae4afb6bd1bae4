"""apiInfo: what this server is and, for staff, which parts serve it.

The version, database, channel layer and LLM provider help an attacker pick exploits
and tell nobody else anything they need, so they are null unless the caller is staff.
The name and the subscription protocols are what every client needs.
"""

import dataclasses

import strawberry
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.utils.module_loading import import_string

from schema.context import Info

REDIS_LAYERS = (RedisChannelLayer, RedisPubSubChannelLayer)


def channel_layer_name() -> str:
    backend = import_string(settings.CHANNEL_LAYERS["default"]["BACKEND"])
    return "redis" if issubclass(backend, REDIS_LAYERS) else "in-memory"


def llm_provider_name() -> str:
    return settings.LLM_PROVIDER


STAFF_ONLY = "Null unless the caller is staff."


@strawberry.type
class ApiInfo:
    name: str
    version: str | None = strawberry.field(description=STAFF_ONLY)
    llm_provider: str | None = strawberry.field(description=STAFF_ONLY)
    channel_layer: str | None = strawberry.field(description=STAFF_ONLY)
    database: str | None = strawberry.field(description=STAFF_ONLY)
    subscription_protocols: list[str]


def api_info() -> ApiInfo:
    return ApiInfo(
        name="Botstream",
        version=settings.VERSION,
        llm_provider=llm_provider_name(),
        channel_layer=channel_layer_name(),
        database=settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        subscription_protocols=["graphql-transport-ws", "graphql-ws"],
    )


def api_info_for(user) -> ApiInfo:
    """What `user` may know of this server: everything for staff, else name and protocols."""
    info = api_info()
    if user.is_authenticated and user.is_staff:
        return info
    return dataclasses.replace(
        info, version=None, llm_provider=None, channel_layer=None, database=None
    )


@strawberry.type
class SystemQuery:
    @strawberry.field(
        description="Server name and subscription protocols; for staff, version and services."
    )
    def api_info(self, info: Info) -> ApiInfo:
        return api_info_for(info.context.user)
