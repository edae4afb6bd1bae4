from django.contrib import admin
from django.db.models import Count
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils.html import format_html

from conversations import export, lifecycle
from conversations.models import Conversation, ConversationStatus, Feedback, Handoff, Message
from core.admin_scoping import OwnedAdmin

OWN_BOTS = admin.RelatedOnlyFieldListFilter  # lists only bots the scoped rows refer to


class MessageInline(admin.TabularInline):
    """The transcript, read-only: messages are written by visitors and the bot."""

    model = Message
    extra = 0
    can_delete = False
    fields = (
        "created_at",
        "role",
        "author",
        "author_name",
        "handoff_mode",
        "status",
        "version",
        "content",
        "suggestions",
        "error_code",
        "is_read",
        "rating",
    )
    readonly_fields = fields
    ordering = ("created_at", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("feedback")

    @admin.display(description="visitor's rating")
    def rating(self, obj):
        feedback = getattr(obj, "feedback", None)
        if feedback is None:
            return "-"
        return (
            f"{feedback.get_rating_display()}: {feedback.comment}"
            if feedback.comment
            else (feedback.get_rating_display())
        )

    def has_add_permission(self, request, obj=None):
        return False


class HandoffInline(admin.TabularInline):
    """Each handoff to a human, read-only: from request to claim to its end."""

    model = Handoff
    extra = 0
    can_delete = False
    fields = (
        "source",
        "requested_by",
        "requested_at",
        "operator",
        "claimed_at",
        "ended_at",
        "outcome",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class FeedbackInline(admin.StackedInline):
    """The visitor's rating of the message, read-only: only the visitor rates."""

    model = Feedback
    extra = 0
    can_delete = False
    fields = ("rating", "comment", "created_at", "updated_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class HasCommentFilter(admin.SimpleListFilter):
    title = "comment"
    parameter_name = "has_comment"

    def lookups(self, request, model_admin):
        return (("yes", "With a comment"), ("no", "Without"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(comment="")
        if self.value() == "no":
            return queryset.filter(comment="")
        return queryset


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
        "mode",
        "message_count",
        "expires_at",
        "created_at",
    )
    list_filter = (
        ("bot", OWN_BOTS),
        ExpiryStatusFilter,
        "is_completed",
        "mode",
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
        "mode",
        "operator",
        "expires_at",
        "closed_at",
        "created_at",
        "updated_at",
    )
    exclude = ("token_digest",)
    inlines = [MessageInline, HandoffInline]
    actions = ["export_jsonl", "export_csv"]

    @admin.action(description="Export transcripts of the selected conversations (JSONL)")
    def export_jsonl(self, request, queryset):
        return _export(queryset, export.ExportFormat.JSONL)

    @admin.action(description="Export transcripts of the selected conversations (CSV)")
    def export_csv(self, request, queryset):
        return _export(queryset, export.ExportFormat.CSV)

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


def _export(conversations, fmt: export.ExportFormat) -> StreamingHttpResponse:
    """The selected (owner-scoped) conversations' messages, streamed like the HTTP export:
    filter by bot and date in the list, select all, then run the action."""
    messages = export.conversations_messages(conversations=conversations)
    response = StreamingHttpResponse(
        export.transcript_chunks(messages, fmt), content_type=export.CONTENT_TYPES[fmt]
    )
    response["Content-Disposition"] = f'attachment; filename="transcripts.{fmt.value}"'
    response["Cache-Control"] = "no-store"
    return response


@admin.register(Message)
class MessageAdmin(OwnedAdmin):
    owner_path = "conversation__bot__owner"
    list_display = (
        "id",
        "conversation",
        "role",
        "status",
        "version",
        "short_content",
        "created_at",
    )
    list_filter = ("role", "status", ("conversation__bot", OWN_BOTS), "created_at")
    search_fields = ("content", "error")
    readonly_fields = [f.name for f in Message._meta.fields]
    inlines = [FeedbackInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("conversation__bot")

    @admin.display(description="content")
    def short_content(self, obj):
        return obj.content[:80]

    def has_add_permission(self, request):
        return False


@admin.register(Feedback)
class FeedbackAdmin(OwnedAdmin):
    """Visitors' ratings, newest first; read-only (they are the visitors' word)."""

    owner_path = "bot__owner"
    list_display = ("updated_at", "bot", "rating", "short_comment", "message_link")
    list_filter = ("rating", HasCommentFilter, ("bot", OWN_BOTS), "updated_at")
    search_fields = ("comment", "message__content")
    date_hierarchy = "updated_at"
    readonly_fields = ("message", "bot", "rating", "comment", "created_at", "updated_at")
    list_select_related = ("bot", "message")

    @admin.display(description="comment")
    def short_comment(self, obj):
        return obj.comment[:80]

    @admin.display(description="message")
    def message_link(self, obj):
        url = reverse("admin:conversations_message_change", args=[obj.message_id])
        return format_html('<a href="{}">{}</a>', url, obj.message.content[:60])

    def has_add_permission(self, request):
        return False
