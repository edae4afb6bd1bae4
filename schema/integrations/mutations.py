"""Webhook mutations: decode IDs, call a service, return the object."""

import strawberry
import strawberry_django
from strawberry import UNSET, relay

from integrations import services
from schema.common import input_data, pk_from_global_id
from schema.context import Info
from schema.integrations.types import CreatedWebhook, Webhook, WebhookDelivery, WebhookEventEnum


@strawberry.input
class CreateWebhookInput:
    bot_id: relay.GlobalID
    url: str = strawberry.field(description="http(s); not a private address unless allowed.")
    events: list[WebhookEventEnum]  # type: ignore[valid-type]
    description: str | None = ""
    is_active: bool = True


@strawberry.input
class UpdateWebhookInput:
    id: relay.GlobalID
    url: str | None = UNSET
    events: list[WebhookEventEnum] | None = UNSET  # type: ignore[valid-type]
    description: str | None = UNSET
    is_active: bool | None = strawberry.field(
        default=UNSET, description="true also clears disabledReason."
    )


@strawberry.input
class DeleteWebhookInput:
    id: relay.GlobalID


@strawberry.input
class RedeliverWebhookInput:
    delivery_id: relay.GlobalID


def _event_names(events) -> list[str] | None:
    return None if events is None else [event.value for event in events]


@strawberry.type
class IntegrationMutation:
    @strawberry_django.mutation(
        handle_django_errors=True,
        description="Add a webhook to your bot; returns it and its signing secret (shown once).",
    )
    def create_webhook(self, info: Info, input: CreateWebhookInput) -> CreatedWebhook:
        bot_id = pk_from_global_id(input.bot_id, "Bot", field="bot_id")
        webhook, secret = services.webhook_create(
            user=info.context.get_user(),
            bot_id=bot_id,
            url=input.url,
            events=_event_names(input.events) or [],
            description=input.description or "",
            is_active=input.is_active,
        )
        return CreatedWebhook(webhook=webhook, secret=secret)

    @strawberry_django.mutation(handle_django_errors=True)
    def update_webhook(self, info: Info, input: UpdateWebhookInput) -> Webhook:
        data = input_data(input)
        webhook_id = pk_from_global_id(data.pop("id"), "Webhook")
        if "events" in data:
            data["events"] = _event_names(data["events"])
        return services.webhook_update(user=info.context.get_user(), webhook_id=webhook_id, **data)

    @strawberry_django.mutation(handle_django_errors=True)
    def delete_webhook(self, info: Info, input: DeleteWebhookInput) -> Webhook:
        webhook_id = pk_from_global_id(input.id, "Webhook")
        return services.webhook_delete(user=info.context.get_user(), webhook_id=webhook_id)

    @strawberry_django.mutation(
        handle_django_errors=True,
        description="Send a delivery's event to its webhook again (a new delivery, same "
        "webhook-id); returns the new delivery.",
    )
    def redeliver_webhook(self, info: Info, input: RedeliverWebhookInput) -> WebhookDelivery:
        delivery_id = pk_from_global_id(input.delivery_id, "WebhookDelivery", field="delivery_id")
        return services.webhook_redeliver(user=info.context.get_user(), delivery_id=delivery_id)
