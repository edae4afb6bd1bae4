"""Housekeeping jobs of the task queue itself (core/periodic.py runs them)."""

from django.conf import settings
from django.core.management import call_command

from core.periodic import periodic


@periodic("prune-task-results", every=lambda: 86400.0 if settings.TASK_RESULTS_KEEP_DAYS else 0)
def prune_task_results() -> None:
    """Delete finished task rows older than TASK_RESULTS_KEEP_DAYS (a periodic job leaves
    one row per run: 1,440 a day at one run a minute)."""
    days = settings.TASK_RESULTS_KEEP_DAYS
    call_command("prune_db_task_results", min_age_days=days, failed_min_age_days=days)
