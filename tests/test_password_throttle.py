"""Every path that checks a password is throttled (accounts/backends.py): HTTP Basic on
/graphql, Basic in a websocket's connection_init, the login mutation and /admin/login/."""

import threading

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import hashers
from django.test import Client

from accounts import backends
from core import ratelimit
from tests.asgi_client import LOGIN, ME, basic_auth, close_after_init, gql_http
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def limits_on(settings, monkeypatch):
    """Limits on, counting from zero in memory or in Redis."""
    settings.RATE_LIMITS_ENABLED = True
    settings.RATE_LIMIT_LOGIN = "100/minute"
    settings.RATE_LIMIT_LOGIN_PER_USERNAME = "100/minute"
    monkeypatch.setattr(ratelimit, "_shared", None)
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter("LIMITS*"):
            client.delete(key)
        client.close()


@pytest.fixture
async def ada():
    return await sync_to_async(UserFactory)(username="ada")


async def test_http_basic_is_throttled_after_failed_passwords_even_with_the_right_one(
    settings, ada
):
    settings.RATE_LIMIT_LOGIN_PER_USERNAME = "3/minute"
    for _ in range(3):
        status, _ = await gql_http(ME, headers=basic_auth("ada", "wrong"))
        assert status == 401

    status, body = await gql_http(ME, headers=basic_auth("ada", PASSWORD))

    assert status == 429
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert "retry in" in error["message"]


async def test_successful_basic_logins_are_not_counted(settings, ada):
    settings.RATE_LIMIT_LOGIN = "2/minute"
    settings.RATE_LIMIT_LOGIN_PER_USERNAME = "2/minute"
    for _ in range(5):
        status, body = await gql_http(ME, headers=basic_auth("ada", PASSWORD))
        assert (status, body["data"]) == (200, {"me": {"username": "ada"}})


async def test_failures_per_client_ip_are_throttled_across_usernames(settings, ada):
    settings.RATE_LIMIT_LOGIN = "3/minute"
    for username in ("bob", "carol", "dave"):
        status, _ = await gql_http(ME, headers=basic_auth(username, "guess"))
        assert status == 401

    status, _ = await gql_http(ME, headers=basic_auth("ada", PASSWORD))

    assert status == 429


async def test_failures_per_username_do_not_throttle_other_users(settings, ada):
    settings.RATE_LIMIT_LOGIN_PER_USERNAME = "2/minute"
    await sync_to_async(UserFactory)(username="grace")
    for _ in range(2):
        await gql_http(ME, headers=basic_auth("ada", "wrong"))

    throttled, _ = await gql_http(ME, headers=basic_auth("ada", PASSWORD))
    status, body = await gql_http(ME, headers=basic_auth("grace", PASSWORD))

    assert throttled == 429
    assert (status, body["data"]) == (200, {"me": {"username": "grace"}})


async def test_a_throttled_attempt_computes_no_hash(settings, ada, monkeypatch):
    settings.RATE_LIMIT_LOGIN_PER_USERNAME = "2/minute"
    for _ in range(2):
        await gql_http(ME, headers=basic_auth("ada", "wrong"))
    hashes = []
    monkeypatch.setattr(
        backends, "verify_password", lambda *args: hashes.append(args) or (False, False)
    )

    status, _ = await gql_http(ME, headers=basic_auth("ada", "another guess"))

    assert status == 429
    assert hashes == []


async def test_websocket_basic_is_throttled_with_close_4429(settings, ada):
    settings.RATE_LIMIT_LOGIN_PER_USERNAME = "3/minute"
    closes = [
        await close_after_init(basic_auth("ada", password))
        for password in ["wrong"] * 3 + [PASSWORD]
    ]

    assert [close["code"] for close in closes] == [4403, 4403, 4403, 4429]
    assert "retry in" in closes[-1]["reason"]


async def test_login_mutation_shares_the_count_with_http_basic(settings, ada):
    settings.RATE_LIMIT_LOGIN_PER_USERNAME = "2/minute"
    for _ in range(2):
        await gql_http(ME, headers=basic_auth("ada", "wrong"))

    _, body = await gql_http(LOGIN, {"input": {"username": "ada", "password": PASSWORD}})

    [message] = body["data"]["login"]["messages"]
    assert message["code"] == "rate_limited"
    assert "retry in" in message["message"]


def test_admin_login_is_throttled_with_429(settings, transactional_db):
    settings.RATE_LIMIT_LOGIN_PER_USERNAME = "2/minute"
    UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    for _ in range(2):
        response = client.post("/admin/login/", {"username": "root", "password": "wrong"})
        assert response.status_code == 200

    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})

    assert response.status_code == 429
    assert b"retry in" in response.content
    assert "_auth_user_id" not in client.session


def test_admin_login_with_the_right_password_still_works(transactional_db):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


@pytest.fixture
def hash_threads(monkeypatch) -> list[str]:
    """Names of the threads that verified a password."""
    threads = []
    real = hashers.verify_password

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(backends, "verify_password", spy)
    return threads


def test_admin_and_client_logins_hash_in_the_password_pool(transactional_db, hash_threads):
    UserFactory(username="root")
    assert Client().login(username="root", password=PASSWORD)
    assert hash_threads and all(name.startswith("password") for name in hash_threads)


async def test_http_basic_hashes_in_the_password_pool_not_on_the_loop(ada, hash_threads):
    # Not the event loop's thread, and not asgiref's thread for database work either.
    for password in (PASSWORD, "wrong"):
        await gql_http(ME, headers=basic_auth("ada", password))
    assert len(hash_threads) == 2
    assert all(name.startswith("password") for name in hash_threads)


def test_a_throttled_http_basic_request_says_when_to_retry(settings, transactional_db):
    settings.RATE_LIMIT_LOGIN_PER_USERNAME = "1/minute"
    UserFactory(username="ada")
    client = Client()
    client.post(
        "/graphql", {"query": ME}, content_type="application/json", headers=basic_auth("ada", "x")
    )

    response = client.post(
        "/graphql",
        {"query": ME},
        content_type="application/json",
        headers=basic_auth("ada", PASSWORD),
    )

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["errors"][0]["extensions"] == {"code": "RATE_LIMITED"}
