"""Periodic jobs on the task queue (core/periodic.py), run by the real worker against
the real database: one chain per job, never two runs at once, no lost chain."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from core import periodic
from core.models import PeriodicJob
from tests.tasks_worker import drain, run_worker_batch

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "test-counter"
runs: list[int] = []


@pytest.fixture(autouse=True)
def counter_job():
    """A job that counts its runs, every 60 s; only it is registered during the test."""
    saved = dict(periodic._jobs)
    periodic._jobs.clear()
    runs.clear()
    periodic.periodic(NAME, every=lambda: 60.0)(lambda: runs.append(1))
    yield
    periodic._jobs.clear()
    periodic._jobs.update(saved)


def _waiting() -> list[DBTaskResult]:
    return list(
        DBTaskResult.objects.filter(
            task_path=periodic.run_periodic.module_path, status=TaskResultStatus.READY
        )
    )


def test_the_worker_command_schedules_runs_and_reschedules_the_job():
    # when `manage.py worker --batch` starts on an empty queue
    before = timezone.now()
    run_worker_batch()

    # then the job ran once and its successor waits, due one interval later
    assert runs == [1]
    (successor,) = _waiting()
    assert successor.args_kwargs["args"] == [NAME]
    assert (
        before + timedelta(seconds=59)
        < successor.run_after
        < timezone.now() + timedelta(seconds=61)
    )
    job = PeriodicJob.objects.get(name=NAME)
    assert job.holder == "" and job.last_error == ""
    assert job.next_run_at == successor.run_after

    # and a second worker start adds no second chain (one is waiting)
    assert periodic.ensure_scheduled() == []
    assert len(_waiting()) == 1


def test_a_run_that_cannot_take_the_lease_does_nothing_and_ends_its_chain():
    # given another worker holding the job's lease right now
    now = timezone.now()
    PeriodicJob.objects.create(
        name=NAME, next_run_at=now, locked_until=now + timedelta(minutes=5), holder="other"
    )
    # when a run of the job is due
    periodic.run_periodic.enqueue(NAME)
    drain()
    # then it did not run, and enqueued no successor
    assert runs == []
    assert _waiting() == []
    assert PeriodicJob.objects.get(name=NAME).holder == "other"


def test_two_chains_started_at_once_collapse_into_one():
    # given two workers that bootstrapped the job at the same instant (two runs due)
    periodic.run_periodic.enqueue(NAME)
    periodic.run_periodic.enqueue(NAME)
    # when the workers run what is due
    drain("a")
    drain("b")
    # then the job ran once, and one successor remains
    assert runs == [1]
    assert len(_waiting()) == 1


def test_a_failing_job_is_recorded_and_still_rescheduled():
    periodic._jobs.clear()

    def broken():
        raise RuntimeError("boom")

    periodic.periodic(NAME, every=lambda: 60.0)(broken)
    periodic.run_periodic.enqueue(NAME)
    drain()
    assert "boom" in PeriodicJob.objects.get(name=NAME).last_error
    assert len(_waiting()) == 1


def test_after_a_crash_the_restarted_worker_resumes_once_the_lease_ends():
    # given a run that died holding the lease (its worker was killed), no run waiting
    now = timezone.now()
    lease_end = now + timedelta(minutes=3)
    PeriodicJob.objects.create(name=NAME, next_run_at=now, locked_until=lease_end, holder="dead")
    # when a worker starts
    assert periodic.ensure_scheduled() == [NAME]
    # then the new chain's first run is due when the dead run's lease ends
    (run,) = _waiting()
    assert run.run_after == lease_end


def test_an_interval_of_zero_turns_the_job_off():
    periodic._jobs.clear()
    periodic.periodic(NAME, every=lambda: 0.0)(lambda: runs.append(1))
    assert periodic.ensure_scheduled() == []
    assert _waiting() == []


def test_the_housekeeping_job_prunes_old_task_results(settings):
    from core.tasks import prune_task_results

    settings.TASK_RESULTS_KEEP_DAYS = 7
    # given two finished task results, one 8 days old
    periodic.run_periodic.enqueue("unknown-job")
    periodic.run_periodic.enqueue("unknown-job")
    drain()
    old, recent = DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL)
    DBTaskResult.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=8))
    # when the worker runs the prune job
    periodic._jobs.clear()
    periodic.periodic("prune-task-results", every=lambda: 86400.0)(prune_task_results)
    periodic.run_periodic.enqueue("prune-task-results")
    drain()
    # then the old result is gone, the recent one kept
    assert not DBTaskResult.objects.filter(pk=old.pk).exists()
    assert DBTaskResult.objects.filter(pk=recent.pk).exists()
