import pytest
from strawberry.relay import to_base64

from tests.integrations.receiver import running_receiver

CREATE = """
mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) {
    __typename
    ... on CreatedWebhook {
      secret
      webhook { id url events description isActive disabledReason bot { id } }
    }
    ... on OperationInfo { messages { kind field message code } }
  }
}
"""


@pytest.fixture
def receiver(settings):
    """A loopback endpoint, reachable because it is allow-listed (the address guard)."""
    with running_receiver() as receiver:
        settings.API_CALL_ALLOW_HOSTS = [receiver.host]
        yield receiver


def create_webhook(client, bot, url, events=("MESSAGE_COMPLETED",), **extra) -> dict:
    """createWebhook over HTTP; its payload (CreatedWebhook or OperationInfo)."""
    data = {"botId": to_base64("Bot", bot.pk), "url": url, "events": list(events), **extra}
    return client.execute(CREATE, {"input": data})["createWebhook"]
