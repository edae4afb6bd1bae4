import os

import pytest
from asgiref.sync import SyncToAsync
from channels.layers import channel_layers
from django.db import connections
from django.test import Client

from accounts.services import api_token_create
from tests.factories import PASSWORD, BotFactory, UserFactory
from tests.graphql_client import GraphQLClient


def pytest_configure(config):
    """An xdist worker without tests/xdist_env.py would share Redis and the e2e databases
    with the other workers (and flush them under their feet): refuse to run."""
    if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get("BOTSTREAM_XDIST_ISOLATED"):
        raise pytest.UsageError("with -n, also pass `-p tests.xdist_env` (see that module)")


@pytest.fixture(scope="session", autouse=True)
def _clean_redis_layer():
    """The Postgres/Redis pass shares one Redis db: start it empty."""
    url = os.environ.get("REDIS_URL")
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()


@pytest.fixture(scope="session", autouse=True)
def _close_the_database_thread_connection(django_db_setup, django_db_blocker):
    """The ASGI app's database work runs on asgiref's one thread, whose connection is
    kept (overrides/django_asgi.py): close it before the test database is dropped."""
    yield
    with django_db_blocker.unblock():
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test (and its event loop) gets its own channel layer instance."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def other_user(db):
    return UserFactory(username="other")


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", is_staff=True)


@pytest.fixture
def anon_gql(db) -> GraphQLClient:
    return GraphQLClient()


def bearer_client(user) -> GraphQLClient:
    _, secret = api_token_create(user=user, name="tests")
    return GraphQLClient(headers={"Authorization": f"Bearer {secret}"})


def session_client(user) -> GraphQLClient:
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=user.username, password=PASSWORD)
    client.get("/graphql", headers={"Accept": "text/html"})  # sets the csrftoken cookie
    return GraphQLClient(client, headers={"X-CSRFToken": client.cookies["csrftoken"].value})


def use_fake_openai(settings, fake) -> None:
    """Replies come from `fake` (a tests.fake_openai server) through the real SDK."""
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = fake.base_url
    settings.OPENAI_MAX_RETRIES = 0
    settings.OPENAI_TIMEOUT = 10


@pytest.fixture
def owner_gql(owner) -> GraphQLClient:
    return bearer_client(owner)


@pytest.fixture
def other_gql(other_user) -> GraphQLClient:
    return bearer_client(other_user)


@pytest.fixture
def staff_gql(staff) -> GraphQLClient:
    return bearer_client(staff)


@pytest.fixture
def bot(owner):
    return BotFactory(owner=owner, name="Support bot")


@pytest.fixture(autouse=True)
def _rate_limits_off(settings):
    """Tests log in and chat far faster than people; tests/test_ratelimit.py turns the
    limits back on (with a clean store) where they are the subject."""
    settings.RATE_LIMITS_ENABLED = False


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """PBKDF2 is slow on purpose; tests log in often and need no protection."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_sessionfinish(session, exitstatus):
    """Django removes the SQLite test file but not its WAL companions: remove those too."""
    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and name:
        for suffix in ("-wal", "-shm"):
            if os.path.exists(name + suffix):
                os.remove(name + suffix)
