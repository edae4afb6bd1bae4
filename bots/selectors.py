"""Reads: which bots, scenarios and steps a user may see.

Each selector narrows `queryset` (default: all rows) so GraphQL types can apply the same
rule to the querysets the optimizer builds.
"""

from django.db.models import QuerySet

from bots.models import Bot, Scenario, Step


def _owned(queryset: QuerySet, user, owner_path: str) -> QuerySet:
    if not user.is_authenticated:
        return queryset.none()
    if user.is_staff:
        return queryset
    return queryset.filter(**{owner_path: user.pk})


def bot_list(*, user, queryset: QuerySet[Bot] | None = None) -> QuerySet[Bot]:
    """Staff see every bot, owners their own, anonymous users none."""
    return _owned(Bot.objects.all() if queryset is None else queryset, user, "owner_id")


def scenario_list(*, user, queryset: QuerySet[Scenario] | None = None) -> QuerySet[Scenario]:
    base = Scenario.objects.all() if queryset is None else queryset
    return _owned(base, user, "bot__owner_id")


def step_list(*, user, queryset: QuerySet[Step] | None = None) -> QuerySet[Step]:
    base = Step.objects.all() if queryset is None else queryset
    return _owned(base, user, "scenario__bot__owner_id")
