"""Webhook signatures, the Standard Webhooks way (standardwebhooks, its reference code).

Each request carries `webhook-id` (the delivery's message id, the same on every
attempt), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the secret's bytes). The
secret is `whsec_` + base64 of 32 random bytes. Receivers verify with any Standard
Webhooks library, e.g. `standardwebhooks.Webhook(secret).verify(body, headers)`, which
also refuses timestamps more than five minutes off (replays).
"""

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook as _Signer

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signed_headers(*, secret: str, message_id: str, body: str, at: datetime) -> dict[str, str]:
    """The headers of one attempt to send `body` (the exact text POSTed) at `at`."""
    signature = _Signer(secret).sign(msg_id=message_id, timestamp=at, data=body)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
