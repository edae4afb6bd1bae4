#!/bin/sh
# Container entry point: optional migrations, then daphne (or the command given).
#
#   MIGRATE_ON_START=1  run `migrate --noinput` first. For a single container only: with
#                       several replicas, run the one-shot `migrate` service instead
#                       (compose.yml) so replicas never race on the schema.
#   PORT, BIND_HOST     listen address (default 0.0.0.0:8000).
#   any arguments       run them instead of daphne, e.g. `python manage.py createsuperuser`.
set -eu

cd "$(dirname "$0")/.."

if [ "${MIGRATE_ON_START:-0}" = "1" ]; then
    python manage.py migrate --noinput
fi

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

# daphne flags (docs/DEPLOY.md explains each):
#   (no --proxy-headers)           daphne would take X-Forwarded-For from anyone; the app
#                                  reads it from TRUSTED_PROXIES only (server/proxies.py).
#   --websocket_timeout 86400      a socket lives at most a day (daphne's default, kept
#                                  explicit; -1 would let a leaked socket live forever):
#                                  clients reconnect and resume from their last offset.
#   --websocket_connect_timeout 10 handshake budget, slow mobile links included.
#   --ping-interval 20 --ping-timeout 30
#                                  keepalive pings hold the socket open through nginx's
#                                  proxy_read_timeout and detect dead peers.
#   --application-close-timeout 10
#                                  a closing consumer gets 10 s; generation runs outside
#                                  it and is not cut short.
#   --access-log /dev/null         the app writes its own JSON access log (ACCESS_LOG)
#                                  with request ids; daphne's is plain text.
#   --http-timeout 60              an HTTP request whose response has not finished 60 s
#                                  after its body arrived gets 503 (the API streams
#                                  nothing over HTTP: replies stream on websockets).
#                                  It starts once the body is in: a body shorter than
#                                  its Content-Length is dropped by Twisted's 60 s idle
#                                  timeout, and behind nginx never reaches daphne
#                                  (client_body_timeout, deploy/nginx.conf).
exec daphne \
    --bind "${BIND_HOST:-0.0.0.0}" \
    --port "${PORT:-8000}" \
    --websocket_timeout 86400 \
    --websocket_connect_timeout 10 \
    --ping-interval 20 \
    --ping-timeout 30 \
    --application-close-timeout 10 \
    --http-timeout 60 \
    --access-log /dev/null \
    server.asgi:application
