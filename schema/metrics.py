"""GraphQL operations counted by name, type and outcome (registry: core.metrics)."""

import asyncio
import re
import threading

from prometheus_client import Counter
from strawberry.extensions import SchemaExtension

from core.metrics import REGISTRY

GRAPHQL_OPERATIONS = Counter(
    "botstream_graphql_operations",
    "GraphQL operations by operation name, type (query/mutation/subscription) and outcome.",
    ["operation", "type", "outcome"],
    registry=REGISTRY,
)
# Operation names come from clients: only GraphQL names are used as label values, and
# only the first few hundred distinct ones, so a hostile client cannot grow the
# registry without bound.
_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
MAX_OPERATION_NAMES = 500
_seen_operations: set[str] = set()
_seen_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    """The label value for a client-supplied operation name (bounded cardinality)."""
    if not name:
        return "anonymous"
    if not _OPERATION_NAME.fullmatch(name):
        return "invalid"
    with _seen_lock:
        if name in _seen_operations:
            return name
        if len(_seen_operations) >= MAX_OPERATION_NAMES:
            return "other"
        _seen_operations.add(name)
    return name


def count_graphql_operation(name: str | None, operation_type: str, outcome: str) -> None:
    """Count one GraphQL operation; `outcome` is "ok", "error" or "cancelled"."""
    GRAPHQL_OPERATIONS.labels(operation_label(name), operation_type, outcome).inc()


class MetricsExtension(SchemaExtension):
    """Count every operation by name, type and outcome.

    Outcome is "error" when the result carries errors (parse, validation or resolver
    errors; typed payload errors such as OperationInfo are successful operations),
    "cancelled" when the client went away (a subscription closing), else "ok". A
    subscription is counted once, when it ends.
    """

    def on_operation(self):
        outcome = "error"
        try:
            yield
            outcome = self._outcome()
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "cancelled"
            raise
        finally:
            count_graphql_operation(self._name(), self._type(), outcome)

    def _name(self) -> str | None:
        try:
            return self.execution_context.operation_name
        except Exception:  # an unparsable document has no operation
            return None

    def _type(self) -> str:
        try:
            return self.execution_context.operation_type.value
        except Exception:  # no document, or no operation matching the name
            return "unknown"

    def _outcome(self) -> str:
        context = self.execution_context
        if context.pre_execution_errors:
            return "error"
        if context.result is not None and context.result.errors:
            return "error"
        return "ok"
