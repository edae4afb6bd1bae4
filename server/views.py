from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from schema.system import api_info


async def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "landing.html", {"info": api_info(), "debug": settings.DEBUG})
