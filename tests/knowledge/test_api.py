"""The owner API over GraphQL (HTTP): documents added by upload, text or URL, indexed by
the real task queue worker, listed on their bot, searched, re-indexed and deleted;
every bad input a typed error with a code."""

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from strawberry.relay import to_base64

from knowledge.models import Chunk, Document
from tests.factories import BotFactory
from tests.knowledge.helpers import SHOP_MARKDOWN, make_pdf
from tests.tasks_worker import drain

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENT_FIELDS = "id title status format language errorCode error chunkCount sourceUrl"
CREATE = f"""
mutation Create($input: CreateDocumentInput!) {{
  createDocument(input: $input) {{
    __typename
    ... on Document {{ {DOCUMENT_FIELDS} }}
    ... on OperationInfo {{ messages {{ field message code }} }}
  }}
}}"""
UPDATE = f"""
mutation Update($input: UpdateDocumentInput!) {{
  updateDocument(input: $input) {{
    __typename
    ... on Document {{ {DOCUMENT_FIELDS} }}
    ... on OperationInfo {{ messages {{ field message code }} }}
  }}
}}"""
REINDEX = """
mutation Reindex($id: ID!) {
  reindexDocument(input: {id: $id}) {
    __typename ... on Document { status } ... on OperationInfo { messages { code } }
  }
}"""
DELETE = """
mutation Delete($id: ID!) {
  deleteDocument(input: {id: $id}) {
    __typename ... on Document { id } ... on OperationInfo { messages { code } }
  }
}"""
BOT_DOCUMENTS = f"""
query Docs($id: ID!) {{
  bot(id: $id) {{
    knowledgeEnabled
    documents {{ totalCount edges {{ node {{
      {DOCUMENT_FIELDS}
      chunks {{ edges {{ node {{ position heading text hasEmbedding }} }} }}
    }} }} }}
  }}
}}"""
SEARCH = """
query Search($input: KnowledgeSearchInput!) {
  knowledgeSearch(input: $input) { documentId title heading text score }
}"""


def _create(gql, bot, **fields) -> dict:
    variables = {"input": {"botId": to_base64("Bot", bot.pk), **fields}}
    return gql.execute(CREATE, variables)["createDocument"]


def _messages(payload: dict) -> list[dict]:
    assert payload["__typename"] == "OperationInfo", payload
    return payload["messages"]


def _documents(gql, bot) -> list[dict]:
    data = gql.execute(BOT_DOCUMENTS, {"id": to_base64("Bot", bot.pk)})
    return [edge["node"] for edge in data["bot"]["documents"]["edges"]]


def _search(gql, bot, query: str, **extra) -> list[dict]:
    variables = {"input": {"botId": to_base64("Bot", bot.pk), "query": query, **extra}}
    return gql.execute(SEARCH, variables)["knowledgeSearch"]


def test_a_text_document_is_pending_then_ready_with_chunks_after_the_worker(owner_gql, bot):
    created = _create(owner_gql, bot, text=SHOP_MARKDOWN, filename="help.md")
    assert created["status"] == "PENDING" and created["format"] == "MARKDOWN"

    drain()

    [document] = _documents(owner_gql, bot)
    assert document["status"] == "READY"
    assert document["chunkCount"] == 3
    headings = [e["node"]["heading"] for e in document["chunks"]["edges"]]
    assert headings == [
        "Northwind Shop help > Shipping",
        "Northwind Shop help > Returns",
        "Northwind Shop help > Warranty",
    ]


def test_knowledge_search_finds_the_passage_that_answers(owner_gql, bot):
    _create(owner_gql, bot, text=SHOP_MARKDOWN, title="Help center")
    drain()

    hits = _search(owner_gql, bot, "Can I get a refund for a sale item?")

    assert hits[0]["heading"].endswith("Returns")
    assert hits[0]["title"] == "Help center"
    assert hits[0]["score"] > 0


@pytest.mark.parametrize(
    "query", ['"unbalanced', "refund OR NEAR(a b", "*", "refund) AND (", "title:refund", "^-"]
)
def test_search_syntax_in_a_question_is_data_never_an_error(owner_gql, bot, query):
    _create(owner_gql, bot, text=SHOP_MARKDOWN)
    drain()

    hits = _search(owner_gql, bot, query)

    assert all("refund" in hit["text"] for hit in hits)


def test_a_pdf_upload_is_indexed_from_its_pages(owner_gql, bot):
    pdf = make_pdf(["Kettles have a two-year warranty.", "Returns within 30 days."])
    _create(owner_gql, bot, content=base64.b64encode(pdf).decode(), filename="policy.pdf")
    drain()

    [document] = _documents(owner_gql, bot)
    assert (document["status"], document["format"], document["chunkCount"]) == ("READY", "PDF", 2)
    assert _search(owner_gql, bot, "warranty")[0]["heading"] == "Page 1"


def test_an_unreadable_document_fails_with_the_reason(owner_gql, bot):
    _create(owner_gql, bot, content=base64.b64encode(b"%PDF-1.4 broken").decode())
    drain()

    [document] = _documents(owner_gql, bot)
    assert document["status"] == "FAILED"
    assert document["errorCode"] == "unreadable"
    assert document["error"].startswith("The PDF could not be read")


def test_updating_the_content_indexes_again_and_delete_removes_the_chunks(owner_gql, bot):
    created = _create(owner_gql, bot, text=SHOP_MARKDOWN)
    drain()

    updated = owner_gql.execute(
        UPDATE, {"input": {"id": created["id"], "text": "# Gift cards\n\nThey never expire."}}
    )["updateDocument"]
    assert updated["status"] == "PENDING"
    drain()
    assert [h["heading"] for h in _search(owner_gql, bot, "do gift cards expire")] == ["Gift cards"]
    assert _search(owner_gql, bot, "refund") == []

    renamed = owner_gql.execute(UPDATE, {"input": {"id": created["id"], "title": "Cards"}})
    assert renamed["updateDocument"]["status"] == "READY"  # a title alone: no re-index

    reindexed = owner_gql.execute(REINDEX, {"id": created["id"]})["reindexDocument"]
    assert reindexed["status"] == "PENDING"
    drain()
    assert Document.objects.get().status == "ready"

    deleted = owner_gql.execute(DELETE, {"id": created["id"]})["deleteDocument"]
    assert deleted["id"] == created["id"]
    assert not Chunk.objects.exists()
    assert _search(owner_gql, bot, "gift cards") == []


def test_a_bot_has_at_most_the_configured_number_of_documents(owner_gql, bot, settings):
    settings.KNOWLEDGE_MAX_DOCUMENTS_PER_BOT = 1
    _create(owner_gql, bot, text="one")

    [message] = _messages(_create(owner_gql, bot, text="two"))

    assert message["code"] == "too_many_documents"
    assert "at most 1 documents" in message["message"]


def test_a_document_over_the_size_limit_is_refused_before_it_is_stored(owner_gql, bot, settings):
    settings.KNOWLEDGE_MAX_DOCUMENT_BYTES = 100
    big = base64.b64encode(b"x" * 200).decode()

    [encoded] = _messages(_create(owner_gql, bot, content=big))
    [text] = _messages(_create(owner_gql, bot, text="y" * 101))

    assert (encoded["field"], encoded["code"]) == ("content", "too_large")
    assert text["code"] == "too_large"
    assert not Document.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({}, "content", "required"),
        ({"text": "a", "sourceUrl": "https://example.com/"}, "sourceUrl", "invalid"),
        ({"content": "not base64!"}, "content", "invalid"),
        ({"sourceUrl": "ftp://example.com/x"}, "sourceUrl", "invalid"),
    ],
)
def test_bad_input_is_a_field_error_with_a_code(owner_gql, bot, fields, field, code):
    [message] = _messages(_create(owner_gql, bot, **fields))
    assert (message["field"], message["code"]) == (field, code)


def test_another_owners_bot_and_documents_are_not_found(owner_gql, other_gql, bot):
    created = _create(owner_gql, bot, text=SHOP_MARKDOWN)
    drain()

    [create] = _messages(_create(other_gql, bot, text="mine now"))
    [delete] = _messages(other_gql.execute(DELETE, {"id": created["id"]})["deleteDocument"])
    variables = {"input": {"botId": to_base64("Bot", bot.pk), "query": "refund"}}
    [search] = other_gql.errors(SEARCH, variables)

    assert create["code"] == delete["code"] == "not_found"
    assert search["extensions"]["code"] == "NOT_FOUND"
    assert Document.objects.count() == 1


def test_anonymous_callers_are_refused(anon_gql, bot):
    variables = {"input": {"botId": to_base64("Bot", bot.pk), "query": "refund"}}
    [error] = anon_gql.errors(SEARCH, variables)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


def test_an_out_of_range_search_limit_is_an_error(owner_gql, bot):
    variables = {"input": {"botId": to_base64("Bot", bot.pk), "query": "x", "limit": 500}}
    [error] = owner_gql.errors(SEARCH, variables)
    assert error["extensions"]["code"] == "INVALID"


# --- by URL, through the api_call address guard ------------------------------------------


class _Page(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/moved":
            # the same server under another name, which the allow-list does not name
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.server.server_port}/page")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = (
            b"<html><head><title>Shipping</title></head><body><h1>Shipping</h1>"
            b"<p>Parcels to Norway take four days.</p></body></html>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def page_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/shipping.html"
    server.shutdown()
    server.server_close()


def test_a_url_on_a_private_address_is_refused_by_the_guard(owner_gql, bot, page_url):
    _create(owner_gql, bot, sourceUrl=page_url)
    drain()

    [document] = _documents(owner_gql, bot)
    assert (document["status"], document["errorCode"]) == ("FAILED", "blocked_address")
    assert "API_CALL_ALLOW_HOSTS" in document["error"]


def test_an_allowed_url_is_fetched_and_indexed_as_html(owner_gql, bot, page_url, settings):
    settings.API_CALL_ALLOW_HOSTS = [page_url.split("/")[2]]
    _create(owner_gql, bot, sourceUrl=page_url)
    drain()

    [document] = _documents(owner_gql, bot)
    assert (document["status"], document["format"], document["title"]) == (
        "READY",
        "HTML",
        "Shipping",
    )
    assert document["sourceUrl"] == page_url
    assert "Norway" in _search(owner_gql, bot, "parcels to Norway")[0]["text"]


def test_a_redirect_to_a_host_not_allowed_is_refused(owner_gql, bot, page_url, settings):
    settings.API_CALL_ALLOW_HOSTS = [page_url.split("/")[2]]
    moved = page_url.rsplit("/", 1)[0] + "/moved"
    _create(owner_gql, bot, sourceUrl=moved)
    drain()

    [document] = _documents(owner_gql, bot)
    assert (document["status"], document["errorCode"]) == ("FAILED", "blocked_address")
    assert document["error"].startswith("localhost resolves to ")


def test_a_reindex_queued_during_indexing_wins_and_chunks_are_not_doubled(owner_gql, bot):
    created = _create(owner_gql, bot, text=SHOP_MARKDOWN)
    changed = {"id": created["id"], "text": "# Gift cards\n\nNo expiry."}
    owner_gql.execute(UPDATE, {"input": changed})

    drain()  # runs revision 1's task (superseded: it writes nothing), then revision 2's

    [document] = _documents(owner_gql, bot)
    assert (document["status"], document["chunkCount"]) == ("READY", 1)
    assert Chunk.objects.count() == 1
    assert [h["heading"] for h in _search(owner_gql, bot, "gift cards")] == ["Gift cards"]


def test_documents_are_listed_only_on_their_bot(owner_gql, owner):
    first, second = BotFactory(owner=owner), BotFactory(owner=owner)
    _create(owner_gql, first, text="alpha")
    assert len(_documents(owner_gql, first)) == 1
    assert _documents(owner_gql, second) == []
