from django.contrib import admin
from django.db.models import Count

from conversations import lifecycle
from conversations.models import Conversation, ConversationStatus, Message
from core.admin_scoping import OwnedAdmin

OWN_BOTS = admin.RelatedOnlyFieldListFilter  # lists only bots the scoped rows refer to


class MessageInline(admin.TabularInline):
    """The transcript, read-only: messages are written by visitors and the bot."""

    model = Message
    extra = 0
    can_delete = False
    fields = ("created_at", "role", "status", "content", "error_code", "is_read")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_add_permission(self, request, obj=None):
        return False


class MessageStatusFilter(admin.SimpleListFilter):
    title = "message status"
    parameter_name = "message_status"

    def lookups(self, request, model_admin):
        return Message._meta.get_field("status").choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(messages__status=self.value()).distinct()
        return queryset


class ExpiryStatusFilter(admin.SimpleListFilter):
    """Active or expired, by the same rule as the API's `status` filter."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return ConversationStatus.choices

    def queryset(self, request, queryset):
        if self.value() in ConversationStatus.values:
            return queryset.filter(lifecycle.status_filter(self.value()))
        return queryset


@admin.register(Conversation)
class ConversationAdmin(OwnedAdmin):
    owner_path = "bot__owner"
    list_display = (
        "id",
        "bot",
        "user_session",
        "status",
        "is_completed",
        "message_count",
        "expires_at",
        "created_at",
    )
    list_filter = (
        ("bot", OWN_BOTS),
        ExpiryStatusFilter,
        "is_completed",
        MessageStatusFilter,
        "created_at",
    )
    search_fields = ("user_session", "bot__name", "messages__content")
    date_hierarchy = "created_at"
    readonly_fields = (
        "bot",
        "scenario",
        "user_session",
        "current_step",
        "variables",
        "is_completed",
        "expires_at",
        "closed_at",
        "created_at",
        "updated_at",
    )
    exclude = ("token_digest",)
    inlines = [MessageInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(message_count=Count("messages"))

    @admin.display(ordering="message_count")
    def message_count(self, obj):
        return obj.message_count

    @admin.display(description="status")
    def status(self, obj):
        return ConversationStatus(lifecycle.status_of(obj)).label

    def has_add_permission(self, request):
        # Conversations start from the API, which shows the chat token once.
        return False


@admin.register(Message)
class MessageAdmin(OwnedAdmin):
    owner_path = "conversation__bot__owner"
    list_display = ("id", "conversation", "role", "status", "short_content", "created_at")
    list_filter = ("role", "status", ("conversation__bot", OWN_BOTS), "created_at")
    search_fields = ("content", "error")
    readonly_fields = [f.name for f in Message._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("conversation__bot")

    @admin.display(description="content")
    def short_content(self, obj):
        return obj.content[:80]

    def has_add_permission(self, request):
        return False
