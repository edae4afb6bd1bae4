from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        # Registers the periodic jobs (core/periodic.py) in every process, the worker's too.
        from conversations import tasks  # noqa: F401
