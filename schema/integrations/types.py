"""Webhooks and their delivery log, for the bots' owners (Bot.webhooks)."""

from datetime import datetime
from typing import Annotated

import strawberry
import strawberry_django
from strawberry import auto
from strawberry.scalars import JSON
from strawberry_django.relay import DjangoListConnection

from integrations import models
from integrations.selectors import delivery_list, webhook_list
from schema.common import ScopedNode, visible

WebhookEventEnum = strawberry.enum(
    models.WebhookEvent, name="WebhookEvent", description="What a webhook may subscribe to."
)
DeliveryStatusEnum = strawberry.enum(
    models.DeliveryStatus,
    name="WebhookDeliveryStatus",
    description="PENDING: an attempt is due or scheduled; SUCCEEDED: a 2xx came back; "
    "FAILED: no attempt left (or the endpoint is off).",
)
BotNode = Annotated["Bot", strawberry.lazy("schema.bots.types")]  # noqa: F821


@strawberry_django.filter_type(models.WebhookDelivery)
class WebhookDeliveryFilter:
    status: DeliveryStatusEnum | None  # type: ignore[valid-type]
    event: WebhookEventEnum | None  # type: ignore[valid-type]


@strawberry_django.order_type(models.WebhookDelivery)
class WebhookDeliveryOrder:
    created_at: auto
    next_attempt_at: auto


@strawberry_django.type(
    models.WebhookDelivery,
    filters=WebhookDeliveryFilter,
    ordering=WebhookDeliveryOrder,
    description="One event sent (or being sent) to one webhook: an entry of its delivery log.",
)
class WebhookDelivery(ScopedNode):
    event: WebhookEventEnum  # type: ignore[valid-type]
    message_id: str = strawberry_django.field(
        description="The webhook-id header: the same on every attempt and on redelivery."
    )
    payload: JSON = strawberry_django.field(description="The JSON body sent.")
    status: DeliveryStatusEnum  # type: ignore[valid-type]
    attempts: auto
    response_code: int | None = strawberry_django.field(
        description="The HTTP status of the last attempt; null if no response came."
    )
    last_error: str = strawberry_django.field(description="Why the last attempt failed.")
    next_attempt_at: datetime | None = strawberry_django.field(
        description="When the next attempt is due (PENDING only)."
    )
    last_attempt_at: datetime | None
    created_at: datetime
    webhook: "Webhook"
    redelivery_of: "WebhookDelivery | None" = strawberry_django.field(
        description="The delivery this one sends again (redeliverWebhook)."
    )

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, delivery_list)


@strawberry_django.type(
    models.Webhook,
    description="An endpoint that receives a bot's events as signed POSTs (Standard "
    "Webhooks: webhook-id, webhook-timestamp, webhook-signature headers).",
)
class Webhook(ScopedNode):
    url: str
    description: auto
    is_active: auto
    disabled_reason: str = strawberry_django.field(
        description="Why delivery turned it off (the URL answered 410 Gone); empty if it did not."
    )
    created_at: datetime
    updated_at: datetime
    bot: BotNode
    deliveries: DjangoListConnection[WebhookDelivery] = strawberry_django.connection(
        description="The delivery log, newest first (filter by status or event)."
    )

    @strawberry_django.field(only=["events"], description="The events it receives.")
    async def events(self, root: models.Webhook) -> list[WebhookEventEnum]:  # type: ignore[valid-type]
        return [WebhookEventEnum(name) for name in root.events]

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, webhook_list)


@strawberry.type
class CreatedWebhook:
    webhook: Webhook
    secret: str = strawberry.field(
        description="The signing secret (whsec_…). Shown once: store it now."
    )
