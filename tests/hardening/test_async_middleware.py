"""Django's middlewares on the async path (overrides/django_middleware.py), through the real
ASGI application: headers, CSRF, session login and the admin behave as with the stock
middlewares, and the hooks that touch the database still reach it."""

import json
from http.cookies import SimpleCookie

import pytest
from channels.testing import HttpCommunicator
from django.contrib.sessions.models import Session

from server.asgi import application
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


class AsgiBrowser:
    """Requests through the ASGI app, keeping cookies like a browser."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, path: str, body: bytes = b"", headers=None):
        all_headers = {"host": "127.0.0.1", **(headers or {})}
        if self.cookies:
            all_headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        communicator = HttpCommunicator(
            application,
            method,
            path,
            body=body,
            headers=[(k.lower().encode(), v.encode()) for k, v in all_headers.items()],
        )
        response = await communicator.get_response(timeout=10)
        headers_out: dict[str, list[str]] = {}
        for name, value in response["headers"]:
            headers_out.setdefault(name.decode().lower(), []).append(value.decode())
        for raw in headers_out.get("set-cookie", []):
            for name, morsel in SimpleCookie(raw).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response["status"], headers_out, response["body"]

    async def graphql(self, query: str, variables=None, *, csrf: bool = True):
        headers = {"content-type": "application/json"}
        if csrf and "csrftoken" in self.cookies:
            headers["x-csrftoken"] = self.cookies["csrftoken"]
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        status, _, content = await self.request("POST", "/graphql", body, headers)
        return status, json.loads(content)


LOGIN = """
mutation($input: LoginInput!) { login(input: $input) { __typename ... on User { username } } }
"""


async def test_security_headers_are_set_on_async_responses():
    status, headers, _ = await AsgiBrowser().request(
        "POST",
        "/graphql",
        json.dumps({"query": "{ apiInfo { version } }"}).encode(),
        {"content-type": "application/json"},
    )
    assert status == 200
    assert headers["x-frame-options"] == ["DENY"]
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["referrer-policy"] == ["same-origin"]
    assert headers["cross-origin-opener-policy"] == ["same-origin"]


async def test_session_login_is_saved_and_cookie_calls_need_the_csrf_token(owner):
    browser = AsgiBrowser()
    status, _, _ = await browser.request("GET", "/graphql", headers={"accept": "text/html"})
    assert status == 200 and "csrftoken" in browser.cookies  # set by CsrfViewMiddleware

    status, body = await browser.graphql(
        LOGIN, {"input": {"username": owner.username, "password": PASSWORD}}
    )
    assert body["data"]["login"] == {"__typename": "User", "username": owner.username}
    # The session was modified, so SessionMiddleware saved it (in the worker thread).
    assert "sessionid" in browser.cookies
    assert await Session.objects.filter(session_key=browser.cookies["sessionid"]).aexists()

    status, body = await browser.graphql("{ me { username } }")
    assert status == 200 and body["data"]["me"] == {"username": owner.username}

    status, body = await browser.graphql("{ me { username } }", csrf=False)
    assert status == 403
    assert body["errors"][0]["extensions"]["code"] == "CSRF_FAILED"


async def test_admin_login_over_asgi(admin_user):
    browser = AsgiBrowser()
    status, _, _ = await browser.request("GET", "/admin/login/")
    assert status == 200 and "csrftoken" in browser.cookies

    form = f"csrfmiddlewaretoken={browser.cookies['csrftoken']}&username={admin_user.username}"
    form += "&password=password&next=/admin/"
    status, headers, _ = await browser.request(
        "POST",
        "/admin/login/",
        form.encode(),
        {"content-type": "application/x-www-form-urlencoded"},
    )
    assert status == 302 and headers["location"] == ["/admin/"]
    assert "sessionid" in browser.cookies

    status, _, content = await browser.request("GET", "/admin/")
    assert status == 200 and b"Site administration" in content


async def test_admin_post_without_csrf_token_is_refused(admin_user):
    browser = AsgiBrowser()
    form = f"username={admin_user.username}&password=password"
    status, _, _ = await browser.request(
        "POST",
        "/admin/login/",
        form.encode(),
        {"content-type": "application/x-www-form-urlencoded"},
    )
    assert status == 403
    assert "sessionid" not in browser.cookies
