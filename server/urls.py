from django.contrib import admin
from django.urls import path, re_path

from accounts import admin as accounts_admin
from schema import schema
from server import chat_page, console_page, export, health, metrics, views, widget
from server.graphql_http import GraphQLView

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/login/", accounts_admin.login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("chat/", chat_page.chat_index, name="chat-index"),
    path("chat/<str:bot_ref>/", chat_page.chat, name="chat"),
    path("widget.js", widget.widget_js, name="widget"),
    path("console/", console_page.console, name="console"),
    path("operator/", console_page.operator, name="operator"),
    path("graphql", GraphQLView.as_view(schema=schema), name="graphql"),
    path("graphql/", GraphQLView.as_view(schema=schema)),
    # A bot's global ID may contain "/" (base64): everything before "/transcripts.".
    re_path(
        r"^export/bots/(?P<bot_id>.+)/transcripts\.(?P<fmt>jsonl|csv)$",
        export.bot_transcripts,
        name="export-transcripts",
    ),
]
