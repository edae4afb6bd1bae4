"""Reads: which documents and chunks a user may see (the owner of their bot, or staff)."""

from django.db.models import QuerySet

from knowledge.models import Chunk, Document


def _owned(queryset: QuerySet, user) -> QuerySet:
    if not user.is_authenticated:
        return queryset.none()
    if user.is_staff:
        return queryset
    return queryset.filter(bot__owner_id=user.pk)


def document_list(*, user, queryset: QuerySet[Document] | None = None) -> QuerySet[Document]:
    return _owned(Document.objects.all() if queryset is None else queryset, user)


def chunk_list(*, user, queryset: QuerySet[Chunk] | None = None) -> QuerySet[Chunk]:
    return _owned(Chunk.objects.all() if queryset is None else queryset, user)
