"""The GraphQL schema: the domain modules merged at the root."""

from schema.root import schema

__all__ = ["schema"]
