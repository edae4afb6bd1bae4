"""How many daphne workers the production command starts; prints the number.

    python deploy/workers.py        # deploy/entrypoint.sh exports it as WEB_CONCURRENCY

`WEB_CONCURRENCY` when set (a whole number, at least 1). Otherwise one per CPU this
process may use: the smallest of the machine's CPUs, the process's affinity mask and the
container's cgroup CPU quota (`docker run --cpus`, a Kubernetes limit), as computed by
`loky.cpu_count()`, rounded up and at least 1.

More than one worker needs Redis (`REDIS_URL`): a subscription and the reply it streams
may live in different workers, and only Redis carries events between processes (the
in-memory layer reaches its own process only). So without `REDIS_URL`:
- an explicit `WEB_CONCURRENCY` above 1 is refused (exit status 1, with the reason):
  the operator asked for something that would silently lose replies;
- the default is one worker (the single-container setup with embedded defaults), and a
  note on stderr says why.
"""

import os
import sys

from loky import cpu_count

REDIS_REQUIRED = (
    "WEB_CONCURRENCY={workers} needs REDIS_URL: with more than one daphne worker a "
    "subscription and the reply it streams can be in different processes, and only the "
    "Redis channel layer carries events between them. Set REDIS_URL, or WEB_CONCURRENCY=1."
)


def worker_count(environ: dict[str, str]) -> int:
    """The number of workers for `environ`; SystemExit with a message when it is refused."""
    requested = environ.get("WEB_CONCURRENCY", "").strip()
    has_redis = bool(environ.get("REDIS_URL", "").strip())
    if not requested:
        cpus = cpu_count()
        if cpus > 1 and not has_redis:
            print(
                f"workers: 1 daphne worker, not {cpus} (one per CPU): REDIS_URL is not set, "
                "and workers share events through Redis only.",
                file=sys.stderr,
            )
            return 1
        return cpus
    try:
        workers = int(requested)
    except ValueError:
        workers = 0
    if workers < 1:
        raise SystemExit(f"WEB_CONCURRENCY must be a whole number of at least 1, not {requested!r}")
    if workers > 1 and not has_redis:
        raise SystemExit(REDIS_REQUIRED.format(workers=workers))
    return workers


if __name__ == "__main__":
    print(worker_count(dict(os.environ)))
