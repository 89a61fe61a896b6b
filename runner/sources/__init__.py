"""Recipient sources: open a campaign's source specs as streams of rows."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runner.campaign.model import SourceSpec
from runner.errors import SourceError
from runner.sources.base import Row, Source, SourceContext
from runner.sources.keyed import KeyedSource, wanted_with_mapping
from runner.sources.paths import PathProblem, resolve_inside

#: a provider's Source class: built from the source's options and the context
ProviderSource = Callable[[Mapping[str, Any], SourceContext], Source]

__all__ = ["Row", "Source", "SourceContext", "check_spec", "open_source"]


def _display(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path.relative_to(root))


def check_spec(spec: SourceSpec, root: Path) -> list[str]:
    """Problems that can be seen without reading the source: missing files, paths outside the repo."""
    name = spec.options.get(spec.kind)
    if spec.kind not in ("addressbook", "csv") or not isinstance(name, str):
        return []
    try:
        path = resolve_inside(spec.base_dir, name, root)
    except PathProblem as exc:
        return [str(exc)]
    try:
        if not path.exists():
            return [f"{name!r}: no such file"]
        if not path.is_file():
            return [f"{name!r}: not a file"]
    except OSError as exc:
        return [f"{name!r}: cannot be read: {exc.strerror}"]
    return []


def open_source(spec: SourceSpec, ctx: SourceContext, *, wanted_fields: frozenset[str] = frozenset()) -> Source:
    """The source ``spec`` names, its problems shown at the campaign key at fault (see keyed.py)."""
    mapping = spec.options.get("fields") or {}
    inner = _open(spec, ctx, wanted_with_mapping(wanted_fields, mapping))
    return KeyedSource(inner, spec, mapping)


def _at(spec: SourceSpec, message: str) -> SourceError:
    """A problem at the source's key in the campaign."""
    where = spec.position
    return SourceError.at(where.path, where.line, where.col, message)


def _open(spec: SourceSpec, ctx: SourceContext, wanted_fields: frozenset[str]) -> Source:
    o = spec.options
    region = o.get("region")
    if spec.kind in ("addressbook", "csv") and isinstance(o[spec.kind], str):
        try:
            path = resolve_inside(spec.base_dir, o[spec.kind], ctx.repo_root)
            is_file = path.is_file()
        except PathProblem as exc:
            raise _at(spec, str(exc)) from None
        except OSError as exc:
            raise _at(spec, f"{o[spec.kind]!r}: cannot be read: {exc.strerror}") from None
        if not is_file:
            raise _at(spec, f"{o[spec.kind]!r}: no such file")
        label = _display(path, ctx.repo_root)
        if spec.kind == "addressbook":
            from runner.sources.addressbook import AddressBookSource

            return AddressBookSource(path, label=label, groups=o.get("groups"), contacts=o.get("contacts"),
                                     region=region, position=spec.position, keys=spec.keys)
        from runner.sources.csvfile import CsvSource

        return CsvSource(path, label=label, column=o.get("column"), region=region, delimiter=o.get("delimiter"),
                         encoding=o.get("encoding"), header=o.get("header"), wanted_fields=wanted_fields)
    if spec.kind == "csv":
        from runner.sources.remote import RemoteCsvSource

        remote = o["csv"]
        csv_options: dict[str, object] = {k: o[k] for k in ("column", "delimiter", "encoding", "header") if k in o}
        return RemoteCsvSource(remote["url"], ctx=ctx, sha256=remote.get("sha256"),
                               allow_http=remote.get("allow_http", False), max_bytes=remote.get("max_bytes"),
                               timeout=remote.get("timeout"), csv_options=csv_options, region=region,
                               wanted_fields=wanted_fields, position=spec.position)
    if spec.kind == "numbers":
        from runner.sources.inline import InlineSource

        return InlineSource(list(o["numbers"]), label=f"{spec.position.path} (numbers)",
                            lines=list(o.get("_lines", [])), region=region)
    offered = _provider_source(spec)
    if offered is not None:
        return offered(o, ctx)
    raise _at(spec, f"unknown source kind {spec.kind!r}")


def _provider_source(spec: SourceSpec) -> ProviderSource | None:
    """The Source class of a kind a provider offers (its ``ProviderSpec.sources``: OVHcloud's phonebooks
    and slots), imported now; None when no provider offers it."""
    from runner.providers.registry import source_target
    from runner.providers.spec import load_target

    found = source_target(spec.kind)
    if found is None:
        return None
    try:
        cls: ProviderSource = load_target(found[1])
    except ImportError as exc:
        raise _at(spec, f"{spec.kind} sources are not available: {exc}") from None
    return cls
