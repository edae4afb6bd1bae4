import strawberry
import strawberry_django
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from strawberry import relay
from strawberry_django.relay import DjangoListConnection

from bots.selectors import bot_list
from core.exceptions import NotFound
from knowledge import models, retrieval
from schema.common import pk_from_global_id
from schema.context import Info
from schema.errors import graphql_errors
from schema.knowledge.inputs import KnowledgeSearchInput
from schema.knowledge.types import Document, KnowledgeHit

MAX_QUERY_LENGTH = 1000
MAX_HITS = 20


@strawberry.type
class KnowledgeQuery:
    @strawberry_django.connection(
        DjangoListConnection[Document], description="Documents of the bots the caller may see."
    )
    async def documents(self, info: Info) -> list[Document]:
        return Document.scope(models.Document.objects.all(), info)

    document: Document | None = strawberry_django.node()

    @strawberry.field(
        description="What a visitor's question retrieves from a bot's documents (the "
        "passages a reply would cite), best first. For the bot's owner and staff."
    )
    async def knowledge_search(self, info: Info, input: KnowledgeSearchInput) -> list[KnowledgeHit]:
        with graphql_errors():
            user = info.context.get_user()
            bot_id = pk_from_global_id(input.bot_id, "Bot", field="bot_id")
            limit = input.limit or 5
            if not 1 <= limit <= MAX_HITS or len(input.query) > MAX_QUERY_LENGTH:
                raise ValidationError(
                    f"limit is 1 to {MAX_HITS}; the query at most {MAX_QUERY_LENGTH} characters.",
                    code="invalid",
                )
            if not await bot_list(user=user).filter(pk=bot_id).aexists():
                raise NotFound("Bot not found.")
            vector = await retrieval.query_vector(input.query)
            hits = await sync_to_async(retrieval.search)(
                bot_id=bot_id, query=input.query, limit=limit, query_vector=vector
            )
        return [
            KnowledgeHit(
                document_id=relay.GlobalID("Document", str(hit.document_id)),
                chunk_id=relay.GlobalID("Chunk", str(hit.chunk_id)),
                title=hit.title,
                url=hit.url,
                heading=hit.heading,
                text=hit.text,
                score=hit.score,
            )
            for hit in hits
        ]
