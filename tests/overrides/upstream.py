"""Pin the upstream code an override copies or relies on.

Each override in overrides/ names the library version it was written against. These
digests are of the upstream source as it was then: when an upgrade changes one, its
test fails and names the function, so someone re-reads it against the override (and
then updates the digest, or the override, or drops it).
"""

import hashlib
import inspect


def digest(obj: object) -> str:
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def changed(pinned: dict[str, tuple[object, str]]) -> list[str]:
    """The names whose upstream source no longer has the pinned digest."""
    return [
        f"{name}: {digest(obj)} (pinned {expected})"
        for name, (obj, expected) in pinned.items()
        if digest(obj) != expected
    ]
