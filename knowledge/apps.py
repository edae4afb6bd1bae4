from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge (documents a bot answers from)"

    def ready(self) -> None:
        # Registers the indexing task with the task queue.
        from knowledge import tasks  # noqa: F401
