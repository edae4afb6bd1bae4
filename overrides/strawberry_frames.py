"""Subscription events encoded once per subscription document, not executed per subscriber.

Why: every event a subscription yields went through graphql-core's execution of the
subscriber's selection set, Strawberry's result handling and a `json.dumps` of the whole
frame, once per subscriber. For a `MessageDelta` (four scalars) that execution is most of
the CPU a streamed token costs (docs/BENCHMARKS.md "Fan-out").

How: `FrameSchema` (the product's schema class) executes with `FrameExecutor`. For a
subscription it compiles, once per (document, operation, values of the variables its
@include/@skip read), a *frame plan*: for each object type the root field may yield, the
JSON text of its selection with holes for the values. An event whose type the plan
covers becomes its `data` JSON by filling the holes (`EncodedData`), shared by every
subscriber with the same plan (a small cache keyed by the event's values and their
types); the transport then only puts the operation id around it (`frame_text`, used by
overrides/strawberry_ws.py). Strawberry's per-result steps run as for any result unless
each has nothing to do for a result without errors: the extensions' results (all empty)
and `on_stream_result` hooks (Strawberry's no-op and MaskErrors', and hooks marked
`errors_only`, such as schema/extensions.py's); then `FrameSchema` skips them.

The plan covers only what cannot differ from execution, for any subscriber (plans and
their filled text are shared by every connection, owners' and visitors' alike):
- fields Strawberry resolves as `getattr(source, name)` ("basic" fields: no resolver, no
  field extensions or permissions, no arguments, the default resolver); strawberry-django
  columns without a resolver (concrete, not relations or files: a model instance's loaded
  value, a deferred one is executed; an event snapshot's attribute); Relay's `id` when
  the type's `resolve_id` is strawberry-django's (a loaded primary key) or marked
  `root_only`; resolvers marked `root_only` (a function of the root alone);
- of leaf types (serialized by the type's own `coerce_output_value`, as graphql-core
  does) or of object types whose value that type accepts: its `is_type_of` (a cast to a
  strawberry-django type, or its model) or, without one, exactly an instance of the
  Strawberry class;
- `__typename`, aliases, fragments, inline fragments and @include/@skip, collected by
  graphql-core's own `collect_fields` / `collect_subfields` with the request's variables;
- schema extensions whose `resolve` hook passes such values through unchanged
  (strawberry-django's optimizer only touches querysets).
Anything else is executed normally, so errors and their masking are Strawberry's: a
resolver that may read the context or the database (`Conversation.privateVariables`,
which depends on the user, `unreadCount`, `bot`, `messages`), arguments, lists, abstract
nested types, other directives, @defer, a null in a non-null field, a value the scalar
refuses (an offset past 32 bits), an unknown event type. In the product's schema every
event type is planned for documents that select only such fields. The filled text is
cached by the values read and their kinds (type; a datetime's zone and fold), so an
event is filled once for all subscribers with the plan; unhashable values (a JSON dict)
are filled per subscriber, still without execution.

Written against strawberry-graphql 0.341.2, strawberry-graphql-django 0.93.0 and
graphql-core 3.3.2. Relies on: graphql-core's `map_source_to_response_event` building
each event's executor with `build_per_event_executor` and running `execute_operation`;
Strawberry's subscription fields resolving to the event itself, basic fields resolving
with `field.get_result` (the default resolver), union types resolving a Strawberry object
to its own type, `Schema._stream` handling each result with `_handle_execution_result`
and the runner's `on_stream_result`; `DjangoOptimizerExtension.resolve` returning
non-querysets unchanged.
tests/overrides/test_strawberry_frames.py pins them; tests/schema/test_frame_plans.py
compares frames with Strawberry's execution over random documents and events.
"""

import contextlib
import inspect
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

import strawberry
from django.core.exceptions import FieldDoesNotExist
from django.db.models import FileField, Model, QuerySet
from django.db.models.manager import BaseManager
from django.db.models.query_utils import DeferredAttribute
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
    is_union_type,
)
from graphql.execution import ExecutionResult
from graphql.execution.collect_fields import collect_fields, collect_subfields
from graphql.pyutils import Undefined
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.relay import GlobalID, Node
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types import ExecutionResult as StrawberryResult
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.cast import get_strawberry_type_cast
from strawberry.types.field import StrawberryField
from strawberry_django.fields.field import StrawberryDjangoField
from strawberry_django.optimizer import DjangoOptimizerExtension
from strawberry_django.relay.utils import resolve_model_id

DEFINITION = GraphQLCoreConverter.DEFINITION_BACKREF
CONDITIONS = ("include", "skip")
# Extension `resolve` hooks that return every non-queryset value as it is.
TRANSPARENT_RESOLVE = (DjangoOptimizerExtension.resolve,)
PLAN_CACHE_SIZE = 512
EVENT_CACHE_SIZE = 64

_encode = json.JSONEncoder(separators=(",", ":")).encode  # what Strawberry's encode_json does
ROOT_ONLY = "_frames_root_only"
NODE_ID = (Node.__module__, "Node._id")  # Relay's `id` field resolver


def root_only(resolver):
    """Marks a resolver (or a Node type's `resolve_id`) whose result is a function of its
    root object alone: no `info`, no arguments, no context, no I/O. A frame plan may then
    call it once for every subscriber with the same values; owners and visitors see the
    same result by construction. A resolver that reads the user (an owner-only field)
    must not be marked: it stays executed per subscriber."""
    setattr(resolver, ROOT_ONLY, True)
    return resolver


class EncodedData(Mapping):
    """An event's `data`, already JSON text. A read-only mapping (decoded on first read)
    for anything that looks into a result; the transport splices `.text` in."""

    __slots__ = ("_decoded", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._decoded: dict | None = None

    def decoded(self) -> dict:
        if self._decoded is None:
            self._decoded = json.loads(self.text)
        return self._decoded

    def __getitem__(self, key: str) -> Any:
        return self.decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.decoded())

    def __len__(self) -> int:
        return len(self.decoded())

    def __repr__(self) -> str:
        return f"EncodedData({self.text})"


def frame_text(message: Mapping[str, Any]) -> str | None:
    """`json.dumps(message, separators=(",", ":"))` for a message whose `payload.data` is
    EncodedData, splicing its text in; None for any other message."""
    payload = message.get("payload")
    if type(payload) is not dict or type(payload.get("data")) is not EncodedData:
        return None
    if len(payload) == 1:  # no errors, no extensions: the usual `next` / `data`
        inner = '{"data":' + payload["data"].text + "}"
    else:
        inner = (
            "{"
            + ",".join(
                f"{_encode(key)}:{value.text if key == 'data' else _encode(value)}"
                for key, value in payload.items()
            )
            + "}"
        )
    return (
        "{"
        + ",".join(
            [
                encode_basestring_ascii(key) + ":" + (inner if key == "payload" else _value(value))
                for key, value in message.items()
            ]
        )
        + "}"
    )


def _value(value: Any) -> str:
    return encode_basestring_ascii(value) if type(value) is str else _encode(value)


def plain_message(message: Mapping[str, Any]) -> Mapping[str, Any]:
    """The message with EncodedData decoded (for transports that encode it themselves)."""
    payload = message.get("payload")
    if type(payload) is dict and type(payload.get("data")) is EncodedData:
        return {**message, "payload": {**payload, "data": payload["data"].decoded()}}
    return message


class _Fallback(Exception):
    """This event (or document) needs normal execution."""


Encoder = Callable[[Any], str]


class FramePlan:
    """One subscription document's frames: the root field's key, and an encoder per
    Python class of event (None: executed normally)."""

    def __init__(self, root_key: str, encoders: dict[type, "_ObjectEncoder"]) -> None:
        self.prefix = "{" + _encode(root_key) + ":"
        self.encoders = encoders

    def data(self, event: Any) -> EncodedData | None:
        encoder = self.encoders.get(type(event))
        if encoder is None or get_strawberry_type_cast(event) is not None:
            return None
        try:
            return EncodedData(self.prefix + encoder.shared(event) + "}")
        except Exception:  # a value execution would refuse (or report): let it
            return None


Reader = Callable[[Any], Any]


class _ObjectEncoder:
    """The JSON text of one object type's selection set, filled from a source object.

    `steps` are (`"key":`, index of the value in `readers` or None, encoder of the value).
    Reading gives a tuple of the values (an object field's value: the tuple of its own
    selection's values), and the text is a function of that tuple alone.
    """

    def __init__(self, steps: list[tuple[str, int | None, Encoder]], readers: list[Reader]):
        self.steps = steps
        self.readers = tuple(readers)
        self.cache: dict[tuple, str] = {}

    def read(self, source: Any) -> tuple:
        return tuple([read(source) for read in self.readers])

    def fill(self, values: tuple) -> str:
        return (
            "{"
            + ",".join(
                [
                    prefix + encode(None if index is None else values[index])
                    for prefix, index, encode in self.steps
                ]
            )
            + "}"
        )

    def shared(self, source: Any) -> str:
        """The text for an event, filled once for all subscribers with this plan: the
        values read and their kinds (`_kinds`) are the cache key of the text."""
        values = self.read(source)
        key = (values, _kinds(values))
        try:
            text = self.cache.get(key)
        except TypeError:  # an unhashable value
            return self.fill(values)
        if text is None:
            text = self.fill(values)
            if len(self.cache) >= EVENT_CACHE_SIZE:
                self.cache.clear()
            self.cache[key] = text
        return text


def _kinds(values: tuple) -> tuple:
    """What besides equality decides a value's JSON: its type (1, 1.0 and True are
    equal), a datetime's zone and fold, a float's sign of zero."""
    return tuple([_kind(value) for value in values])


def _kind(value: Any) -> Any:
    kind = type(value)
    if kind is tuple:
        return _kinds(value)
    if kind is datetime:
        return (kind, value.tzinfo, value.fold)
    if kind is float:
        return (kind, repr(value))
    return kind


def _constant(text: str) -> Encoder:
    return lambda _value: text


def _leaf(coerce: Callable[[Any], Any], non_null: bool) -> Encoder:
    def encode(value: Any) -> str:
        if value is None:
            if non_null:
                raise _Fallback
            return "null"
        coerced = coerce(value)
        kind = type(coerced)
        if kind is str:
            return encode_basestring_ascii(coerced)
        if kind is int:
            return int.__repr__(coerced)
        if coerced is None or coerced is Undefined:
            raise _Fallback
        return _encode(coerced)

    return encode


class _ObjectValue:
    """An object field's value: read as its selection's values when it is of the
    field's type as execution decides it (the type's `is_type_of`, else exactly an
    instance of the Strawberry class), then filled."""

    def __init__(self, object_type: GraphQLObjectType, encoder: _ObjectEncoder, non_null: bool):
        self.encoder, self.non_null = encoder, non_null
        is_type_of = object_type.is_type_of
        if is_type_of is None:
            cls = _origin(object_type)
            self.accepts = lambda value: (
                type(value) is cls and get_strawberry_type_cast(value) is None
            )
        else:
            # strawberry-django's check (a cast to the type, or an instance of its
            # model) reads no `info`; whatever it answers, execution answers the same.
            self.accepts = lambda value: is_type_of(value, None) is True

    def reader(self, read: Reader) -> Reader:
        def read_object(source: Any) -> tuple | None:
            value = read(source)
            if value is None:
                if self.non_null:
                    raise _Fallback
                return None
            if not self.accepts(value):
                raise _Fallback
            return self.encoder.read(value)

        return read_object

    def fill(self, values: tuple | None) -> str:
        return "null" if values is None else self.encoder.fill(values)


def _origin(object_type: GraphQLObjectType, *, checked: bool = False) -> type:
    """The Strawberry class of an object type; `checked`: one with an `is_type_of`."""
    definition = object_type.extensions.get(DEFINITION)
    if (
        not isinstance(definition, StrawberryObjectDefinition)
        or definition.concrete_of is not None
        or (definition.is_type_of is not None and not checked)
    ):
        raise _Fallback
    return definition.origin


def _reader(object_type: GraphQLObjectType, field) -> Reader:
    """How to read a field's value from its source as execution would, or _Fallback:
    a basic Strawberry field, a strawberry-django column, a Node's `id`, or a resolver
    marked `root_only`."""
    definition = field.extensions.get(DEFINITION)
    if field.args or definition is None or definition.is_subscription:
        raise _Fallback
    if definition.extensions or definition.permission_classes:
        raise _Fallback
    if type(definition) is StrawberryField and definition.is_basic_field:
        if definition.default_resolver is not getattr or not getattr(
            field.resolve, "_is_default", False
        ):
            raise _Fallback
        name = definition.python_name
        return lambda source: getattr(source, name)
    if definition.base_resolver is not None:
        return _resolver_reader(object_type, definition)
    if type(definition) is StrawberryDjangoField:
        return _column_reader(object_type, definition)
    raise _Fallback


def _column_reader(object_type: GraphQLObjectType, definition: StrawberryDjangoField) -> Reader:
    """A model column without a resolver, as strawberry-django reads it: a model
    instance's loaded value (`__dict__`; a deferred one would be read from the database:
    executed), anything else (an event's snapshot) by getattr."""
    name = definition.django_name or definition.python_name
    django_type = getattr(
        _origin(object_type, checked=True), "__strawberry_django_definition__", None
    )
    try:
        column = django_type.model._meta.get_field(name)
    except (AttributeError, FieldDoesNotExist):
        raise _Fallback from None
    if not column.concrete or column.is_relation or isinstance(column, FileField):
        raise _Fallback
    if column.attname != name:
        raise _Fallback

    def read(source: Any) -> Any:
        if isinstance(source, Model):
            if type(getattr(type(source), name, None)) is not DeferredAttribute:
                raise _Fallback
            try:
                return source.__dict__[name]
            except KeyError:
                raise _Fallback from None
        value = getattr(source, name)
        if isinstance(value, BaseManager | QuerySet):  # execution would apply its hooks
            raise _Fallback
        return value

    return read


def _resolver_reader(object_type: GraphQLObjectType, definition) -> Reader:
    function = definition.base_resolver.wrapped_func
    bound = getattr(function, "__func__", None)
    if bound is not None and (bound.__module__, bound.__qualname__) == NODE_ID:
        return _node_id_reader(object_type)
    if not getattr(function, ROOT_ONLY, False) or inspect.iscoroutinefunction(function):
        raise _Fallback
    names = list(inspect.signature(function).parameters)
    if not names or set(names) - {"self", "root"}:
        raise _Fallback
    return lambda source: function(**dict.fromkeys(names, source))


def _node_id_reader(object_type: GraphQLObjectType) -> Reader:
    """Relay's `id`: GlobalID(the type's name, resolve_id(root)), when the type names
    itself as Node does and its `resolve_id` is root-only or strawberry-django's (a
    model instance's loaded primary key)."""
    origin = _origin(object_type, checked=True)
    if not issubclass(origin, Node):
        raise _Fallback
    if getattr(origin.resolve_typename, "__func__", None) is not Node.resolve_typename.__func__:
        raise _Fallback
    type_name = object_type.name
    resolve_id = getattr(origin.resolve_id, "__func__", None)
    if resolve_id is resolve_model_id:
        attribute = origin.resolve_id_attr()

        def model_id(source: Any) -> GlobalID:
            if not isinstance(source, Model):
                raise _Fallback
            name = source._meta.pk.attname if attribute == "pk" else attribute
            try:
                return GlobalID(type_name=type_name, node_id=str(source.__dict__[name]))
            except KeyError:
                raise _Fallback from None

        return model_id
    if not getattr(resolve_id, ROOT_ONLY, False):
        raise _Fallback

    def node_id(source: Any) -> GlobalID:
        value = origin.resolve_id(source, info=None)
        if value is None or inspect.isawaitable(value):
            raise _Fallback
        return GlobalID(type_name=type_name, node_id=str(value))

    return node_id


class _Compiler:
    def __init__(self, executor) -> None:
        self.executor = executor

    def collect(self, object_type: GraphQLObjectType, field_details) -> dict:
        e = self.executor
        collected = collect_subfields(
            e.schema,
            e.fragments,
            e.variable_values,
            e.operation,
            object_type,
            field_details,
            e.hide_suggestions,
        )
        if collected.new_defer_usages:
            raise _Fallback
        return collected.grouped_field_set

    def object(self, object_type: GraphQLObjectType, field_details) -> _ObjectEncoder:
        steps: list[tuple[str, int | None, Encoder]] = []
        readers: list[Reader] = []
        for key, details in self.collect(object_type, field_details).items():
            if any(d.defer_usage or d.fragment_variable_values for d in details):
                raise _Fallback
            prefix = _encode(key) + ":"
            field_name = details[0].node.name.value
            if field_name == "__typename":
                steps.append((prefix, None, _constant(_encode(object_type.name))))
                continue
            field = object_type.fields.get(field_name)
            if field is None:
                raise _Fallback
            read = _reader(object_type, field)
            non_null = is_non_null_type(field.type)
            inner = field.type.of_type if non_null else field.type
            if is_leaf_type(inner):
                encode = _leaf(inner.coerce_output_value, non_null)
            elif is_object_type(inner):
                value = _ObjectValue(inner, self.object(inner, details), non_null)
                read, encode = value.reader(read), value.fill
            else:
                raise _Fallback
            readers.append(read)
            steps.append((prefix, len(readers) - 1, encode))
        return _ObjectEncoder(steps, readers)

    def plan(self) -> FramePlan:
        e = self.executor
        schema: GraphQLSchema = e.schema
        root_type = schema.subscription_type
        if root_type is None or e.hooks is not None or e.abort_signal is not None:
            raise _Fallback
        middlewares = e.middleware_manager.middlewares if e.middleware_manager else ()
        if any(type(m).resolve not in TRANSPARENT_RESOLVE for m in middlewares):
            raise _Fallback
        collected = collect_fields(
            schema, e.fragments, e.variable_values, root_type, e.operation, e.hide_suggestions
        )
        if collected.new_defer_usages or len(collected.grouped_field_set) != 1:
            raise _Fallback
        ((root_key, details),) = collected.grouped_field_set.items()
        if any(d.defer_usage or d.fragment_variable_values for d in details):
            raise _Fallback
        field = root_type.fields.get(details[0].node.name.value)
        definition = field.extensions.get(DEFINITION) if field else None
        if not isinstance(definition, StrawberryField) or not definition.is_subscription:
            raise _Fallback
        return_type = field.type.of_type if is_non_null_type(field.type) else field.type
        if is_union_type(return_type):
            object_types = schema.get_possible_types(return_type)
        elif is_object_type(return_type):
            object_types = [return_type]
        else:
            raise _Fallback
        encoders = {}
        for object_type in object_types:
            try:
                encoders[_origin(object_type)] = self.object(object_type, details)
            except _Fallback:
                continue  # events of this type are executed
        return FramePlan(root_key, encoders)


def _condition_variables(operation: OperationDefinitionNode, fragments) -> tuple[str, ...]:
    """Names of the variables the @include/@skip of the operation read; _Fallback for
    any other directive (their effect on a result is not the plan's to know)."""
    names: set[str] = set()
    if operation.directives:
        raise _Fallback

    def visit(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set else ():
            for directive in selection.directives or ():
                if directive.name.value not in CONDITIONS:
                    raise _Fallback
                for argument in directive.arguments or ():
                    if isinstance(argument.value, VariableNode):
                        names.add(argument.value.name.value)
            if isinstance(selection, FieldNode | InlineFragmentNode):
                visit(selection.selection_set)
            elif not isinstance(selection, FragmentSpreadNode) or selection.arguments:
                raise _Fallback

    visit(operation.selection_set)
    for details in fragments.values():
        if details.variable_signatures or details.definition.directives:
            raise _Fallback
        visit(details.definition.selection_set)
    return tuple(sorted(names))


_plans: dict[tuple, tuple[OperationDefinitionNode, FramePlan | None]] = {}
_conditions: dict[int, tuple[OperationDefinitionNode, tuple[str, ...] | None]] = {}
_plans_lock = threading.Lock()


def plan_for(executor) -> FramePlan | None:
    """The shared plan for the executor's operation and variables (None: execute)."""
    operation = executor.operation
    known = _conditions.get(id(operation))
    if known is None or known[0] is not operation:
        try:
            names = _condition_variables(operation, executor.fragments)
        except _Fallback:
            names = None
        known = (operation, names)
        _remember(_conditions, id(operation), known)
    names = known[1]
    if names is None:
        return None
    coerced = executor.variable_values.coerced
    key = (id(executor.schema), id(operation), tuple(coerced.get(n) for n in names))
    cached = _plans.get(key)
    if cached is not None and cached[0] is operation:
        return cached[1]
    try:
        plan = _Compiler(executor).plan()
    except _Fallback:
        plan = None
    _remember(_plans, key, (operation, plan))
    return plan


def _remember(cache: dict, key, value) -> None:
    with _plans_lock:
        if len(cache) >= PLAN_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = value


class _Planned:
    """A per-event "executor" whose result is already encoded."""

    __slots__ = ("data",)

    def __init__(self, data: EncodedData) -> None:
        self.data = data

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return ExecutionResult(data=self.data, errors=None)


_UNPLANNED = object()


class FrameExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with subscription events filled into a frame plan when the
    plan covers them (see the module docstring). Queries and mutations are unchanged."""

    _frame_plan: Any = _UNPLANNED

    def build_per_event_executor(self, payload: Any):
        plan = self._frame_plan
        if plan is _UNPLANNED:
            plan = self._frame_plan = plan_for(self)
        if plan is not None:
            data = plan.data(payload)
            if data is not None:
                return _Planned(data)
        return super().build_per_event_executor(payload)


# on_stream_result hooks with nothing to do for a result without errors.
QUIET_STREAM_HOOKS = (SchemaExtension.on_stream_result, MaskErrors.on_stream_result)


def errors_only(hook):
    """Marks an extension's `on_stream_result` that reads or changes only the result's
    errors, so a planned event (which has none) may skip it."""
    hook.errors_only = True
    return hook


def _quiet(extension: SchemaExtension) -> bool:
    hook = type(extension).on_stream_result
    return (hook in QUIET_STREAM_HOOKS or getattr(hook, "errors_only", False)) and type(
        extension
    ).get_results is SchemaExtension.get_results


class PlannedResult(StrawberryResult):
    """A planned event's result: `data` is EncodedData, no errors."""


_NOTHING = contextlib.nullcontext()


class _Runner(SchemaExtensionsRunner):
    """Runs no per-result hooks for a planned result when every extension's hooks
    have nothing to do for it (`quiet`)."""

    def __init__(self, execution_context, extensions=None) -> None:
        super().__init__(execution_context, extensions)
        self.quiet = all(_quiet(extension) for extension in self.extensions)

    def on_stream_result(self, result):
        if type(result) is PlannedResult:
            return _NOTHING
        return super().on_stream_result(result)


class FrameSchema(strawberry.Schema):
    """A Strawberry schema whose subscriptions use frame plans (`FrameExecutor`), and
    whose planned results skip the per-result steps that have nothing to do for them:
    the extensions' results (all empty) and `on_stream_result` hooks (all `quiet`), in
    `_handle_execution_result` and `create_extensions_runner`. Any other result, or an
    extension that is not quiet, takes Strawberry's path."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("execution_context_class", FrameExecutor)
        super().__init__(*args, **kwargs)

    def create_extensions_runner(self, execution_context, extensions) -> SchemaExtensionsRunner:
        return _Runner(execution_context=execution_context, extensions=extensions)

    async def _handle_execution_result(self, context, result, extensions_runner, **kwargs):
        if (
            type(result.data) is EncodedData
            and not result.errors
            and getattr(extensions_runner, "quiet", False)
        ):
            planned = PlannedResult(
                data=result.data, errors=None, extensions=dict(context.extensions_results)
            )
            context.result = planned
            return planned
        return await super()._handle_execution_result(context, result, extensions_runner, **kwargs)
