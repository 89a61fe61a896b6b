"""``smsrun validate``: campaign and address-book files, every problem with its position."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.campaign.yamldoc import MAX_BYTES
from runner.check import load_campaign, offline_checks
from runner.errors import Diagnostic, SmsrunError
from runner.sources.addressbook import read_addressbook

SUFFIXES = (".yaml", ".yml")


@dataclass
class FileResult:
    path: str
    kind: str  # campaign | addressbook
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


@dataclass
class ValidationResult:
    files: list[FileResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.files) and all(f.ok for f in self.files)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [d for f in self.files for d in f.diagnostics]

    def summary(self) -> str:
        if not self.files:
            return "no campaign files found"
        bad = sum(not f.ok for f in self.files)
        errors = sum(d.severity == "error" for d in self.diagnostics)
        if bad:
            return f"{bad} of {len(self.files)} file(s) invalid, {errors} error(s)"
        return f"{len(self.files)} file(s) valid"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "files": [
            {"path": f.path, "kind": f.kind, "ok": f.ok,
             "problems": [{k: v for k, v in d.as_dict().items() if k != "path"}
                          for d in f.diagnostics]} for f in self.files]}


def _collect(paths: list[Path]) -> tuple[list[Path], list[FileResult]]:
    files: list[Path] = []
    missing: list[FileResult] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                                and ".smsrun" not in p.parts))
        elif path.is_file():
            files.append(path)
        else:
            what = "not a regular file" if path.exists() else "no such file or folder"  # e.g. /dev/zero
            missing.append(FileResult(str(path), "?", [Diagnostic(str(path), 0, 0, what)]))
    return files, missing


def _kind(path: Path) -> str:
    """An address book has `contacts:` and no `recipients:` at the top level."""
    try:
        with path.open("rb") as handle:  # issue 15: read with the cap (a symlink to /dev/zero)
            head = handle.read(MAX_BYTES + 1).decode("utf-8", errors="replace")
    except OSError:
        return "campaign"
    lines = [line for line in head.splitlines() if line and not line[0].isspace() and not line.startswith("#")]
    keys = {line.split(":", 1)[0].strip() for line in lines}
    return "addressbook" if "contacts" in keys and "recipients" not in keys and "id" not in keys else "campaign"


def validate_paths(paths: list[Path]) -> ValidationResult:
    files, missing = _collect(paths)
    result = ValidationResult(missing)
    ids: list[tuple[str, FileResult, str]] = []  # (campaign id, its file, its text): issue 15
    for path in files:
        shown = os.path.relpath(path) if path.is_absolute() else str(path)
        kind = _kind(path)
        entry = FileResult(shown, kind)
        try:
            if kind == "addressbook":
                read_addressbook(path, shown)
            else:
                campaign = load_campaign(path)
                entry.diagnostics.extend(campaign.warnings)
                ids.append((campaign.id, entry, campaign.source_text))
                entry.diagnostics.extend(_dedupe(offline_checks(campaign), entry.diagnostics))
        except SmsrunError as exc:
            entry.diagnostics.extend(exc.diagnostics or [Diagnostic(shown, 0, 0, exc.message)])
        result.files.append(entry)
    _duplicate_ids(ids)
    return result


def _duplicate_ids(ids: list[tuple[str, FileResult, str]]) -> None:
    """Two campaign files with one ``id`` are one campaign to the ledger: the second is refused as "changed
    after sending started", or, before that, both send to one audience record (issue 15). Each file
    holding a shared id gets an error naming the others."""
    by_id: dict[str, list[tuple[FileResult, str]]] = {}
    for campaign_id, entry, text in ids:
        by_id.setdefault(campaign_id, []).append((entry, text))
    for campaign_id, entries in by_id.items():
        if len(entries) < 2:
            continue
        for entry, text in entries:
            others = ", ".join(e.path for e, _ in entries if e is not entry)
            found = re.search(r"^id[ \t]*:", text, re.MULTILINE)
            line = text.count("\n", 0, found.start()) + 1 if found else 0
            entry.diagnostics.append(Diagnostic(entry.path, line, 1 if line else 0,
                                                f"id {campaign_id!r} is also the id of {others}: each campaign "
                                                "needs its own id (the ledger knows campaigns by it)"))


def _dedupe(new: list[Diagnostic], seen: list[Diagnostic]) -> list[Diagnostic]:
    """One problem listed once, even when two checks find it."""
    known = {(d.path, d.line, d.col, d.message) for d in seen}
    out = []
    for d in new:
        if (d.path, d.line, d.col, d.message) not in known:
            known.add((d.path, d.line, d.col, d.message))
            out.append(d)
    return out

