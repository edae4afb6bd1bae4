from django.db import models


class PeriodicJob(models.Model):
    """The schedule and lease of one periodic job (core/periodic.py).

    One row per job name. A run claims the lease with one conditional UPDATE, so at most
    one run holds it at a time, whatever the number of workers and on any database.
    """

    name = models.CharField(max_length=100, primary_key=True)
    next_run_at = models.DateTimeField(help_text="No run starts before this.")
    locked_until = models.DateTimeField(help_text="The lease of the running job ends here.")
    holder = models.CharField(max_length=32, blank=True, help_text="The run holding the lease.")
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name
