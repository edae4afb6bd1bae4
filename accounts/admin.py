from django.contrib import admin

from accounts.admin_scoping import OwnedAdmin
from accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(OwnedAdmin):
    owner_path = owner_field = "user"
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "created_at")
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("prefix", "digest", "created_at", "last_used_at")

    # Tokens are created through the API (the secret is shown once there).
    def has_add_permission(self, request):
        return False
