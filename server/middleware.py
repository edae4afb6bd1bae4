"""Request ids, request metrics and access logs; probes served before host validation."""

import logging
import re
import time
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import resolve

from server.logging import request_id_var
from server.metrics import count_http_request

REQUEST_ID_HEADER = "X-Request-ID"
# A client (or nginx) may choose the id, to correlate its logs with ours; anything
# that could forge a log line or grow without bound is replaced by a fresh id.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

access_logger = logging.getLogger("botstream.access")


def _request_id(request: HttpRequest) -> str:
    candidate = request.headers.get(REQUEST_ID_HEADER, "")
    return candidate if _VALID_REQUEST_ID.fullmatch(candidate) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Tag each request with an id, echo it as X-Request-ID, count and log the request.

    The id is taken from the X-Request-ID header when it looks like one, else generated;
    it is stored in a contextvar that every log record of the request picks up. Place
    first in MIDDLEWARE so every response, even an error from a later middleware, gets
    it.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self.__acall__(request)
        token, started = self._begin(request)
        try:
            response = self.get_response(request)
            self._finish(request, response, started)
            return response
        finally:
            request_id_var.reset(token)

    async def __acall__(self, request: HttpRequest):
        token, started = self._begin(request)
        try:
            response = await self.get_response(request)
            self._finish(request, response, started)
            return response
        finally:
            request_id_var.reset(token)

    def _begin(self, request: HttpRequest):
        request.request_id = _request_id(request)
        return request_id_var.set(request.request_id), time.perf_counter()

    def _finish(self, request: HttpRequest, response: HttpResponse, started: float) -> None:
        response[REQUEST_ID_HEADER] = request.request_id
        count_http_request(request.method or "", response.status_code)
        if not settings.ACCESS_LOG:
            return
        if request.path in PROBE_PATHS and response.status_code < 400:
            return  # probes every few seconds would drown the log
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "client": request.META.get("REMOTE_ADDR"),
            },
        )


class ProbeMiddleware:
    """Serve /healthz, /readyz and /metrics before the rest of the middleware.

    Docker healthchecks, Kubernetes probes and Prometheus address each replica by IP,
    which is never in ALLOWED_HOSTS: through the normal stack CommonMiddleware would
    answer 400 (DisallowedHost). These views use neither the host, nor sessions, nor
    cookies, so skipping host validation for them is safe. The views are still the
    ones routed in urls.py. Place right after RequestIdMiddleware.
    """

    sync_capable = False
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest):
        if request.path_info not in PROBE_PATHS:
            return await self.get_response(request)
        match = resolve(request.path_info)
        view = match.func
        if not iscoroutinefunction(view):
            view = sync_to_async(view)
        return await view(request, *match.args, **match.kwargs)
