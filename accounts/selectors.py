"""Reads: which users and API tokens a caller may see (the GraphQL types narrow their
querysets with these, like bots.selectors and conversations.selectors)."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from accounts.models import ApiToken


def user_list(*, user, queryset: QuerySet | None = None) -> QuerySet:
    """Staff see every user, a user themself, anonymous callers none."""
    base = get_user_model()._default_manager.all() if queryset is None else queryset
    if not user.is_authenticated:
        return base.none()
    return base if user.is_staff else base.filter(pk=user.pk)


def api_token_list(*, user, queryset: QuerySet[ApiToken] | None = None) -> QuerySet[ApiToken]:
    """A user's own tokens (staff included: nobody sees another's); anonymous: none."""
    base = ApiToken.objects.all() if queryset is None else queryset
    return base.filter(user=user) if user.is_authenticated else base.none()
