"""ASGI entry point: Django for HTTP (GraphQL included), GraphQL websockets at /graphql."""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
django.setup(set_prefix=False)

# Django's ASGI handler, with no thread per request (overrides/django_asgi.py says why).
from overrides.django_asgi import ProcessASGIHandler  # noqa: E402

django_asgi_app = ProcessASGIHandler()

# Models and the schema may only be imported once Django is set up.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from conversations.sweeper import ensure_sweeper  # noqa: E402
from schema import schema  # noqa: E402
from server.background import ProcessTasks  # noqa: E402
from server.graphql_ws import GraphQLWSConsumer  # noqa: E402
from server.loop_lag import ensure_lag_monitor  # noqa: E402
from server.origins import OriginValidator  # noqa: E402
from server.proxies import ProxyHeadersMiddleware  # noqa: E402

websocket_urlpatterns = [
    re_path(r"^graphql/?$", GraphQLWSConsumer.as_asgi(schema=schema)),
]

# Outermost: everything inside sees the client and scheme trusted proxies forwarded.
application = ProxyHeadersMiddleware(
    ProcessTasks(
        ProtocolTypeRouter(
            {
                "http": django_asgi_app,
                "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
            }
        ),
        ensure_sweeper,
        ensure_lag_monitor,
    )
)

# Everything loaded so far (Django, the schema, the SDKs: about 250,000 objects) lives as
# long as the process. The garbage collector's full collections walked all of it each
# time, stopping the process for 110-180 ms every second or two under load, which was
# the event-loop lag's p99 at 200 streamed replies (docs/BENCHMARKS.md section 20). Frozen,
# these objects are left out of every collection (Python's gc.freeze); what requests
# and streams create later is collected as before.
gc.freeze()
