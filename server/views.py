from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from schema.system import api_info


async def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "landing.html", {"info": api_info(), "debug": settings.DEBUG})


async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "version": settings.VERSION})
