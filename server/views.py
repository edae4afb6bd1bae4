from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from schema.system import api_info
from server.chat_page import active_bots


async def landing(request: HttpRequest) -> HttpResponse:
    context = {"info": api_info(), "debug": settings.DEBUG, "chat_bots": await active_bots()}
    return render(request, "landing.html", context)
