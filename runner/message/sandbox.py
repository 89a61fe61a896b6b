"""The Jinja2 environment message templates run in: the immutable sandbox, with every loop turn and call
counted, every value and every filter result size-checked (:mod:`runner.message.bounds`), and the
filters that take a size argument checked before they run.
"""

from __future__ import annotations

import inspect
import operator
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache, update_wrapper
from typing import Any

from runner.message.bounds import (
    BUDGET,
    MAX_OUTPUT,
    MAX_RANGE,
    MAX_ROUND_DIGITS,
    MAX_TOTAL_OUTPUT,
    MAX_VALUE,
    check_brace_format,
    check_int_growth,
    check_percent_format,
    check_repeat,
    check_replace,
    check_str_method,
    checked,
    refuse,
    sized,
    tick,
    weight,
)

__all__ = ["environment"]


def _filter_arguments(original: Callable[..., Any], args: tuple[Any, ...],
                      kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A filter call's arguments by parameter name (the value is ``value``, ``s`` or ``iterable``), past
    the context/eval-context/environment argument Jinja passes first to some filters."""
    if getattr(original, "jinja_pass_arg", None) is not None:
        args = args[1:]
    names = [n for n, p in inspect.signature(original).parameters.items()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if names and names[0] in ("eval_ctx", "environment", "context"):
        names = names[1:]
    return {**dict(zip(names, args, strict=False)), **kwargs}


def _filter_checks() -> dict[str, Callable[[dict[str, Any]], None]]:
    """Checks run before the filters that take a size (or can multiply their input)."""

    def number(a: dict[str, Any], name: str) -> int:
        value = a.get(name)
        return abs(value) if isinstance(value, int) and not isinstance(value, bool) else 0

    def center(a: dict[str, Any]) -> None:
        if number(a, "width") > MAX_VALUE:
            refuse("center width too large")

    def indent(a: dict[str, Any]) -> None:
        if number(a, "width") * (str(a.get("s", "")).count("\n") + 1) > MAX_VALUE:
            refuse("indent width too large")

    def batch(a: dict[str, Any]) -> None:
        if number(a, "linecount") > MAX_VALUE:
            refuse("batch size too large")

    def slice_(a: dict[str, Any]) -> None:
        if number(a, "slices") > MAX_VALUE:
            refuse("slice count too large")

    def format_(a: dict[str, Any]) -> None:
        check_percent_format(str(a.get("value", "")))

    def replace(a: dict[str, Any]) -> None:
        count = a.get("count")
        check_replace(str(a.get("s", "")), str(a.get("old", "")), str(a.get("new", "")),
                       count if isinstance(count, int) else -1)

    def round_(a: dict[str, Any]) -> None:
        if number(a, "precision") > MAX_ROUND_DIGITS:
            refuse("round precision too large")

    def sum_(a: dict[str, Any]) -> None:
        if not isinstance(a.get("start", 0), (int, float)):
            refuse("sum adds numbers only")

    def join(a: dict[str, Any]) -> None:
        items = sized(a.get("value"))
        if items is not None and items * len(str(a.get("d", ""))) > MAX_VALUE:
            refuse("join result too large")

    return {"center": center, "indent": indent, "batch": batch, "slice": slice_, "format": format_,
            "replace": replace, "round": round_, "sum": sum_, "join": join}


def _bounded_filters(filters: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Jinja's filters, each result size-checked; the few that take a size argument checked before."""
    checks = _filter_checks()
    for name, original in list(filters.items()):
        filters[name] = update_wrapper(_guarded_filter(original, checks.get(name)), original)
    filters["join"] = _bounded_join(filters["join"])
    return filters


def _bounded_join(guarded: Callable[..., Any]) -> Callable[..., Any]:
    """``join`` over a generator (``map``, ``select``...): gather the items first, so the separator check
    sees how many there are."""
    from jinja2 import pass_eval_context

    @pass_eval_context
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        if sized(value) is None:
            value = checked(list(value))
        return guarded(eval_ctx, value, d, attribute)

    return join


def _guarded_filter(original: Callable[..., Any],
                    check: Callable[[dict[str, Any]], None] | None) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if check is not None:
            check(_filter_arguments(original, args, kwargs))
        return checked(original(*args, **kwargs))

    return guarded


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    """Wraps every ``{% for %}`` iterable: each turn counts against the budget."""
    for item in iterable:
        tick()
        yield item


_LOOP_GUARD = "smsrun_loop_guard"
_SIZE_GUARD = "smsrun_size_guard"


def _build_environment() -> Any:
    from jinja2 import StrictUndefined, nodes
    from jinja2.compiler import CodeGenerator, Frame
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.visitor import NodeTransformer

    class Guard(NodeTransformer):
        """Puts the loop guard around every loop's iterable and the size guard around every list, tuple
        and dict display and every ``~`` operand, before code is generated."""

        def _wrap(self, node: Any, name: str) -> Any:
            wrapped = nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)
            return wrapped

        def visit_For(self, node: Any) -> Any:
            self.generic_visit(node)
            node.iter = self._wrap(node.iter, _LOOP_GUARD)
            return node

        def visit_Concat(self, node: Any) -> Any:
            self.generic_visit(node)
            node.nodes = [self._wrap(child, _SIZE_GUARD) for child in node.nodes]
            return self._wrap(node, _SIZE_GUARD)

        def visit_List(self, node: Any) -> Any:
            self.generic_visit(node)
            return self._wrap(node, _SIZE_GUARD)

        def visit_Dict(self, node: Any) -> Any:
            self.generic_visit(node)
            return self._wrap(node, _SIZE_GUARD)

        def visit_Tuple(self, node: Any) -> Any:
            self.generic_visit(node)
            return self._wrap(node, _SIZE_GUARD) if node.ctx == "load" else node

    class GuardedCodeGenerator(CodeGenerator):
        def visit_Template(self, node: Any, frame: Frame | None = None) -> None:
            node = Guard().visit(node)
            node.set_environment(self.environment)
            super().visit_Template(node, frame)

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**", "+", "%"])
        code_generator_class = GuardedCodeGenerator

        def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
            if operator_name == "**":
                if isinstance(right, (int, float)) and abs(right) > 100:
                    refuse("exponent too large")
                check_int_growth("**", left, right)
                return checked(operator.pow(left, right))
            if operator_name == "*":
                check_repeat(left, right)
                check_repeat(right, left)
                check_int_growth("*", left, right)
                return checked(operator.mul(left, right))
            if operator_name == "%":
                if isinstance(left, str):
                    check_percent_format(left)
                return checked(operator.mod(left, right))
            result = operator.add(left, right)
            if isinstance(result, (str, list, tuple)) and len(result) > MAX_OUTPUT:
                refuse("result too large")
            return checked(result)

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            tick()
            if isinstance(obj, types.BuiltinMethodType) and isinstance(getattr(obj, "__self__", None), str):
                check_str_method(obj, args, kwargs)
            return checked(super().call(context, obj, *args, **kwargs))

        def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
            wrapper = super().wrap_str_format(value)
            if wrapper is None:
                return None
            fmt = value.__self__

            def checked(*args: Any, **kwargs: Any) -> str:
                check_brace_format(fmt)
                text: str = wrapper(*args, **kwargs)
                weight(text)
                return text

            return update_wrapper(checked, value)

    def finalize(value: Any) -> Any:
        """Every ``{{ }}`` value, before it is turned into text."""
        printed = weight(value)
        budget = BUDGET.get()
        if budget is not None:
            budget.printed += printed
            if budget.printed > MAX_TOTAL_OUTPUT:
                refuse(f"the template prints more than {MAX_TOTAL_OUTPUT} characters")
        return value

    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=finalize)

    def bounded_range(*args: int) -> range:
        r = range(*args)
        if len(r) > MAX_RANGE:
            refuse(f"range larger than {MAX_RANGE}")
        return r

    env.globals = {"range": bounded_range}
    filters = _bounded_filters(dict(env.filters))
    filters[_LOOP_GUARD] = _loop_guard
    filters[_SIZE_GUARD] = checked
    env.filters = filters
    return env


@lru_cache(maxsize=1)
def environment() -> Any:
    return _build_environment()

