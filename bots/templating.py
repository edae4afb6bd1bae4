"""Jinja2 templates for scenario texts, prompts and API requests.

Templates are written by bot owners and rendered with visitor-supplied variables, so they
run in Jinja's immutable sandbox (no access to Python internals, no mutation of lists or
dicts). The sandbox limits what a template may touch, not how much it may compute, so
this module adds resource limits, all checked *before* the work is done:

* a string, list or dict built inside a template holds at most ``MAX_VALUE_SIZE``
  characters and items in total, nested items counted every time they are referenced
  (so ``[x, x]`` repeated in a loop cannot grow exponentially); integers stay under
  ``MAX_INT_BITS`` bits;
* loop iterations and calls share a per-render budget of ``MAX_STEPS``; the CPU time of
  all the renders of one turn shares a ``RenderBudget`` (checked at every loop iteration
  and call, and after each render), so many templates cannot add up to a long stall;
* filters and methods that pad or repeat text by a caller-chosen amount are removed or
  checked, and only a few harmless methods of strings, lists and dicts may be called;
* the rendered output is cut at ``max_chars`` (rendering stops there) and made storable
  (``storable``: no NUL, lone surrogates replaced).

Missing variables render as an empty string, including chained ones (``{{ a.b }}``), and
on a dict ``a.b`` prefers the key ``b`` over a dict method of that name.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

from core.storable import storable_text

MAX_OUTPUT_CHARS = 20_000
MAX_VALUE_SIZE = 100_000
MAX_INT_BITS = 4096
MAX_STEPS = 10_000
MAX_RENDER_SECONDS = 2.0

# CPU seconds a render runs before it lets other threads (the event loop) take over.
_YIELD_EVERY = 0.001

_LOOP_FILTER = "botstream_loop"
_CONCAT_FILTER = "botstream_concat"
_BUILD_FILTER = "botstream_build"
# Filters and globals that pad, repeat or slice by a caller-chosen amount, and ``dict()``
# whose keyword arguments would bypass the size check of ``{...}`` literals.
_REMOVED = ("batch", "center", "dict", "format", "indent", "lipsum", "slice", "urlize", "wordwrap")
_STR_METHODS = (
    "capitalize casefold count endswith find isalnum isalpha isdigit islower isspace isupper "
    "lower lstrip rsplit rstrip split splitlines startswith strip swapcase title upper"
)
# Methods a template may call on JSON values; the others could pad, format or mutate.
_CALLABLE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(_STR_METHODS.split()),
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
}


class TemplateError(Exception):
    """A template that does not compile, or that failed or hit a limit while rendering."""


class RenderBudgetExceeded(Exception):
    """The renders of one turn used up their shared CPU time (not the template's fault alone)."""

    code = "render_budget"


class RenderBudget:
    """CPU seconds that all the renders of one visitor turn may use together.

    CPU time of the rendering thread, not wall time: a render waiting for the interpreter
    lock or for a free engine thread is not charged for it.
    """

    def __init__(self, seconds: float = MAX_RENDER_SECONDS) -> None:
        self.seconds = seconds
        self.left = seconds

    def exceeded(self) -> RenderBudgetExceeded:
        return RenderBudgetExceeded(
            f"The scenario's templates used more than {self.seconds:g} s of CPU time in this "
            "turn and the turn was stopped: simplify the templates (loops, filters on large "
            "values)."
        )


class _OutOfTime(SecurityError):
    pass


@dataclass
class _Budget:
    steps_left: int = MAX_STEPS
    yielded_at: float = 0.0
    deadline: float = field(default_factory=lambda: time.thread_time() + MAX_RENDER_SECONDS)
    # id -> (value, size); holding the value keeps its id from being reused mid-render.
    sizes: dict[int, tuple[Any, int]] = field(default_factory=dict)


_budget: contextvars.ContextVar[_Budget] = contextvars.ContextVar("template_budget")


def _current_budget() -> _Budget:
    budget = _budget.get(None)
    return budget if budget is not None else _Budget()


def _charge_step() -> None:
    budget = _current_budget()
    budget.steps_left -= 1
    if budget.steps_left < 0:
        raise SecurityError(f"the template ran more than {MAX_STEPS} loop iterations or calls")
    now = time.thread_time()
    if now > budget.deadline:
        raise _OutOfTime("the turn's render budget is used up")
    if now - budget.yielded_at > _YIELD_EVERY:
        # Renders run in engine threads: hand the interpreter lock to the event loop
        # rather than making it wait a whole switch interval (5 ms) each time it asks.
        budget.yielded_at = now
        time.sleep(0)


def _too_large(what: str) -> SecurityError:
    return SecurityError(f"{what} would exceed the template size limit")


def _size(value: Any) -> int:
    """Characters plus items, nested values counted once per reference (i.e. as printed)."""
    if isinstance(value, str):
        return max(len(value), 1)
    if not isinstance(value, list | tuple | dict):
        return 1
    sizes = _current_budget().sizes
    if id(value) in sizes:
        return sizes[id(value)][1]
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1
    for item in items:
        total += _size(item)
        if total > MAX_VALUE_SIZE:
            break
    sizes[id(value)] = (value, total)
    return total


def _check_size(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _too_large("a number built by the template")
    if _size(value) > MAX_VALUE_SIZE:
        raise _too_large("a value built by the template")
    return value


def _binop_too_large(op: str, left: Any, right: Any) -> bool:
    """Whether ``left <op> right`` would exceed the limits, decided without computing it."""
    sequences = str | list | tuple
    if op == "*" and isinstance(left, sequences) and isinstance(right, int):
        return _size(left) * right > MAX_VALUE_SIZE
    if op == "*" and isinstance(right, sequences) and isinstance(left, int):
        return _size(right) * left > MAX_VALUE_SIZE
    if op == "+" and isinstance(left, sequences) and isinstance(right, sequences):
        return _size(left) + _size(right) > MAX_VALUE_SIZE
    if isinstance(left, int) and isinstance(right, int):
        if op == "**" and abs(left) > 1 and right > 0:
            return left.bit_length() * right > MAX_INT_BITS
        if op == "*":
            return left.bit_length() + right.bit_length() > MAX_INT_BITS
    return False


def _replace_too_large(_eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> bool:
    text = str(s)
    occurrences = text.count(str(old))
    if count is not None and int(count) >= 0:  # a negative count replaces all, like None
        occurrences = min(occurrences, int(count))
    return len(text) + occurrences * len(str(new)) > MAX_VALUE_SIZE


def _round_too_large(_value: Any, precision: Any = 0, *_: Any) -> bool:
    return abs(int(precision)) > 100


def _tojson_too_large(_eval_ctx: Any, _value: Any, indent: Any = None) -> bool:
    return indent is not None and int(indent) > 16


def _sum_too_large(_environment: Any, _items: Any, _attribute: Any = None, start: Any = 0) -> bool:
    # Summing lists or strings copies the growing total for every item: quadratic.
    return isinstance(start, bool) or not isinstance(start, int | float)


_FILTER_CHECKS = {
    "replace": _replace_too_large,
    "sum": _sum_too_large,
    "round": _round_too_large,
    "tojson": _tojson_too_large,
}


def _guarded(name: str, func: Any, too_large: Any) -> Any:
    @wraps(func)  # also copies Jinja's pass_eval_context marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if too_large(*args, **kwargs):
            raise _too_large(f"the result of the {name!r} filter")
        return func(*args, **kwargs)

    return guarded


def _checked_join(join: Any) -> Any:
    @wraps(join)  # also copies Jinja's pass_eval_context marker
    def checked(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> Any:
        items = list(value)  # often a generator (from map or select) without a length
        if len(str(d)) * max(len(items) - 1, 0) > MAX_VALUE_SIZE:
            raise _too_large("the result of the 'join' filter")
        return join(eval_ctx, items, d, attribute)

    return checked


@pass_context  # pass_context keeps Jinja from calling these at compile time
def _loop(_context: Any, iterable: Any) -> Any:
    for item in iterable:
        _charge_step()
        yield item


@pass_context
def _concat(_context: Any, parts: list[Any]) -> str:
    texts = [str(part) for part in parts]
    if sum(map(len, texts)) > MAX_VALUE_SIZE:
        raise _too_large("a string built by the template")
    return "".join(texts)


@pass_context
def _build(_context: Any, value: Any) -> Any:
    return _check_size(value)


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_STEPS:
        raise SecurityError(f"range() is limited to {MAX_STEPS} items")
    return numbers


class _OpaqueNamespace(Namespace):
    """A namespace that does not print its contents: it may be shared and mutated freely."""

    def __repr__(self) -> str:
        return "<namespace>"


class _ResourceGuard(NodeTransformer):
    """Routes loops, ``~`` and list/tuple/dict literals through the budget and size checks."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = _filter(node.iter, _LOOP_FILTER)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        return _filter(nodes.List(node.nodes, lineno=node.lineno), _CONCAT_FILTER)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return _filter(self.generic_visit(node), _BUILD_FILTER)

    visit_Dict = visit_List

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        node = self.generic_visit(node)
        return node if node.ctx != "load" else _filter(node, _BUILD_FILTER)


def _filter(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class RawUrl(str):
    """Text an owner put into a URL with ``|raw_url``: inserted as it is, not encoded."""


def _raw_url(value: Any) -> RawUrl:
    return RawUrl(value)


# In URL templates each ``{{ }}`` prints a numbered mark; ``urls`` encodes the value kept
# in _url_values for the position the mark lands in (path segment, query value...).
URL_MARK_START, URL_MARK_END = "\ue000", "\ue001"
_url_values: contextvars.ContextVar[list[str]] = contextvars.ContextVar("url_values")


@pass_context  # not folded at compile time: each render has its own list of values
def _mark_url_value(_context: Any, value: Any) -> str:
    text = str(value)
    if isinstance(value, RawUrl):
        return text.replace(URL_MARK_START, "").replace(URL_MARK_END, "")
    values = _url_values.get()
    values.append(text)
    return f"{URL_MARK_START}{len(values) - 1}{URL_MARK_END}"


class _LimitedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, finalize: Any = None) -> None:
        super().__init__(
            autoescape=False,
            undefined=ChainableUndefined,
            keep_trailing_newline=True,
            finalize=finalize,
        )
        for name in _REMOVED:
            self.filters.pop(name, None)
            self.globals.pop(name, None)
        for name, too_large in _FILTER_CHECKS.items():
            self.filters[name] = _guarded(name, self.filters[name], too_large)
        self.filters["join"] = _checked_join(self.filters["join"])
        self.filters.update({_LOOP_FILTER: _loop, _CONCAT_FILTER: _concat, _BUILD_FILTER: _build})
        self.filters["raw_url"] = _raw_url
        self.globals.update(range=_range, namespace=_OpaqueNamespace)

    def concat(self, parts: Any) -> str:  # type: ignore[override]
        # Compiled templates join macro bodies and {% set %} blocks with this.
        return _concat(None, list(parts))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("'%' string formatting is not allowed in templates")
        if _binop_too_large(operator, left, right):
            raise _too_large(f"the result of {operator!r}")
        return _check_size(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _charge_step()
        return super().call(__context, __obj, *args, **kwargs)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        allowed = _CALLABLE_METHODS.get(type(obj))
        return allowed is None or not callable(value) or attr in allowed

    def wrap_str_format(self, value: Any) -> None:
        # str.format pads without limit ("{:>999999999}"); returning None sends it through
        # is_safe_attribute, which refuses it, instead of the base class's format wrapper.
        return None

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


_ENV = _LimitedSandbox()
_URL_ENV = _LimitedSandbox(finalize=_mark_url_value)


@lru_cache(maxsize=512)
def _compile(source: str, url: bool = False) -> Any:
    env = _URL_ENV if url else _ENV
    try:
        tree = _ResourceGuard().visit(env.parse(source))
        tree.set_environment(env)
        return env.from_string(tree)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template error on line {exc.lineno}: {exc.message}") from exc


def check_template(source: str) -> str | None:
    """Return why ``source`` is not a valid template, or None when it compiles."""
    try:
        _compile(source)
    except TemplateError as exc:
        return str(exc)
    return None


def render(
    template: str,
    variables: Mapping[str, Any],
    *,
    max_chars: int = MAX_OUTPUT_CHARS,
    budget: RenderBudget | None = None,
) -> str:
    """Render ``template`` with ``variables``; the output is cut at ``max_chars``.

    Raises TemplateError for syntax errors and for anything that fails while rendering
    (a refused attribute, a limit, ``{{ 1 / 0 }}``...), and RenderBudgetExceeded when
    ``budget`` (a fresh ``MAX_RENDER_SECONDS`` if None) runs out; never another exception.
    CPU-bound: async callers run it off the event loop (``offload.off_loop``).
    """
    return _render(_compile(template), variables, max_chars, budget or RenderBudget())


def render_marked_url(
    template: str, variables: Mapping[str, Any], *, budget: RenderBudget
) -> tuple[str, list[str]]:
    """Render a URL template with each ``{{ }}`` value replaced by a mark (see ``urls``).

    Returns the text with marks ``\\ue000<n>\\ue001`` and the values; ``|raw_url`` values
    are printed in place instead.
    """
    values: list[str] = []
    token = _url_values.set(values)
    try:
        return _render(_compile(template, url=True), variables, MAX_OUTPUT_CHARS, budget), values
    finally:
        _url_values.reset(token)


def _render(
    compiled: Any, variables: Mapping[str, Any], max_chars: int, budget: RenderBudget
) -> str:
    started = time.thread_time()
    token = _budget.set(_Budget(deadline=started + budget.left))
    chunks: list[str] = []
    size = 0
    try:
        for chunk in compiled.generate(dict(variables)):
            chunks.append(chunk)
            size += len(chunk)
            if size >= max_chars:
                break
    except _OutOfTime:
        raise budget.exceeded() from None
    except Exception as exc:  # a template can fail in any way; callers get one error type
        raise TemplateError(f"template failed to render: {exc}") from exc
    finally:
        _budget.reset(token)
        budget.left -= time.thread_time() - started
    if budget.left < 0:
        raise budget.exceeded()
    return storable_text("".join(chunks)[:max_chars])


def render_json(
    value: Any, variables: Mapping[str, Any], *, budget: RenderBudget | None = None
) -> Any:
    """Render every string inside a JSON structure (dict keys are kept as written)."""
    budget = budget or RenderBudget()
    if isinstance(value, str):
        return render(value, variables, budget=budget)
    if isinstance(value, list):
        return [render_json(item, variables, budget=budget) for item in value]
    if isinstance(value, dict):
        return {key: render_json(item, variables, budget=budget) for key, item in value.items()}
    return value
