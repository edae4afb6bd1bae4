"""The public pages (/, /chat/, /chat/<bot>/): what strangers may learn there.

Only bots their owner marked public (and active) are listed or get a demo chat page;
server details (version, database, channel layer, LLM provider) are shown to staff only.
An active bot that is not public still chats with anyone who has its ID, through the API.
"""

import pytest
from django.test import Client
from strawberry import relay

from tests.conftest import session_client
from tests.factories import BotFactory, UserFactory

START = """
mutation($botId: ID!) {
  startConversation(input: {botId: $botId}) {
    __typename ... on StartConversationPayload { chatToken }
  }
}
"""
UPDATE_BOT = """
mutation($input: BotPartialInput!) {
  updateBot(input: $input) { __typename ... on Bot { isPublic } }
}
"""
BOTS = "query($f: BotFilter) { bots(filters: $f) { edges { node { name } } } }"


def gid(bot) -> str:
    return relay.to_base64("Bot", bot.pk)


@pytest.fixture
def bots(owner, other_user):
    return {
        "listed": BotFactory(owner=owner, name="Listed bot", is_public=True),
        "unlisted": BotFactory(owner=other_user, name="Unlisted bot"),
        "dormant": BotFactory(owner=owner, name="Dormant bot", is_public=True, is_active=False),
    }


@pytest.mark.parametrize("path", ["/", "/chat/"])
def test_pages_list_only_public_active_bots(client: Client, bots, path):
    html = client.get(path).content.decode()

    assert "Listed bot" in html
    assert "Unlisted bot" not in html
    assert "Dormant bot" not in html


def test_demo_chat_page_serves_public_bots_only(client: Client, bots):
    listed = client.get(f"/chat/{gid(bots['listed'])}/")
    unlisted = client.get(f"/chat/{gid(bots['unlisted'])}/")
    by_pk = client.get(f"/chat/{bots['unlisted'].pk}/")

    assert listed.status_code == 200
    assert unlisted.status_code == by_pk.status_code == 404
    assert b"Unlisted bot" not in unlisted.content + by_pk.content


def test_an_active_bot_that_is_not_public_still_chats_by_id(anon_gql, bots):
    result = anon_gql.execute(START, {"botId": gid(bots["unlisted"])})["startConversation"]

    assert result["__typename"] == "StartConversationPayload"
    assert result["chatToken"]


def test_owner_makes_a_bot_public_with_update_bot(owner_gql, owner, client: Client):
    bot = BotFactory(owner=owner, name="Soon public")

    result = owner_gql.execute(UPDATE_BOT, {"input": {"id": gid(bot), "isPublic": True}})

    assert result["updateBot"] == {"__typename": "Bot", "isPublic": True}
    assert "Soon public" in client.get("/chat/").content.decode()


def test_bots_filter_by_is_public(owner_gql, bots):
    public = owner_gql.execute(BOTS, {"f": {"isPublic": True}})["bots"]["edges"]

    assert [edge["node"]["name"] for edge in public] == ["Dormant bot", "Listed bot"]


def test_landing_links_every_page_and_each_link_answers(client: Client, bots):
    html = client.get("/").content.decode()

    for path in ("/graphql", "/chat/", "/console/", "/operator/", "/admin/", "/healthz"):
        assert f'href="{path}"' in html, path
        assert client.get(path, follow=True, HTTP_ACCEPT="text/html").status_code == 200, path


def test_landing_shows_server_details_to_staff_only(db, settings):
    staff = UserFactory(username="ops", is_staff=True)
    owner = UserFactory(username="someone")

    pages = {
        "anonymous": Client().get("/").content.decode(),
        "owner": session_client(owner).client.get("/").content.decode(),
        "staff": session_client(staff).client.get("/").content.decode(),
    }

    for who in ("anonymous", "owner"):
        assert settings.VERSION not in pages[who], who
        assert "Database" not in pages[who] and "LLM provider" not in pages[who], who
    assert settings.VERSION in pages["staff"]
    assert "Database" in pages["staff"] and "LLM provider" in pages["staff"]
