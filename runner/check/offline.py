"""What ``validate`` checks beyond the file itself, without the network or the ledger.

* local sources (CSV files, address books, inline numbers) are opened and read through: the file, its
  encoding and delimiter, the phone column, ``fields:`` against the header, address-book groups and
  contacts that exist;
* the message renders for every row of every local source (template fields present, or defaulted) and
  fits within ``limits.max_parts`` (with the STOP mention or ``opt_out_text`` the send adds);
* the provider's settings are accepted by the provider (without credentials, without a request).

Each problem is shown at the campaign key that causes it (``column:``, ``fields.x``, ``message:``) with
the data row as a second location when there is one. Remote CSV files and OVHcloud sources, number
validity, duplicates, opt-outs, the ledger and the provider account are checked by ``plan``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runner.campaign.model import Campaign, Position, SourceSpec
from runner.check.load import load_campaign
from runner.errors import ConfigError, Diagnostic, SmsrunError, SourceError
from runner.message.encoding import measure
from runner.message.template import TemplateProblem, compile_template
from runner.message.transliterate import transliterate
from runner.providers import provider_capabilities, provider_class
from runner.sources import SourceContext, open_source

NOTED_ROWS = 3  # rows named per problem (the count says how many in all)


def is_local(spec: SourceSpec) -> bool:
    return spec.kind in ("addressbook", "numbers") or (spec.kind == "csv" and isinstance(spec.options["csv"], str))


@dataclass
class _Found:
    """One problem met on many rows: counted once, the first rows noted."""

    message: str
    count: int = 0
    rows: list[tuple[str, int]] = field(default_factory=list)

    def add(self, label: str, line: int) -> None:
        self.count += 1
        if len(self.rows) < NOTED_ROWS:
            self.rows.append((label, line))


def offline_checks(campaign: Campaign) -> list[Diagnostic]:
    problems = list(_source_checks(campaign))
    problems += _provider_checks(campaign)
    return problems


def _suffixes(campaign: Campaign) -> tuple[str, str]:
    """(what smsrun appends to the text, what the provider appends when sending), as plan counts them."""
    try:
        stop = (provider_capabilities(campaign.provider.name, campaign.provider.settings).stop_mention
                if campaign.commercial else None)
    except ConfigError:
        stop = None
    appended = campaign.opt_out_text if campaign.commercial and stop is None else None
    return (f"\n{appended}" if appended else ""), (stop or "")


def _source_checks(campaign: Campaign) -> Iterator[Diagnostic]:
    try:
        template = compile_template(campaign.message)
    except TemplateProblem:
        return  # the loader reported it
    ours, theirs = _suffixes(campaign)
    max_parts = campaign.limits.max_parts
    parts_of: dict[str, int] = {}

    def parts(raw: str) -> int:
        found = parts_of.get(raw)
        if found is None:
            text = transliterate(raw).text if campaign.transliterate else raw
            found = measure(text + ours + theirs).parts
            if len(parts_of) < 10_000:
                parts_of[raw] = found
        return found

    ctx = SourceContext(repo_root=campaign.repo_root or campaign.path.parent)
    missing: dict[str, _Found] = {}
    too_long: dict[int, _Found] = {}
    for group, specs in (("recipients", campaign.sources), ("exclude", campaign.exclude)):
        for spec in specs:
            if not is_local(spec):
                continue
            render = group == "recipients"
            try:
                source = open_source(spec, ctx, wanted_fields=template.fields if render else frozenset())
                label = source.label
                _ = source.region
                for _raw, line, fields in source.rows():
                    if not render:
                        continue
                    if template.constant:
                        raw_text = campaign.message
                    else:
                        try:
                            raw_text = template.render(fields or {})
                        except TemplateProblem as exc:
                            missing.setdefault(exc.message, _Found(exc.message)).add(label, line)
                            continue
                    n = parts(raw_text)
                    if n > max_parts:
                        too_long.setdefault(n, _Found(f"{n} SMS parts")).add(label, line)
                source.digest()
            except SourceError as exc:
                yield from exc.diagnostics or [_at(spec.position, exc.message)]
    where = campaign.where("message")
    for found in missing.values():
        yield _row_problem(where, f"message template: {found.message}", found)
    for n, found in sorted(too_long.items()):
        yield _row_problem(where, f"the message needs {n} SMS parts, more than limits.max_parts ({max_parts})",
                           found, also=campaign.where("limits.max_parts"))


def _row_problem(where: Position, message: str, found: _Found, also: Position | None = None) -> Diagnostic:
    message += f", for {found.count:,} recipient row(s)"
    related = tuple((label, line, 1, "row concerned") for label, line in found.rows)
    if also is not None and also.line:
        related += ((also.path, also.line, also.col, "the limit"),)
    return Diagnostic(where.path, where.line, where.col, message, "error", related)


def _at(position: Position, message: str) -> Diagnostic:
    return Diagnostic(position.path, position.line, position.col, message)


def _provider_checks(campaign: Campaign) -> list[Diagnostic]:
    """The provider accepts its settings (no credentials needed, no request made). Settings that take
    ``${VARIABLES}`` from the environment are checked by ``plan``, where the environment is the send's."""
    settings = campaign.provider.settings
    if "${" in repr(settings):
        return []
    try:
        cls = provider_class(campaign.provider.name)
        # no provider writes its state folder before it sends: a folder that is never created will do
        provider = cls(dict(settings), state_dir=Path("/nonexistent/smsrun-validate"))
        provider.close()
    except (SmsrunError, TypeError, ValueError) as exc:
        message = exc.message if isinstance(exc, SmsrunError) else str(exc)
        key = next((k for k in settings if str(k) in message), None)
        where = campaign.where(f"provider.{key}" if key is not None else "provider")
        return [Diagnostic(where.path, where.line, where.col, f"provider: {message}")]
    return []


def check_file(path: Path) -> list[Diagnostic]:
    """Load ``path`` and run every offline check (for tests and the library API)."""
    campaign = load_campaign(path)
    return [*campaign.warnings, *offline_checks(campaign)]
