"""Issue 20: a reply that answers from the bot's documents shows its sources, on the demo
chat page and in the widget (shared client code: static/chat/client.js + view.js)."""

from __future__ import annotations

import pytest

from tests.browser.contract import needs
from tests.browser.test_chat_page import TERMINAL
from tests.browser.test_widget import Widget, chat_on_page_or_widget
from tests.support import run_manage

RETURNS = "# Returns\n\nSale items can be exchanged but are not refunded in money.\n"
URL = "https://shop.example/help/returns"
# Run in the server's database: add and index a document as the task queue would, then
# give it a URL (it was uploaded; the URL is what the citation links to).
ADD_DOCUMENT = f"""
from bots.models import Bot
from knowledge import services
from knowledge.models import Document
from knowledge.tasks import index_document
bot = Bot.objects.get(pk={{pk}})
document = services.document_create(
    user=bot.owner, bot_id=bot.pk, content={RETURNS.encode()!r}, title="Returns policy"
)
index_document.call(document.pk, document.revision)
Document.objects.filter(pk=document.pk).update(source_url={URL!r})
bot.knowledge_enabled = True
bot.save()
"""
REMOVE_DOCUMENTS = """
from bots.models import Bot
from knowledge.models import Document
Document.objects.filter(bot_id={pk}).delete()
Bot.objects.filter(pk={pk}).update(knowledge_enabled=False)
"""


@pytest.fixture
def knowledge_on(app_server):
    pk = str(app_server.bot_pk)
    run_manage(["shell", "-c", ADD_DOCUMENT.replace("{pk}", pk)], app_server.env)
    yield
    run_manage(["shell", "-c", REMOVE_DOCUMENTS.replace("{pk}", pk)], app_server.env)


client = pytest.fixture(params=["page", "widget"], name="client")(chat_on_page_or_widget)


@needs("citations")
def test_a_reply_from_the_documents_lists_its_sources_with_links(client, knowledge_on):
    client.send("Can I get a refund for a sale item?")
    reply = client.watch_reply(lambda s: s.status in TERMINAL)[-1]
    assert reply.status == "COMPLETE"

    source = client.page.locator(".msg--assistant .msg__sources li").last
    source.wait_for()
    link = source.locator("a")
    assert link.inner_text() == "[1] Returns policy"
    assert link.get_attribute("href") == URL
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert "not refunded in money" in (source.get_attribute("title") or "")

    # a reload replays the conversation: the sources come back with the message
    client.page.reload()
    if isinstance(client, Widget):
        client.show()
    again = client.page.locator(".msg--assistant .msg__sources a").last
    again.wait_for()
    assert again.inner_text() == "[1] Returns policy"
