"""The owner console (/console/): one static page whose JavaScript (static/console/) is a
client of the public GraphQL API, like the demo chat. The page sets the CSRF cookie the
console sends back as X-CSRFToken on its cookie-authenticated requests."""

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render


async def console(request: HttpRequest) -> HttpResponse:
    get_token(request)
    return render(request, "console.html")


async def operator(request: HttpRequest) -> HttpResponse:
    """The operator page (/operator/): the live inbox of handed-off conversations and a
    chat to answer them (static/operator/, a client of the public API like the console)."""
    get_token(request)
    return render(request, "operator.html")
