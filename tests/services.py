"""Are Postgres and Redis reachable for the second test pass?

Exit 0: run the pass. Exit 1: not reachable, skip (developer machine). Exit 2: not
reachable under CI=true, where the pass must run: fail loudly.
"""

import os
import socket
import sys
from urllib.parse import urlsplit

DEFAULTS = {
    "TEST_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    "TEST_REDIS_URL": "redis://127.0.0.1:6379/12",
}


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    missing = [
        name for name, default in DEFAULTS.items() if not reachable(os.environ.get(name, default))
    ]
    if not missing:
        return 0
    if os.environ.get("CI") == "true":
        print(f"CI: {', '.join(missing)} not reachable; Postgres/Redis tests must run.")
        return 2
    print(f"{', '.join(missing)} not reachable: skipping the Postgres/Redis pass.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
