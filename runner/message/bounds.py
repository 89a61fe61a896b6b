"""The bounds a message template renders within (see :mod:`runner.message.template`): a budget of loop
turns, calls, printed characters and time per message, and the checks that refuse an operation *before*
it builds a huge value (``'x' * 10**9``, ``'%09999999d' % 1``, ``'{:>9999999}'.format(1)``,
``2 ** 10**9``...). A refusal is Jinja's ``SecurityError``, turned into a template problem by the caller.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

MAX_OUTPUT = 5000  # characters: a 6-part UCS-2 SMS is 402 characters, so this is generous
MAX_RANGE = 1000
MAX_VALUE = 20_000  # characters (or items) of any value a template builds
MAX_TOTAL_OUTPUT = 200_000  # characters printed by {{ }} per message, macros and blocks included
MAX_STEPS = 2_000  # loop turns and calls per message
MAX_SECONDS = 1.0  # per message
MAX_INT_BITS = 100_000  # integers a template may compute (about 30,000 digits)
MAX_ROUND_DIGITS = 100


@dataclass
class Budget:
    deadline: float
    steps: int = 0
    printed: int = 0


BUDGET: ContextVar[Budget | None] = ContextVar("smsrun_template_budget", default=None)


def refuse(message: str) -> Any:
    from jinja2.exceptions import SecurityError

    raise SecurityError(message)


def tick() -> None:
    budget = BUDGET.get()
    if budget is None:  # compile-time constant folding: loops and calls never run there
        return
    budget.steps += 1
    if budget.steps > MAX_STEPS:
        refuse(f"the template makes more than {MAX_STEPS} loop turns or calls for one message")
    if time.thread_time() > budget.deadline:  # CPU time: the same answer on a busy machine
        refuse(f"rendering one message takes longer than {MAX_SECONDS:g} s")


def weight(value: Any, limit: int = MAX_VALUE) -> int:
    """Characters and items ``value`` expands to when printed, shared parts counted each time they
    appear; refuse past ``limit`` (so ``[a, a]`` of ``[a, a]``... cannot double its way to gigabytes)."""
    if isinstance(value, str):  # the common case, without the walk
        if len(value) > limit:
            refuse(f"value too large (more than {limit} characters or items)")
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
        refuse(f"value too large (more than {limit} characters or items)")
    return total


def checked(value: Any) -> Any:
    weight(value)
    return value


# -- operations that could build huge values: checked before they run ----------------------------------------
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?")


def check_percent_format(fmt: str) -> None:
    """Refuse ``'%0999999999d' % x`` (and ``*`` widths, which take the width from the data)."""
    for width, precision in _PERCENT_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*" or (number and int(number) > MAX_VALUE):
                refuse(f"format width or precision too large in {fmt[:40]!r}")


def check_brace_format(fmt: str) -> None:
    """Refuse ``'{:>999999999}'.format(x)`` and nested fields (``{:{w}}``) that take widths from data."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    for _literal, _name, spec, _conversion in parsed:
        if not spec:
            continue
        if "{" in spec:
            refuse("nested format fields are not allowed")
        for number in re.findall(r"\d+", spec):
            if int(number) > MAX_VALUE:
                refuse(f"format width or precision too large in {fmt[:40]!r}")


def check_repeat(seq: Any, count: Any) -> None:
    if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > MAX_OUTPUT:
        refuse("repetition result too large")


def check_int_growth(operator_name: str, left: Any, right: Any) -> None:
    if not (isinstance(left, int) and isinstance(right, int)):
        return
    if operator_name == "**":
        if right > 0 and left not in (0, 1, -1) and left.bit_length() * right > MAX_INT_BITS:
            refuse("exponent too large")
    elif operator_name == "*" and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        refuse("number too large")


def check_replace(text: str, old: str, new: str, count: int = -1) -> None:
    if len(new) <= len(old):
        return
    occurrences = len(text) + 1 if not old else text.count(old)
    if count >= 0:
        occurrences = min(occurrences, count)
    if len(text) + occurrences * (len(new) - len(old)) > MAX_VALUE:
        refuse("replace result too large")


def check_str_method(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Bound the str methods whose result can be far larger than their inputs."""
    text = method.__self__
    name = method.__name__
    values = [*args, *kwargs.values()]
    if name in ("center", "ljust", "rjust", "zfill"):
        if values and isinstance(values[0], int) and values[0] > MAX_VALUE:
            refuse(f"str.{name} width too large")
    elif name == "expandtabs":
        size = values[0] if values and isinstance(values[0], int) else 8
        if size * text.count("\t") > MAX_VALUE:
            refuse("str.expandtabs result too large")
    elif name == "translate" and values and isinstance(values[0], Mapping):
        longest = max((len(v) for v in values[0].values() if isinstance(v, str)), default=1)
        if longest * len(text) > MAX_VALUE:
            refuse("str.translate result too large")
    elif name == "join" and values:
        items = sized(values[0])
        if items is not None and items * len(text) > MAX_VALUE:
            refuse("str.join result too large")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else kwargs.get("count", -1)
        check_replace(text, args[0], args[1], count if isinstance(count, int) else -1)


def sized(value: Any) -> int | None:
    try:
        return len(value)
    except TypeError:
        return None
