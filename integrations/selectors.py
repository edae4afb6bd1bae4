"""Reads: which webhooks and deliveries a user may see (the owners of their bots; staff
all). Each selector narrows `queryset` so GraphQL types apply the same rule."""

from django.db.models import QuerySet

from integrations.models import Webhook, WebhookDelivery


def _owned(queryset: QuerySet, user, owner_path: str) -> QuerySet:
    if not user.is_authenticated:
        return queryset.none()
    if user.is_staff:
        return queryset
    return queryset.filter(**{owner_path: user.pk})


def webhook_list(*, user, queryset: QuerySet[Webhook] | None = None) -> QuerySet[Webhook]:
    base = Webhook.objects.all() if queryset is None else queryset
    return _owned(base, user, "bot__owner_id")


def delivery_list(
    *, user, queryset: QuerySet[WebhookDelivery] | None = None
) -> QuerySet[WebhookDelivery]:
    base = WebhookDelivery.objects.all() if queryset is None else queryset
    return _owned(base, user, "webhook__bot__owner_id")
