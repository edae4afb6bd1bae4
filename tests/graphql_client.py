"""A small GraphQL-over-HTTP client on Django's test client (through all middleware)."""

import json
from typing import Any

from django.test import Client


class GraphQLClient:
    def __init__(self, client: Client | None = None, headers: dict[str, str] | None = None):
        self.client = client or Client()
        self.headers = headers or {}

    def post(self, query: str, variables: dict | None = None, headers: dict | None = None):
        return self.client.post(
            "/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}),
            content_type="application/json",
            headers={**self.headers, **(headers or {})},
        )

    def execute(self, query: str, variables: dict | None = None, **kwargs) -> dict[str, Any]:
        """Run an operation that must succeed; return its `data`."""
        response = self.post(query, variables, **kwargs)
        body = response.json()
        assert response.status_code == 200, body
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def errors(self, query: str, variables: dict | None = None, **kwargs) -> list[dict]:
        """Run an operation that must fail with GraphQL errors; return them."""
        response = self.post(query, variables, **kwargs)
        body = response.json()
        assert body.get("errors"), body
        return body["errors"]
