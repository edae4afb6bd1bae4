"""Settings: read from the environment here and nowhere else.

With no environment at all the service runs embedded: SQLite file, in-memory channel
layer, the offline reply engine. Production parts switch on by variable (see README).
"""

import os
import tempfile
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from server.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
_DEV_SECRET = "insecure-dev-only-secret-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
# Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For/-Proto are believed
# (server/proxies.py). Empty: nobody's, so a client reaching daphne directly cannot pick
# its rate-limit address. compose.yml sets its own network.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "x-csrftoken",
    "x-chat-token",
    "x-requested-with",
    # Browser clients may send their own request id and read ours (CORS_EXPOSE_HEADERS).
    "x-request-id",
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=CORS_ALLOWED_ORIGINS)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "channels",
    "strawberry_django",
    "django_tasks",
    "django_tasks_db",
    "core",
    "accounts",
    "bots",
    "conversations",
    "integrations",
    "knowledge",
]

MIDDLEWARE = [
    "server.middleware.RequestIdMiddleware",
    "server.middleware.ProbeMiddleware",
    # Django's own middlewares, with their hooks run inline in async requests instead of
    # through a thread hop each (overrides/django_middleware.py).
    "overrides.django_middleware.SecurityMiddleware",
    "overrides.django_middleware.CSPMiddleware",
    "overrides.whitenoise.AsyncWhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "overrides.django_middleware.SessionMiddleware",
    "overrides.django_middleware.CommonMiddleware",
    "overrides.django_middleware.CsrfViewMiddleware",
    "overrides.django_middleware.AuthenticationMiddleware",
    "overrides.django_middleware.MessageMiddleware",
    "overrides.django_middleware.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "server.urls"
ASGI_APPLICATION = "server.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "server" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the background generator write while requests read.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # Tests run on a file too, not Django's default shared-cache in-memory database: shared
    # cache takes table locks that fail at once ("database table is locked") instead of
    # waiting out the busy timeout, so a test with a live reply and a request racing it
    # flaked. A file per test process keeps parallel runs apart.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"botstream-test-{os.getpid()}.sqlite3")
    }
# Requests, turns and websockets do their database work on one thread per process
# (overrides/django_asgi.py), so its connection is kept between requests: closing it
# after each request cost a reconnect (Postgres forks a backend for each; SQLite
# checkpoints its WAL when the last connection closes). Checked before its first use in
# each request (CONN_HEALTH_CHECKS), so a database restart costs no failed request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=300)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

REDIS_URL = env.str("REDIS_URL", default="")
CHANNEL_CAPACITY = env.int("CHANNEL_CAPACITY", default=1000)
# "pubsub" (default): Redis pushes events to each process (overrides/channel_layers.py says why);
# "core": channels-redis' list-based layer, with per-channel capacity and expiry.
REDIS_CHANNEL_LAYER = env.str("REDIS_CHANNEL_LAYER", default="pubsub")
if REDIS_CHANNEL_LAYER not in ("pubsub", "core"):
    raise ImproperlyConfigured("REDIS_CHANNEL_LAYER must be 'pubsub' or 'core'.")
if REDIS_URL and REDIS_CHANNEL_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "overrides.channel_layers.PubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                # Deltas are coalesced, so a subscriber sees a few events per second per
                # reply; 1000 buffers several minutes of a slow consumer before
                # group_send drops, and a drop is detected by offset and repaired.
                "capacity": CHANNEL_CAPACITY,
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "overrides.channel_layers.EmbeddedChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": 60},
        }
    }

# Every password check goes through this backend: throttled, hashed off the loop.
AUTHENTICATION_BACKENDS = ["accounts.backends.ThrottledModelBackend"]
# Threads that hash passwords (login, HTTP Basic, admin): at most this many hashes run
# at once, none on the event loop or on the thread that serves database work. Half the
# CPUs by default, so a flood of wrong passwords leaves the other half to everyone else.
PASSWORD_HASH_WORKERS = env.int("PASSWORD_HASH_WORKERS", default=max(1, (os.cpu_count() or 2) // 2))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "server" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)

# --- Response headers ---
# HSTS goes only on HTTPS responses (Django's SecurityMiddleware), so plain-HTTP trials
# with DEBUG off are unaffected; behind a proxy the scheme comes from X-Forwarded-Proto
# sent by a TRUSTED_PROXIES address.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Content-Security-Policy (django-csp), in every mode: the pages (landing, demo chat,
# GraphiQL, admin) load scripts and styles from /static only and talk to this origin
# ('self' covers ws:/wss: of the same host). No inline script or style is allowed, so an
# injected <script> never runs. Data URIs are GraphiQL's icons and fonts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# LLM provider: OpenAI-compatible when a key is set, else the offline reply engine.
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=60.0)
OPENAI_MAX_RETRIES = env.int("OPENAI_MAX_RETRIES", default=2)
# The openai SDK's HTTP transport for replies: "aiohttp" (default: a third of the CPU per
# streamed chunk) or "httpx" (the SDK's own default, httpx2: HTTP/2, its proxy options).
OPENAI_HTTP_CLIENT = env.str("OPENAI_HTTP_CLIENT", default="aiohttp")
if OPENAI_HTTP_CLIENT not in ("aiohttp", "httpx"):
    raise ImproperlyConfigured(
        f'OPENAI_HTTP_CLIENT must be "aiohttp" or "httpx", not {OPENAI_HTTP_CLIENT!r}.'
    )
LLM_PROVIDER = env.str("LLM_PROVIDER", default="openai" if OPENAI_API_KEY else "offline")
OFFLINE_TOKEN_DELAY = env.float("OFFLINE_TOKEN_DELAY", default=0.02)
DEFAULT_MODEL = env.str("DEFAULT_MODEL", default="gpt-4o-mini")

GRAPHQL_INTROSPECTION = env.bool("GRAPHQL_INTROSPECTION", default=DEBUG)

# --- Chat runtime (streaming, generation, limits) ---
# Deltas published within this window are merged into one event (the first is sent at once).
STREAM_COALESCE_MS = env.int("STREAM_COALESCE_MS", default=40)
# Partial reply text is written to the database at this interval and at the end.
STREAM_PERSIST_INTERVAL = env.float("STREAM_PERSIST_INTERVAL", default=0.5)
# A generation touches its message at least this often; older active messages are orphans.
GENERATION_HEARTBEAT = env.float("GENERATION_HEARTBEAT", default=2.0)
GENERATION_STALE_AFTER = env.float("GENERATION_STALE_AFTER", default=10.0)
# A subscriber with an unfinished reply and no event for this long re-checks the database.
STREAM_WATCHDOG_SECONDS = env.float("STREAM_WATCHDOG_SECONDS", default=2.0)
MESSAGE_MAX_LENGTH = env.int("MESSAGE_MAX_LENGTH", default=4000)
# A visitor's comment on a rated reply (rateMessage).
FEEDBACK_COMMENT_MAX_LENGTH = env.int("FEEDBACK_COMMENT_MAX_LENGTH", default=2000)
GENERATION_SWEEP_INTERVAL = env.float("GENERATION_SWEEP_INTERVAL", default=15.0)

# --- Background tasks (django-tasks; the database backend, so no extra service) ---
# Durable work (expiry sweeps; webhook delivery and document indexing next) is enqueued
# in the database and run by `manage.py worker` (django-tasks-db's db_worker, which also
# schedules the periodic jobs: core/periodic.py).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# Finished task rows are deleted after this many days by a daily job (0: kept forever).
TASK_RESULTS_KEEP_DAYS = env.int("TASK_RESULTS_KEEP_DAYS", default=7)
# Seconds between runs of the sweep that closes idle conversations (0 turns it off; the
# expiry still holds: it is checked on every use).
CONVERSATION_EXPIRY_SWEEP_INTERVAL = env.float("CONVERSATION_EXPIRY_SWEEP_INTERVAL", default=60.0)
# Most conversations one sweep closes (the rest go to the next run).
CONVERSATION_EXPIRY_SWEEP_BATCH = env.int("CONVERSATION_EXPIRY_SWEEP_BATCH", default=500)

# --- Webhooks (integrations/) ---
# Delivery runs on the task queue (a worker), never on a visitor's turn. Each attempt
# POSTs through the api_call address guard (API_CALL_ALLOW_HOSTS admits private hosts)
# and gets WEBHOOK_TIMEOUT seconds for the whole exchange; a 2xx ends the delivery.
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
# Retries: the n-th wait is WEBHOOK_RETRY_BASE * 2^(n-1) seconds, at most
# WEBHOOK_RETRY_MAX_DELAY, until WEBHOOK_MAX_ATTEMPTS attempts or WEBHOOK_RETRY_WINDOW
# seconds after the event (by default 12 attempts over about 20 hours).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=12)
WEBHOOK_RETRY_BASE = env.float("WEBHOOK_RETRY_BASE", default=60.0)
WEBHOOK_RETRY_MAX_DELAY = env.float("WEBHOOK_RETRY_MAX_DELAY", default=6 * 3600.0)
WEBHOOK_RETRY_WINDOW = env.float("WEBHOOK_RETRY_WINDOW", default=24 * 3600.0)
# Seconds between runs of the sweep that requeues deliveries whose worker died
# mid-attempt (0 turns it off); a delivery is requeued once it is this many seconds
# overdue and no attempt holds it.
WEBHOOK_SWEEP_INTERVAL = env.float("WEBHOOK_SWEEP_INTERVAL", default=60.0)
WEBHOOK_STALLED_AFTER = env.float("WEBHOOK_STALLED_AFTER", default=120.0)
# An endpoint answering 410 Gone is turned off (its pending deliveries fail).
WEBHOOK_DISABLE_ON_GONE = env.bool("WEBHOOK_DISABLE_ON_GONE", default=True)
WEBHOOK_MAX_PER_BOT = env.int("WEBHOOK_MAX_PER_BOT", default=20)
# Finished deliveries (succeeded or failed) are deleted from the log after this many days
# by a daily job (0: kept forever).
WEBHOOK_LOG_KEEP_DAYS = env.int("WEBHOOK_LOG_KEEP_DAYS", default=30)
# --- Knowledge: documents a bot answers from (knowledge/, README "Knowledge") ---
KNOWLEDGE_MAX_DOCUMENTS_PER_BOT = env.int("KNOWLEDGE_MAX_DOCUMENTS_PER_BOT", default=50)
# Largest document, uploaded or fetched by URL. An upload also has to fit in one GraphQL
# request (GRAPHQL_MAX_UPLOAD_BYTES, base64: 4/3 of the file).
KNOWLEDGE_MAX_DOCUMENT_BYTES = env.int("KNOWLEDGE_MAX_DOCUMENT_BYTES", default=5 * 1024 * 1024)
# Chunks of all of a bot's documents together: bounds the exact vector search per reply.
KNOWLEDGE_MAX_CHUNKS_PER_BOT = env.int("KNOWLEDGE_MAX_CHUNKS_PER_BOT", default=5000)
KNOWLEDGE_MAX_PDF_PAGES = env.int("KNOWLEDGE_MAX_PDF_PAGES", default=500)
# Chunk size and the overlap between consecutive chunks of a section, in characters.
KNOWLEDGE_CHUNK_CHARS = env.int("KNOWLEDGE_CHUNK_CHARS", default=1000)
KNOWLEDGE_CHUNK_OVERLAP = env.int("KNOWLEDGE_CHUNK_OVERLAP", default=150)
# Passages put into a reply's request (and cited), and how long a reply waits for them.
KNOWLEDGE_TOP_K = env.int("KNOWLEDGE_TOP_K", default=4)
KNOWLEDGE_RETRIEVAL_TIMEOUT = env.float("KNOWLEDGE_RETRIEVAL_TIMEOUT", default=3.0)
# Fetching a document by URL (through the api_call address guard: API_CALL_ALLOW_HOSTS).
KNOWLEDGE_FETCH_TIMEOUT = env.float("KNOWLEDGE_FETCH_TIMEOUT", default=20.0)
# Embeddings (OpenAI-compatible /embeddings): on when EMBEDDINGS_MODEL is set; the key
# and base URL default to OPENAI_API_KEY and OPENAI_BASE_URL. Off: full text alone.
EMBEDDINGS_MODEL = env.str("EMBEDDINGS_MODEL", default="")
EMBEDDINGS_API_KEY = env.str("EMBEDDINGS_API_KEY", default="")
EMBEDDINGS_BASE_URL = env.str("EMBEDDINGS_BASE_URL", default="")
EMBEDDINGS_TIMEOUT = env.float("EMBEDDINGS_TIMEOUT", default=10.0)
# Bots whose chunk vectors each process keeps in memory for exact search (5,000 chunks
# of 1536 dimensions are 30 MB); the least recently asked bot's are dropped first.
KNOWLEDGE_VECTOR_CACHE_BOTS = env.int("KNOWLEDGE_VECTOR_CACHE_BOTS", default=8)

# --- Operations (health, metrics, logs) ---
# Logs: JSON lines for collectors in production, text for people; secrets redacted.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)
# One JSON access line per HTTP request, with its request id (daphne's own is off).
ACCESS_LOG = env.bool("ACCESS_LOG", default=not DEBUG)
# /metrics of this process; nginx does not expose it, scrape each replica directly.
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=DEBUG)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# The event-loop lag monitor (server/loop_lag.py) wakes this often, in seconds; 0 turns it off.
EVENT_LOOP_LAG_INTERVAL = env.float("EVENT_LOOP_LAG_INTERVAL", default=0.1)
# Each /readyz check (database, channel layer, LLM configuration) gets this many seconds.
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=2.0)
# Browser clients may read our request id (and send their own: CORS_ALLOW_HEADERS).
CORS_EXPOSE_HEADERS = ["x-request-id"]
SCENARIO_MAX_STEPS_PER_TURN = env.int("SCENARIO_MAX_STEPS_PER_TURN", default=25)
# CPU seconds all the templates of one visitor turn may take together (code render_budget).
SCENARIO_RENDER_SECONDS = env.float("SCENARIO_RENDER_SECONDS", default=2.0)
# Hosts ("name" or "name:port") an api_call step may reach even on private addresses.
API_CALL_ALLOW_HOSTS = env.list("API_CALL_ALLOW_HOSTS", default=[])

# --- Rate limits (limits library; Redis storage when REDIS_URL is set) ---
RATE_LIMITS_ENABLED = env.bool("RATE_LIMITS_ENABLED", default=True)
RATE_LIMIT_CONVERSATION_START = env.str("RATE_LIMIT_CONVERSATION_START", default="60/minute")
RATE_LIMIT_MESSAGES_PER_CONVERSATION = env.str(
    "RATE_LIMIT_MESSAGES_PER_CONVERSATION", default="30/minute"
)
RATE_LIMIT_MESSAGES_PER_IP = env.str("RATE_LIMIT_MESSAGES_PER_IP", default="300/minute")
# rateMessage: ratings and comments per conversation and per client address.
RATE_LIMIT_FEEDBACK_PER_CONVERSATION = env.str(
    "RATE_LIMIT_FEEDBACK_PER_CONVERSATION", default="30/minute"
)
RATE_LIMIT_FEEDBACK_PER_IP = env.str("RATE_LIMIT_FEEDBACK_PER_IP", default="300/minute")
# Failed password checks (login, HTTP Basic, websocket Basic, admin): per client IP and
# per username; past either, attempts are refused before any hash is computed.
RATE_LIMIT_LOGIN = env.str("RATE_LIMIT_LOGIN", default="10/minute")
RATE_LIMIT_LOGIN_PER_USERNAME = env.str("RATE_LIMIT_LOGIN_PER_USERNAME", default="10/minute")

# --- Generation limits and failure handling ---
# A reply is cut off (FAILED, code timeout) after this long, whatever the upstream does.
GENERATION_MAX_SECONDS = env.float("GENERATION_MAX_SECONDS", default=300.0)
# How long the final write of a reply is retried while the database is unreachable.
GENERATION_FINISH_RETRY_SECONDS = env.float("GENERATION_FINISH_RETRY_SECONDS", default=60.0)
# History sent to the LLM is trimmed to about this many tokens (oldest first; the system
# prompt and the visitor's last message are always kept).
HISTORY_MAX_TOKENS = env.int("HISTORY_MAX_TOKENS", default=3000)
# Suggested follow-up questions (bots with suggestions on): the whole call, waiting for
# one of the process's SUGGESTIONS_CONCURRENCY slots included, is cut off after
# SUGGESTIONS_TIMEOUT seconds (then: no suggestions); the `chat` subscription waits for
# them at most that long after the turn's last reply.
SUGGESTIONS_TIMEOUT = env.float("SUGGESTIONS_TIMEOUT", default=10.0)
SUGGESTIONS_MAX_TOKENS = env.int("SUGGESTIONS_MAX_TOKENS", default=200)
SUGGESTIONS_CONCURRENCY = env.int("SUGGESTIONS_CONCURRENCY", default=8)
SUGGESTIONS_MAX_LENGTH = env.int("SUGGESTIONS_MAX_LENGTH", default=120)
# A reply may be regenerated until it has this many versions.
REGENERATE_MAX_VERSIONS = env.int("REGENERATE_MAX_VERSIONS", default=10)
# Caps on what owners and the engine may store.
BOT_MAX_TOKENS_CAP = env.int("BOT_MAX_TOKENS_CAP", default=8192)
SCENARIO_MAX_STEPS = env.int("SCENARIO_MAX_STEPS", default=100)
CONVERSATION_VARIABLES_MAX_BYTES = env.int("CONVERSATION_VARIABLES_MAX_BYTES", default=32768)

# --- GraphQL limits ---
# Checked before execution (schema/limits.py, schema/extensions.py, server/graphql_http.py,
# server/graphql_ws.py) and read per operation / per connection, so overrides apply at once.
# Depth counts every field level, leaves included ({ me { username } } is 2).
# graphql-armor's default of 6 assumes plain lists; a Relay hop costs three levels
# (field, edges, node), so 6 would allow two hops. The README's deepest documented query,
# bots -> edges -> node -> scenarios -> edges -> node -> steps -> edges -> node ->
# nextStep -> name, is 11; 12 admits it with one level to spare. __schema/__type subtrees
# are exempt (GraphiQL's introspection query nests ofType deeper than 12); graphql-core's
# MaxIntrospectionDepthRule bounds them instead.
GRAPHQL_MAX_DEPTH = env.int("GRAPHQL_MAX_DEPTH", default=12)
# Aliases and directives are counted with fragments expanded (a spread counts its
# fragment's aliases every time it is used).
GRAPHQL_MAX_ALIASES = env.int("GRAPHQL_MAX_ALIASES", default=15)
GRAPHQL_MAX_DIRECTIVES = env.int("GRAPHQL_MAX_DIRECTIVES", default=50)
# Lexical tokens per document (comments included). GraphiQL's introspection query is
# 184, the README's nested bots query 70; literal inputs count, variables don't.
GRAPHQL_MAX_TOKENS = env.int("GRAPHQL_MAX_TOKENS", default=1000)
# Largest HTTP request body (413 above it) and GraphQL document (a syntax error above it).
GRAPHQL_MAX_QUERY_BYTES = env.int("GRAPHQL_MAX_QUERY_BYTES", default=64 * 1024)
# Largest HTTP request body with a credential (Authorization header or session cookie):
# a document uploaded as base64 in createDocument. Django's own cap follows it.
GRAPHQL_MAX_UPLOAD_BYTES = env.int("GRAPHQL_MAX_UPLOAD_BYTES", default=8 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(GRAPHQL_MAX_QUERY_BYTES, GRAPHQL_MAX_UPLOAD_BYTES)
# Relay pages: first/last above this are refused before execution (and by
# strawberry's relay_max_results, which is also what a list without first/last returns).
GRAPHQL_MAX_PAGE_SIZE = env.int("GRAPHQL_MAX_PAGE_SIZE", default=100)
STRAWBERRY_DJANGO = {
    "FIELD_DESCRIPTION_FROM_HELP_TEXT": True,
    "TYPE_DESCRIPTION_FROM_MODEL_DOCSTRING": True,
    "PAGINATION_DEFAULT_LIMIT": 100,
    "PAGINATION_MAX_LIMIT": GRAPHQL_MAX_PAGE_SIZE,
}
# Cost: each selected field counts once per item of the lists around it, with a list's
# size taken from its first/last; bots(first: 100) { … scenarios(first: 100) { … } } is
# over 10 000. A list without first/last counts as GRAPHQL_COST_DEFAULT_PAGE_SIZE items
# (1: the README's bots(first: 20) { … scenarios { … steps { … } } } costs ~400); it still
# returns up to GRAPHQL_MAX_PAGE_SIZE, so raise this to make unsized lists count more.
GRAPHQL_MAX_COST = env.int("GRAPHQL_MAX_COST", default=5000)
GRAPHQL_COST_DEFAULT_PAGE_SIZE = env.int("GRAPHQL_COST_DEFAULT_PAGE_SIZE", default=1)
# "Did you mean …?" hints in errors name fields, arguments and enum values: off in
# production, like introspection (GRAPHQL_INTROSPECTION above).
GRAPHQL_FIELD_SUGGESTIONS = env.bool("GRAPHQL_FIELD_SUGGESTIONS", default=DEBUG)
# Websockets. A socket that has not sent connection_init within this many seconds is
# closed with 4408 (both subprotocols).
WS_CONNECTION_INIT_TIMEOUT = env.float("WS_CONNECTION_INIT_TIMEOUT", default=10.0)
# Operations running at once on one socket; one more gets an error message.
WS_MAX_SUBSCRIPTIONS = env.int("WS_MAX_SUBSCRIPTIONS", default=20)
# A bigger frame closes the socket with 4400 (daphne cannot send 1009; its own cap is 1 MiB).
WS_MAX_MESSAGE_BYTES = env.int("WS_MAX_MESSAGE_BYTES", default=64 * 1024)
# Websockets held at once per client address and per chat token, counted across
# processes in Redis when REDIS_URL is set (server/socket_slots.py); one more closes with
# 4013. 0 turns a cap off. Raise the address cap if many visitors share one address.
WS_MAX_SOCKETS_PER_IP = env.int("WS_MAX_SOCKETS_PER_IP", default=50)
WS_MAX_SOCKETS_PER_CHAT_TOKEN = env.int("WS_MAX_SOCKETS_PER_CHAT_TOKEN", default=5)
# Seconds between server keep-alives after connection_ack ("ping" on graphql-transport-ws,
# "ka" on legacy graphql-ws); 0 turns them off.
WS_KEEPALIVE_INTERVAL = env.float("WS_KEEPALIVE_INTERVAL", default=15.0)
# A socket's credential (API token, session, Basic password) is checked again this often:
# a revoked token, a logout, a password change or a deactivated user closes it (4403).
# One small query per authenticated socket per interval; visitors' sockets are not checked.
WS_AUTH_RECHECK_INTERVAL = env.float("WS_AUTH_RECHECK_INTERVAL", default=0.5)

# --- Analytics and transcript export (conversations/stats.py, conversations/export.py) ---
# botStats answers at most this many buckets (hours or days) per request.
STATS_MAX_BUCKETS = env.int("STATS_MAX_BUCKETS", default=1000)
# Transcript export reads and writes this many messages per database round trip; the
# memory it holds is bounded by one batch, whatever the range.
EXPORT_BATCH_SIZE = env.int("EXPORT_BATCH_SIZE", default=2000)
# Exports streaming at once per process; one more is refused with 429 (retry shortly).
EXPORT_MAX_RUNNING = env.int("EXPORT_MAX_RUNNING", default=4)
