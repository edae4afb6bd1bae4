import factory
from django.contrib.auth import get_user_model

from bots.models import Bot, Scenario, Step

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class BotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bot

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Bot {n}")
    description = "A helpful bot"
    system_prompt = "You are a helpful assistant."


class ScenarioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scenario

    bot = factory.SubFactory(BotFactory)
    name = factory.Sequence(lambda n: f"Scenario {n}")


class StepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Step

    scenario = factory.SubFactory(ScenarioFactory)
    name = factory.Sequence(lambda n: f"step{n}")
    step_type = "message"
    content = factory.LazyAttribute(lambda s: {"text": f"Hello from {s.name}"})
    order = factory.Sequence(lambda n: n)
