"""Webhooks over GraphQL (HTTP): owners add, change, list, delete and redeliver; bad
input gets field errors with codes; nobody else sees or touches them."""

import pytest
from strawberry.relay import GlobalID, to_base64

from core import events
from integrations.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from tests.factories import BotFactory
from tests.integrations.conftest import create_webhook

pytestmark = pytest.mark.django_db

UPDATE = """
mutation($input: UpdateWebhookInput!) {
  updateWebhook(input: $input) {
    __typename
    ... on Webhook { id url events description isActive disabledReason }
    ... on OperationInfo { messages { field code } }
  }
}
"""
DELETE = """
mutation($input: DeleteWebhookInput!) {
  deleteWebhook(input: $input) {
    __typename
    ... on Webhook { id }
    ... on OperationInfo { messages { field code } }
  }
}
"""
REDELIVER = """
mutation($input: RedeliverWebhookInput!) {
  redeliverWebhook(input: $input) {
    __typename
    ... on WebhookDelivery { id messageId status attempts redeliveryOf { id } }
    ... on OperationInfo { messages { field code } }
  }
}
"""
BOT_WEBHOOKS = """
query($id: ID!, $status: WebhookDeliveryStatus) {
  bot(id: $id) {
    webhooks {
      totalCount
      edges { node {
        url events
        deliveries(filters: {status: $status}) {
          totalCount
          edges { node { event status attempts responseCode lastError messageId payload } }
        }
      } }
    }
  }
}
"""


def _codes(payload: dict) -> dict:
    assert payload["__typename"] == "OperationInfo", payload
    return {message["field"]: message["code"] for message in payload["messages"]}


def test_an_owner_creates_a_webhook_and_gets_its_secret_once(owner_gql, bot, receiver):
    created = create_webhook(
        owner_gql,
        bot,
        receiver.url,
        events=["CONVERSATION_STARTED", "MESSAGE_COMPLETED"],
        description="CRM sync",
    )

    assert created["__typename"] == "CreatedWebhook"
    assert created["secret"].startswith("whsec_")
    webhook = created["webhook"]
    assert webhook["url"] == receiver.url
    assert webhook["events"] == ["CONVERSATION_STARTED", "MESSAGE_COMPLETED"]
    assert webhook["description"] == "CRM sync"
    assert webhook["isActive"] is True
    assert webhook["bot"]["id"] == to_base64("Bot", bot.pk)
    # the secret is what signs (stored), and no query shows it again
    stored = Webhook.objects.get()
    assert stored.secret == created["secret"]
    listed = owner_gql.execute(BOT_WEBHOOKS, {"id": to_base64("Bot", bot.pk)})
    assert listed["bot"]["webhooks"]["totalCount"] == 1
    assert "secret" not in str(listed)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("not a url", "invalid"),
        ("ftp://files.example.com/drop", "invalid_scheme"),
        ("http://10.1.2.3/hook", "blocked_address"),
        ("http://169.254.169.254/latest/meta-data", "blocked_address"),
        ("http://[::1]:8080/hook", "blocked_address"),
    ],
)
def test_a_url_that_is_not_a_public_http_endpoint_is_a_field_error(owner_gql, bot, url, code):
    payload = create_webhook(owner_gql, bot, url)

    assert _codes(payload) == {"url": code}
    assert not Webhook.objects.exists()


def test_a_loopback_url_is_refused_unless_its_host_is_allowed(owner_gql, bot, settings):
    settings.API_CALL_ALLOW_HOSTS = []
    refused = create_webhook(owner_gql, bot, "http://127.0.0.1:9/hook")
    settings.API_CALL_ALLOW_HOSTS = ["127.0.0.1:9"]
    allowed = create_webhook(owner_gql, bot, "http://127.0.0.1:9/hook")

    assert _codes(refused) == {"url": "blocked_address"}
    assert allowed["__typename"] == "CreatedWebhook"


def test_a_public_address_needs_no_allow_list(owner_gql, bot, settings):
    settings.API_CALL_ALLOW_HOSTS = []

    created = create_webhook(owner_gql, bot, "https://93.184.215.14/hooks")

    assert created["__typename"] == "CreatedWebhook"


def test_a_webhook_without_events_is_a_field_error(owner_gql, bot, receiver):
    payload = create_webhook(owner_gql, bot, receiver.url, events=[])

    assert _codes(payload) == {"events": "required"}


def test_a_bot_has_a_bounded_number_of_webhooks(owner_gql, bot, receiver, settings):
    settings.WEBHOOK_MAX_PER_BOT = 2
    for _ in range(2):
        assert create_webhook(owner_gql, bot, receiver.url)["__typename"] == "CreatedWebhook"

    payload = create_webhook(owner_gql, bot, receiver.url)

    assert _codes(payload) == {None: "too_many_webhooks"}


def test_nobody_else_adds_reads_changes_or_deletes_a_bots_webhooks(
    owner_gql, other_gql, anon_gql, bot, receiver
):
    created = create_webhook(owner_gql, bot, receiver.url)["webhook"]

    # another owner's createWebhook on this bot finds no bot
    assert _codes(create_webhook(other_gql, bot, receiver.url)) == {None: "not_found"}
    # nor can they change, delete, or read it
    update = {"input": {"id": created["id"], "url": "https://93.184.215.14/x"}}
    assert _codes(other_gql.execute(UPDATE, update)["updateWebhook"]) == {None: "not_found"}
    delete = {"input": {"id": created["id"]}}
    assert _codes(other_gql.execute(DELETE, delete)["deleteWebhook"]) == {None: "not_found"}
    node = other_gql.execute("query($id: ID!) { node(id: $id) { id } }", {"id": created["id"]})
    assert node["node"] is None
    # anonymous callers are told to authenticate
    anonymous = anon_gql.execute(UPDATE, update)["updateWebhook"]
    assert _codes(anonymous) == {None: "unauthenticated"}
    assert Webhook.objects.get().url == receiver.url


def test_an_owner_updates_and_deletes_a_webhook(owner_gql, bot, receiver):
    created = create_webhook(owner_gql, bot, receiver.url)["webhook"]

    changed = owner_gql.execute(
        UPDATE,
        {
            "input": {
                "id": created["id"],
                "events": ["FEEDBACK_GIVEN", "CONVERSATION_EXPIRED"],
                "description": "ratings",
                "isActive": False,
            }
        },
    )["updateWebhook"]
    bad = owner_gql.execute(UPDATE, {"input": {"id": created["id"], "url": "http://10.0.0.5/"}})
    deleted = owner_gql.execute(DELETE, {"input": {"id": created["id"]}})["deleteWebhook"]

    assert changed["events"] == ["FEEDBACK_GIVEN", "CONVERSATION_EXPIRED"]
    assert changed["description"] == "ratings"
    assert changed["isActive"] is False
    assert changed["url"] == receiver.url
    assert _codes(bad["updateWebhook"]) == {"url": "blocked_address"}
    assert deleted == {"__typename": "Webhook", "id": created["id"]}
    assert not Webhook.objects.exists()


def _delivery(webhook_id: str, status: str, **fields) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        webhook_id=int(GlobalID.from_id(webhook_id).node_id),
        event="message.completed",
        message_id="msg_1",
        payload={"type": "message.completed", "data": {}},
        status=status,
        **fields,
    )


def test_the_delivery_log_is_listed_and_filtered_by_status(owner_gql, bot, receiver):
    webhook_id = create_webhook(owner_gql, bot, receiver.url)["webhook"]["id"]
    _delivery(webhook_id, DeliveryStatus.SUCCEEDED, attempts=1, response_code=200)
    _delivery(webhook_id, DeliveryStatus.FAILED, attempts=3, response_code=500, last_error="HTTP")

    everything = owner_gql.execute(BOT_WEBHOOKS, {"id": to_base64("Bot", bot.pk)})
    failed = owner_gql.execute(BOT_WEBHOOKS, {"id": to_base64("Bot", bot.pk), "status": "FAILED"})

    node = everything["bot"]["webhooks"]["edges"][0]["node"]
    assert node["deliveries"]["totalCount"] == 2
    only = failed["bot"]["webhooks"]["edges"][0]["node"]["deliveries"]
    assert only["totalCount"] == 1
    assert only["edges"][0]["node"] | {"payload": None} == {
        "event": "MESSAGE_COMPLETED",
        "status": "FAILED",
        "attempts": 3,
        "responseCode": 500,
        "lastError": "HTTP",
        "messageId": "msg_1",
        "payload": None,
    }


def test_redeliver_queues_a_new_delivery_with_the_same_webhook_id(
    owner_gql, other_gql, bot, receiver
):
    webhook_id = create_webhook(owner_gql, bot, receiver.url)["webhook"]["id"]
    failed = _delivery(webhook_id, DeliveryStatus.FAILED, attempts=12, response_code=503)
    delivery_id = to_base64("WebhookDelivery", failed.pk)

    refused = other_gql.execute(REDELIVER, {"input": {"deliveryId": delivery_id}})
    again = owner_gql.execute(REDELIVER, {"input": {"deliveryId": delivery_id}})

    assert _codes(refused["redeliverWebhook"]) == {None: "not_found"}
    redelivery = again["redeliverWebhook"]
    assert redelivery["status"] == "PENDING"
    assert redelivery["attempts"] == 0
    assert redelivery["messageId"] == "msg_1"
    assert redelivery["redeliveryOf"] == {"id": delivery_id}
    assert WebhookDelivery.objects.count() == 2


def test_redelivery_to_an_inactive_webhook_is_refused(owner_gql, bot, receiver):
    webhook_id = create_webhook(owner_gql, bot, receiver.url, isActive=False)["webhook"]["id"]
    failed = _delivery(webhook_id, DeliveryStatus.FAILED)

    payload = owner_gql.execute(
        REDELIVER, {"input": {"deliveryId": to_base64("WebhookDelivery", failed.pk)}}
    )["redeliverWebhook"]

    assert _codes(payload) == {"deliveryId": "webhook_inactive"}


def test_a_wrong_kind_of_id_is_a_field_error(owner_gql, bot):
    payload = owner_gql.execute(REDELIVER, {"input": {"deliveryId": to_base64("Bot", bot.pk)}})[
        "redeliverWebhook"
    ]

    assert _codes(payload) == {"deliveryId": "invalid_id"}


def test_staff_see_every_bots_webhooks(staff_gql, owner_gql, receiver):
    bot = BotFactory()
    create_webhook(staff_gql, bot, receiver.url)

    listed = staff_gql.execute(BOT_WEBHOOKS, {"id": to_base64("Bot", bot.pk)})

    assert listed["bot"]["webhooks"]["totalCount"] == 1


def test_every_domain_event_can_be_subscribed_to():
    assert sorted(WebhookEvent.values) == sorted(events.NAMES)
