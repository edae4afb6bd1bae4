"""`manage.py load_demo`: the demo user and bots (idempotent; see bots.demo)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bots.demo import (
    DEMO_PASSWORD,
    DEMO_STAFF_PASSWORD,
    DEMO_STAFF_USERNAME,
    DEMO_USERNAME,
    demo_load,
)


class Command(BaseCommand):
    help = "Create or update the demo owner, its three bots and a staff user (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            # The demo user has a published password: never on a real deployment.
            raise CommandError(
                "load_demo only runs with DEBUG on (it creates users demo/demo and admin/admin)."
            )
        bots = demo_load()
        names = ", ".join(bot.name for bot in bots)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {names}."))
        self.stdout.write(
            f"Owner console (/console/) and GraphiQL (/graphql): {DEMO_USERNAME!r} / "
            f"{DEMO_PASSWORD!r}. Admin (/admin/, staff only): {DEMO_STAFF_USERNAME!r} / "
            f"{DEMO_STAFF_PASSWORD!r}."
        )
