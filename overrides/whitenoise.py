"""WhiteNoise's middleware, async.

Why: WhiteNoise's stock middleware is sync-only, so Django runs the whole async chain
through a thread hop (loop → thread → loop) on every request, /graphql included. Async
here: /graphql 32 → 17 ms per request at concurrency 1 (with two other fixes;
docs/BENCHMARKS.md "Profile of the slowest path", row 3; commit bb9bc39).

Written against whitenoise 6.12.0. Relies on `WhiteNoiseMiddleware.__call__`'s logic
(find the file, serve it, else pass on), its attributes `autorefresh` and `files`, and
`find_file` / `serve`; tests/overrides/test_whitenoise.py pins their source.
"""

from asgiref.sync import markcoroutinefunction, sync_to_async
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """Static lookups are in-memory (unless autorefresh), so only serving a file, or a
    lookup on disk, goes to a thread."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response):
        super().__init__(get_response)
        markcoroutinefunction(self)

    async def __call__(self, request):
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)
