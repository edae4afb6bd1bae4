from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from schema.system import api_info_for
from server.chat_page import public_bots


async def landing(request: HttpRequest) -> HttpResponse:
    info = api_info_for(await request.auser())
    context = {"info": info, "chat_bots": await public_bots()}
    return render(request, "landing.html", context)
