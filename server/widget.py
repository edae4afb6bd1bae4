"""/widget.js: the embeddable chat widget, one script for any site.

The script is the shared visitor client (static/chat/client.js), the shared chat view
(view.js) and the widget (widget.js) concatenated inside one function, after the values
they read: the server's client features, the styles (view.css + widget.css, applied
in the widget's shadow root) and the GraphQL path. No build step: the same files the
demo chat page loads, joined at the first request and kept in memory (rebuilt on each
request when DEBUG is on, so edits show). Served gzipped to clients that accept it, with
an ETag, and `Cross-Origin-Resource-Policy: cross-origin` since other sites embed it.
"""

import asyncio
import gzip
import hashlib
import json
from dataclasses import dataclass

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from server.chat_page import client_features

SCRIPTS = ("chat/client.js", "chat/view.js", "chat/widget.js")
STYLES = ("chat/view.css", "chat/widget.css")
MAX_AGE = 300  # seconds: sites pick up a new widget within minutes, revalidating by ETag


@dataclass(frozen=True)
class Bundle:
    body: bytes
    gzipped: bytes
    etag: str


def _read(name: str) -> str:
    path = finders.find(name)
    if not path:
        raise FileNotFoundError(f"static file {name} is missing")
    with open(path, encoding="utf-8") as file:
        return file.read()


def build() -> Bundle:
    """The widget script (blocking: file reads and gzip; run off the event loop)."""
    constants = {
        "FEATURES": list(client_features()),
        "STYLES": "\n".join(_read(name) for name in STYLES),
        "GRAPHQL_PATH": reverse("graphql"),
        "MAX_LENGTH": settings.MESSAGE_MAX_LENGTH,
    }
    lines = [f"const {name} = {json.dumps(value)};" for name, value in constants.items()]
    source = "\n".join(
        ["/* Botstream chat widget */", "(function () {", '"use strict";', *lines]
        + [_read(name) for name in SCRIPTS]
        + ["})();", ""]
    )
    body = source.encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Bundle(body, gzip.compress(body, compresslevel=9, mtime=0), etag)


_bundle: Bundle | None = None


async def _current() -> Bundle:
    global _bundle
    if _bundle is None or settings.DEBUG:
        _bundle = await asyncio.to_thread(build)
    return _bundle


@require_safe
async def widget_js(request: HttpRequest) -> HttpResponse:
    bundle = await _current()
    if request.headers.get("If-None-Match") == bundle.etag:
        response = HttpResponseNotModified()
    elif "gzip" in request.headers.get("Accept-Encoding", ""):
        response = HttpResponse(bundle.gzipped, content_type="text/javascript; charset=utf-8")
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(bundle.body, content_type="text/javascript; charset=utf-8")
    response["ETag"] = bundle.etag
    response["Cache-Control"] = f"public, max-age={MAX_AGE}"
    patch_vary_headers(response, ["Accept-Encoding"])
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
