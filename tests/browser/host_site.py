"""Another website embedding the widget: a page on its own loopback port (origin).

`GET /?bot=<id>[&title=…]` answers a page with the widget's script tag, styles that
would leak into an unisolated widget (red, huge text), and a strict Content-Security-
Policy that allows exactly what docs/DEPLOY.md tells site owners to allow: the API's
origin for the script and the connections, nothing inline.
"""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

HOST_CSS = b"body { color: rgb(255, 0, 0); font: 40px serif; } button { background: red; }"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Host site</title><link rel="stylesheet" href="/host.css"></head>
<body><h1>A shop</h1><p>Somebody else's page.</p>
<script src="{api}/widget.js" data-bot="{bot}" {extra}></script>
</body></html>
"""


class HostSite:
    def __init__(self, port: int, api_url: str, host: str = "127.0.0.1") -> None:
        self.url = f"http://{host}:{port}"
        self.api_url = api_url
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HostSite:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def page_url(self, bot_id: str, **attributes: str) -> str:
        return f"{self.url}/?{urlencode({'bot': bot_id, **attributes})}"

    def _handler(self):
        api = self.api_url
        ws_api = api.replace("http", "ws", 1)
        policy = (
            f"default-src 'self'; script-src 'self' {api}; connect-src {api} {ws_api}; "
            "style-src 'self'; img-src 'self'"
        )

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/host.css":
                    self._send(HOST_CSS, "text/css")
                    return
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                bot = params.pop("bot", "")
                extra = " ".join(f'data-{k}="{html.escape(v)}"' for k, v in params.items())
                body = PAGE.format(api=api, bot=html.escape(bot), extra=extra).encode()
                self._send(body, "text/html; charset=utf-8")

            def _send(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Security-Policy", policy)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass  # quiet: the tests assert on what the browser saw

        return Handler
