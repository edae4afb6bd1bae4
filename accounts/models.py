from django.conf import settings
from django.db import models


class ApiTokenScope(models.TextChoices):
    READ = "read", "Read: queries and subscriptions"
    WRITE = "write", "Write: mutations too"


class ApiToken(models.Model):
    """A bearer token for scripts and frontends; only its digest is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="After this the token fails like a revoked one."
    )
    # db_default too: the previous release, still serving during a deploy, inserts rows
    # without this column.
    scope = models.CharField(
        max_length=5,
        choices=ApiTokenScope,
        default=ApiTokenScope.WRITE,
        db_default=ApiTokenScope.WRITE,
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


def usable_tokens(now):
    """Tokens that authenticate at `now`: not revoked, not expired, of an active user."""
    return ApiToken.objects.filter(
        models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now),
        revoked_at__isnull=True,
        user__is_active=True,
    )
