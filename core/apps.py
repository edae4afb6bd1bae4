from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core (periodic jobs)"

    def ready(self) -> None:
        # Registers the task queue's housekeeping job (core/periodic.py).
        from core import tasks  # noqa: F401
