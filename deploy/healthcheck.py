"""Container healthcheck: exit 0 when this container's /healthz answers 200.

Python, because the slim image has no curl. /healthz is served before host validation
(server.middleware.ProbeMiddleware), so 127.0.0.1 works whatever ALLOWED_HOSTS says.
"""

import os
import sys
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
