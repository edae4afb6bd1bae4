from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from accounts.backends import PasswordThrottled
from accounts.models import ApiToken
from core.admin_scoping import OwnedAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(OwnedAdmin):
    owner_path = owner_field = "user"
    list_display = (
        "name",
        "prefix",
        "user",
        "scope",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("scope", "revoked_at", "expires_at", "created_at")
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("prefix", "digest", "created_at", "last_used_at")

    # Tokens are created through the API (the secret is shown once there).
    def has_add_permission(self, request):
        return False


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """The admin's login form, with the password throttle's refusal as a form error."""

    def clean(self):
        try:
            return super().clean()
        except PasswordThrottled as exc:
            raise ValidationError(str(exc), code="rate_limited") from exc


admin.site.login_form = ThrottledAdminLoginForm


def login(request):
    """/admin/login/: the admin's own view, answering 429 when the throttle refused."""
    response = admin.site.login(request)
    form = (getattr(response, "context_data", None) or {}).get("form")
    if form is not None and form.has_error(NON_FIELD_ERRORS, "rate_limited"):
        response.status_code = 429
    return response
