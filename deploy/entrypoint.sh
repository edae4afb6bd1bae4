#!/bin/sh
# Container entry point: optional migrations, then the daphne workers (or the command given).
#
#   WEB_CONCURRENCY     daphne workers sharing the port (default: one per CPU available,
#                       1 without REDIS_URL; deploy/workers.py).
#   MIGRATE_ON_START=1  run `migrate --noinput` first. For a single container only: with
#                       several replicas, run the one-shot `migrate` service instead
#                       (compose.yml) so replicas never race on the schema.
#   PORT, BIND_HOST     listen address (default 0.0.0.0:8000).
#   any arguments       run them instead of the workers, e.g. `python manage.py createsuperuser`.
set -eu

cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
    # Before migrating: a refused worker count (more than one without Redis) stops here.
    WEB_CONCURRENCY="$(python deploy/workers.py)"
    export WEB_CONCURRENCY
fi

if [ "${MIGRATE_ON_START:-0}" = "1" ]; then
    python manage.py migrate --noinput
fi

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

# supervisord owns the socket and runs the workers (deploy/supervisord.conf, with the
# daphne flags); as the process that receives SIGTERM it stops them gracefully.
BIND_HOST="${BIND_HOST:-0.0.0.0}"
PORT="${PORT:-8000}"
SUPERVISOR_RUN_DIR="$(mktemp -d)"
export BIND_HOST PORT SUPERVISOR_RUN_DIR
if [ "$WEB_CONCURRENCY" -gt 1 ]; then
    # One /metrics for all the workers (prometheus_client's multiprocess mode: each
    # worker writes its metrics to files here; server.metrics.exposed_registry sums them).
    PROMETHEUS_MULTIPROC_DIR="$SUPERVISOR_RUN_DIR/metrics"
    mkdir "$PROMETHEUS_MULTIPROC_DIR"
    export PROMETHEUS_MULTIPROC_DIR
fi
exec supervisord --configuration deploy/supervisord.conf
