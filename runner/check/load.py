"""Loading a campaign to plan or send it: the file's own checks (:mod:`runner.campaign`) and those that
need the stages below this one, reported together, each at its position.

* the message template parses (at its line inside a ``message: |`` block);
* the message and ``opt_out_text`` hold no character an SMS cannot carry;
* a commercial campaign has an opt-out mention: the provider's own, else ``opt_out_text``;
* local source files exist and stay inside the repository (``check_files``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.campaign.loader import ParsedCampaign, accept, parse_campaign
from runner.campaign.model import Campaign
from runner.errors import Diagnostic
from runner.message.encoding import check_text
from runner.message.template import TemplateProblem, compile_template
from runner.providers import provider_capabilities
from runner.sources import check_spec


def load_campaign(path: Path | str, *, repo_root: Path | None = None, check_files: bool = True) -> Campaign:
    """Load and fully validate one campaign file; raise :class:`~runner.errors.CampaignError` listing
    every problem."""
    parsed = parse_campaign(path, repo_root=repo_root)
    return accept(parsed, stage_checks(parsed, check_files=check_files))


def stage_checks(parsed: ParsedCampaign, *, check_files: bool = True) -> list[Diagnostic]:
    campaign, doc = parsed.campaign, parsed.doc
    problems: list[Diagnostic] = []
    try:  # the template must parse
        compile_template(campaign.message)
    except TemplateProblem as exc:
        line, col = _template_position(campaign.source_text, *doc.mark(("message",)), exc.line)
        problems.append(Diagnostic(doc.path, line, col, f"message template: {exc.message}"))
    for problem in check_text(campaign.message):  # control characters
        problems.append(doc.diag(("message",), f"message: {problem}"))
    if campaign.opt_out_text:
        for problem in check_text(campaign.opt_out_text):
            problems.append(doc.diag(("opt_out_text",), f"opt_out_text: {problem}"))
    stop = provider_stop_mention(campaign.provider.name, campaign.provider.settings)  # the commercial mention
    if campaign.commercial and stop is None and not campaign.opt_out_text:
        problems.append(doc.diag(("commercial",), f"a commercial campaign through provider "
                                 f"{campaign.provider.name!r} needs opt_out_text (e.g. 'STOP au 36xxx'): "
                                 "this provider appends no opt-out mention"))
    if campaign.commercial and stop is not None and campaign.opt_out_text:
        problems.append(doc.diag(("opt_out_text",), f"opt_out_text is ignored: provider {campaign.provider.name!r} "
                                 "appends its own STOP mention", severity="warning"))
    if check_files:  # local files exist and stay inside the repository
        for group, specs in (("recipients", campaign.sources), ("exclude", campaign.exclude)):
            for index, spec in enumerate(specs):
                for message in check_spec(spec, parsed.root):
                    problems.append(doc.diag((group, index, spec.kind), message))
    return problems


def provider_stop_mention(name: str, settings: Mapping[str, Any]) -> str | None:
    """The STOP mention provider ``name`` appends to commercial messages with these settings (computed
    from them, as the planner and the provider compute it); None if none (or unknown)."""
    try:
        return provider_capabilities(name, dict(settings)).stop_mention
    except Exception:
        return None


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
