import secrets
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, ApiTokenScope
from core.exceptions import NotFound
from core.tokens import token_digest

TOKEN_PREFIX = "bst_"


@transaction.atomic
def api_token_create(
    *,
    user: AbstractBaseUser,
    name: str,
    scope: str = ApiTokenScope.WRITE,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user`; the raw value is returned once and never stored."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError(
            {"expires_at": ValidationError("The expiry must be in the future.", code="in_past")}
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name.strip() or "token",
        prefix=raw[:12],
        digest=token_digest(raw),
        scope=scope,
        expires_at=expires_at,
    )
    # A field error (the name's max_length) instead of the database's varchar overflow.
    token.full_clean(exclude=["user"], validate_unique=False)
    token.save()
    return token, raw


@transaction.atomic
def api_token_revoke(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("API token not found.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
