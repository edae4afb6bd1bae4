"""Webhook delivery on the task queue (django-tasks; run by `manage.py worker`)."""

import logging

from django.conf import settings
from django_tasks import task

from core.periodic import periodic
from integrations import delivery

logger = logging.getLogger(__name__)


@task()
def deliver_webhook(delivery_id: int) -> str:
    """One attempt at a delivery; a failed one enqueues the next, due after its wait."""
    next_at = delivery.attempt(delivery_id)
    if next_at is not None:
        deliver_webhook.using(run_after=next_at).enqueue(delivery_id)
        return f"retry at {next_at.isoformat()}"
    return "done"


@periodic("requeue-stalled-webhooks", every=lambda: settings.WEBHOOK_SWEEP_INTERVAL)
def requeue_stalled_webhooks() -> int:
    """Enqueue again the deliveries whose task was lost with a worker killed mid-attempt."""
    ids = delivery.stalled()
    for delivery_id in ids:
        deliver_webhook.enqueue(delivery_id)
    if ids:
        logger.warning("requeued %d stalled webhook deliveries", len(ids))
    return len(ids)


@periodic("prune-webhook-log", every=lambda: 86400.0 if settings.WEBHOOK_LOG_KEEP_DAYS else 0)
def prune_webhook_log() -> int:
    """Delete finished deliveries older than WEBHOOK_LOG_KEEP_DAYS (the owners' log)."""
    return delivery.prune_log(keep_days=settings.WEBHOOK_LOG_KEEP_DAYS)
