from django.contrib import admin
from django.urls import path

from schema import schema
from server import views
from server.graphql_http import GraphQLView

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("graphql", GraphQLView.as_view(schema=schema), name="graphql"),
    path("graphql/", GraphQLView.as_view(schema=schema)),
]
