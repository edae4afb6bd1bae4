"""`manage.py load_demo`: the demo user and bots (idempotent; see bots.demo)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bots.demo import DEMO_PASSWORD, DEMO_USERNAME, demo_load


class Command(BaseCommand):
    help = "Create or update the demo user and its three bots (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            # The demo user has a published password: never on a real deployment.
            raise CommandError("load_demo only runs with DEBUG on (it creates user demo/demo).")
        bots = demo_load()
        names = ", ".join(bot.name for bot in bots)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {names}."))
        self.stdout.write(
            f"Log in with username {DEMO_USERNAME!r} and password {DEMO_PASSWORD!r} "
            "(the login mutation, e.g. in GraphiQL at /graphql)."
        )
