from django.contrib import admin

from core.admin_scoping import OwnedAdmin
from integrations.models import Webhook, WebhookDelivery


@admin.register(Webhook)
class WebhookAdmin(OwnedAdmin):
    owner_path = "bot__owner"
    list_display = ("url", "bot", "is_active", "created_at")
    list_filter = ("is_active",)
    # The secret is shown once, by createWebhook; the admin never shows it.
    exclude = ("secret",)
    readonly_fields = ("disabled_reason",)

    def has_add_permission(self, request):
        return False  # an endpoint needs a secret and a guarded URL: createWebhook


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(OwnedAdmin):
    owner_path = "webhook__bot__owner"
    list_display = ("event", "webhook", "status", "attempts", "response_code", "created_at")
    list_filter = ("status", "event")
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False
