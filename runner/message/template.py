"""Message templates: Jinja2's sandbox, strict about missing fields, bounded in time and size.

``{{ first_name }}`` fails for a recipient without that field (the plan names the rows) unless the
template gives a default: ``{{ first_name | default("there") }}``. Attribute access to internals,
calls to unsafe callables and list/dict mutation are refused (Jinja's immutable sandbox).

A campaign file is untrusted input, so rendering is bounded, not just the final text:

* every loop turn and every call counts against :data:`MAX_STEPS` per message, and a render stops after
  :data:`MAX_SECONDS` of CPU time (loops and calls check the thread's clock: a busy machine does not refuse
  a template a quiet one accepts);
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

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from runner.message.bounds import (
    BUDGET,
    MAX_INT_BITS,
    MAX_OUTPUT,
    MAX_RANGE,
    MAX_ROUND_DIGITS,
    MAX_SECONDS,
    MAX_STEPS,
    MAX_TOTAL_OUTPUT,
    MAX_VALUE,
    Budget,
)
from runner.message.sandbox import environment

__all__ = [
    "MAX_INT_BITS",
    "MAX_OUTPUT",
    "MAX_RANGE",
    "MAX_ROUND_DIGITS",
    "MAX_SECONDS",
    "MAX_STEPS",
    "MAX_TOTAL_OUTPUT",
    "MAX_VALUE",
    "CompiledTemplate",
    "TemplateProblem",
    "compile_template",
]


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
    _refused: list[str] = field(default_factory=list, compare=False, repr=False)

    def render(self, fields: Mapping[str, Any]) -> str:
        if self.constant:
            return self.source
        if self._refused:  # a hostile template is not run again for every recipient
            raise TemplateProblem(self._refused[0])
        from jinja2 import TemplateError, UndefinedError
        from jinja2.exceptions import SecurityError

        token = BUDGET.set(Budget(time.thread_time() + MAX_SECONDS))
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
            BUDGET.reset(token)
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

    env = environment()
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


