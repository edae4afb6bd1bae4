from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations (webhooks)"

    def ready(self) -> None:
        from core import events
        from integrations import services, tasks  # noqa: F401 (registers the periodic job)

        # Each domain event becomes one queued delivery per subscribed endpoint.
        events.listen(services.on_event)
