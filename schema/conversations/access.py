from strawberry import relay

from conversations.models import Conversation, Message
from conversations.selectors import conversation_list, message_list, with_active_reply
from core.exceptions import AuthenticationRequired, NotFound
from schema.common import pk_from_global_id


async def conversation_for(
    info, conversation_id: relay.GlobalID | str, *, field="conversation_id", busy=False
):
    """The conversation the caller (owner, staff, or chat-token holder) may use; with
    `busy`, annotated with `has_active_reply` for a message about to be accepted."""
    context = info.context
    if not (context.user.is_authenticated or context.chat_token):
        raise AuthenticationRequired(
            "Send the conversation's chat token (X-Chat-Token header, or chatToken in "
            "connection_init), or authenticate as the bot's owner."
        )
    pk = pk_from_global_id(conversation_id, "Conversation", field=field)
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
    message = await visible.filter(pk=pk).afirst()
    if message is None:
        raise NotFound("Message not found.")
    return message


__all__ = ["Conversation", "conversation_for", "message_for"]
