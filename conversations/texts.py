"""The rules for a chat message's text, visitor's or operator's."""

from django.conf import settings
from django.core.exceptions import ValidationError


def check_text(text: str) -> str:
    """The text stripped; empty or longer than MESSAGE_MAX_LENGTH is a field error."""
    text = text.strip()
    if not text:
        raise ValidationError({"text": ValidationError("The message is empty.", code="empty")})
    if len(text) > settings.MESSAGE_MAX_LENGTH:
        limit = settings.MESSAGE_MAX_LENGTH
        message = f"The message is longer than {limit} characters."
        too_long = ValidationError(message, code="too_long")
        raise ValidationError({"text": too_long})
    return text
