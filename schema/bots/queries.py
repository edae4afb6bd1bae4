import strawberry
import strawberry_django
from strawberry_django.relay import DjangoListConnection

from schema.bots.types import Bot, Scenario, Step


@strawberry.type
class BotQuery:
    bots: DjangoListConnection[Bot] = strawberry_django.connection(
        description="Bots the caller may see: their own, or all for staff."
    )
    bot: Bot | None = strawberry_django.node()
    scenarios: DjangoListConnection[Scenario] = strawberry_django.connection()
    scenario: Scenario | None = strawberry_django.node()
    steps: DjangoListConnection[Step] = strawberry_django.connection()
    step: Step | None = strawberry_django.node()
