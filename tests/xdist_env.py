"""`pytest -n N` (pytest-xdist) for this suite: load with `-p tests.xdist_env`, and
`--dist loadfile` (the Makefile does both).

Scheduling: `--dist loadfile` keeps each test module on one worker (its module-scoped
daphne servers, fake OpenAI and e2e database start once); here the whole tests/browser
package counts as one file too (its package-scoped daphne and chromium start once), and
the modules that wait on processes go out first, so that none is left running alone at
the end. (xdist 3.8's `loadgroup` cannot be used: it renames node ids through an
attribute pytest 9 no longer reads.)

Isolation:

Each xdist worker runs its share of the suite beside the others, so whatever the tests
flush, recreate or name after row ids must be its own (pytest-django already gives each
worker its own test database, suffix `_gw0`, `_gw1`...):

- `REDIS_URL` / `REDIS_TEST_URL` (the channel layer, rate limits, socket slots: tests
  flush the db, and group names carry row ids that repeat across workers' databases) and
  `E2E_REDIS_URL` (flushed by the multi-process modules): worker gwN uses db `base + N`.
  With the Makefile's defaults and two workers that is 12-13 and 14-15.
- `E2E_DATABASE_URL`: its name is the prefix of the e2e template and module databases
  (tests/e2e/conftest.py), so it gets the worker's suffix: `botstream_e2e_gw1_template`.

This has to run before Django's settings and tests.support read the environment, which
pytest-django does before any conftest is imported: hence a plugin given with `-p`,
imported while pytest parses its arguments. Ports come from a range per worker
(tests.support.free_port) and files from each worker's own basetemp. Without xdist (or with
`-n 0`) nothing changes.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import MutableMapping
from urllib.parse import urlsplit, urlunsplit

import pytest

# tests/support.py's default, read here before that module may be imported.
E2E_REDIS_DEFAULT = "redis://127.0.0.1:6379/14"
REDIS_DATABASES = 16  # Redis' default `databases`
# Scheduled first, in this order (a hint for the balance only: every module runs anyway).
SLOW_FIRST = (
    "tests/browser",
    "tests/ops/",
    "tests/e2e/",
    "tests/schema/test_frame_plans.py",
    "tests/conversations/test_resume_property.py",
)


def worker_index() -> int | None:
    """N of worker gwN, None in the controller or a run without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") else None


def redis_for_worker(url: str, index: int) -> str:
    parts = urlsplit(url)
    base = int(parts.path.lstrip("/") or 0)
    db = base + index
    if db >= REDIS_DATABASES:
        raise RuntimeError(
            f"{url}: worker gw{index} would need Redis db {db}; pick a lower base db "
            f"(the Makefile's TEST_REDIS_URL/E2E_REDIS_URL) or fewer workers"
        )
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def postgres_for_worker(url: str, index: int) -> str:
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'botstream_e2e'}_gw{index}"
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def isolate(environ: MutableMapping[str, str], index: int) -> None:
    for name in ("REDIS_URL", "REDIS_TEST_URL"):
        if environ.get(name):
            environ[name] = redis_for_worker(environ[name], index)
    environ["E2E_REDIS_URL"] = redis_for_worker(
        environ.get("E2E_REDIS_URL") or E2E_REDIS_DEFAULT, index
    )
    if environ.get("E2E_DATABASE_URL"):
        environ["E2E_DATABASE_URL"] = postgres_for_worker(environ["E2E_DATABASE_URL"], index)


if (_index := worker_index()) is not None:
    isolate(os.environ, _index)
    os.environ["BOTSTREAM_XDIST_ISOLATED"] = "1"


def _scope(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return "tests/browser" if path.startswith("tests/browser/") else path


def _rank(scope: str) -> int:
    return next(
        (i for i, prefix in enumerate(SLOW_FIRST) if scope.startswith(prefix)), len(SLOW_FIRST)
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, with tests/browser as one unit and the slow units first."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModuleScheduling(LoadFileScheduling):
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

        def _assign_work_unit(self, node) -> None:
            if not self.ordered:  # the queue is complete before the first assignment
                units = sorted(self.workqueue.items(), key=lambda unit: _rank(unit[0]))
                self.workqueue = OrderedDict(units)
                self.ordered = True
            super()._assign_work_unit(node)

    return ModuleScheduling(config, log)
