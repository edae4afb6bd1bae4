"""Secret tokens (API tokens, chat tokens) are stored as digests, never as sent."""

import hashlib


def token_digest(raw: str) -> str:
    """Tokens are random and long, so a plain SHA-256 is enough (no salt/slow hash)."""
    return hashlib.sha256(raw.encode()).hexdigest()
