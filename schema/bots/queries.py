import strawberry
import strawberry_django
from strawberry_django.relay import DjangoListConnection

from bots import models
from schema.bots.types import Bot, Scenario, Step
from schema.context import Info

# Visibility is applied here, where a query enters the graph (see ScopedNode).


@strawberry.type
class BotQuery:
    @strawberry_django.connection(
        DjangoListConnection[Bot],
        description="Bots the caller may see: their own, or all for staff.",
    )
    async def bots(self, info: Info) -> list[Bot]:
        return Bot.scope(models.Bot.objects.all(), info)

    bot: Bot | None = strawberry_django.node()

    @strawberry_django.connection(DjangoListConnection[Scenario])
    async def scenarios(self, info: Info) -> list[Scenario]:
        return Scenario.scope(models.Scenario.objects.all(), info)

    scenario: Scenario | None = strawberry_django.node()

    @strawberry_django.connection(DjangoListConnection[Step])
    async def steps(self, info: Info) -> list[Step]:
        return Step.scope(models.Step.objects.all(), info)

    step: Step | None = strawberry_django.node()
