"""overrides/strawberry_frames.py fills subscription events into frame plans instead of
executing them: pin what it relies on in graphql-core (3.3.2), Strawberry (0.341.2) and
strawberry-graphql-django (0.93.0). That the frames equal execution's is the property
test tests/schema/test_frame_plans.py."""

import importlib

from graphql.execution.executor import Executor
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.schema import Schema, StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField
from strawberry.types.union import StrawberryUnion
from strawberry_django.optimizer import DjangoOptimizerExtension

from overrides.strawberry_frames import FrameExecutor, FrameSchema
from schema.root import schema
from tests.overrides.upstream import changed

execute = importlib.import_module("graphql.execution.execute")
collect = importlib.import_module("graphql.execution.collect_fields")

PINNED = {
    # Each event: build_per_event_executor(payload), then execute_operation(False).
    "graphql.execution.execute.map_source_to_response_event": (
        execute.map_source_to_response_event,
        "6eb8cb26326da419",
    ),
    "graphql.execution.execute.execute_subscription_event": (
        execute.execute_subscription_event,
        "e9908f304bb0bc7d",
    ),
    "Executor.build_per_event_executor": (
        Executor.build_per_event_executor,
        "e42b7eb17861c1b7",
    ),
    # Leaves are serialized by coerce_output_value; None/Undefined is an error.
    "Executor.complete_leaf_value": (Executor.complete_leaf_value, "a8c54d5838ad9753"),
    "Executor.complete_object_value": (Executor.complete_object_value, "55e77f58eca1ddc4"),
    "collect_fields": (collect.collect_fields, "d41c7aeb4cad40fc"),
    "collect_subfields": (collect.collect_subfields, "1657a3c68d283391"),
    # A subscription field resolves each event to itself.
    "GraphQLCoreConverter.from_field": (GraphQLCoreConverter.from_field, "44f633df9b4b4c31"),
    # A basic field (no resolver, no extensions) is `field.get_result` marked _is_default.
    "GraphQLCoreConverter.from_resolver": (
        GraphQLCoreConverter.from_resolver,
        "bcac1354fecdee79",
    ),
    "StrawberryField.get_result": (StrawberryField.get_result, "1881f471e7299ddb"),
    "StrawberryField.is_basic_field": (
        StrawberryField.is_basic_field.fget,
        "2788ae121972c36e",
    ),
    # A Strawberry object (not cast) resolves to its own type in a union.
    "StrawberryUnion.get_type_resolver": (
        StrawberryUnion.get_type_resolver,
        "be50312e4ae21b3f",
    ),
    # Passes an event's data through unchanged; for a result without errors it only adds
    # the extensions' results and sets the operation's result (FrameSchema does that).
    "Schema._handle_execution_result": (Schema._handle_execution_result, "56893f850faa9f40"),
    # Each event: _handle_execution_result, then the runner's on_stream_result around it.
    "Schema._stream": (Schema._stream, "c5ba32092056c6a1"),
    "Schema.create_extensions_runner": (Schema.create_extensions_runner, "ee54557db9341b39"),
    "SchemaExtensionsRunner.on_stream_result": (
        SchemaExtensionsRunner.on_stream_result,
        "52056f5cfda7959a",
    ),
    "SchemaExtensionsRunner.get_extensions_results": (
        SchemaExtensionsRunner.get_extensions_results,
        "bdc106aa3f99fc6b",
    ),
    # Quiet for a result without errors: they only mask errors (the flag they set only
    # skips masking the operation's last result again at its end).
    "MaskErrors.on_stream_result": (MaskErrors.on_stream_result, "f40d7b744d283cdf"),
    "MaskErrors.on_operation": (MaskErrors.on_operation, "87c3870f22afeba7"),
    "SchemaExtension.on_stream_result": (SchemaExtension.on_stream_result, "001d7355efda8d6d"),
    "SchemaExtension.get_results": (SchemaExtension.get_results, "30073d0e64ebd3b6"),
    # Returns anything but a manager or queryset unchanged.
    "DjangoOptimizerExtension.resolve": (
        DjangoOptimizerExtension.resolve,
        "565d70fc20bb5efe",
    ),
}


def test_upstream_execution_is_the_one_the_plans_were_written_against():
    assert changed(PINNED) == []


def test_the_product_schema_plans_its_subscriptions():
    assert isinstance(schema, FrameSchema)
    assert schema.execution_context_class is FrameExecutor
    # Only the per-event step differs from Strawberry's executor.
    overridden = [
        name
        for name in vars(FrameExecutor)
        if callable(vars(FrameExecutor)[name])
        and name in dir(StrawberryGraphQLCoreExecutionContext)
    ]
    assert overridden == ["build_per_event_executor"]


def test_the_product_extensions_let_planned_results_through():
    # Every extension's per-result hooks have nothing to do for a result without errors
    # (else planned events still work, but take Strawberry's per-result steps).
    runner = schema.create_extensions_runner(None, schema.get_extensions())
    assert runner.quiet
