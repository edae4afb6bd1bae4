from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

from bots.models import Bot, Scenario, Step


class ConversationMode(models.TextChoices):
    """Who answers the visitor: the bot, nobody yet (a handoff waits for an operator),
    or a human operator."""

    BOT = "bot", "Bot"
    WAITING = "waiting", "Waiting for an operator"
    HUMAN = "human", "Human operator"


class Conversation(models.Model):
    """A visitor's chat with a bot (was BotExecution in the REST backend)."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="conversations")
    scenario = models.ForeignKey(
        Scenario, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    user_session = models.CharField(
        max_length=200, blank=True, help_text="A label the client chose for the visitor."
    )
    current_step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    variables = models.JSONField(default=dict, blank=True)
    private_variables = models.JSONField(
        default=dict,
        blank=True,
        help_text="What only the bot's owner may read: API responses no `select` narrowed "
        "and why API calls failed. Templates see them too.",
    )
    scenario_started = models.BooleanField(default=False)
    awaiting_input = models.BooleanField(
        default=False, help_text="The current step is a question waiting for its answer."
    )
    is_completed = models.BooleanField(default=False)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When it expires if nothing happens meanwhile (the last activity plus the "
        "bot's inactivity timeout); empty: never.",
    )
    closed_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the expiry sweep closed it."
    )
    mode = models.CharField(
        max_length=10,
        choices=ConversationMode.choices,
        default=ConversationMode.BOT,
        editable=False,
        help_text="Who answers: the bot, nobody yet (waiting for an operator), a human.",
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="The operator answering while the mode is human.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["bot", "-created_at"]),
            # The expiry sweep's candidates: open conversations with an expiry time.
            models.Index(
                fields=["expires_at"],
                name="conversation_open_expiry_idx",
                condition=Q(closed_at__isnull=True, expires_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk} with {self.bot}"

    def expired_at(self, now: datetime) -> bool:
        """Closed by the sweep, or idle past its expiry time as of `now` (before the sweep
        ran). A reply still streaming keeps it open: the caller checks that
        (`conversations.lifecycle.is_expired`)."""
        return self.closed_at is not None or (
            self.expires_at is not None and self.expires_at <= now
        )


class ConversationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"


class MessageRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    SYSTEM = "system", "System"
    OPERATOR = "operator", "Operator"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"
    INTERRUPTED = "interrupted", "Interrupted"


ACTIVE_STATUSES = (MessageStatus.PENDING, MessageStatus.STREAMING)


class Message(models.Model):
    """One message of a conversation (was an entry of the JSON conversation_history)."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=20, choices=MessageRole.choices)
    content = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=MessageStatus.choices, default=MessageStatus.COMPLETE
    )
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Analytics (conversations/stats.py): how long the visitor waited for the first text
    # of an LLM reply, from the reply's creation; written with the reply's final UPDATE.
    first_token_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Milliseconds from the reply's creation to its first streamed text "
        "(LLM replies only).",
    )
    is_read = models.BooleanField(default=False)
    stop_requested = models.BooleanField(default=False, editable=False)
    suggestions = models.JSONField(
        default=list, blank=True, help_text="Follow-up questions suggested after this reply."
    )
    citations = models.JSONField(
        default=list,
        blank=True,
        help_text="The bot's document passages this reply was given, as [n] cites them: "
        "{number, document_id, title, url, snippet, score} (knowledge.citations).",
    )
    # Regenerated replies: each version replaces the one before it; `original` is the
    # first version (null on it), so one query finds every version of an answer.
    version = models.PositiveIntegerField(default=1)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replaced_by"
    )
    original = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Human handoff: who wrote an operator message or made a handoff change (for the
    # owner's transcript), the display name visitors see, and on a handoff notice the
    # mode it switched the conversation to (replay turns it into HandoffChanged).
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=60, blank=True)
    handoff_mode = models.CharField(max_length=10, choices=ConversationMode.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            models.Index(
                fields=["status"],
                name="message_active_idx",
                condition=Q(status__in=ACTIVE_STATUSES),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def is_terminal(self) -> bool:
        return self.status not in ACTIVE_STATUSES


class Rating(models.TextChoices):
    UP = "up", "Thumbs up"
    DOWN = "down", "Thumbs down"


class Feedback(models.Model):
    """A visitor's rating of one bot reply, with an optional comment.

    One per message: rating again changes it, revoking deletes it. `bot` repeats the
    message's bot so an owner's per-bot list and counts read one indexed table.
    """

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(max_length=10, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name_plural = "feedback"
        indexes = [models.Index(fields=["bot", "-updated_at"], name="feedback_bot_recent_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__in=Rating.values), name="feedback_rating_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_rating_display()} on message {self.message_id}"


class BotTokenUsage(models.Model):
    """Tokens a bot's replies used in one calendar month (UTC): the counter its monthly
    budget is checked against (conversations/budgets.py), one row per bot and month,
    incremented atomically as each reply finishes."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="token_usage")
    month = models.DateField(help_text="The first day of the month counted.")
    tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "month"], name="bot_token_usage_per_month")
        ]

    def __str__(self) -> str:
        return f"{self.bot_id} {self.month:%Y-%m}: {self.tokens}"


class HandoffSource(models.TextChoices):
    STEP = "step", "A scenario's handoff step"
    VISITOR = "visitor", "The visitor"
    OPERATOR = "operator", "An operator"


class HandoffOutcome(models.TextChoices):
    OPEN = "", "Open"
    HANDED_BACK = "handed_back", "Handed back to the bot"
    TIMED_OUT = "timed_out", "Nobody claimed it in time"
    CLOSED = "closed", "The conversation ended first"


class Handoff(models.Model):
    """One handoff of a conversation to a human, from request to its end: what the
    handoff metrics (waiting time, timeouts) and analytics aggregate."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="handoffs"
    )
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="handoffs")
    source = models.CharField(max_length=10, choices=HandoffSource.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField()
    timeout_at = models.DateTimeField(help_text="When it times out unless claimed.")
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=12, choices=HandoffOutcome.choices, blank=True, default=HandoffOutcome.OPEN
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["bot", "-requested_at"], name="handoff_bot_recent_idx")]
        constraints = [
            # At most one open handoff per conversation, whatever races.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(ended_at__isnull=True),
                name="one_open_handoff_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return f"Handoff {self.pk} of conversation {self.conversation_id}"

    @property
    def wait_seconds(self) -> float | None:
        if self.claimed_at is None:
            return None
        return (self.claimed_at - self.requested_at).total_seconds()
