"""Build a :class:`Plan`: the campaign, its audience, the messages, windows, cost and problems.

The plan is a value: the CLI renders it as text, JSON or Markdown, ``--out`` saves it, and ``send``
executes it. A plan with an error-level problem cannot be sent.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.audience.build import Audience, build_audience
from runner.audience.numbers import E164List
from runner.campaign.model import Campaign, Position
from runner.errors import PlanError
from runner.ledger.store import FINAL_STATUSES, Ledger, state_dir_for
from runner.message.template import TemplateProblem, compile_template
from runner.sources import SourceContext

MAX_NAMED = 5


@dataclass(frozen=True)
class Problem:
    severity: str  # error | warning | info
    message: str
    path: str = ""  # where it is caused in the campaign file, when known (for annotations)
    line: int = 0
    col: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "message": self.message}
        if self.path:
            out.update(file=self.path, line=self.line, col=self.col)
        return out

    @classmethod
    def at(cls, where: Position, severity: str, message: str) -> Problem:
        return cls(severity, message, where.path, where.line, where.col)


@dataclass
class PlanOptions:
    state_dir: Path | None = None
    at: datetime | None = None  # plan as if run at this instant (default: now)
    allow_private_urls: bool = False
    check_provider: bool = True  # read-only provider checks (sender, credits) when credentials are present
    check_history: bool = True  # issue 11: ask the provider about a campaign the ledger never saw (`send` does
                                # it itself, before its first claim: runner.send.history)


@dataclass(slots=True)
class Recipient:
    e164: str
    text: str
    parts: int
    region: str | None


class RecipientList:
    """The recipients of a plan as parallel lists, in audience order.

    A million :class:`Recipient` objects weigh about 88 MB; these lists weigh 32 MB, and with one text
    for everyone the texts and parts lists only repeat one object. The numbers are an :class:`E164List`
    (8 bytes each, read as ``str``: ``numbers[i]``). Iterating yields :class:`Recipient` views.
    """

    __slots__ = ("in_ledger", "numbers", "parts", "regions", "texts")

    def __init__(self, numbers: E164List | None = None, texts: list[str] | None = None,
                 parts: list[int] | None = None) -> None:
        self.numbers: E164List = numbers if numbers is not None else E164List()
        self.texts: list[str] = texts if texts is not None else []
        self.parts: list[int] = parts if parts is not None else []
        self.regions: list[str | None] = []  # filled by _regions once every recipient is known
        self.in_ledger: set[str] = set()  # those already pending in the ledger (the others are not in it)

    def append(self, e164: str, text: str, parts: int) -> None:
        self.numbers.append(e164)
        self.texts.append(text)
        self.parts.append(parts)

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, index: int) -> Recipient:
        region = self.regions[index] if self.regions else None
        return Recipient(self.numbers[index], self.texts[index], self.parts[index], region)

    def __iter__(self) -> Iterator[Recipient]:
        regions: Iterable[str | None] = self.regions or (None for _ in self.numbers)
        for e164, text, parts, region in zip(self.numbers, self.texts, self.parts, regions, strict=True):
            yield Recipient(e164, text, parts, region)


@dataclass
class Plan:
    campaign: Campaign
    at: datetime
    state_dir: Path
    audience: Audience
    recipients: RecipientList  # to send now or later (excludes already sent, in doubt)
    already_sent: int
    rejected_before: int
    in_doubt: int
    pending_in_ledger: int
    encoding: str
    stop_mention: str | None  # what the provider appends
    appended_opt_out: str | None  # what smsrun appends
    example: str
    parts_distribution: dict[int, int]
    characters: tuple[int, int]
    total_parts: int
    transliteration: dict[str, Any] | None
    window: dict[str, Any]
    sendable: int | None  # how many recipients are sendable now; None: everyone
    cost: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    digest: str = ""

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def to_send(self) -> int:
        return len(self.recipients)

    @property
    def sendable_now(self) -> int:
        return len(self.recipients) if self.sendable is None else self.sendable

    def raise_for_problems(self) -> None:
        errors = [p.message for p in self.problems if p.severity == "error"]
        if errors:
            raise PlanError("the plan has errors:\n  " + "\n  ".join(errors))


def content_hash(campaign: Campaign) -> str:
    """What must not change once sending started: the message, sender and commercial flag."""
    parts = [campaign.message, campaign.sender.kind, campaign.sender.value or "", str(campaign.commercial),
             campaign.opt_out_text or "", str(campaign.transliterate)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def open_ledger_if_exists(state_dir: Path) -> Ledger | None:
    """A dry run never creates state: an absent ledger is an empty one."""
    from runner.ledger.url import ledger_exists

    if not ledger_exists(state_dir):
        return None
    return Ledger(state_dir)


def build_plan(campaign: Campaign, options: PlanOptions | None = None) -> Plan:
    options = options or PlanOptions()
    at = options.at or datetime.now(UTC)
    if at.tzinfo is None:
        raise PlanError("--at needs a UTC offset (e.g. 2026-11-28T19:30:00+01:00)")
    repo_root = campaign.repo_root or campaign.path.parent
    state_dir = state_dir_for(options.state_dir, repo_root)
    problems: list[Problem] = [Problem(d.severity, str(d), d.path, d.line, d.col) for d in campaign.warnings]

    from runner.providers import provider_capabilities, provider_class

    template = compile_template(campaign.message)
    ledger = open_ledger_if_exists(state_dir)
    try:
        with ledger.reading() if ledger else contextlib.nullcontext():  # issue 15: a damaged page, a clear error
            if ledger:
                ledger.check_readable(campaign.id)  # issue 15: a newer smsrun's ledger is refused
            suppressed = _suppressed(ledger)
            _legacy_optouts(suppressed, problems)  # issue 15
            ctx = SourceContext(repo_root=repo_root, allow_private_urls=options.allow_private_urls,
                                cache_dir=None)
            # the provider's module (httpx...) is imported while the audience's workers run, not before
            audience = build_audience(campaign, ctx, wanted_fields=template.fields, suppressed=suppressed,
                                      meanwhile=functools.partial(_import_provider, campaign.provider.name))
            statuses = ledger.statuses(campaign.id) if ledger else {}
            ledger_fingerprint = ledger.fingerprint(campaign.id) if ledger else "empty"
            if ledger and ledger.content_changed(campaign.id, content_hash(campaign)):
                problems.append(Problem("error", f"campaign {campaign.id!r} changed its message, sender or "
                                                 "commercial flag after sending started; give it a new `id` to "
                                                 "make a new campaign"))
    finally:
        if ledger:
            ledger.close()

    provider_cls = provider_class(campaign.provider.name)
    # from the settings, as the provider computes them when it sends: plan and send agree on parts and cost
    capabilities = provider_capabilities(campaign.provider.name, campaign.provider.settings)
    stop_mention = capabilities.stop_mention if campaign.commercial else None
    appended = campaign.opt_out_text if campaign.commercial and stop_mention is None else None

    already_sent = rejected_before = in_doubt = 0
    todo = E164List()
    pending_numbers: set[str] = set()
    if not statuses:  # nothing in the ledger yet: everyone, and the audience's list (8 bytes a recipient)
        todo = audience.recipients
    for e164 in audience.recipients if statuses else ():
        status = statuses.get(e164)
        if status is None:
            todo.append(e164)
        elif status == "pending":
            todo.append(e164)
            pending_numbers.add(e164)
        elif status in FINAL_STATUSES:
            if status == "rejected":
                rejected_before += 1
            else:
                already_sent += 1
        else:
            in_doubt += 1
    if in_doubt:
        problems.append(Problem("warning", f"{in_doubt:,} recipient(s) are in doubt from an interrupted run: they "
                                           "will be reconciled with the provider, or resent only with "
                                           "--resend-in-doubt (see `smsrun status`)"))

    recipients, message_info = _render(campaign, audience, todo, stop_mention, appended, problems)
    recipients.in_ledger = pending_numbers
    pending = len(pending_numbers)
    window, sendable = _windows(campaign, recipients, at, problems)
    cost = _cost(campaign, recipients, problems)
    _limits(campaign, recipients, cost, problems)
    _invalid_problems(audience, problems)
    if audience.rows == 0:
        problems.append(Problem("warning", "the sources hold no recipients"))

    plan = Plan(campaign=campaign, at=at, state_dir=state_dir, audience=audience, recipients=recipients,
                already_sent=already_sent, rejected_before=rejected_before, in_doubt=in_doubt,
                pending_in_ledger=pending, stop_mention=stop_mention, appended_opt_out=appended,
                window=window, sendable=sendable, cost=cost, problems=problems, **message_info)
    plan.digest = _digest(campaign, audience, ledger_fingerprint)
    from runner.ledger.statedir import tracked_state_files  # issue 13: phone numbers must not end up in git

    for name in tracked_state_files(state_dir, repo_root):
        plan.problems.append(Problem("warning", f"git tracks {name}, which holds phone numbers: run "
                                                f"`git rm --cached {name}` and commit (the state folder ignores "
                                                "itself from now on)"))
    if options.check_provider and plan.ok and recipients:
        _provider_preflight(plan, provider_cls)
        if options.check_history and not statuses and plan.ok:
            _provider_history(plan, provider_cls)
    return plan


def _import_provider(name: str) -> None:
    from runner.errors import SmsrunError
    from runner.providers import provider_class

    with contextlib.suppress(SmsrunError):  # reported where the plan needs the provider
        provider_class(name)


def _provider_history(plan: Plan, provider_cls: Any) -> None:
    """Issue 11: what the provider already sent for a campaign this ledger never saw."""
    from runner.errors import SmsrunError
    from runner.providers import expand_settings
    from runner.send.history import plan_problems

    try:
        provider = provider_cls(expand_settings(plan.campaign.provider.settings), state_dir=plan.state_dir)
    except SmsrunError as exc:
        plan.problems.append(Problem("warning", f"provider history not checked: {exc}"))
        return
    try:
        plan.problems.extend(plan_problems(plan, provider))
    except SmsrunError as exc:
        plan.problems.append(Problem("warning", f"provider history not checked: {exc}"))
    finally:
        provider.close()


def _suppressed(ledger: Ledger | None) -> dict[str, str]:
    if ledger is None:
        return {}
    return ledger.optout_sources()


def _legacy_optouts(suppressed: dict[str, str], problems: list[Problem]) -> None:
    """Opt-outs an older smsrun stored as written (``0612340005``) match no recipient (issue 15)."""
    legacy = [n for n in suppressed if not (n[:1] == "+" and n[1:].isdigit())]
    if legacy:
        from runner.masking import mask_number

        shown = ", ".join(mask_number(n) for n in legacy[:5]) + (f" and {len(legacy) - 5} more" if len(legacy) > 5
                                                                 else "")
        problems.append(Problem("warning", f"{len(legacy)} opt-out(s) are not in international form and suppress "
                                           f"nobody ({shown}): add them again with `smsrun optout add NUMBER "
                                           "--region FR` (see `smsrun optout list --show-numbers`)"))


def _render(campaign: Campaign, audience: Audience, todo: E164List, stop_mention: str | None,
            appended: str | None, problems: list[Problem]) -> tuple[RecipientList, dict[str, Any]]:
    from runner.message.checks import RenderBudget, RenderChecks, empty_problem
    from runner.message.encoding import check_text, measure
    from runner.message.transliterate import transliterate

    template = compile_template(campaign.message)
    suffix_phone = stop_mention or ""
    suffix_ours = f"\n{appended}" if appended else ""
    missing: dict[str, list[str]] = {}
    missing_count: Counter[str] = Counter()
    saved_parts = 0
    changes: Counter[str] = Counter()
    recipients = RecipientList()
    distribution: Counter[int] = Counter()
    chars_min, chars_max = 10**9, 0
    encodings: Counter[str] = Counter()
    example = ""
    rendered_cache: dict[str, tuple[str, int, str, int]] = {}

    def finish(raw_text: str) -> tuple[str, int, str, int]:
        found = rendered_cache.get(raw_text)
        if found is not None:
            return found
        nonlocal saved_parts
        text = raw_text
        if campaign.transliterate:
            result = transliterate(text)
            if result.changed:
                before = measure(text + suffix_ours + suffix_phone).parts
                text = result.text
                after = measure(text + suffix_ours + suffix_phone).parts
                saved_parts += before - after
                for original, replacement, count in result.changes:
                    changes[f"{original}→{replacement}"] += count
        text = text + suffix_ours
        shown = measure(text + suffix_phone)
        if len(rendered_cache) < 100_000:
            rendered_cache[raw_text] = (text, shown.parts, shown.encoding, shown.characters)
        return text, shown.parts, shown.encoding, shown.characters

    checks = RenderChecks()  # issue 15: every rendered message is checked, not one example
    if template.constant:
        text, parts, encoding, characters = finish(campaign.message)
        example = text + suffix_phone
        problems.extend(Problem.at(campaign.where("message"), "error", f"message: {p}") for p in check_text(text))
        empty = empty_problem(campaign.message)
        if empty:
            problems.append(Problem.at(campaign.where("message"), "error", f"message: {empty}"))
        recipients = RecipientList(todo, [text] * len(todo), [parts] * len(todo))
        if todo:
            distribution[parts] = len(todo)
            encodings[encoding] = len(todo)
            chars_min = chars_max = characters
    else:
        budget = RenderBudget(len(todo))  # issue 15: a total render time per plan
        for done, e164 in enumerate(todo):
            budget.check(done)
            fields = audience.fields.get(e164, {})
            try:
                raw_text = template.render(fields)
            except TemplateProblem as exc:
                key = exc.message
                missing_count[key] += 1
                named = missing.setdefault(key, [])
                if len(named) < MAX_NAMED:
                    named.append(audience.origin(e164))
                continue
            text, parts, encoding, characters = finish(raw_text)
            if not checks.check(raw_text, functools.partial(audience.origin, e164)):
                continue
            if not example:
                example = text + suffix_phone
            recipients.append(e164, text, parts)
            distribution[parts] += 1
            encodings[encoding] += 1
            chars_min = min(chars_min, characters)
            chars_max = max(chars_max, characters)
    for key, rows in missing.items():
        more = missing_count[key] - len(rows)
        problems.append(Problem.at(campaign.where("message"), "error",
                                   f"message template: {key}, for {missing_count[key]:,} recipient(s): "
                                   + ", ".join(rows) + (f" and {more:,} more" if more > 0 else "")))
    for message in checks.problems():
        problems.append(Problem.at(campaign.where("message"), "error", message))
    recipients.regions = _regions(recipients.numbers, audience)
    encoding = "UCS-2" if encodings.get("UCS-2") else "GSM-7"
    if len(encodings) > 1:
        problems.append(Problem("info", f"{encodings['UCS-2']:,} message(s) need UCS-2 and "
                                        f"{encodings['GSM-7']:,} fit GSM-7"))
    transliteration = None
    if campaign.transliterate:
        transliteration = {"changes": dict(changes), "parts_saved": saved_parts}
    elif recipients:
        sample = recipients.texts[0]
        result = transliterate(sample)
        if result.changed:
            saved = measure(sample + suffix_phone).parts - measure(result.text + suffix_phone).parts
            if saved > 0:
                problems.append(Problem("warning", f"transliterate: true would save {saved:,} part(s) per message "
                                                   f"(replacing {', '.join(repr(c[0]) for c in result.changes)})"))
    non_gsm = measure(example).non_gsm if example else ()
    if non_gsm and encoding == "UCS-2":
        problems.append(Problem("info", "UCS-2 because of " + ", ".join(repr(c) for c in non_gsm[:8])))
    info = {
        "encoding": encoding,
        "example": example,
        "parts_distribution": dict(sorted(distribution.items())),
        "characters": (chars_min if recipients else 0, chars_max),
        "total_parts": sum(p * n for p, n in distribution.items()),
        "transliteration": transliteration,
    }
    return recipients, info


def _regions(numbers: E164List, audience: Audience | None = None) -> list[str | None]:
    """The region of every number (for cost and windows): phonenumbers' ``region_code_for_number``
    (``runner.audience.regions``). When the audience's workers already found them (``region_codes``)
    and the plan sends to the whole audience, in its order, they are read from there."""
    from runner.audience.regions import decode, regions_of

    codes = audience.region_codes if audience is not None else None
    if codes is not None and len(codes) == len(numbers) and (numbers is audience.recipients  # type: ignore[union-attr]
                                                             or numbers == audience.recipients):  # type: ignore[union-attr]
        return decode(codes)
    return regions_of(numbers)


def _windows(campaign: Campaign, recipients: RecipientList, at: datetime,
             problems: list[Problem]) -> tuple[dict[str, Any], int | None]:
    from runner.message.window import WindowPolicy, count_localities, effective_window, group_by_window

    schedule = campaign.schedule
    info: dict[str, Any] = {"applies": False, "sendable_now": len(recipients), "held": 0, "next_opening": None,
                            "by_locality": []}
    if schedule.not_after and at >= schedule.not_after:
        problems.append(Problem("warning", f"the schedule ended at {schedule.not_after.isoformat()}: "
                                           "nothing more will be sent"))
        info.update(sendable_now=0, held=len(recipients), next_opening=None, schedule_ended=True)
        return info, 0
    if schedule.not_before and at < schedule.not_before:
        info.update(sendable_now=0, held=len(recipients), next_opening=schedule.not_before.isoformat(),
                    not_before=schedule.not_before.isoformat())
        problems.append(Problem("info", f"nothing is sent before {schedule.not_before.isoformat()} (schedule)"))
        return info, 0
    window = effective_window(campaign.commercial, campaign.window)
    if window is None or not recipients:
        return info, None
    policy = WindowPolicy(window)
    localities: Counter[Any] = count_localities(recipients.numbers)
    summary = group_by_window(policy, localities, at)
    open_now = {(lw.region, lw.zones) for lw in summary.localities if lw.open_now}
    open_localities = {loc for loc in localities if (loc.region, loc.zones) in open_now}
    sendable: int | None = None  # every locality open: everyone is sendable now
    if len(open_localities) < len(localities):
        sendable = sum(count for loc, count in localities.items() if loc in open_localities)
    next_opening = summary.next_opening
    if next_opening and schedule.not_after and next_opening >= schedule.not_after:
        next_opening = None
    info.update(
        applies=True,
        days=list(window.days), start=window.start, end=window.end, holidays_allowed=window.holidays,
        sendable_now=summary.sendable_now, held=summary.held,
        next_opening=next_opening.isoformat() if next_opening else None,
        by_locality=[{"region": lw.region, "zones": list(lw.zones), "count": lw.count, "open_now": lw.open_now,
                      "next_opening": lw.next_opening.isoformat() if lw.next_opening else None,
                      "next_opening_local": _local_time(lw.next_opening, lw.zones)}
                     for lw in summary.localities],
    )
    for warning in summary.warnings:
        problems.append(Problem("warning", f"send window: {warning}"))
    if summary.held:
        held = [lw for lw in summary.localities if not lw.open_now and lw.next_opening is not None]
        first = min(held, key=lambda lw: lw.next_opening or at) if held else None
        when = ""
        if first is not None and first.zones:  # in the locality's own time, as its recipients live it
            when = f"; the next opens {_local_time(first.next_opening, first.zones)} {first.zones[0]}"
        problems.append(Problem("info", f"{summary.held:,} recipient(s) are outside their send window now{when}"))
    return info, sendable


def _local_time(moment: datetime | None, zones: tuple[str, ...] | list[str]) -> str | None:
    """``moment`` on the wall clock of the locality's (first) zone: ``Mon 2026-12-07 08:00``."""
    if moment is None or not zones:
        return None
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(zones[0])).strftime("%a %Y-%m-%d %H:%M")


def _cost(campaign: Campaign, recipients: RecipientList, problems: list[Problem]) -> dict[str, Any]:
    from runner.message.cost import PriceTable, estimate

    table = PriceTable.from_settings(campaign.prices, campaign.default_price, campaign.price_unit)
    parts_by_region: Counter[str | None] = Counter()
    parts = recipients.parts
    assert len(parts) == len(recipients.regions)
    if parts and parts.count(parts[0]) == len(parts):  # one part count for all (one text): count regions only
        for region, count in Counter(recipients.regions).items():
            parts_by_region[region] += parts[0] * count
    else:
        for (region, size), count in Counter(zip(recipients.regions, parts, strict=True)).items():
            parts_by_region[region] += size * count
    result = estimate(table, parts_by_region)
    if result.unpriced:
        problems.append(Problem("warning", "no price for " + ", ".join(str(c) for c in result.unpriced)
                                           + ": set cost.prices or cost.default for a complete estimate"))
    return {"total": result.total, "unit": result.unit, "by_country": result.by_country,
            "unpriced": list(result.unpriced)}


def _limits(campaign: Campaign, recipients: RecipientList, cost: dict[str, Any], problems: list[Problem]) -> None:
    limits = campaign.limits
    if limits.max_recipients is not None and len(recipients) > limits.max_recipients:
        problems.append(Problem.at(campaign.where("limits.max_recipients"), "error",
                                   f"{len(recipients):,} recipients to send exceed limits.max_recipients "
                                   f"({limits.max_recipients:,})"))
    over: list[Recipient] = []
    if max(recipients.parts, default=0) > limits.max_parts:
        over = [r for r in recipients if r.parts > limits.max_parts]
    if over:
        named = ", ".join(f"{r.e164} ({r.parts} parts)" for r in over[:MAX_NAMED])
        more = f" and {len(over) - MAX_NAMED:,} more" if len(over) > MAX_NAMED else ""
        problems.append(Problem.at(campaign.where("message"), "error",
                                   f"{len(over):,} message(s) need more than limits.max_parts "
                                   f"({limits.max_parts}) SMS parts: {named}{more}"))
    if limits.max_cost is not None and cost["total"] > limits.max_cost:
        problems.append(Problem.at(campaign.where("limits.max_cost"), "error",
                                   f"estimated cost {cost['total']:,g} {cost['unit']} exceeds limits.max_cost "
                                   f"({limits.max_cost:,g})"))


def _invalid_problems(audience: Audience, problems: list[Problem]) -> None:
    for group in sorted(audience.invalid.values(), key=lambda g: -g.count):
        more = group.count - len(group.examples)
        problems.append(Problem("warning", f"{group.count:,} invalid number(s), {group.reason}: "
                                           + "; ".join(group.examples) + (f"; and {more:,} more" if more > 0 else "")))
    if audience.exclusion_invalid:
        problems.append(Problem("warning", f"{audience.exclusion_invalid:,} number(s) in exclusion lists are not "
                                           "mobile numbers and exclude nobody"))
    if audience.exclusion_unreadable:  # issue 15: a do-not-contact entry we cannot read fails the plan
        more = audience.exclusion_unreadable - len(audience.exclusion_examples)
        problems.append(Problem("error", f"{audience.exclusion_unreadable:,} exclusion(s) cannot be read as a phone "
                                         "number, so the people they name could be messaged: "
                                         + "; ".join(audience.exclusion_examples)
                                         + (f"; and {more:,} more" if more > 0 else "")
                                         + ". Fix them (or give the exclusion source its region)"))


def _digest(campaign: Campaign, audience: Audience, ledger_fingerprint: str) -> str:
    h = hashlib.sha256()
    for piece in (campaign.source_text, campaign.provider.name, ledger_fingerprint, *audience.digests):
        h.update(piece.encode())
        h.update(b"\x1f")
    return h.hexdigest()


def _provider_preflight(plan: Plan, provider_cls: Any) -> None:
    campaign = plan.campaign
    try:
        from runner.providers import expand_settings

        provider = provider_cls(expand_settings(campaign.provider.settings), state_dir=plan.state_dir)
    except Exception as exc:
        from runner.errors import SmsrunError

        if isinstance(exc, SmsrunError):
            plan.problems.append(Problem("warning", f"provider checks skipped: {exc}"))
            return
        raise
    try:
        for message in provider.preflight(sender=campaign.sender, total_parts=plan.total_parts):
            plan.problems.append(Problem("warning", f"provider: {message}"))
    except Exception as exc:
        from runner.errors import SmsrunError

        if not isinstance(exc, SmsrunError):
            raise
        plan.problems.append(Problem("error", f"provider: {exc}"))
    finally:
        provider.close()
