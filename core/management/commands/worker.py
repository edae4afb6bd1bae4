"""`manage.py worker`: the task queue's worker (django-tasks-db's `db_worker`, same
options) that first makes sure every periodic job is scheduled (core/periodic.py)."""

from django_tasks_db.management.commands import db_worker

from core import periodic


class Command(db_worker.Command):
    help = "Run the background task worker; schedules the periodic jobs first."

    def handle(self, *args, **options):
        for name in periodic.ensure_scheduled():
            self.stdout.write(f"Scheduled periodic job {name}.")
        return super().handle(*args, **options)
