from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def validate_max_tokens(value: int) -> None:
    cap = settings.BOT_MAX_TOKENS_CAP
    if value > cap:
        raise ValidationError(
            f"Ensure this value is less than or equal to {cap}.", code="max_value"
        )


SUGGESTIONS_MAX_COUNT = 5
# Seconds of inactivity after which a conversation expires (Rasa's and Botpress' session
# expiry default to an hour; a chat widget left open over lunch should still work).
DEFAULT_INACTIVITY_TIMEOUT = 3600
MAX_INACTIVITY_TIMEOUT = 30 * 24 * 3600
# Upper bound of the token budgets: what GraphQL's Int (32-bit) can carry.
MAX_TOKEN_BUDGET = 2**31 - 1
# Human handoff: how long a visitor waits for an operator before the bot carries on.
DEFAULT_HANDOFF_TIMEOUT = 120
MAX_HANDOFF_TIMEOUT = 24 * 3600


class BotType(models.TextChoices):
    CHAT = "chat", "Chat (multi-turn, with history)"
    COMPLETION = "completion", "Completion (single turn)"


class StepType(models.TextChoices):
    MESSAGE = "message", "Message"
    QUESTION = "question", "Question"
    CONDITION = "condition", "Condition"
    API_CALL = "api_call", "API call"
    LLM = "llm", "LLM reply"
    HANDOFF = "handoff", "Hand off to a human"


class Bot(models.Model):
    """A chatbot: which model answers, how, and with which system prompt."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bots"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    bot_type = models.CharField(max_length=20, choices=BotType.choices, default=BotType.CHAT)
    model = models.CharField(max_length=100, default="gpt-4o-mini", help_text="LLM model name.")
    temperature = models.FloatField(
        default=0.7,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
        help_text="Sampling temperature, 0 to 2.",
    )
    max_tokens = models.PositiveIntegerField(
        default=1024,
        validators=[MinValueValidator(1), validate_max_tokens],
        help_text="Upper bound on the reply length in tokens (capped by BOT_MAX_TOKENS_CAP).",
    )
    system_prompt = models.TextField(blank=True, max_length=20000)
    is_active = models.BooleanField(default=True, help_text="Visitors can chat with active bots.")
    is_public = models.BooleanField(
        default=False,
        help_text=(
            "Listed on the landing and demo chat pages. A bot that is active but not "
            "public still chats with visitors who know its ID (e.g. a widget on the "
            "owner's site)."
        ),
    )
    suggestions_enabled = models.BooleanField(
        default=False,
        help_text="After each completed reply, suggest follow-up questions to the visitor.",
    )
    suggestions_count = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(SUGGESTIONS_MAX_COUNT)],
        help_text=f"How many follow-up questions to suggest, 1 to {SUGGESTIONS_MAX_COUNT}.",
    )
    suggestions_prompt = models.TextField(
        blank=True,
        max_length=2000,
        validators=[MaxLengthValidator(2000)],  # a TextField's max_length is not checked
        help_text="Instructions for writing the suggestions; empty: the built-in default.",
    )
    start_inputs = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "What a visitor's client sends when it starts a conversation: a list of "
            "{name, label, type (string|number|boolean|select), required, default, "
            "options, max_length} (see bots.start_inputs)."
        ),
    )
    inactivity_timeout = models.PositiveIntegerField(
        default=DEFAULT_INACTIVITY_TIMEOUT,
        validators=[MaxValueValidator(MAX_INACTIVITY_TIMEOUT)],
        help_text=(
            "Seconds a conversation may stay idle before it expires (its chat token then "
            "stops working; the visitor may reset it). 0 = never. At most 30 days."
        ),
    )
    # Token budgets (conversations/budgets.py): counted from the provider's usage of
    # each reply (estimated when it reports none); 0 = no limit.
    monthly_token_budget = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_TOKEN_BUDGET)],
        help_text="Tokens this bot's replies may use per calendar month (UTC); 0 = no limit.",
    )
    conversation_token_cap = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_TOKEN_BUDGET)],
        help_text="Tokens the replies of one conversation may use; 0 = no limit.",
    )
    budget_exceeded_message = models.TextField(
        blank=True,
        max_length=1000,
        validators=[MaxLengthValidator(1000)],
        help_text="What visitors read when a reply is refused over budget; empty: a default.",
    )
    knowledge_enabled = models.BooleanField(
        default=False,
        help_text=(
            "Answer from the bot's documents: free chat replies (and llm steps unless "
            "their `knowledge` option says otherwise) get the best passages and cite them."
        ),
    )
    handoff_enabled = models.BooleanField(
        default=False,
        help_text="Visitors may ask for a human operator (requestHandoff); a scenario's "
        "`handoff` step and operators hand off whatever this says.",
    )
    handoff_timeout = models.PositiveIntegerField(
        default=DEFAULT_HANDOFF_TIMEOUT,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_HANDOFF_TIMEOUT)],
        help_text="Seconds a handoff waits for an operator to claim it; then the bot says "
        "nobody is available and carries on. At most a day.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(inactivity_timeout__lte=MAX_INACTIVITY_TIMEOUT),
                name="bot_inactivity_timeout_max",
                violation_error_message="The inactivity timeout is at most 30 days.",
            ),
            models.CheckConstraint(
                condition=Q(temperature__gte=0) & Q(temperature__lte=2),
                name="bot_temperature_0_2",
                violation_error_message="Temperature must be between 0 and 2.",
            ),
            models.CheckConstraint(
                condition=Q(max_tokens__gte=1),
                name="bot_max_tokens_positive",
                violation_error_message="max_tokens must be positive.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from bots.start_inputs import validate_start_inputs

        self.start_inputs = validate_start_inputs(self.start_inputs)


class FieldConstraintErrors:
    """Report constraint violations on the field the user can change, not as non-field."""

    constraint_fields: dict[str, str] = {}

    def validate_constraints(self, exclude=None):
        try:
            super().validate_constraints(exclude=exclude)
        except ValidationError as error:
            moved = dict(self._constraint_messages())
            errors: dict[str, list] = {}
            for field, items in error.error_dict.items():
                for item in items:
                    errors.setdefault(moved.get(item.message, field), []).append(item)
            raise ValidationError(errors) from error

    def _constraint_messages(self):
        for constraint in self._meta.constraints:
            if constraint.name in self.constraint_fields:
                yield constraint.violation_error_message, self.constraint_fields[constraint.name]


class Scenario(FieldConstraintErrors, models.Model):
    """A scripted flow of steps a bot runs with its visitors."""

    constraint_fields = {"one_active_scenario_per_bot": "is_active"}

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="scenarios")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    initial_step = models.ForeignKey(
        "Step", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bot_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot"],
                condition=Q(is_active=True),
                name="one_active_scenario_per_bot",
                violation_error_code="unique",
                violation_error_message="This bot already has an active scenario.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (
            self.initial_step_id
            and not Step.objects.filter(pk=self.initial_step_id, scenario_id=self.pk).exists()
        ):
            message = "The initial step must belong to this scenario."
            raise ValidationError({"initial_step": ValidationError(message, code="wrong_scenario")})


class Step(FieldConstraintErrors, models.Model):
    """One step of a scenario; `content` is validated per `step_type` (bots.content)."""

    constraint_fields = {
        "unique_step_order_per_scenario": "order",
        "unique_step_name_per_scenario": "name",
    }

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=100, help_text="Unique in the scenario; targets use it.")
    step_type = models.CharField(max_length=20, choices=StepType.choices)
    content = models.JSONField(default=dict, blank=True)
    order = models.PositiveIntegerField(default=0)
    next_step = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["scenario_id", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["scenario", "order"],
                name="unique_step_order_per_scenario",
                violation_error_code="unique",
                violation_error_message="Another step of this scenario has this order.",
            ),
            models.UniqueConstraint(
                fields=["scenario", "name"],
                name="unique_step_name_per_scenario",
                violation_error_code="unique",
                violation_error_message="Another step of this scenario has this name.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.name}"

    def clean(self) -> None:
        from bots.content import validate_step_content

        if self.next_step_id and (
            self.next_step_id == self.pk
            or not Step.objects.filter(pk=self.next_step_id, scenario_id=self.scenario_id).exists()
        ):
            message = "The next step must be another step of the same scenario."
            raise ValidationError({"next_step": ValidationError(message, code="wrong_scenario")})
        if self.step_type in StepType.values:
            self.content = validate_step_content(self.step_type, self.content)


class BotOperator(models.Model):
    """A user the bot's owner added as an operator: it sees the bot's handed-off
    conversations (operatorInbox), claims them and answers visitors as a human.
    Visitors only ever see `display_name`."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="operators")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operated_bots"
    )
    display_name = models.CharField(
        max_length=60, help_text="The name visitors see on this operator's messages."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bot_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "user"],
                name="one_operator_row_per_bot_user",
                violation_error_code="unique",
                violation_error_message="This user is already an operator of this bot.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.display_name} on {self.bot}"
