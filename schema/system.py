"""apiInfo: what this server is and which parts serve it."""

import strawberry
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.utils.module_loading import import_string

REDIS_LAYERS = (RedisChannelLayer, RedisPubSubChannelLayer)


def channel_layer_name() -> str:
    backend = import_string(settings.CHANNEL_LAYERS["default"]["BACKEND"])
    return "redis" if issubclass(backend, REDIS_LAYERS) else "in-memory"


def llm_provider_name() -> str:
    return settings.LLM_PROVIDER


@strawberry.type
class ApiInfo:
    name: str
    version: str
    llm_provider: str
    channel_layer: str
    database: str
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


@strawberry.type
class SystemQuery:
    @strawberry.field(description="Server name, version and the services in use.")
    def api_info(self) -> ApiInfo:
        return api_info()
