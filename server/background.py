"""Start this process's background tasks on the event loop that serves the application."""

from collections.abc import Callable


class ProcessTasks:
    """ASGI wrapper calling each `starter` on every connection, on the serving loop.

    daphne sends no lifespan events, so background tasks (the orphan sweeper, the
    event-loop lag monitor) start with the first connection, HTTP or websocket. Each
    starter must be idempotent and cheap: it runs on every connection. Nothing starts at
    import, so management commands that import the application start nothing.
    """

    def __init__(self, application, *starters: Callable[[], None]) -> None:
        self.application = application
        self.starters = starters

    async def __call__(self, scope, receive, send):
        for start in self.starters:
            start()
        return await self.application(scope, receive, send)
