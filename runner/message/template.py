"""Message templates: Jinja2's sandbox, strict about missing fields, bounded in time and size.

``{{ first_name }}`` fails for a recipient without that field (the plan names the rows) unless the
template gives a default: ``{{ first_name | default("there") }}``. Attribute access to internals,
calls to unsafe callables and list/dict mutation are refused (Jinja's immutable sandbox).

A campaign file is untrusted input, so rendering is bounded, not just the final text:

* every loop turn and every call counts against :data:`MAX_STEPS` per message, and a render stops after
  :data:`MAX_SECONDS` (loops and calls check the clock);
* no value built by the template (strings, lists, dicts, nested lists counted in full) may exceed
  :data:`MAX_VALUE` characters/items, and operations that would build one are refused *before* they run:
  ``'x' * 10**9``, ``'%09999999d' % 1``, ``'{:>9999999}'.format(1)``, ``'a'|center(10**9)``,
  ``5|round(-10**9)``, ``2 ** 10**9``...;
* the rendered text is streamed and stops past :data:`MAX_OUTPUT` characters;
* templates too deep for the compiler (``((((...))))``) are syntax problems, not crashes.

Jinja folds constant expressions at compile time; every bounded operation is also bounded there, so a
hostile constant fails at render with a clear message instead of hanging the loader.
A template the sandbox refused once is refused for every later recipient without running again.
"""

from __future__ import annotations

import inspect
import operator
import re
import string
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache, update_wrapper
from typing import Any

MAX_OUTPUT = 5000  # characters: a 6-part UCS-2 SMS is 402 characters, so this is generous
MAX_RANGE = 1000
MAX_VALUE = 20_000  # characters (or items) of any value a template builds
MAX_TOTAL_OUTPUT = 200_000  # characters printed by {{ }} per message, macros and blocks included
MAX_STEPS = 2_000  # loop turns and calls per message
MAX_SECONDS = 1.0  # per message
MAX_INT_BITS = 100_000  # integers a template may compute (about 30,000 digits)
MAX_ROUND_DIGITS = 100


class TemplateProblem(Exception):
    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class _Budget:
    deadline: float
    steps: int = 0
    printed: int = 0


_BUDGET: ContextVar[_Budget | None] = ContextVar("smsrun_template_budget", default=None)


def _refuse(message: str) -> Any:
    from jinja2.exceptions import SecurityError

    raise SecurityError(message)


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is None:  # compile-time constant folding: loops and calls never run there
        return
    budget.steps += 1
    if budget.steps > MAX_STEPS:
        _refuse(f"the template makes more than {MAX_STEPS} loop turns or calls for one message")
    if time.monotonic() > budget.deadline:
        _refuse(f"rendering one message takes longer than {MAX_SECONDS:g} s")


def _weight(value: Any, limit: int = MAX_VALUE) -> int:
    """Characters and items ``value`` expands to when printed, shared parts counted each time they
    appear; refuse past ``limit`` (so ``[a, a]`` of ``[a, a]``... cannot double its way to gigabytes)."""
    if isinstance(value, str):  # the common case, without the walk
        if len(value) > limit:
            _refuse(f"value too large (more than {limit} characters or items)")
        return len(value)
    if value is None or isinstance(value, (bool, float)):
        return 1
    memo: dict[int, int] = {}

    def walk(item: Any) -> int:
        if isinstance(item, str):
            return len(item)
        if isinstance(item, (list, tuple, set, frozenset, dict)):
            known = memo.get(id(item))
            if known is not None:
                return known
            memo[id(item)] = 1  # a container holding itself counts once
            total = len(item)
            children: Iterable[Any] = (
                (v for pair in item.items() for v in pair) if isinstance(item, dict) else item)
            for child in children:
                total += walk(child)
                if total > limit:
                    break
            memo[id(item)] = total
            return total
        if isinstance(item, int) and not isinstance(item, bool) and item.bit_length() > MAX_INT_BITS:
            return limit + 1
        return 1

    total = walk(value)
    if total > limit:
        _refuse(f"value too large (more than {limit} characters or items)")
    return total


def _checked(value: Any) -> Any:
    _weight(value)
    return value


# -- operations that could build huge values: checked before they run ----------------------------------------
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?")


def _check_percent_format(fmt: str) -> None:
    """Refuse ``'%0999999999d' % x`` (and ``*`` widths, which take the width from the data)."""
    for width, precision in _PERCENT_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*" or (number and int(number) > MAX_VALUE):
                _refuse(f"format width or precision too large in {fmt[:40]!r}")


def _check_brace_format(fmt: str) -> None:
    """Refuse ``'{:>999999999}'.format(x)`` and nested fields (``{:{w}}``) that take widths from data."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    for _literal, _name, spec, _conversion in parsed:
        if not spec:
            continue
        if "{" in spec:
            _refuse("nested format fields are not allowed")
        for number in re.findall(r"\d+", spec):
            if int(number) > MAX_VALUE:
                _refuse(f"format width or precision too large in {fmt[:40]!r}")


def _check_repeat(seq: Any, count: Any) -> None:
    if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > MAX_OUTPUT:
        _refuse("repetition result too large")


def _check_int_growth(operator_name: str, left: Any, right: Any) -> None:
    if not (isinstance(left, int) and isinstance(right, int)):
        return
    if operator_name == "**":
        if right > 0 and left not in (0, 1, -1) and left.bit_length() * right > MAX_INT_BITS:
            _refuse("exponent too large")
    elif operator_name == "*" and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        _refuse("number too large")


def _check_replace(text: str, old: str, new: str, count: int = -1) -> None:
    if len(new) <= len(old):
        return
    occurrences = len(text) + 1 if not old else text.count(old)
    if count >= 0:
        occurrences = min(occurrences, count)
    if len(text) + occurrences * (len(new) - len(old)) > MAX_VALUE:
        _refuse("replace result too large")


def _check_str_method(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Bound the str methods whose result can be far larger than their inputs."""
    text = method.__self__
    name = method.__name__
    values = [*args, *kwargs.values()]
    if name in ("center", "ljust", "rjust", "zfill"):
        if values and isinstance(values[0], int) and values[0] > MAX_VALUE:
            _refuse(f"str.{name} width too large")
    elif name == "expandtabs":
        size = values[0] if values and isinstance(values[0], int) else 8
        if size * text.count("\t") > MAX_VALUE:
            _refuse("str.expandtabs result too large")
    elif name == "translate" and values and isinstance(values[0], Mapping):
        longest = max((len(v) for v in values[0].values() if isinstance(v, str)), default=1)
        if longest * len(text) > MAX_VALUE:
            _refuse("str.translate result too large")
    elif name == "join" and values:
        items = _sized(values[0])
        if items is not None and items * len(text) > MAX_VALUE:
            _refuse("str.join result too large")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else kwargs.get("count", -1)
        _check_replace(text, args[0], args[1], count if isinstance(count, int) else -1)


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


def _sized(value: Any) -> int | None:
    try:
        return len(value)
    except TypeError:
        return None


def _filter_checks() -> dict[str, Callable[[dict[str, Any]], None]]:
    """Checks run before the filters that take a size (or can multiply their input)."""

    def number(a: dict[str, Any], name: str) -> int:
        value = a.get(name)
        return abs(value) if isinstance(value, int) and not isinstance(value, bool) else 0

    def center(a: dict[str, Any]) -> None:
        if number(a, "width") > MAX_VALUE:
            _refuse("center width too large")

    def indent(a: dict[str, Any]) -> None:
        if number(a, "width") * (str(a.get("s", "")).count("\n") + 1) > MAX_VALUE:
            _refuse("indent width too large")

    def batch(a: dict[str, Any]) -> None:
        if number(a, "linecount") > MAX_VALUE:
            _refuse("batch size too large")

    def slice_(a: dict[str, Any]) -> None:
        if number(a, "slices") > MAX_VALUE:
            _refuse("slice count too large")

    def format_(a: dict[str, Any]) -> None:
        _check_percent_format(str(a.get("value", "")))

    def replace(a: dict[str, Any]) -> None:
        count = a.get("count")
        _check_replace(str(a.get("s", "")), str(a.get("old", "")), str(a.get("new", "")),
                       count if isinstance(count, int) else -1)

    def round_(a: dict[str, Any]) -> None:
        if number(a, "precision") > MAX_ROUND_DIGITS:
            _refuse("round precision too large")

    def sum_(a: dict[str, Any]) -> None:
        if not isinstance(a.get("start", 0), (int, float)):
            _refuse("sum adds numbers only")

    def join(a: dict[str, Any]) -> None:
        items = _sized(a.get("value"))
        if items is not None and items * len(str(a.get("d", ""))) > MAX_VALUE:
            _refuse("join result too large")

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
        if _sized(value) is None:
            value = _checked(list(value))
        return guarded(eval_ctx, value, d, attribute)

    return join


def _guarded_filter(original: Callable[..., Any],
                    check: Callable[[dict[str, Any]], None] | None) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if check is not None:
            check(_filter_arguments(original, args, kwargs))
        return _checked(original(*args, **kwargs))

    return guarded


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    """Wraps every ``{% for %}`` iterable: each turn counts against the budget."""
    for item in iterable:
        _tick()
        yield item


_LOOP_GUARD = "smsrun_loop_guard"
_SIZE_GUARD = "smsrun_size_guard"


def _environment() -> Any:
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
                    _refuse("exponent too large")
                _check_int_growth("**", left, right)
                return _checked(operator.pow(left, right))
            if operator_name == "*":
                _check_repeat(left, right)
                _check_repeat(right, left)
                _check_int_growth("*", left, right)
                return _checked(operator.mul(left, right))
            if operator_name == "%":
                if isinstance(left, str):
                    _check_percent_format(left)
                return _checked(operator.mod(left, right))
            result = operator.add(left, right)
            if isinstance(result, (str, list, tuple)) and len(result) > MAX_OUTPUT:
                _refuse("result too large")
            return _checked(result)

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            _tick()
            if isinstance(obj, types.BuiltinMethodType) and isinstance(getattr(obj, "__self__", None), str):
                _check_str_method(obj, args, kwargs)
            return _checked(super().call(context, obj, *args, **kwargs))

        def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
            wrapper = super().wrap_str_format(value)
            if wrapper is None:
                return None
            fmt = value.__self__

            def checked(*args: Any, **kwargs: Any) -> str:
                _check_brace_format(fmt)
                text: str = wrapper(*args, **kwargs)
                _weight(text)
                return text

            return update_wrapper(checked, value)

    def finalize(value: Any) -> Any:
        """Every ``{{ }}`` value, before it is turned into text."""
        printed = _weight(value)
        budget = _BUDGET.get()
        if budget is not None:
            budget.printed += printed
            if budget.printed > MAX_TOTAL_OUTPUT:
                _refuse(f"the template prints more than {MAX_TOTAL_OUTPUT} characters")
        return value

    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=finalize)

    def bounded_range(*args: int) -> range:
        r = range(*args)
        if len(r) > MAX_RANGE:
            _refuse(f"range larger than {MAX_RANGE}")
        return r

    env.globals = {"range": bounded_range}
    filters = _bounded_filters(dict(env.filters))
    filters[_LOOP_GUARD] = _loop_guard
    filters[_SIZE_GUARD] = _checked
    env.filters = filters
    return env


@lru_cache(maxsize=1)
def _env() -> Any:
    return _environment()


@dataclass(frozen=True)
class CompiledTemplate:
    source: str
    fields: frozenset[str]  # variables the template reads
    constant: bool  # no variables, no logic: the text is the same for everyone
    _template: Any
    _refused: list[str] = field(default_factory=list, compare=False, repr=False)

    def render(self, fields: Mapping[str, Any]) -> str:
        if self.constant:
            return self.source
        if self._refused:  # a hostile template is not run again for every recipient
            raise TemplateProblem(self._refused[0])
        from jinja2 import TemplateError, UndefinedError
        from jinja2.exceptions import SecurityError

        token = _BUDGET.set(_Budget(time.monotonic() + MAX_SECONDS))
        try:
            pieces: list[str] = []
            size = 0
            for piece in self._template.generate(fields):
                size += len(piece)
                if size > MAX_OUTPUT:
                    raise TemplateProblem(f"rendered message is longer than {MAX_OUTPUT} characters")
                pieces.append(piece)
        except UndefinedError as exc:
            raise TemplateProblem(_undefined_message(exc)) from None
        except SecurityError as exc:
            message = f"refused by the template sandbox: {exc}"
            self._refused.append(message)
            raise TemplateProblem(message) from None
        except (TemplateError, ArithmeticError, ValueError, TypeError, LookupError, AttributeError,
                RecursionError) as exc:
            raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None
        finally:
            _BUDGET.reset(token)
        return "".join(pieces)


def _undefined_message(exc: Exception) -> str:
    text = str(exc)
    if text.startswith("'") and "' is undefined" in text:
        name = text.split("'")[1]
        return f"field {name!r} is missing (give a default: {{{{ {name} | default('...') }}}})"
    return text


@lru_cache(maxsize=64)
def compile_template(source: str) -> CompiledTemplate:
    """Parse ``source``; raise :class:`TemplateProblem` (with the template line) on a syntax error."""
    if "{{" not in source and "{%" not in source and "{#" not in source:
        return CompiledTemplate(source, frozenset(), True, None)
    from jinja2 import TemplateSyntaxError, meta

    env = _env()
    try:
        ast = env.parse(source)
        template = env.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno or 0) from None
    except RecursionError:
        raise TemplateProblem("the template is nested too deeply") from None
    except SyntaxError as exc:  # Python's own limits on the generated code ("too many nested blocks")
        raise TemplateProblem(f"the template is nested too deeply ({exc.msg})") from None
    fields = frozenset(meta.find_undeclared_variables(ast)) - set(env.globals)
    return CompiledTemplate(source, fields, False, template)

