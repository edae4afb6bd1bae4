# syntax=docker/dockerfile:1
# Botstream image: daphne workers (one per CPU, under supervisord) serving HTTP + GraphQL
# websockets on port 8000.
#   docker build -t botstream .
#   docker run -p 8000:8000 -e SECRET_KEY=... -e ALLOWED_HOSTS=localhost botstream
# See docs/DEPLOY.md. Every runtime dependency ships a manylinux wheel (x86_64 and
# aarch64), so neither stage needs a compiler.

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the locked dependencies in a virtualenv ------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Only the dependency manifests: this layer is rebuilt when they change, not the code.
# pyproject declares no packages (`packages = []`): installing "." installs the
# [project.dependencies] pinned by constraints.txt; the code is copied, not installed.
COPY pyproject.toml constraints.txt ./
RUN pip install -c constraints.txt .

# --- runtime -----------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} app \
    && useradd --system --uid ${APP_UID} --gid app --home-dir /app --no-create-home app

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=server.settings \
    DEBUG=0 \
    PORT=8000 \
    MIGRATE_ON_START=0 \
    DATABASE_URL=sqlite:////app/data/db.sqlite3

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY . .

# Static files are collected (and compressed by whitenoise) into the image; settings
# refuse to load without SECRET_KEY when DEBUG is off, so a throwaway one is given to
# this step only. Bytecode is compiled now because /app is read-only for the app user.
# /app/data is the one writable place: the default SQLite database lives there.
RUN SECRET_KEY=collectstatic-build-only python manage.py collectstatic --noinput \
    && python -m compileall -q /app \
    && chmod 0755 deploy/entrypoint.sh \
    && mkdir -p /app/data \
    && chown app:app /app/data

USER app
EXPOSE 8000

# Liveness only (/healthz does no I/O); readiness is /readyz, for the load balancer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/deploy/healthcheck.py"]

ENTRYPOINT ["/app/deploy/entrypoint.sh"]
