"""Typed provider settings: one frozen dataclass per provider, from which come both the runtime check of a
campaign's ``provider:`` mapping and the provider's part of the JSON Schema (so ``smsrun validate`` reports
a wrong type or an unknown key at its ``file:line:col`` with a "did you mean", and editors complete each
provider's settings).

A provider declares its settings as a subclass of :class:`ProviderSettings` whose fields are made with
:func:`setting`::

    @dataclass(frozen=True)
    class OutboxSettings(ProviderSettings):
        batch_size: int = setting(500, "recipients per request", minimum=1)

Field types: ``int``, ``float`` (integers accepted), ``str``, ``bool``, ``Literal[...]`` of strings, each
optionally ``| None`` (then ``null`` is accepted, meaning "not set"). A key that is not a Python name
(Twilio's ``from``) is declared with ``key="from"``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from runner.errors import ConfigError

S = TypeVar("S", bound="ProviderSettings")

#: keys that look like a secret: the campaign loader refuses them with its own message ("secrets come only
#: from environment variables"), so the schema lets them through instead of calling them unknown
SECRET_WORDS = ("secret", "password", "passwd", "token", "apikey", "api_key", "api-key", "auth", "credential",
                "consumer_key", "consumer-key", "consumerkey")


def setting(default: Any, description: str, *, key: str | None = None, minimum: float | None = None,
            maximum: float | None = None, exclusive_minimum: float | None = None, env: str | None = None,
            examples: list[Any] | None = None, numbers_as_text: bool = False) -> Any:
    """A field of a :class:`ProviderSettings` dataclass: its default, what it means (shown by editors), its
    key in the campaign file when it differs from the field name, bounds, and the environment variable
    the provider falls back to when the key is absent. ``numbers_as_text``: a ``str`` setting that also takes
    a whole number, as text (an unquoted short code)."""
    meta = {"description": description, "key": key, "minimum": minimum, "maximum": maximum,
            "exclusive_minimum": exclusive_minimum, "env": env, "examples": examples,
            "numbers_as_text": numbers_as_text}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class ProviderSettings:
    """Base class of the typed settings (no settings: the provider takes none)."""

    @classmethod
    def parse(cls: type[S], raw: Mapping[str, Any] | None, provider: str) -> S:
        """Check ``raw`` (a campaign's settings, ``${VARIABLES}`` expanded) and build the typed settings;
        :class:`ConfigError` names the key: ``provider ovh: settings.batch_size must be an integer``."""
        raw = dict(raw or {})
        fields = _fields(cls)
        unknown = [k for k in raw if k not in fields]
        if unknown:
            key = str(unknown[0])
            if re.search(_secret_pattern(), key):
                raise ConfigError(f"provider {provider}: setting {key!r} is not allowed: secrets come only from the "
                                  "environment, never from campaign files")
            hint = difflib.get_close_matches(key, sorted(fields), n=1, cutoff=0.6)
            known = ", ".join(sorted(fields)) or "none"
            suffix = f" (did you mean {hint[0]!r}?)" if hint else f" (known: {known})"
            raise ConfigError(f"provider {provider}: unknown setting {key!r}{suffix}")
        values: dict[str, Any] = {}
        for key, (name, kind, meta) in fields.items():
            if key in raw:
                values[name] = _checked(raw[key], kind, meta, f"provider {provider}: settings.{key}")
        return cls(**values)

    @classmethod
    def keys(cls) -> list[str]:
        """The settings' keys as written in campaign files."""
        return list(_fields(cls))

    @classmethod
    def environment(cls) -> list[str]:
        """The environment variables the settings fall back to."""
        return [meta["env"] for _, _, meta in _fields(cls).values() if meta.get("env")]

    @classmethod
    def json_schema(cls, name: str) -> dict[str, Any]:
        """The JSON Schema of ``{name: <name>, ...settings}``."""
        properties: dict[str, Any] = {"name": {"const": name}}
        for key, (_, kind, meta) in _fields(cls).items():
            properties[key] = _schema_of(kind, meta)
        return {"type": "object", "properties": properties,
                "patternProperties": {_secret_pattern(): {"description": "refused: secrets come only from "
                                                                         "environment variables"}},
                "additionalProperties": False}


_FIELDS: dict[type[ProviderSettings], dict[str, tuple[str, Any, Mapping[str, Any]]]] = {}


def _fields(cls: type[ProviderSettings]) -> dict[str, tuple[str, Any, Mapping[str, Any]]]:
    """key -> (field name, resolved type, metadata), in declaration order."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = {f.metadata.get("key") or f.name: (f.name, hints[f.name], f.metadata) for f in dataclasses.fields(cls)}
        _FIELDS[cls] = found
    return found


def _split_optional(kind: Any) -> tuple[Any, bool]:
    if get_origin(kind) in (Union, types.UnionType):
        args = [a for a in get_args(kind) if a is not type(None)]
        if len(args) == 1 and len(get_args(kind)) == 2:
            return args[0], True
    return kind, False


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
                       (list, "a list"), (dict, "a mapping")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _checked(value: Any, kind: Any, meta: Mapping[str, Any], where: str) -> Any:
    base, nullable = _split_optional(kind)
    if value is None:
        if nullable:
            return None
        raise ConfigError(f"{where} must not be null")
    if get_origin(base) is Literal:
        choices = get_args(base)
        if value not in choices:
            hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
            suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, choices))}, not {value!r}{suffix}")
        return value
    if base is str and meta.get("numbers_as_text") and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif base is str:
        ok = isinstance(value, str)
    else:  # pragma: no cover - a provider declared a type this module does not know
        raise TypeError(f"unsupported settings type {base!r}")
    if not ok:
        wanted = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}[base]
        raise ConfigError(f"{where} must be {wanted}, not {_type_name(value)}")
    if base in (int, float):
        low, high, above = meta.get("minimum"), meta.get("maximum"), meta.get("exclusive_minimum")
        if (low is not None and value < low) or (high is not None and value > high) or (
                above is not None and value <= above):
            raise ConfigError(f"{where} must be {_bounds(low, high, above)}, not {value!r}")
        return float(value) if base is float else value
    return value


def _bounds(low: float | None, high: float | None, above: float | None) -> str:
    if above is not None:
        return f"more than {above:g}" + (f" and at most {high:g}" if high is not None else "")
    if low is not None and high is not None:
        return f"from {low:g} to {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def _schema_of(kind: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
    base, nullable = _split_optional(kind)
    if get_origin(base) is Literal:
        one: dict[str, Any] = {"type": "string", "enum": list(get_args(base))}
    else:
        one = {"type": {bool: "boolean", int: "integer", float: "number", str: "string"}[base]}
        if meta.get("numbers_as_text"):
            one = {"anyOf": [one, {"type": "integer"}]}
        for word, schema_word in (("minimum", "minimum"), ("maximum", "maximum"),
                                  ("exclusive_minimum", "exclusiveMinimum")):
            if meta.get(word) is not None:
                one[schema_word] = meta[word]
    out: dict[str, Any] = {"description": meta["description"]}
    if nullable:
        out["anyOf"] = [*one.get("anyOf", [one]), {"type": "null"}]
    else:
        out.update(one)
    if meta.get("examples"):
        out["examples"] = list(meta["examples"])
    return out


@cache
def _secret_pattern() -> str:
    """SECRET_WORDS as one case-insensitive pattern in the syntax both ECMA-262 and Python read."""
    def insensitive(word: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else ("[-_]" if c in "-_" else c) for c in word)

    words = sorted({w.replace("-", "_") for w in SECRET_WORDS})
    return "(" + "|".join(insensitive(w) for w in words) + ")"
