"""Message templates: Jinja2's sandbox, strict about missing fields, bounded in time and size.

``{{ first_name }}`` fails for a recipient without that field (the plan names the rows) unless the
template gives a default: ``{{ first_name | default("there") }}``. Attribute access to internals,
calls to unsafe callables and huge outputs are refused.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MAX_OUTPUT = 5000  # characters: a 6-part UCS-2 SMS is 402 characters, so this is generous
MAX_RANGE = 1000


class TemplateProblem(Exception):
    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class CompiledTemplate:
    source: str
    fields: frozenset[str]  # variables the template reads
    constant: bool  # no variables, no logic: the text is the same for everyone
    _template: Any

    def render(self, fields: Mapping[str, Any]) -> str:
        if self.constant:
            return self.source
        from jinja2 import TemplateError, UndefinedError
        from jinja2.exceptions import SecurityError

        try:
            text: str = self._template.render(fields)
        except UndefinedError as exc:
            raise TemplateProblem(_undefined_message(exc)) from None
        except SecurityError as exc:
            raise TemplateProblem(f"refused by the template sandbox: {exc}") from None
        except (TemplateError, ArithmeticError, ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None
        if len(text) > MAX_OUTPUT:
            raise TemplateProblem(f"rendered message is longer than {MAX_OUTPUT} characters")
        return text


def _undefined_message(exc: Exception) -> str:
    text = str(exc)
    if text.startswith("'") and "' is undefined" in text:
        name = text.split("'")[1]
        return f"field {name!r} is missing (give a default: {{{{ {name} | default('...') }}}})"
    return text


def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import SandboxedEnvironment

    class BoundedSandbox(SandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**", "+"])

        def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
            if operator_name == "**":
                if isinstance(right, (int, float)) and abs(right) > 100:
                    raise SecurityError("exponent too large")
                return operator.pow(left, right)
            if operator_name == "*":
                for seq, n in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_OUTPUT:
                        raise SecurityError("repetition result too large")
                return operator.mul(left, right)
            result = operator.add(left, right)
            if isinstance(result, (str, list, tuple)) and len(result) > MAX_OUTPUT:
                raise SecurityError("result too large")
            return result

    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

    def bounded_range(*args: int) -> range:
        r = range(*args)
        if len(r) > MAX_RANGE:
            raise SecurityError(f"range larger than {MAX_RANGE}")
        return r

    env.globals = {"range": bounded_range}
    return env


@lru_cache(maxsize=1)
def _env() -> Any:
    return _environment()


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
