import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from conversations.engine import http_call
from conversations.engine.http_call import is_blocked_address, perform_api_call


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode()
        self.server.seen.append({"method": self.command, "path": self.path, "body": body})
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        route = getattr(self, "route_" + url.path.strip("/").replace("-", "_"), None)
        if route is None:
            self._send(404, "text/plain", b"not found")
        else:
            route(query, body)

    def _send(self, status, content_type, payload, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def route_json(self, query, body):
        payload = {"data": {"items": [{"name": "tea"}, {"name": "mug"}]}}
        self._send(200, "application/json", json.dumps(payload).encode())

    def route_echo(self, query, body):
        payload = {
            "method": self.command,
            "query": query,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "body": json.loads(body) if body else None,
        }
        self._send(200, "application/json; charset=utf-8", json.dumps(payload).encode())

    def route_text(self, query, body):
        self._send(200, "text/plain; charset=utf-8", "Grüße".encode())

    def route_bad_json(self, query, body):
        self._send(200, "application/json", b"{not json")

    def route_gzip(self, query, body):
        self._send(200, "text/plain", b"\x1f\x8b...", headers=[("Content-Encoding", "gzip")])

    def route_error(self, query, body):
        self._send(500, "application/json", b'{"error": "boom"}')

    def route_slow(self, query, body):
        time.sleep(3)
        self._send(200, "text/plain", b"late")

    def route_big(self, query, body):
        self._send(200, "text/plain", b"x" * 200_000)

    def route_big_stream(self, query, body):
        # No Content-Length: the body ends when the connection closes (HTTP/1.0).
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        for _ in range(50):
            self.wfile.write(b"x" * 4096)

    def route_redirect(self, query, body):
        self._send(int(query.get("status", 302)), "text/plain", b"", [("Location", query["to"])])

    def route_loop(self, query, body):
        self._send(302, "text/plain", b"", headers=[("Location", "/loop")])

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients that time out leave broken pipes behind


@pytest.fixture(scope="module")
def server():
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def seen(server):
    server.seen.clear()
    return server.seen


@pytest.fixture
def base(server):
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def allowed(server):
    return [f"127.0.0.1:{server.server_address[1]}"]


class LoopbackOnlyTransport(httpx.AsyncBaseTransport):
    """Sends requests to 127.0.0.1 only: anything else is recorded and never sent."""

    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()
        self.sent = []
        self.refused = []

    async def handle_async_request(self, request):
        if request.url.host != "127.0.0.1":
            self.refused.append(request)
            raise httpx.ConnectError("test guard: only loopback traffic is allowed")
        self.sent.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self):
        await self.inner.aclose()


@pytest.fixture
def transport():
    return LoopbackOnlyTransport()


def spec(url, **fields):
    return {"method": "GET", "url": url, "timeout": 5.0, "max_bytes": 65536, **fields}


def fake_dns(monkeypatch, answers):
    calls = []

    async def resolve(host, port):
        calls.append(host)
        if host not in answers:
            raise socket.gaierror(f"unknown host {host}")
        answer = answers[host]
        return [
            ip_address(address) for address in (answer(len(calls)) if callable(answer) else answer)
        ]

    monkeypatch.setattr(http_call, "_resolve", resolve)
    return calls


async def test_allowed_host_returns_selected_json(base, allowed, transport):
    result = await perform_api_call(
        spec(f"{base}/json", select="data.items.1.name"),
        {},
        allow_hosts=allowed,
        transport=transport,
    )

    assert result.ok, result.error
    assert (result.status, result.value, result.error_code) == (200, "mug", None)


async def test_allow_hosts_entry_without_port_allows_the_host(base, transport):
    result = await perform_api_call(
        spec(f"{base}/json"), {}, allow_hosts=["127.0.0.1"], transport=transport
    )

    assert result.ok
    assert result.value == {"data": {"items": [{"name": "tea"}, {"name": "mug"}]}}


async def test_templated_url_headers_and_body_reach_the_server(base, allowed, transport, seen):
    step = spec(
        base + "/echo?q={{ query }}",  # encoded for its position (no |urlencode needed)
        method="POST",
        headers={"X-Customer": "{{ name }}", "Authorization": "Bearer {{ token }}"},
        body={"greeting": "Hi {{ name }}", "count": 2, "tags": ["{{ tag }}"]},
    )
    variables = {"name": "Ada", "token": "s3cret", "tag": "vip", "query": "tea & cake"}

    result = await perform_api_call(step, variables, allow_hosts=allowed, transport=transport)

    assert result.ok, result.error
    assert result.value["method"] == "POST"
    assert result.value["query"] == {"q": "tea & cake"}
    assert result.value["headers"]["x-customer"] == "Ada"
    assert result.value["headers"]["authorization"] == "Bearer s3cret"
    assert result.value["headers"]["content-type"] == "application/json"
    assert result.value["body"] == {"greeting": "Hi Ada", "count": 2, "tags": ["vip"]}
    assert json.loads(seen[0]["body"]) == result.value["body"]


async def test_allowed_hostname_is_pinned_to_its_checked_address(server, transport, monkeypatch):
    fake_dns(monkeypatch, {"shop.test": ["127.0.0.1"]})
    port = server.server_address[1]
    step = spec(f"http://shop.test:{port}/echo")

    result = await perform_api_call(step, {}, allow_hosts=["shop.test"], transport=transport)

    assert result.ok, result.error
    assert transport.sent[0].url.host == "127.0.0.1"
    assert result.value["headers"]["host"] == f"shop.test:{port}"
    assert result.value["headers"]["accept-encoding"] == "identity"


async def test_text_response_is_kept_as_text(base, allowed, transport):
    result = await perform_api_call(
        spec(f"{base}/text"), {}, allow_hosts=allowed, transport=transport
    )

    assert (result.ok, result.value) == (True, "Grüße")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/json",
        "http://[::1]:{port}/json",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://0.0.0.0:{port}/json",
        "http://[::ffff:127.0.0.1]:{port}/json",
        "http://2130706433:{port}/json",  # 127.0.0.1 written as one number
    ],
)
async def test_private_and_loopback_addresses_are_refused_before_connecting(
    url, server, transport, seen
):
    url = url.format(port=server.server_address[1])

    result = await perform_api_call(spec(url), {}, transport=transport)

    assert (result.ok, result.error_code) == (False, "blocked_address")
    assert "API_CALL_ALLOW_HOSTS" in result.error
    assert transport.sent == transport.refused == []
    assert seen == []


async def test_hostname_resolving_to_loopback_is_refused(base, transport, seen):
    url = base.replace("127.0.0.1", "localhost") + "/json"

    result = await perform_api_call(spec(url), {}, transport=transport)

    assert result.error_code == "blocked_address"
    assert transport.sent == transport.refused == []
    assert seen == []


async def test_hostname_with_any_private_address_is_refused(monkeypatch, transport):
    fake_dns(monkeypatch, {"mixed.example.com": ["93.184.216.34", "10.1.2.3"]})

    result = await perform_api_call(spec("http://mixed.example.com/"), {}, transport=transport)

    assert result.error_code == "blocked_address"
    assert "10.1.2.3" in result.error
    assert transport.refused == []


async def test_templated_url_is_checked_after_rendering(transport):
    step = spec("{{ base|raw_url }}/latest/meta-data/")

    result = await perform_api_call(step, {"base": "http://169.254.169.254"}, transport=transport)

    assert result.error_code == "blocked_address"
    assert transport.refused == []


async def test_redirect_within_allowed_host_is_followed(base, allowed, transport):
    step = spec(f"{base}/redirect?to=/json", select="data.items.0.name")

    result = await perform_api_call(step, {}, allow_hosts=allowed, transport=transport)

    assert (result.ok, result.value) == (True, "tea")
    assert len(transport.sent) == 2


async def test_redirect_to_another_loopback_port_is_refused(base, allowed, transport, seen):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        other_port = other.getsockname()[1]
        step = spec(f"{base}/redirect?to=http://127.0.0.1:{other_port}/")

        result = await perform_api_call(step, {}, allow_hosts=allowed, transport=transport)

    assert result.error_code == "blocked_address"
    assert [request["path"] for request in seen] == [f"/redirect?to=http://127.0.0.1:{other_port}/"]
    assert len(transport.sent) == 1


@pytest.mark.parametrize("target", ["http://10.0.0.1/", "http://internal.example.com/admin"])
async def test_redirect_to_private_address_is_refused(
    target, base, allowed, transport, monkeypatch
):
    real_resolve = http_call._resolve

    async def resolve(host, port):
        if host == "internal.example.com":
            return [ip_address("10.20.30.40")]
        return await real_resolve(host, port)

    monkeypatch.setattr(http_call, "_resolve", resolve)

    result = await perform_api_call(
        spec(f"{base}/redirect?to={target}"), {}, allow_hosts=allowed, transport=transport
    )

    assert result.error_code == "blocked_address"
    assert len(transport.sent) == 1
    assert transport.refused == []


async def test_too_many_redirects(base, allowed, transport):
    result = await perform_api_call(
        spec(f"{base}/loop"), {}, allow_hosts=allowed, max_redirects=2, transport=transport
    )

    assert result.error_code == "too_many_redirects"
    assert len(transport.sent) == 3


async def test_slow_server_times_out(base, allowed, transport):
    started = time.monotonic()

    result = await perform_api_call(
        spec(f"{base}/slow", timeout=0.5), {}, allow_hosts=allowed, transport=transport
    )

    assert (result.ok, result.error_code) == (False, "timeout")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
async def test_response_over_max_bytes_is_refused(path, base, allowed, transport):
    result = await perform_api_call(
        spec(base + path, max_bytes=10_000), {}, allow_hosts=allowed, transport=transport
    )

    assert (result.ok, result.error_code, result.status) == (False, "too_large", 200)


async def test_server_error_is_http_error_with_status(base, allowed, transport):
    result = await perform_api_call(
        spec(f"{base}/error"), {}, allow_hosts=allowed, transport=transport
    )

    assert (result.ok, result.error_code, result.status) == (False, "http_error", 500)


@pytest.mark.parametrize("path", ["/bad-json", "/gzip"])
async def test_unreadable_response_is_bad_response(path, base, allowed, transport):
    result = await perform_api_call(spec(base + path), {}, allow_hosts=allowed, transport=transport)

    assert result.error_code == "bad_response"


async def test_missing_select_path_is_bad_response(base, allowed, transport):
    step = spec(f"{base}/json", select="data.items.9.name")

    result = await perform_api_call(step, {}, allow_hosts=allowed, transport=transport)

    assert (result.error_code, result.status) == ("bad_response", 200)
    assert "data.items.9.name" in result.error


async def test_closed_port_is_connection_error(transport):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    # nothing listens on the port any more

    result = await perform_api_call(
        spec(f"http://127.0.0.1:{port}/"), {}, allow_hosts=["127.0.0.1"], transport=transport
    )

    assert result.error_code == "connection_error"


async def test_unresolvable_host_is_connection_error(monkeypatch, transport):
    fake_dns(monkeypatch, {})

    result = await perform_api_call(spec("http://nowhere.invalid/"), {}, transport=transport)

    assert result.error_code == "connection_error"
    assert transport.refused == []


async def test_url_that_is_not_http_after_rendering_is_invalid_request(transport):
    result = await perform_api_call(
        spec("{{ base }}/x"), {"base": "file:///etc"}, transport=transport
    )

    assert result.error_code == "invalid_request"


async def test_https_request_connects_to_checked_ip_and_verifies_the_name(monkeypatch):
    fake_dns(monkeypatch, {"api.example.com": ["93.184.216.34"]})
    requests = []

    def reply(request):
        requests.append(request)
        return httpx.Response(200, json={"ok": True})

    result = await perform_api_call(
        spec("https://api.example.com/v1/status"), {}, transport=httpx.MockTransport(reply)
    )

    assert result.value == {"ok": True}
    [request] = requests
    assert str(request.url) == "https://93.184.216.34/v1/status"
    assert request.headers["host"] == "api.example.com"
    assert request.extensions["sni_hostname"] == "api.example.com"


async def test_dns_rebinding_cannot_change_the_address_after_the_check(monkeypatch):
    dns_calls = fake_dns(
        monkeypatch,
        {"rebind.example.com": lambda call: ["93.184.216.34"] if call == 1 else ["127.0.0.1"]},
    )
    requests = []

    def reply(request):
        requests.append(request)
        return httpx.Response(200, text="public")

    result = await perform_api_call(
        spec("http://rebind.example.com/"), {}, transport=httpx.MockTransport(reply)
    )

    assert result.value == "public"
    assert dns_calls == ["rebind.example.com"]
    assert requests[0].url.host == "93.184.216.34"


async def test_cross_origin_redirect_drops_credentials(monkeypatch):
    fake_dns(monkeypatch, {"a.example.com": ["93.184.216.34"], "b.example.com": ["93.184.216.35"]})
    requests = []

    def reply(request):
        requests.append(request)
        if len(requests) == 1:
            return httpx.Response(302, headers={"Location": "http://b.example.com/next"})
        return httpx.Response(200, text="done")

    headers = {"Authorization": "Bearer s3cret", "X-Api-Key": "k-1", "X-Tenant": "{{ t }}"}
    step = spec("http://a.example.com/", headers=headers)

    result = await perform_api_call(step, {"t": "acme"}, transport=httpx.MockTransport(reply))

    assert result.value == "done"
    assert requests[0].headers["authorization"] == "Bearer s3cret"
    assert requests[0].headers["x-api-key"] == "k-1"
    assert "authorization" not in requests[1].headers
    # every header the owner set stays with the first origin
    assert "x-api-key" not in requests[1].headers and "x-tenant" not in requests[1].headers
    assert requests[1].headers["host"] == "b.example.com"


async def test_same_origin_redirect_keeps_the_owner_headers(monkeypatch):
    fake_dns(monkeypatch, {"a.example.com": ["93.184.216.34"]})
    requests = []

    def reply(request):
        requests.append(request)
        if len(requests) == 1:
            return httpx.Response(302, headers={"Location": "/next"})
        return httpx.Response(200, text="done")

    step = spec("http://a.example.com/", headers={"X-Api-Key": "k-1"})

    result = await perform_api_call(step, {}, transport=httpx.MockTransport(reply))

    assert result.value == "done"
    assert requests[1].headers["x-api-key"] == "k-1"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    ],
)
def test_non_public_addresses_are_blocked(address):
    assert is_blocked_address(ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "2606:4700:4700::1111",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",  # NAT64 around 93.184.216.34
    ],
)
def test_public_addresses_are_not_blocked(address):
    assert not is_blocked_address(ip_address(address))
