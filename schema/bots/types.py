from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
import strawberry_django
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.utils import timezone
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry_django.relay import DjangoListConnection

from accounts.selectors import user_list
from bots import models
from bots.selectors import bot_list, scenario_list, step_list
from bots.start_inputs import INPUT_TYPES
from bots.validation import scenario_validate
from conversations.budgets import month_of, month_usage, used_this_month
from conversations.models import Rating
from conversations.selectors import feedback_count, feedback_counts, handoff_stats
from schema.common import ScopedNode, visible

BotTypeEnum = strawberry.enum(models.BotType, name="BotType")
StepTypeEnum = strawberry.enum(models.StepType, name="StepType")
StartInputTypeEnum = strawberry.enum(
    Enum("StartInputType", {kind.upper(): kind for kind in INPUT_TYPES}),
    description="What a start input holds: text, a number, true/false, or one of options.",
)
# Feedback's type is the conversations schema's, which imports this module.
FeedbackNode = Annotated["Feedback", strawberry.lazy("schema.conversations.types")]  # noqa: F821
WebhookNode = Annotated["Webhook", strawberry.lazy("schema.integrations.types")]  # noqa: F821
DocumentNode = Annotated["Document", strawberry.lazy("schema.knowledge.types")]  # noqa: F821


@strawberry.type(description="A value a bot asks for when a conversation starts.")
class StartInput:
    name: str = strawberry.field(description="The conversation variable it fills.")
    label: str
    type: StartInputTypeEnum  # type: ignore[valid-type]
    required: bool
    default: JSON | None = strawberry.field(description="Used when the start leaves it out.")
    options: list[str] = strawberry.field(description="The choices of a SELECT input.")
    max_length: int | None = strawberry.field(
        description="The longest text a STRING input takes (200 unless declared)."
    )

    @classmethod
    def of(cls, declared: dict[str, Any]) -> "StartInput":
        return cls(
            name=declared["name"],
            label=declared.get("label") or declared["name"],
            type=StartInputTypeEnum(declared["type"]),
            required=declared.get("required", False),
            default=declared.get("default"),
            options=declared.get("options", []),
            max_length=declared.get("max_length"),
        )


@strawberry.type(description="How many of a bot's replies visitors rated up and down.")
class FeedbackCounts:
    up: int
    down: int

    @strawberry.field
    def total(self) -> int:
        return self.up + self.down


@strawberry.type(description="Tokens a bot's replies used this month against its budget.")
class TokenUsage:
    month: date = strawberry.field(description="The month counted (its first day, UTC).")
    used: int = strawberry.field(description="Prompt and completion tokens of its replies.")
    budget: int | None = strawberry.field(description="The monthly budget; null: no limit.")

    @strawberry.field(description="What is left of the budget (0 when used up); null: no limit.")
    def remaining(self) -> int | None:
        return None if self.budget is None else max(0, self.budget - self.used)


@strawberry_django.type(get_user_model(), name="User")
class User(ScopedNode):
    username: auto
    email: auto
    is_staff: auto

    @classmethod
    def scope(cls, queryset, info):
        # Anonymous callers get null, not an error: a user is no secret, but not listed.
        return visible(info, queryset, user_list, required=False)


@strawberry_django.filter_type(models.Bot)
class BotFilter:
    is_active: auto
    is_public: auto
    bot_type: BotTypeEnum | None

    @strawberry_django.filter_field
    def owner(self, value: relay.GlobalID, prefix: str) -> Q:
        return Q(**{f"{prefix}owner_id": value.node_id})

    @strawberry_django.filter_field(description="Case-insensitive search in name and description.")
    def search(self, value: str, prefix: str) -> Q:
        return Q(**{f"{prefix}name__icontains": value}) | Q(
            **{f"{prefix}description__icontains": value}
        )


@strawberry_django.order_type(models.Bot)
class BotOrder:
    name: auto
    created_at: auto
    updated_at: auto
    temperature: auto


@strawberry_django.filter_type(models.Scenario)
class ScenarioFilter:
    is_active: auto

    @strawberry_django.filter_field
    def bot(self, value: relay.GlobalID, prefix: str) -> Q:
        return Q(**{f"{prefix}bot_id": value.node_id})


@strawberry_django.order_type(models.Scenario)
class ScenarioOrder:
    name: auto
    created_at: auto


@strawberry_django.filter_type(models.Step)
class StepFilter:
    step_type: StepTypeEnum | None

    @strawberry_django.filter_field
    def scenario(self, value: relay.GlobalID, prefix: str) -> Q:
        return Q(**{f"{prefix}scenario_id": value.node_id})


@strawberry_django.order_type(models.Step)
class StepOrder:
    order: auto
    name: auto


@strawberry_django.type(models.Bot, filters=BotFilter, ordering=BotOrder)
class Bot(ScopedNode):
    """A chatbot owned by a user."""

    name: auto
    description: auto
    bot_type: BotTypeEnum
    model: auto
    temperature: auto
    max_tokens: auto
    system_prompt: auto
    is_active: auto
    is_public: auto
    suggestions_enabled: auto
    suggestions_count: auto
    suggestions_prompt: auto = strawberry_django.field(
        description="Instructions for the suggestions; empty: the built-in default."
    )
    inactivity_timeout: int = strawberry_django.field(
        description="Seconds a conversation may stay idle before it expires; 0 = never."
    )
    knowledge_enabled: auto
    owner: User
    created_at: datetime
    updated_at: datetime
    scenarios: DjangoListConnection["Scenario"] = strawberry_django.connection()
    feedback: DjangoListConnection[FeedbackNode] = strawberry_django.connection(
        description="Visitors' ratings of this bot's replies, newest first (see filters)."
    )
    webhooks: DjangoListConnection[WebhookNode] = strawberry_django.connection(
        description="Endpoints that receive this bot's events, newest first."
    )
    monthly_token_budget: int = strawberry_django.field(
        description="Tokens its replies may use per calendar month (UTC); 0 = no limit."
    )
    conversation_token_cap: int = strawberry_django.field(
        description="Tokens the replies of one conversation may use; 0 = no limit."
    )
    budget_exceeded_message: auto = strawberry_django.field(
        description="What visitors read when a reply is refused over budget; empty: a default."
    )

    @strawberry_django.field(
        annotate={"_tokens_this_month": lambda info: month_usage()},
        only=["monthly_token_budget"],
        description="Tokens used this month against monthlyTokenBudget.",
    )
    async def token_usage(self, root: models.Bot) -> TokenUsage:
        used = getattr(root, "_tokens_this_month", None)
        if used is None:  # a mutation's returned object: counted here
            used = await sync_to_async(used_this_month)(root.pk)
        budget = root.monthly_token_budget or None
        return TokenUsage(month=month_of(timezone.now()), used=used, budget=budget)

    documents: DjangoListConnection[DocumentNode] = strawberry_django.connection(
        description="Documents the bot answers from (knowledgeEnabled), newest first."
    )

    @strawberry_django.field(
        only=["start_inputs"],
        description="Values a visitor's client sends with startConversation (`variables`).",
    )
    async def start_inputs(self, root: models.Bot) -> list[StartInput]:
        return [StartInput.of(declared) for declared in root.start_inputs]

    @strawberry_django.field(
        annotate={
            "_feedback_up": feedback_count(Rating.UP),
            "_feedback_down": feedback_count(Rating.DOWN),
        },
        description="How many replies visitors rated UP and DOWN (ratings revoked not counted).",
    )
    async def feedback_counts(self, root: models.Bot) -> FeedbackCounts:
        # Annotated in list queries; a mutation's returned object is counted here.
        up, down = getattr(root, "_feedback_up", None), getattr(root, "_feedback_down", None)
        if up is None or down is None:
            counts = await feedback_counts(bot_id=root.pk)
            up, down = counts[Rating.UP], counts[Rating.DOWN]
        return FeedbackCounts(up=up, down=down)

    handoff_enabled: bool = strawberry_django.field(
        description="Visitors may ask for a human operator (requestHandoff)."
    )
    handoff_timeout: int = strawberry_django.field(
        description="Seconds a handoff waits for an operator before the bot carries on."
    )
    operators: list["BotOperator"] = strawberry_django.field(
        description="Users who answer this bot's handed-off conversations (operatorInbox)."
    )

    @strawberry_django.field(
        description="Handoffs to a human requested in [since, until): waiting time until "
        "claimed, how many, unclaimed timeouts."
    )
    async def handoff_stats(
        self, root: models.Bot, since: datetime | None = None, until: datetime | None = None
    ) -> "HandoffStats":
        return HandoffStats(**await handoff_stats(bot_id=root.pk, since=since, until=until))

    @strawberry_django.field(annotate={"_scenario_count": Count("scenarios", distinct=True)})
    async def scenario_count(self, root: models.Bot) -> int:
        # Async so the annotated value needs no thread hop per row (sync resolvers run
        # through sync_to_async); a mutation's returned object is counted here.
        counted = getattr(root, "_scenario_count", None)
        return await root.scenarios.acount() if counted is None else counted

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, bot_list)


@strawberry_django.type(
    models.BotOperator, description="A user who answers a bot's handed-off conversations."
)
class BotOperator(ScopedNode):
    display_name: str = strawberry_django.field(description="The name visitors see.")
    created_at: datetime

    @strawberry_django.field(only=["user_id"], select_related=["user"])
    def username(self, root: models.BotOperator) -> str:
        return root.user.username

    @classmethod
    def scope(cls, queryset, info):
        return queryset.filter(bot__in=bot_list(user=info.context.user))


@strawberry.type(description="A bot's handoffs to a human over a period.")
class HandoffStats:
    handed_off: int = strawberry.field(description="Handoffs requested.")
    claimed: int = strawberry.field(description="Claimed by an operator.")
    timed_out: int = strawberry.field(description="Nobody claimed them in time.")
    waiting: int = strawberry.field(description="Still waiting for an operator.")
    average_wait: float | None = strawberry.field(
        description="Seconds from request to claim, on average (null: none claimed)."
    )
    max_wait: float | None = strawberry.field(description="The longest such wait, seconds.")


@strawberry.enum
class IssueSeverity(Enum):
    ERROR = "error"
    WARNING = "warning"


@strawberry.type
class ScenarioIssue:
    """One problem of the step graph and the steps it concerns."""

    severity: IssueSeverity
    code: str = strawberry.field(
        description="no_steps, no_initial_step, unknown_target, loop_without_question, unreachable."
    )
    message: str
    steps: list[str] = strawberry.field(
        description="Names of the steps concerned; empty when it is the scenario's own."
    )


@strawberry.type
class ScenarioValidation:
    errors: list[str]
    warnings: list[str]
    issues: list[ScenarioIssue] = strawberry.field(
        description="The same errors and warnings, each with its code and the steps it "
        "concerns (a client marks them on the graph)."
    )


@strawberry_django.type(models.Scenario, filters=ScenarioFilter, ordering=ScenarioOrder)
class Scenario(ScopedNode):
    """A scripted flow of steps."""

    name: auto
    description: auto
    is_active: auto
    bot: Bot
    initial_step: "Step | None"
    created_at: datetime
    updated_at: datetime
    steps: DjangoListConnection["Step"] = strawberry_django.connection()

    @strawberry_django.field(
        prefetch_related=["steps"],
        only=["initial_step_id"],
        description="Problems of the step graph; errors block activation.",
    )
    def validation(self, root: models.Scenario) -> ScenarioValidation:
        report = scenario_validate(root)
        issues = [
            ScenarioIssue(
                severity=IssueSeverity(issue.severity),
                code=issue.code,
                message=issue.message,
                steps=list(issue.steps),
            )
            for issue in report.issues
        ]
        return ScenarioValidation(errors=report.errors, warnings=report.warnings, issues=issues)

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, scenario_list)


@strawberry_django.type(models.Step, filters=StepFilter, ordering=StepOrder)
class Step(ScopedNode):
    """One step of a scenario; `content` depends on `stepType` (see the README)."""

    name: auto
    step_type: StepTypeEnum
    content: JSON
    order: auto
    scenario: Scenario
    next_step: "Step | None"

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, step_list)
