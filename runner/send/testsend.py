"""``smsrun send CAMPAIGN --test-to NUMBER [--as ROW]``: the real message, on the author's own phone first.

The message is rendered as one chosen recipient would get it (default: the first of the audience) —
template fields, transliteration, smsrun's opt-out mention; the provider's own STOP mention is added by
the provider, as in the real send — and sent to the test numbers through the campaign's provider.

A test send is recorded apart (the ledger's ``test_sends``): it is never counted as sent to anyone, it
registers nothing about the campaign (so the message may still change afterwards) and takes no lock, so it
never blocks the real send. ``smsrun status`` shows the last ones. A test number on the opt-out list is
refused: an opt-out is an opt-out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.campaign.model import Campaign
from runner.errors import InDoubtError, ProviderError, SmsrunError
from runner.masking import mask_number

MAX_TEST_NUMBERS = 10


@dataclass
class SendTestResult:
    campaign: str
    as_recipient: str  # the recipient the message was rendered for (masked unless shown), or "(no fields)"
    origin: str  # where that recipient comes from (file:line)
    text: str  # what smsrun sent
    shown: str  # what the phone shows (with the provider's STOP mention)
    parts: int
    encoding: str
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r["status"] == "sent" for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "test": True, "as": self.as_recipient, "origin": self.origin,
                "text": self.shown, "parts": self.parts, "encoding": self.encoding, "results": self.results,
                "ok": self.ok}


def run_test_send(target: Path, numbers: list[str], **options: Any) -> SendTestResult:
    """A test send of the campaign file ``target`` (or of the campaign of a plan saved with ``--out``)."""
    from runner.check import load_campaign
    from runner.plan.planfile import is_plan_file, read_plan

    path = Path(read_plan(target)["campaign_file"]) if is_plan_file(target) else target
    return send_test(load_campaign(path), numbers, **options)


def send_test(campaign: Campaign, numbers: list[str], *, as_row: str | None = None, state_dir: Path | None = None,
              show_numbers: bool = False, allow_private_urls: bool = False) -> SendTestResult:
    from runner.audience.build import build_audience, normaliser_for
    from runner.ledger.store import Ledger, state_dir_for
    from runner.ledger.url import ledger_exists
    from runner.message.encoding import measure
    from runner.message.template import TemplateProblem, compile_template
    from runner.message.transliterate import transliterate
    from runner.providers import create_provider, provider_capabilities
    from runner.providers.base import Batch, Outcome, OutgoingMessage
    from runner.sources import SourceContext

    if not numbers:
        raise SmsrunError("--test-to: give at least one number")
    if len(numbers) > MAX_TEST_NUMBERS:
        raise SmsrunError(f"--test-to: at most {MAX_TEST_NUMBERS} test numbers (a test is not a campaign)")
    repo_root = campaign.repo_root or campaign.path.parent
    folder = state_dir_for(state_dir, repo_root)
    normaliser = normaliser_for(campaign.sources[0].options.get("region") if campaign.sources else None)
    targets: list[str] = []
    for raw in numbers:
        e164, reason = normaliser.classify(raw)
        if e164 is None:
            raise SmsrunError(f"--test-to {raw!r}: not a valid mobile number ({reason}); write it as +33612345678")
        if e164 not in targets:
            targets.append(e164)

    template = compile_template(campaign.message)
    ctx = SourceContext(repo_root=repo_root, allow_private_urls=allow_private_urls)
    audience = build_audience(campaign, ctx, wanted_fields=template.fields)
    chosen, origin = _choose(audience, as_row, normaliser)
    fields = audience.fields.get(chosen, {}) if chosen else {}
    try:
        raw_text = template.render(fields)
    except TemplateProblem as exc:
        raise SmsrunError(f"message template, rendered as {origin}: {exc.message}") from None

    caps = provider_capabilities(campaign.provider.name, campaign.provider.settings)
    stop = caps.stop_mention if campaign.commercial else None
    appended = campaign.opt_out_text if campaign.commercial and stop is None else None
    text = transliterate(raw_text).text if campaign.transliterate else raw_text
    if appended:
        text += f"\n{appended}"
    shown = text + (stop or "")
    measured = measure(shown)

    ledger = Ledger(folder) if ledger_exists(folder) else None
    try:
        opted_out = ledger.opted_out(targets) if ledger else set()
    finally:
        if ledger:
            ledger.close()
    if opted_out:
        listed = ", ".join(n if show_numbers else mask_number(n) for n in sorted(opted_out))
        raise SmsrunError(f"--test-to: {listed} opted out (see `smsrun optout list`); nothing was sent")

    at = datetime.now(UTC)
    batch = Batch(campaign_id=campaign.id, batch_id=f"{campaign.id}.test.{at.strftime('%Y%m%dT%H%M%S%f')}",
                  sender=campaign.sender, commercial=campaign.commercial, encoding=measured.encoding,
                  messages=[OutgoingMessage(n, text, f"{campaign.id}:test:{n}") for n in targets])
    provider = create_provider(campaign.provider.name, campaign.provider.settings, state_dir=folder)
    try:
        try:
            answers = {r.recipient: r for r in provider.send(batch)}
        except ProviderError as exc:
            status = "in_doubt" if isinstance(exc, InDoubtError) else "failed"
            answers = {}
            failure: tuple[str, str] | None = (status, exc.message)
        else:
            failure = None
    finally:
        provider.close()
    outcome_names = {Outcome.SENT: "sent", Outcome.REJECTED: "rejected", Outcome.IN_DOUBT: "in_doubt",
                     Outcome.RETRY: "failed"}
    rows: list[tuple[str, str, str | None, str | None]] = []
    for number in targets:
        answer = answers.get(number)
        if failure is not None:
            rows.append((number, failure[0], None, failure[1]))
        elif answer is None:
            rows.append((number, "in_doubt", None, "the provider did not answer for this number"))
        else:
            rows.append((number, outcome_names[answer.outcome], answer.provider_id, answer.reason))
    as_shown = (chosen if show_numbers else mask_number(chosen)) if chosen else "(no recipient)"
    with Ledger(folder) as ledger:
        ledger.record_test_sends(campaign.id, [(n, status, pid, reason) for n, status, pid, reason in rows],
                                 text=text, as_recipient=chosen, at=at.isoformat(timespec="milliseconds"))
    result = SendTestResult(campaign.id, as_shown, origin, text, shown, measured.parts, measured.encoding)
    result.results = [{"to": n if show_numbers else mask_number(n), "status": status, "provider_id": pid,
                       "reason": reason} for n, status, pid, reason in rows]
    return result


def _choose(audience: Any, as_row: str | None, normaliser: Any) -> tuple[str | None, str]:
    """The recipient to render for: ``--as`` a 1-based position, a ``file:line``, or a number of the
    audience; default the first recipient."""
    recipients: dict[str, int] = audience.recipients
    if not recipients:
        if as_row:
            raise SmsrunError(f"--as {as_row!r}: the campaign's sources hold no recipients")
        return None, "(no recipients: the template rendered without fields)"
    if as_row is None:
        first = next(iter(recipients))
        return first, audience.origin(first)
    if as_row.isdigit():
        index = int(as_row)
        if not 1 <= index <= len(recipients):
            raise SmsrunError(f"--as {as_row}: the campaign has {len(recipients):,} recipient(s); give 1 to "
                              f"{len(recipients):,}, a file:line or a number")
        for position, e164 in enumerate(recipients, 1):
            if position == index:
                return e164, audience.origin(e164)
    for e164 in recipients:
        if audience.origin(e164) == as_row:
            return e164, as_row
    e164, _ = normaliser.classify(as_row)
    if e164 is not None and e164 in recipients:
        return e164, audience.origin(e164)
    raise SmsrunError(f"--as {as_row!r}: no such recipient (give a position such as 3, a source row such as "
                      "lists/customers.csv:12, or one of the campaign's numbers)")
