"""Writes of webhooks: endpoints (create, update, delete), deliveries (one per event and
subscribed endpoint, redelivery). Sending is integrations/delivery.py's, on the queue."""

import logging
import uuid
from base64 import b64encode
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from bots.models import Bot
from bots.selectors import bot_list
from core.address_guard import address_refusal
from core.events import Event
from core.exceptions import NotFound
from integrations.models import DeliveryStatus, Webhook, WebhookDelivery
from integrations.selectors import delivery_list, webhook_list
from integrations.signing import new_secret
from integrations.tasks import deliver_webhook
from overrides.prepared import PreparedQuery

logger = logging.getLogger(__name__)

# Payload keys holding primary keys, sent as the GraphQL global IDs of their type.
_NODE_TYPES = {
    "bot_id": "Bot",
    "conversation_id": "Conversation",
    "message_id": "Message",
    "scenario_id": "Scenario",
    "step_id": "Step",
}
_EDITABLE = ("url", "events", "description", "is_active")


def _url_error(message: str, code: str) -> ValidationError:
    return ValidationError({"url": ValidationError(message, code=code)})


def _check_url(url: str) -> None:
    """The endpoint must be http(s) and pass the outbound address guard now (its host
    may not resolve to a private or reserved address unless allow-listed); delivery
    checks the address again on every attempt (DNS may change)."""
    if not url.lower().startswith(("http://", "https://")):
        raise _url_error("Use an http:// or https:// URL.", "invalid_scheme")
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:  # what Django's validator lets through and httpx not
        raise _url_error(f"Enter a valid URL ({exc}).", "invalid") from exc
    refusal = address_refusal(url, allow_hosts=settings.API_CALL_ALLOW_HOSTS)
    if refusal:
        raise _url_error(refusal, "blocked_address")


def _validated(webhook: Webhook) -> Webhook:
    webhook.full_clean(exclude=["bot"])
    _check_url(webhook.url)
    return webhook


def webhook_create(
    *,
    user,
    bot_id: int,
    url: str,
    events: list[str],
    description: str = "",
    is_active: bool = True,
) -> tuple[Webhook, str]:
    """Add an endpoint to one of `user`'s bots; returns it and its signing secret (shown
    once). Raises ValidationError with the field and code of what is wrong."""
    bot = bot_list(user=user).filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("Bot not found.")
    secret = new_secret()
    webhook = _validated(
        Webhook(
            bot=bot,
            url=url.strip(),
            events=events,
            description=description or "",
            is_active=is_active,
            secret=secret,
        )
    )
    with transaction.atomic():
        # The bot's row lock serializes creates, so the cap holds under concurrency.
        Bot.objects.select_for_update().filter(pk=bot.pk).first()
        limit = settings.WEBHOOK_MAX_PER_BOT
        if Webhook.objects.filter(bot=bot).count() >= limit:
            raise ValidationError(f"A bot has at most {limit} webhooks.", code="too_many_webhooks")
        webhook.save()
    return webhook, secret


def webhook_update(*, user, webhook_id: int, **data: Any) -> Webhook:
    """Change an endpoint's URL, events, description or activity (None: unchanged,
    except a description, which None clears). Reactivating clears `disabled_reason`."""
    webhook = webhook_list(user=user).filter(pk=webhook_id).first()
    if webhook is None:
        raise NotFound("Webhook not found.")
    for name in _EDITABLE:
        if name not in data or (data[name] is None and name != "description"):
            continue
        value = data[name]
        setattr(webhook, name, (value or "") if name == "description" else value)
    if isinstance(webhook.url, str):
        webhook.url = webhook.url.strip()
    if data.get("is_active"):
        webhook.disabled_reason = ""
    _validated(webhook).save()
    return webhook


@transaction.atomic
def webhook_delete(*, user, webhook_id: int) -> Webhook:
    """Delete an endpoint and its delivery log (deliveries in flight are dropped)."""
    webhook = webhook_list(user=user).select_for_update().filter(pk=webhook_id).first()
    if webhook is None:
        raise NotFound("Webhook not found.")
    webhook.delete()
    webhook.pk = webhook_id
    return webhook


@transaction.atomic
def webhook_redeliver(*, user, delivery_id: int) -> WebhookDelivery:
    """Send a delivery's event to its endpoint again, as a new delivery with the same
    `webhook-id` (a receiver that processed it already can drop it)."""
    original = delivery_list(user=user).select_related("webhook").filter(pk=delivery_id).first()
    if original is None:
        raise NotFound("Webhook delivery not found.")
    if not original.webhook.is_active:
        message = "The webhook is inactive: activate it (updateWebhook) to redeliver."
        raise ValidationError({"delivery_id": ValidationError(message, code="webhook_inactive")})
    redelivery = WebhookDelivery.objects.create(
        webhook=original.webhook,
        event=original.event,
        message_id=original.message_id,
        payload=original.payload,
        next_attempt_at=timezone.now(),
        redelivery_of=original,
    )
    deliver_webhook.enqueue(redelivery.pk)
    return redelivery


def _global_id(key: str, value: object) -> object:
    type_name = _NODE_TYPES.get(key)
    if type_name is None or value is None or not str(value).isdigit():
        return value
    return b64encode(f"{type_name}:{value}".encode()).decode("ascii")


def payload_of(event: Event, *, at) -> dict:
    """The JSON body of `event` (the Standard Webhooks shape: type, timestamp, data);
    ids are the GraphQL API's global IDs, so a receiver can query what it refers to."""
    data = {"bot_id": event.bot_id, **event.payload}
    return {
        "type": event.name,
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "data": {key: _global_id(key, value) for key, value in data.items()},
    }


# Run for every completed reply, bots without webhooks included: built once.
_active_hooks = PreparedQuery(
    lambda bot_id: Webhook.objects.filter(bot_id=bot_id, is_active=True).only("events"),
    ints=("bot_id",),
)


def deliveries_create(*, event: Event) -> list[WebhookDelivery]:
    """One pending delivery per active endpoint of the event's bot subscribed to it,
    each with its task enqueued in the same transaction; none without such endpoints
    (one query)."""
    hooks = [hook for hook in _active_hooks.fetch(bot_id=event.bot_id) if event.name in hook.events]
    if not hooks:
        return []
    now = timezone.now()
    payload = payload_of(event, at=now)
    message_id = f"msg_{uuid.uuid4().hex}"
    with transaction.atomic():
        created = [
            WebhookDelivery.objects.create(
                webhook=hook,
                event=event.name,
                message_id=message_id,
                payload=payload,
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
            )
            for hook in hooks
        ]
        for delivery in created:
            deliver_webhook.enqueue(delivery.pk)
    return created


def on_event(event: Event) -> None:
    """The core.events listener (after the fact's commit): queue its deliveries. Never
    raises: a failure here must not fail the request or turn that made the fact."""
    try:
        deliveries_create(event=event)
    except Exception:
        logger.exception("could not queue the webhooks of %s (bot %s)", event.name, event.bot_id)
