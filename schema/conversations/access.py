from django.contrib.auth.models import AnonymousUser
from strawberry import relay

from conversations import lifecycle
from conversations.models import Conversation, Message
from conversations.selectors import (
    conversation_is_managed_by,
    conversation_list,
    message_list,
    with_active_reply,
)
from core.exceptions import AuthenticationRequired, Forbidden, NotFound
from core.tokens import token_digest
from schema.common import pk_from_global_id


async def conversation_for(
    info, conversation_id: relay.GlobalID | str, *, field="conversation_id", busy=False
):
    """The conversation the caller (owner, staff, or chat-token holder) may use; a
    visitor's expired conversation is refused (CONVERSATION_EXPIRED). With `busy`,
    annotated with `has_active_reply` for a message about to be accepted."""
    conversation = await any_conversation_for(info, conversation_id, field=field, busy=busy)
    await _usable_by_visitor(info, conversation)
    return conversation


def ensure_visitor_side(info, conversation: Conversation) -> None:
    """Writing as the visitor (sending, regenerating, deleting) takes the conversation's
    chat token, or being the bot's owner (who tests the bot) or staff: an operator, who
    sees the bot's handed-off conversations, answers with sendOperatorMessage instead."""
    context = info.context
    if conversation_is_managed_by(user=context.user, conversation=conversation):
        return
    token = context.chat_token
    if token and token_digest(token) == conversation.token_digest:
        return
    raise Forbidden(
        "Operators answer with sendOperatorMessage; only the visitor writes as the visitor."
    )


async def _usable_by_visitor(info, conversation: Conversation) -> None:
    if not conversation_is_managed_by(user=info.context.user, conversation=conversation):
        await lifecycle.ensure_open(conversation)


async def any_conversation_for(
    info, conversation_id: relay.GlobalID | str, *, field="conversation_id", busy=False
) -> Conversation:
    """The conversation the caller may see, expired or not (resetConversation)."""
    context = info.context
    if not (context.user.is_authenticated or context.chat_token):
        raise AuthenticationRequired(
            "Send the conversation's chat token (X-Chat-Token header, or chatToken in "
            "connection_init), or authenticate as the bot's owner."
        )
    pk = pk_from_global_id(conversation_id, "Conversation", field=field)
    opened = context.token_conversation
    if opened is not None and opened.pk == pk and not context.user.is_authenticated:
        return opened  # read with the request, its bot and busy flag included
    visible = conversation_list(user=context.user, chat_token=context.chat_token)
    if busy:
        visible = with_active_reply(visible)
    try:
        # get(), not first(): one row by primary key needs no ORDER BY built and compiled.
        return await visible.select_related("bot").aget(pk=pk)
    except Conversation.DoesNotExist:
        raise NotFound("Conversation not found.") from None


async def message_for(info, message_id: relay.GlobalID | str, *, field="message_id") -> Message:
    context = info.context
    pk = pk_from_global_id(message_id, "Message", field=field)
    visible = message_list(user=context.user, chat_token=context.chat_token)
    message = await visible.select_related("conversation__bot").filter(pk=pk).afirst()
    if message is None:
        raise NotFound("Message not found.")
    await _usable_by_visitor(info, message.conversation)
    return message


async def visitor_message_for(info, message_id: relay.GlobalID | str, *, field="message_id"):
    """A message of the conversation the caller's chat token opens. For what only the
    visitor does (rating): the owner's login reaches the message but is not the visitor."""
    context = info.context
    pk = pk_from_global_id(message_id, "Message", field=field)
    if context.chat_token:
        opened = message_list(user=AnonymousUser(), chat_token=context.chat_token)
        message = await opened.filter(pk=pk).afirst()
        if message is not None:
            return message
    if (
        context.user.is_authenticated
        and await message_list(user=context.user).filter(pk=pk).aexists()
    ):
        raise Forbidden(
            "Only the visitor rates a reply: send the conversation's chat token (X-Chat-Token)."
        )
    if not context.chat_token:
        raise AuthenticationRequired("Send the conversation's chat token (X-Chat-Token header).")
    raise NotFound("Message not found.")


__all__ = [
    "Conversation",
    "any_conversation_for",
    "conversation_for",
    "ensure_visitor_side",
    "message_for",
    "visitor_message_for",
]
