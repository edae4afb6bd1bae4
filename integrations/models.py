from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from bots.models import Bot


class WebhookEvent(models.TextChoices):
    """What an endpoint may subscribe to: the domain events of core.events (all of them,
    tests/integrations/test_webhook_api.py checks)."""

    CONVERSATION_STARTED = "conversation.started", "A conversation started"
    MESSAGE_COMPLETED = "message.completed", "A message completed"
    FEEDBACK_GIVEN = "feedback.given", "A visitor rated a reply"
    HANDOFF_REQUESTED = "handoff.requested", "A handoff to a human was requested"
    CONVERSATION_EXPIRED = "conversation.expired", "A conversation expired or was reset"


class Webhook(models.Model):
    """An endpoint of a bot's owner that receives the bot's events, signed with its
    secret (the Standard Webhooks scheme, integrations/signing.py).

    The secret is kept as it is (signing needs it); it is shown to the owner once."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000, help_text="Where the events are POSTed.")
    events = models.JSONField(default=list, help_text="The event names it receives.")
    description = models.CharField(max_length=500, blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive endpoints receive nothing.")
    secret = models.CharField(max_length=100, editable=False)
    disabled_reason = models.CharField(
        max_length=300,
        blank=True,
        editable=False,
        help_text="Why delivery turned it off (it answered 410 Gone); cleared on reactivation.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["bot", "-created_at"], name="webhook_bot_recent_idx")]

    def __str__(self) -> str:
        return f"{self.url} ({self.bot_id})"

    def clean(self) -> None:
        events = self.events if isinstance(self.events, list) else None
        if not events or not all(isinstance(name, str) for name in events):
            message = "Subscribe to at least one event."
            raise ValidationError({"events": ValidationError(message, code="required")})
        unknown = sorted(set(events) - set(WebhookEvent.values))
        if unknown:
            message = f"Unknown events: {', '.join(unknown)}."
            raise ValidationError({"events": ValidationError(message, code="invalid_choice")})
        self.events = [name for name in WebhookEvent.values if name in events]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending (an attempt is due or scheduled)"
    SUCCEEDED = "succeeded", "Succeeded (the endpoint answered 2xx)"
    FAILED = "failed", "Failed (no attempt left, or the endpoint is off)"


class WebhookDelivery(models.Model):
    """One event for one endpoint, and how its delivery went (integrations/delivery.py).

    `message_id` is the `webhook-id` header: the same for every attempt and for a
    redelivery, so a receiver can drop duplicates."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=50, choices=WebhookEvent.choices)
    message_id = models.CharField(max_length=64)
    payload = models.JSONField(help_text="The JSON body sent (type, timestamp, data).")
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # While an attempt runs: another worker (a retry sweep's task) leaves it alone.
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["webhook", "-created_at"], name="delivery_webhook_recent_idx"),
            # The sweep's candidates: deliveries still waiting for an attempt.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_pending_idx",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to webhook {self.webhook_id}: {self.status}"
