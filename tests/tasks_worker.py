"""Run the task queue's real worker (django-tasks-db's db_worker loop, as `manage.py
worker` runs it) against the test database until no task is due."""

from django.core.management import call_command
from django_tasks_db.management.commands.db_worker import Worker


def run_worker_batch() -> None:
    """`manage.py worker --batch`: schedule the periodic jobs, run what is due, exit."""
    call_command("worker", batch=True, interval=0, startup_delay=False, reload=False, verbosity=0)


def drain(worker_id: str = "tests") -> None:
    """The worker's loop (no signal handlers: callable from any thread), until idle."""
    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    ).run()
