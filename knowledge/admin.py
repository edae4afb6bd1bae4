"""Admin pages for documents and their chunks, scoped to the staff user's own bots."""

from django.contrib import admin, messages
from django.db import transaction

from core.admin_scoping import OwnedAdmin
from knowledge import services
from knowledge.models import Chunk, Document

OWN_BOTS = admin.RelatedOnlyFieldListFilter


class ChunkInline(admin.TabularInline):
    model = Chunk
    extra = 0
    can_delete = False
    fields = ("position", "heading", "text")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False  # chunks come from indexing only


@admin.register(Document)
class DocumentAdmin(OwnedAdmin):
    owner_path = "bot__owner"
    list_display = ("__str__", "bot", "status", "format", "chunk_count", "size", "indexed_at")
    list_filter = ("status", "format", "language", ("bot", OWN_BOTS))
    search_fields = ("title", "source_url", "bot__name")
    list_select_related = ("bot",)
    readonly_fields = (
        "status",
        "error_code",
        "error",
        "format",
        "size",
        "chunk_count",
        "indexed_at",
        "created_at",
        "updated_at",
    )
    fields = ("bot", "title", "source_url", "language", *readonly_fields)
    inlines = [ChunkInline]
    actions = ["reindex"]

    def has_add_permission(self, request):
        return False  # added through the API (createDocument): an upload or a URL

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")  # up to the size limit each

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "bot", "source_url", "language") if obj else fields

    @admin.action(description="Index the selected documents again")
    def reindex(self, request, queryset):
        with transaction.atomic():
            for document in queryset:
                services.document_reindex(user=request.user, document_id=document.pk)
        self.message_user(request, f"{queryset.count()} queued for indexing.", messages.SUCCESS)


@admin.register(Chunk)
class ChunkAdmin(OwnedAdmin):
    owner_path = "bot__owner"
    list_display = ("__str__", "document", "position", "heading")
    list_filter = (("bot", OWN_BOTS),)
    search_fields = ("heading", "text", "document__title")
    list_select_related = ("document",)
    readonly_fields = ("document", "bot", "position", "heading", "text")
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # written by indexing only; shown read-only (view permission)
