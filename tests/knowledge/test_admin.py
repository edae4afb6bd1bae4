"""Admin pages of documents and chunks: they render, re-index, and a staff user who is
not a superuser sees only the documents of their own bots."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from knowledge.models import Chunk, Document
from tests.factories import BotFactory, UserFactory
from tests.knowledge.helpers import indexed_document

pytestmark = pytest.mark.django_db(transaction=True)


def url(model, view: str, *args) -> str:
    return reverse(f"admin:knowledge_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def theirs(owner):
    return indexed_document(user=owner, bot=BotFactory(owner=owner), title="Their help")


@pytest.mark.parametrize("model", [Document, Chunk], ids=lambda m: m.__name__)
def test_lists_and_change_pages_render(admin_client, theirs, model):
    row = theirs if model is Document else theirs.chunks.first()

    listed = admin_client.get(url(model, "changelist"))
    shown = admin_client.get(url(model, "change", row.pk))

    assert listed.status_code == shown.status_code == 200
    assert listed.context["cl"].result_count == model.objects.count()
    assert shown.context["original"] == row


def test_documents_are_added_through_the_api_not_the_admin(admin_client, db):
    assert admin_client.get(url(Document, "add")).status_code == 403
    assert admin_client.get(url(Chunk, "add")).status_code == 403


def test_the_reindex_action_queues_the_selected_documents(admin_client, theirs):
    response = admin_client.post(
        url(Document, "changelist"),
        {"action": "reindex", "_selected_action": [theirs.pk]},
        follow=True,
    )

    assert response.status_code == 200
    theirs.refresh_from_db()
    assert (theirs.status, theirs.revision) == ("pending", 2)


def test_a_staff_editor_sees_only_the_documents_of_their_bots(client, theirs):
    editor = UserFactory(username="editor", is_staff=True)
    editor.user_permissions.set(Permission.objects.filter(content_type__app_label="knowledge"))
    mine = indexed_document(user=editor, bot=BotFactory(owner=editor), title="My help")
    client.force_login(editor)

    documents = client.get(url(Document, "changelist")).context["cl"].result_list
    chunks = client.get(url(Chunk, "changelist")).context["cl"].result_list

    assert list(documents) == [mine]
    assert {chunk.document_id for chunk in chunks} == {mine.pk}
    assert client.get(url(Document, "change", theirs.pk)).status_code == 302  # not found
