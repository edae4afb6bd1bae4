"""Helpers shared by the domain schemas."""

from typing import Any, ClassVar

import strawberry
from django.core.exceptions import ValidationError
from strawberry import relay


def pk_from_global_id(value: relay.GlobalID | str, type_name: str, *, field: str = "id") -> int:
    """Decode a global ID of `type_name` into a primary key, or raise a field error."""
    try:
        gid = value if isinstance(value, relay.GlobalID) else relay.GlobalID.from_id(value)
        if gid.type_name != type_name:
            raise ValueError
        return int(gid.node_id)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            {field: ValidationError(f"Expected the ID of a {type_name}.", code="invalid_id")}
        ) from exc


def input_data(obj: Any, *, renames: dict[str, str] | None = None) -> dict[str, Any]:
    """Fields of a strawberry input that were given (UNSET dropped), renamed for the model."""
    renames = renames or {}
    data = {}
    for name, value in vars(obj).items():
        if value is strawberry.UNSET:
            continue
        data[renames.get(name, name)] = value
    return data


def is_top_level(info) -> bool:
    return info.path.prev is None


class ModelNode(relay.Node):
    """A Relay node whose ID is the model's pk.

    Strawberry finds a node's ID attribute by evaluating every type annotation of the
    class on each call (it never caches the answer): ~0.3 ms per object, the largest
    cost of list queries. Naming it here skips that search.
    """

    _id_attr: ClassVar[str | None] = "pk"
