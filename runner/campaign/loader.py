"""Load campaign files: parse, validate against the schema, check what the schema cannot, build a
:class:`~runner.campaign.model.Campaign`. Every problem in a file is reported, each at its position."""

from __future__ import annotations

import codecs
import math
import os
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.campaign import schema as campaign_schema
from runner.campaign import yamldoc
from runner.campaign.model import (
    ALNUM_SENDER,
    Campaign,
    Limits,
    Position,
    ProviderSettings,
    Schedule,
    Sender,
    SourceSpec,
    Window,
)
from runner.errors import CampaignError, Diagnostic

SOURCE_KINDS = ("addressbook", "csv", "numbers", "ovh-phonebook", "ovh-receivers")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SECRET_KEY = re.compile(r"(secret|password|passwd|token|api[_-]?key|auth|credential|consumer[_-]?key)", re.I)
URL = re.compile(r"(https?://|www\.)\S+|\b[a-z0-9-]+\.(com|fr|net|org|io|ly|co|eu|info|biz)(/\S*)?\b", re.I)


def find_repo_root(start: Path) -> Path:
    """The nearest folder holding ``.git`` above ``start``; else ``start`` itself."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def read_text(path: Path, shown: str | None = None) -> str:
    """The file's text (UTF-8, with or without BOM); problems are named with ``shown`` (the path as the
    other diagnostics of the file show it)."""
    from runner.campaign.yamldoc import MAX_BYTES

    try:
        with path.open("rb") as handle:  # issue 15: read with the cap, not after (a symlink to /dev/zero)
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise CampaignError(f"{path}: error: no such file") from None
    except IsADirectoryError:
        raise CampaignError(f"{path}: error: is a folder, not a campaign file") from None
    except OSError as exc:
        raise CampaignError(f"{path}: error: cannot read: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise CampaignError("file too large", [Diagnostic(shown or str(path), 1, 1,
                                                          f"file is larger than {MAX_BYTES // 1024} KiB")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CampaignError("invalid UTF-8", [Diagnostic(shown or str(path), line, 1,
                                                         "file is not valid UTF-8 text")]) from None


def load_campaign(path: Path | str, *, repo_root: Path | None = None, check_files: bool = True) -> Campaign:
    """Load and fully validate one campaign file; raise :class:`CampaignError` listing every problem."""
    path = Path(path)
    shown = _display(path)
    text = read_text(path, shown)
    doc = campaign_schema.parse_validated(text, shown, "campaign", CampaignError, "a campaign file must be a "
                                          "mapping of keys (id, message, commercial, recipients...)")
    root = repo_root or find_repo_root(path.parent)
    campaign, more = _build(doc, path, text, root)
    more += _semantic_checks(campaign, doc, root, check_files=check_files)
    errors = [d for d in more if d.severity == "error"]
    if errors:
        raise CampaignError("invalid campaign", sorted(more))
    return replace(campaign, warnings=tuple(sorted(more)))


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _build(doc: yamldoc.Document, path: Path, text: str, root: Path) -> tuple[Campaign, list[Diagnostic]]:
    data: dict[str, Any] = doc.data
    problems: list[Diagnostic] = []
    base = path.parent.resolve()
    default_region = data.get("region")

    def pos(*key: str | int) -> Position:
        line, col = doc.mark(key)
        return Position(doc.path, line, col)

    def specs(name: str) -> tuple[SourceSpec, ...]:
        out = []
        for index, item in enumerate(data.get(name) or []):
            kind = next(k for k in SOURCE_KINDS if k in item)
            options = dict(item)
            if default_region and "region" not in options:
                options["region"] = default_region
            if kind == "numbers":
                options["_lines"] = [doc.mark((name, index, "numbers", i))[0] for i in range(len(item["numbers"]))]
            keys = {str(k): pos(name, index, k) for k in item}
            for field_name in item.get("fields") or {}:
                keys[f"fields.{field_name}"] = pos(name, index, "fields", field_name)
            out.append(SourceSpec(kind, options, base, pos(name, index, kind), keys))
        return tuple(out)

    raw_sender = data.get("sender", "short-code")
    if raw_sender == "short-code":
        sender = Sender("short-code")
    elif raw_sender.startswith("+"):
        sender = Sender("number", raw_sender)
    else:
        sender = Sender("alphanumeric", raw_sender)

    schedule = Schedule()
    if "schedule" in data:
        values: dict[str, datetime | None] = {}
        for key in ("not_before", "not_after"):
            raw = data["schedule"].get(key)
            if raw is None:
                values[key] = None
                continue
            try:
                moment = datetime.fromisoformat(raw)
            except ValueError:
                problems.append(doc.diag(("schedule", key), f"schedule.{key}: {raw!r} is not an ISO 8601 date-time"))
                values[key] = None
                continue
            if moment.tzinfo is None:
                problems.append(doc.diag(("schedule", key), f"schedule.{key}: {raw!r} has no UTC offset "
                                         "(write e.g. 2026-12-01T09:00:00+01:00 or ...Z)"))
                values[key] = None
                continue
            values[key] = moment
        schedule = Schedule(values["not_before"], values["not_after"])
        if schedule.not_before and schedule.not_after and schedule.not_before >= schedule.not_after:
            problems.append(doc.diag(("schedule", "not_after"), "schedule.not_after must be after schedule.not_before"))

    window = None
    if "window" in data:
        w = data["window"]
        default = Window()
        days = tuple(sorted(DAYS.index(d) for d in w["days"])) if "days" in w else default.days
        window = Window(days, w.get("start", default.start), w.get("end", default.end), w.get("holidays", False))
        if window.start >= window.end:
            problems.append(doc.diag(("window", "end"), f"window.end ({window.end}) must be after window.start "
                                     f"({window.start}); windows over midnight are not supported"))

    raw_limits = data.get("limits", {})
    limits = Limits(
        max_recipients=raw_limits.get("max_recipients"),
        rate=raw_limits.get("rate"),
        max_parts=raw_limits.get("max_parts", 6),
        max_cost=raw_limits.get("max_cost"),
        max_consecutive_failures=raw_limits.get("max_consecutive_failures", 10),
    )

    raw_provider = data.get("provider", "outbox")
    if isinstance(raw_provider, str):
        provider = ProviderSettings(raw_provider, {})
    else:
        settings = {k: v for k, v in raw_provider.items() if k != "name"}
        for key in settings:
            if SECRET_KEY.search(str(key)):
                problems.append(doc.diag(("provider", key), f"provider.{key} looks like a secret: secrets come only "
                                         "from environment variables, never from campaign files", prefer_key=True))
        provider = ProviderSettings(raw_provider["name"], settings)

    cost = data.get("cost", {})
    positions = {key: pos(key) for key in data}
    for key, value in data.items():  # one level down too (limits.max_parts, provider.batch_size...)
        if isinstance(value, dict):
            positions.update({f"{key}.{sub}": pos(key, sub) for sub in value})
    campaign = Campaign(
        id=data["id"],
        path=path.resolve(),
        message=data["message"],
        commercial=data["commercial"],
        sources=specs("recipients"),
        sender=sender,
        description=data.get("description", ""),
        exclude=specs("exclude"),
        schedule=schedule,
        limits=limits,
        provider=provider,
        opt_out_text=data.get("opt_out_text"),
        transliterate=data.get("transliterate", False),
        window=window,
        prices=dict(cost.get("prices", {})),
        default_price=cost.get("default"),
        price_unit=cost.get("unit", "credits"),
        source_text=text,
        positions=positions,
        repo_root=root,
    )
    return campaign, problems


def _semantic_checks(campaign: Campaign, doc: yamldoc.Document, root: Path, *, check_files: bool) -> list[Diagnostic]:
    from runner.message.template import TemplateProblem, compile_template

    problems: list[Diagnostic] = []
    # the template must parse
    try:
        compile_template(campaign.message)
    except TemplateProblem as exc:
        line, col = _template_position(campaign.source_text, *doc.mark(("message",)), exc.line)
        problems.append(Diagnostic(doc.path, line, col, f"message template: {exc.message}"))
    # text problems (control characters)
    from runner.message.encoding import check_text

    for problem in check_text(campaign.message):
        problems.append(doc.diag(("message",), f"message: {problem}"))
    if not campaign.message.strip():  # issue 15: nothing to say is not a message
        problems.append(doc.diag(("message",), "message: the message is empty or only white space"))
    # issue 15: the schema's patterns are anchored, and so is this: an id or a sender with a newline or any
    # other control character breaks lock files, provider requests (Kannel) and logs, after the claim
    for key, value in (("id", campaign.id), ("sender", campaign.sender.value or "")):
        if not isinstance(value, str):  # .inf / .nan where a text belongs: "not a finite number", below
            continue
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value) or value != value.strip():
            problems.append(doc.diag((key,), f"{key}: {value[:60]!r} has a control character or surrounding "
                                             "white space"))
    if campaign.opt_out_text:
        for problem in check_text(campaign.opt_out_text):
            problems.append(doc.diag(("opt_out_text",), f"opt_out_text: {problem}"))
    # sender checks
    if campaign.sender.kind == "alphanumeric" and not ALNUM_SENDER.match(campaign.sender.value or ""):
        problems.append(doc.diag(("sender",), "an alphanumeric sender has 3 to 11 letters, digits or spaces"))
    if campaign.sender.kind == "short-code" and URL.search(campaign.message):
        problems.append(doc.diag(("message",), "a message containing a URL cannot be sent from the short-code "
                                 "sender (OVHcloud blocks it): use an alphanumeric or virtual-number sender"))
    # commercial mention
    # only a commercial campaign needs it: the others do not import their provider here (httpx: ~0.1 s, which
    # `plan` now spends while its audience workers run)
    stop = _provider_stop_mention(campaign.provider.name) if campaign.commercial else None
    if campaign.commercial and stop is None and not campaign.opt_out_text:
        problems.append(doc.diag(("commercial",), f"a commercial campaign through provider "
                                 f"{campaign.provider.name!r} needs opt_out_text (e.g. 'STOP au 36xxx'): "
                                 "this provider appends no opt-out mention"))
    if not campaign.commercial and campaign.opt_out_text:
        problems.append(doc.diag(("opt_out_text",), "opt_out_text is ignored: the campaign is not commercial",
                                 severity="warning"))
    if campaign.commercial and stop is not None and campaign.opt_out_text:
        problems.append(doc.diag(("opt_out_text",), f"opt_out_text is ignored: provider {campaign.provider.name!r} "
                                 "appends its own STOP mention", severity="warning"))
    problems += _value_checks(doc)
    # local files exist and stay inside the repository
    if check_files:
        from runner.sources import check_spec

        for group, specs in (("recipients", campaign.sources), ("exclude", campaign.exclude)):
            for index, spec in enumerate(specs):
                for message in check_spec(spec, root):
                    problems.append(doc.diag((group, index, spec.kind), message))
    return problems


def _template_position(text: str, line: int, col: int, template_line: int) -> tuple[int, int]:
    """Where line ``template_line`` of the message is in the file. Exact for a literal block
    (``message: |``, whose text starts on the line after the ``|``); for other styles the value's start
    (a one-line message, or a folded/quoted one whose lines do not map to the file's)."""
    lines = re.split(r"\r\n|\r|\n", text)
    value = lines[line - 1][col - 1:] if 0 < line <= len(lines) else ""
    if value.startswith("|") and template_line >= 1 and line + template_line <= len(lines):
        body = lines[line + template_line - 1]
        return line + template_line, len(body) - len(body.lstrip(" ")) + 1
    return line, col


def text_encoding_problem(name: str) -> str | None:
    """Why ``name`` cannot decode a CSV file, or None when it can."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return f"unknown encoding {name!r} (e.g. utf-8, latin-1, cp1252)"
    if not getattr(info, "_is_text_encoding", True):
        return f"{name!r} is not a text encoding (e.g. utf-8, latin-1, cp1252)"
    return None


def _value_checks(doc: yamldoc.Document) -> list[Diagnostic]:
    """Values the schema lets through but nothing can use: .nan/.inf and unknown encodings."""
    problems: list[Diagnostic] = []
    for key, value in yamldoc.walk(doc.data):
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(doc.diag(key, f"{campaign_schema.name_of(key)}: {value!r} is not a finite number"))
        elif (len(key) == 3 and key[0] in ("recipients", "exclude") and key[2] == "encoding"
              and isinstance(value, str)):
            problem = text_encoding_problem(value)
            if problem:
                problems.append(doc.diag(key, f"{campaign_schema.name_of(key)}: {problem}"))
    return problems


def _provider_stop_mention(name: str) -> str | None:
    from runner.providers import provider_class

    try:
        return provider_class(name).capabilities.stop_mention
    except Exception:
        return None
