"""Periodic jobs on the task queue: a self-rescheduling task with a lease in the database.

django-tasks has no scheduler. Each periodic job is one `run_periodic(name)` task on the
queue; a run claims the job's lease (`PeriodicJob`, one conditional UPDATE: atomic on
SQLite and Postgres alike), runs the job, and enqueues its successor with `run_after`
set to the next due time. So the schedule lives in the queue the workers already poll,
needs no extra process, and survives restarts.

Guarantees, with any number of workers:
- Never two runs of a job at once: a run without the lease does nothing.
- One chain per job: a run that cannot claim the lease (not due yet, or held) enqueues
  no successor, so a duplicate chain (two workers bootstrapping at the same instant)
  dies at its next run, and every claim moves `next_run_at` past now.
- No lost chain: each worker's start (`manage.py worker`) calls `ensure_scheduled`,
  which enqueues a run for every job that has none waiting, due once the current lease
  (a crashed run's included) has ended.
A job must finish within its lease (LEASE by default); it is then re-run on schedule.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from core.models import PeriodicJob

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[], object]
    interval: Callable[[], float]  # seconds between runs, read when scheduling; 0 = off
    lease: timedelta = LEASE


_jobs: dict[str, Job] = {}


def periodic(name: str, *, every: Callable[[], float], lease: timedelta = LEASE):
    """Register `func` as the periodic job `name`, run every `every()` seconds."""

    def register(func: Callable[[], object]) -> Callable[[], object]:
        _jobs[name] = Job(name, func, every, lease)
        return func

    return register


def registered() -> dict[str, Job]:
    return dict(_jobs)


@task()
def run_periodic(name: str) -> bool:
    """Run the periodic job `name` if its lease is free and it is due; True if it ran."""
    job = _jobs.get(name)
    if job is None:
        logger.warning("periodic job %r is not registered: dropped", name)
        return False
    holder = _claim(job)
    if holder is None:
        return False
    error = ""
    try:
        job.func()
    except Exception as exc:
        logger.exception("periodic job %s failed", name)
        error = repr(exc)[:2000]
    finally:
        next_run = _release(job, holder, error)
        if next_run is not None:
            run_periodic.using(run_after=next_run).enqueue(name)
    return True


def _claim(job: Job) -> str | None:
    now = timezone.now()
    PeriodicJob.objects.get_or_create(
        name=job.name, defaults={"next_run_at": now, "locked_until": now}
    )
    holder = uuid.uuid4().hex
    claimed = PeriodicJob.objects.filter(
        name=job.name, next_run_at__lte=now, locked_until__lte=now
    ).update(locked_until=now + job.lease, holder=holder, last_started_at=now)
    return holder if claimed else None


def _release(job: Job, holder: str, error: str):
    """End the lease and set the next due time; None when the job is off or the lease
    was lost (the run outlived it, and another run owns the schedule now)."""
    now = timezone.now()
    interval = job.interval()
    next_run = now + timedelta(seconds=interval) if interval > 0 else None
    released = PeriodicJob.objects.filter(name=job.name, holder=holder).update(
        locked_until=now,
        next_run_at=next_run or now,
        holder="",
        last_finished_at=now,
        last_error=error,
    )
    return next_run if released else None


def ensure_scheduled() -> list[str]:
    """Enqueue a run of every enabled job that has none waiting; returns their names."""
    now = timezone.now()
    started = []
    for name, job in _jobs.items():
        if job.interval() <= 0:
            continue
        waiting = DBTaskResult.objects.filter(
            task_path=run_periodic.module_path,
            status=TaskResultStatus.READY,
            args_kwargs__args__0=name,
        )
        if waiting.exists():
            continue
        state = PeriodicJob.objects.filter(name=name).first()
        due = max(now, state.next_run_at, state.locked_until) if state else now
        run_periodic.using(run_after=due).enqueue(name)
        started.append(name)
    return started
