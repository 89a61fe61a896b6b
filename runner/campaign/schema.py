"""JSON Schema validation whose errors point at the offending key or value.

jsonschema's raw messages are tuned for machines ("... is not valid under any of the given schemas");
here each error is rewritten for a person and placed at the key (unknown keys, with a "did you mean")
or at the value (wrong type, bad pattern) using the document's marks.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from runner.campaign import yamldoc
from runner.campaign.yamldoc import Document, PathKey
from runner.errors import Diagnostic, SmsrunError

#: How the campaign schema gains the providers other packages register (``runner.providers.registry``
#: installs it when it is imported: this package sits below the providers and does not import them).
#: The shipped schema already holds the built-in providers' settings, generated from their specs.
PluginSchema = Callable[[dict[str, Any]], dict[str, Any]]
_plugin_schema: PluginSchema | None = None


def set_plugin_schema(extend: PluginSchema) -> None:
    """Install the function that adds third-party providers to the campaign schema."""
    global _plugin_schema
    _plugin_schema = extend
    load_schema.cache_clear()
    _validator.cache_clear()


@cache
def load_schema(name: str, plugins: bool = False) -> dict[str, Any]:
    """The shipped schema ``name`` ("campaign" or "addressbook"); ``plugins``: with the settings of the
    providers other packages register too (finding them costs ~50 ms, so only when a file names one)."""
    text = resources.files("runner").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    if name == "campaign" and plugins and _plugin_schema is not None:
        schema = _plugin_schema(schema)
    return schema


def builtin_provider_names() -> frozenset[str]:
    """The providers whose settings the shipped campaign schema holds."""
    provider = load_schema("campaign")["properties"]["provider"]
    return frozenset(provider.get("then", {}).get("enum", ()))


@cache
def _validator(name: str, plugins: bool = False) -> Any:
    from jsonschema import Draft202012Validator, FormatChecker, validators  # type: ignore[import-untyped]

    # issue 15: JSON Schema patterns are ECMA-262, where "$" is the end of the text; Python's "$" also
    # matches before a final newline, so `id: "x\n"` and a sender ending in a newline passed
    strict = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})  # type: ignore[no-untyped-call]
    return strict(load_schema(name, plugins), format_checker=FormatChecker())


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    from jsonschema import ValidationError

    if validator.is_type(instance, "string") and _ecma_regex(pattern).search(instance) is None:
        yield ValidationError(f"{_shown(instance)} does not match {pattern!r}")


@cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` with each "$" outside a character class made ``\\Z`` (ECMA-262's end of input)."""
    out: list[str] = []
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "[":
            in_class = True
            out.append(ch)
        elif ch == "]":
            in_class = False
            out.append(ch)
        elif ch == "$" and not in_class:
            out.append(r"\Z")
        else:
            out.append(ch)
    return re.compile("".join(out))


def _shown(value: Any, limit: int = 60) -> str:
    """A bounded repr: an error line quotes an excerpt, never a 25,000-character value (issue 15)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def validate(doc: Document, name: str) -> list[Diagnostic]:
    """Every schema problem of ``doc`` as positioned diagnostics (sorted by position, deduplicated)."""
    validator = _validator(name, name == "campaign" and _names_a_plugin(doc.data))
    found: dict[tuple[int, int, str], Diagnostic] = {}
    for error in validator.iter_errors(doc.data):
        if isinstance(error.instance, float) and not math.isfinite(error.instance) and error.validator != "type":
            continue  # .inf, .nan where a number goes: the loader says "not a finite number", once
        for diagnostic in _explain(error, doc, validator.schema):
            found.setdefault((diagnostic.line, diagnostic.col, diagnostic.message), diagnostic)
    return sorted(found.values())


def _names_a_plugin(data: Any) -> bool:
    """True when a campaign's provider is not a built-in one (a third-party provider, or a typo)."""
    provider = data.get("provider") if isinstance(data, dict) else None
    name = provider.get("name") if isinstance(provider, dict) else provider
    return isinstance(name, str) and name not in builtin_provider_names()


def name_of(path: PathKey) -> str:
    """A key path as people write it: ``recipients[0].csv``."""
    return _name(path)


def parse_validated(text: str, shown: str, name: str, error: type[SmsrunError], shape: str) -> Document:
    """Parse YAML ``text`` and validate it against schema ``name``; raise ``error`` listing every
    positioned problem. ``shape`` says what the top level must be when it is not a mapping."""
    try:
        doc = yamldoc.parse(text, shown)
    except yamldoc.YamlError as exc:
        raise error(f"invalid {name}", exc.diagnostics) from None
    if not isinstance(doc.data, dict):
        raise error(f"invalid {name}", [Diagnostic(shown, 1, 1, shape)])
    problems = validate(doc, name)
    if problems:
        raise error(f"invalid {name}", problems)
    return doc


def _name(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the document"


def _explain(error: Any, doc: Document, root: dict[str, Any]) -> list[Diagnostic]:
    path: PathKey = tuple(error.absolute_path)
    kind = error.validator
    where = _name(path)
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        out = []
        for key in error.instance:
            if key in allowed:
                continue
            hint = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
            suffix = f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(sorted(allowed))})"
            out.append(doc.diag((*path, key), f"unknown key {key!r} in {where}{suffix}", prefer_key=True))
        return out
    if kind == "propertyNames" and isinstance(error.instance, dict):
        # a key not allowed for this kind of source
        names = error.validator_value.get("enum") if isinstance(error.validator_value, dict) else None
        out = []
        for key in error.instance:
            if names and key not in names:
                out.append(doc.diag((*path, key), f"key {key!r} is not allowed here; "
                                    f"this source takes: {', '.join(names)}", prefer_key=True))
        if out:
            return out
        return [doc.diag(path, f"{where}: {_bounded(error.message)}")]
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [doc.diag(path, f"missing required key {missing!r} in {where}", prefer_key=True)]
    if kind == "oneOf" and path and _is_source(path):
        present = [k for k in ("addressbook", "csv", "numbers", "ovh-phonebook", "ovh-receivers")
                   if isinstance(error.instance, dict) and k in error.instance]
        if len(present) > 1:
            return [doc.diag(path, f"a source takes exactly one of addressbook, csv, numbers, ovh-phonebook, "
                                   f"ovh-receivers; this one has {', '.join(present)}")]
        if not present:
            return [doc.diag(path, "a source needs one of: addressbook, csv, numbers, ovh-phonebook, ovh-receivers")]
    if kind in ("oneOf", "anyOf"):
        return [doc.diag(path, _alternatives_message(error, where, path))]
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        got = _type_name(error.instance)
        extra = ""
        if path and path[-2:-1] == ("numbers",) and got in ("integer", "number"):
            extra = (" (write phone numbers as quoted strings: '+33612345678'; unquoted, YAML drops the + "
                     "and leading 0)")
        return [doc.diag(path, f"{where} must be {_article(expected)}, not {_article(got)}{extra}")]
    if kind == "enum" and len(error.validator_value) > 20:
        values = [str(c) for c in error.validator_value]
        upper = str(error.instance).upper()
        hint = [upper] if upper in values else difflib.get_close_matches(str(error.instance), values, n=1)
        what = error.schema.get("description") or "not one of the allowed values"
        suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
        return [doc.diag(path, f"{where}: {_shown(error.instance)} is not valid: {what}{suffix}")]
    if kind == "enum":
        choices = ", ".join(repr(c) for c in error.validator_value)
        hint = difflib.get_close_matches(str(error.instance), [str(c) for c in error.validator_value], n=1)
        suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
        return [doc.diag(path, f"{where} must be one of {choices}, not {_shown(error.instance)}{suffix}")]
    if kind == "pattern":
        description = error.schema.get("description") or f"must match {error.validator_value}"
        return [doc.diag(path, f"{where}: {_shown(error.instance)} is not valid: {description}")]
    if kind == "format":
        return [doc.diag(path, f"{where}: {_shown(error.instance)} is not a valid {error.validator_value} "
                               "(ISO 8601 with an offset, e.g. 2026-12-01T09:00:00+01:00)")]
    if kind in ("minItems", "minLength") and not error.instance:
        return [doc.diag(path, f"{where} must not be empty")]
    return [doc.diag(path, f"{where}: {_bounded(error.message)}")]


def _is_source(path: PathKey) -> bool:
    return len(path) >= 2 and path[-2] in ("recipients", "exclude") and isinstance(path[-1], int)


def _alternatives_message(error: Any, where: str, path: PathKey) -> str:
    descr = error.schema.get("description")
    branches = error.validator_value if isinstance(error.validator_value, list) else []
    if branches and all(isinstance(b, dict) and set(b) == {"type"} for b in branches):
        # a union of types, written as anyOf so ajv's strict mode takes the schema
        expected = " or ".join(str(b["type"]) for b in branches)
        return f"{where} must be {_article(expected)}, not {_article(_type_name(error.instance))}"
    if path and path[-1] == "sender":
        return (f"sender {_shown(error.instance)} is not valid: use 'short-code', a virtual number in international "
                "format (+33...), or an alphanumeric name of 3 to 11 letters, digits or spaces with at least "
                "one letter")
    if descr:
        return f"{where}: {_shown(error.instance)} is not valid: {descr}"
    return f"{where}: {_shown(error.instance)} is not valid"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _article(word: str) -> str:
    word = {"object": "mapping", "array": "list"}.get(word, word)
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _bounded(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else f"{message[:limit]}… ({len(message):,} characters)"
