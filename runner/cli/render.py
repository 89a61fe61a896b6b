"""Presentation only: plan summaries and reports as text or Markdown. No I/O, no logic."""

from __future__ import annotations

from typing import Any


def _n(value: Any) -> str:
    """One number format everywhere: ``45,597``; ``1,234.56`` (at most 4 decimals, trailing zeros dropped)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(value)


def _held_until(w: dict[str, Any]) -> str:
    """When each held locality opens, in its own time: ``FR Mon 2026-12-07 08:00 Europe/Paris``."""
    held = [lw for lw in w.get("by_locality", []) if not lw.get("open_now")]
    parts = []
    for lw in held:
        local = lw.get("next_opening_local")
        when = f"{local} {lw['zones'][0]}" if local and lw.get("zones") else "not within a year"
        parts.append(f"{lw['region'] or '?'} ×{_n(lw['count'])} until {when}")
    if parts:
        return "; ".join(parts)
    return f"until {w['next_opening']}" if w.get("next_opening") else ""


def _parts_line(m: dict[str, Any]) -> str:
    if m["parts_min"] == m["parts_max"]:
        return f"{m['parts_min']} part(s) per message"
    dist = ", ".join(f"{k} parts: {_n(v)}" for k, v in m["parts_distribution"].items())
    return f"{m['parts_min']}–{m['parts_max']} parts per message ({dist})"


def plan_text(s: dict[str, Any]) -> str:
    c, r, m, w, cost = s["campaign"], s["recipients"], s["message"], s["window"], s["cost"]
    lines = [
        f"Campaign   {c['id']}  ({c['file']})",
        f"Sender     {c['sender']}" + ("  (replies allowed)" if c["sender_kind"] == "short-code" else ""),
        f"Commercial {'yes' if c['commercial'] else 'no'}",
        f"Provider   {c['provider']}",
        "",
        "Recipients",
        f"  rows read        {_n(r['rows'])}",
        f"  valid            {_n(r['valid'])}",
        f"  invalid          {_n(r['invalid'])}",
        f"  duplicates       {_n(r['duplicates'])}",
        f"  excluded         {_n(r['excluded'])}",
        f"  opted out        {_n(r['suppressed'])}"
        + (" (" + ", ".join(f"{k}: {_n(v)}" for k, v in r.get("suppressed_by", {}).items()) + ")"
           if r["suppressed"] else ""),
        f"  already sent     {_n(r['already_sent'])}",
    ]
    if r["rejected_before"]:
        lines.append(f"  rejected before  {_n(r['rejected_before'])}")
    if r["in_doubt"]:
        lines.append(f"  in doubt         {_n(r['in_doubt'])}")
    lines.append(f"  to send          {_n(r['to_send'])}")
    if w.get("applies") or w.get("held"):
        lines.append(f"    now            {_n(w['sendable_now'])}")
        until = _held_until(w)
        lines.append(f"    held           {_n(w['held'])}" + (f" ({until})" if until else ""))
    # invalid numbers by reason are listed once, with the problems below
    lines += [
        "",
        "Message",
        f"  encoding   {m['encoding']}",
        f"  length     {m['characters_min']}" + (f"–{m['characters_max']}" if m["characters_max"] != m["characters_min"]
                                                 else "") + " characters",
        f"  parts      {_parts_line(m)}; total {_n(s['total_parts'])} SMS",
    ]
    if m["stop_mention"]:
        lines.append(f"  STOP       appended by the provider: {m['stop_mention'].strip()!r}")
    if m["opt_out_text"]:
        lines.append(f"  STOP       appended by smsrun: {m['opt_out_text']!r}")
    if m.get("transliteration"):
        t = m["transliteration"]
        changes = ", ".join(f"{k} ×{v}" for k, v in t["changes"].items()) or "nothing"
        lines.append(f"  transliterated: {changes}; {t['parts_saved']} part(s) saved")
    if m["example"]:
        lines.append("  example:")
        lines += [f"  │ {line}" for line in m["example"].split("\n")]
    lines += ["", f"Cost       {_n(cost['total'])} {cost['unit']}"]
    for country, item in cost["by_country"].items():
        lines.append(f"  {country}  {_n(item['parts'])} part(s) × {_n(item['price'])} = {_n(item['cost'])}")
    if s["problems"]:
        lines.append("")
        for p in s["problems"]:
            lines.append(f"{p['severity']}: {p['message']}")
    lines.append("")
    lines.append("Plan OK." if s["ok"] else "Plan has errors: nothing can be sent.")
    return "\n".join(lines)


def plan_markdown(s: dict[str, Any]) -> str:
    c, r, m, w, cost = s["campaign"], s["recipients"], s["message"], s["window"], s["cost"]
    status = "✅ ready" if s["ok"] else "❌ has errors"
    out = [
        f"### smsrun plan: `{c['id']}` — {status}",
        "",
        f"**Sender** {c['sender']} · **commercial** {'yes' if c['commercial'] else 'no'} · "
        f"**provider** {c['provider']} · file `{c['file']}`",
        "",
        "| rows | valid | invalid | duplicates | excluded | opted out | already sent | in doubt | **to send** |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {_n(r['rows'])} | {_n(r['valid'])} | {_n(r['invalid'])} | {_n(r['duplicates'])} | {_n(r['excluded'])} | "
        f"{_n(r['suppressed'])} | {_n(r['already_sent'])} | {_n(r['in_doubt'])} | **{_n(r['to_send'])}** |",
        "",
        f"**Message** {m['encoding']}, {_parts_line(m)}, **{_n(s['total_parts'])} SMS** in total; "
        f"estimated cost **{_n(cost['total'])} {cost['unit']}**.",
    ]
    if w.get("applies") or w.get("held"):
        until = _held_until(w)
        out.append(f"**Window** {_n(w['sendable_now'])} sendable now, {_n(w['held'])} held"
                   + (f" ({until})" if until else "") + ".")
    if m["example"]:
        out += ["", "<details><summary>Example message</summary>", "", "```text", m["example"], "```", "",
                "</details>"]
    if s["problems"]:
        out += ["", "| | problem |", "|---|---|"]
        icon = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}
        for p in s["problems"]:
            cell = p["message"].replace("|", "\\|").replace("\n", " ")
            out.append(f"| {icon.get(p['severity'], '')} {p['severity']} | {cell} |")
    out.append("")
    out.append(f"<sub>plan digest `{s['digest'][:16]}`</sub>")
    return "\n".join(out)


def nothing_now_reason(s: dict[str, Any]) -> str:
    """Why a plan with recipients left can send none of them now (for ``--detailed-exitcode``)."""
    w = s["window"]
    to_send = _n(s["recipients"]["to_send"])
    if w.get("schedule_ended"):
        return f"nothing can be sent now: the schedule ended; {to_send} recipient(s) will not be sent"
    if w.get("not_before"):
        return f"nothing can be sent now: the schedule starts at {w['not_before']} ({to_send} recipient(s) waiting)"
    until = _held_until(w)
    return (f"nothing can be sent now: all {to_send} recipient(s) are outside their send window"
            + (f" ({until})" if until else ""))


def outbox_text(messages: list[dict[str, Any]], total: int) -> str:
    """The outbox's last messages under a header, then how many older ones are not shown."""
    lines = [f"{'id':>7}  {'recorded at (UTC)':<29}  {'campaign':<16}  {'to':<16}  text"]
    for m in messages:
        text = m["text"].replace("\n", "⏎")
        lines.append(f"{m['id']:>7}  {m['created_at']:<29}  {m['campaign_id']:<16}  {m['recipient']:<16}  {text}")
    more = total - len(messages)
    if more > 0:
        lines.append(f"… {_n(more)} more (older; --limit N shows the last N, --limit 0 all)")
    return "\n".join(lines)


def report_text(d: dict[str, Any]) -> str:
    line = (f"{d['campaign']}: sent {_n(d['sent'])}, rejected {_n(d['rejected'])}, in doubt {_n(d['in_doubt'])}, "
            f"skipped {_n(d['skipped'])}, held {_n(d['held'])}")
    if d.get("reconciled"):
        line += f", reconciled {_n(d['reconciled'])}"
    if d.get("adopted"):  # issue 11: found at the provider, written to a lost ledger
        line += f", adopted from the provider {_n(d['adopted'])}"
    line += f" ({_n(d['requests'])} request(s), {_n(d['retries'])} retried, {d['elapsed_s']:.1f} s)"
    for reason, count in d.get("rejections", {}).items():
        line += f"\n  rejected ×{_n(count)}: {reason}"
    if d["in_doubt"]:
        line += ("\n  in doubt: the provider may or may not have accepted them; see `smsrun status`, "
                 "they are never resent without --resend-in-doubt")
    if d.get("interrupted"):
        line += "\n  interrupted: the in-flight request was settled; run the same command again to resume"
    return line


def status_text(d: dict[str, Any]) -> str:
    lines = [f"Campaign {d['campaign']}"]
    holder = d.get("holder")
    if holder:
        lines.append(f"  being sent by {holder['holder']}" + (f", CI job {holder['ci_url']}" if holder.get("ci_url")
                     else "") + (f", since {holder['since']}" if holder.get("since") else ""))
    for key in ("sent", "delivered", "failed", "pending", "in_doubt", "rejected"):
        lines.append(f"  {key:<10} {_n(d[key])}")
    for row in d.get("in_doubt_rows", []):
        lines.append(f"  in doubt: {row['recipient']} (batch {row['batch_id']}, claimed {row['claimed_at']}): "
                     f"{row['reason']}")
    tests = d.get("test_sends") or []
    if tests:
        lines.append("Test sends (not counted above)")
        for t in tests:
            lines.append(f"  {t['sent_at']}  {t['to']}  {t['status']}"
                         + (f"  id {t['provider_id']}" if t["provider_id"] else "")
                         + (f"  ({t['reason']})" if t["reason"] else ""))
    return "\n".join(lines)


def test_send_text(d: dict[str, Any]) -> str:
    """A test send (``send --test-to``): what was sent, rendered as whom, and each number's answer."""
    lines = [f"Test send of {d['campaign']} (not counted as sent to anyone)",
             f"  rendered as  {d['as']}  ({d['origin']})",
             f"  message      {d['parts']} part(s), {d['encoding']}", ""]
    lines += ["  " + line for line in d["text"].splitlines()]
    lines.append("")
    for r in d["results"]:
        lines.append(f"  {r['to']}: {r['status']}" + (f", id {r['provider_id']}" if r["provider_id"] else "")
                     + (f" ({r['reason']})" if r["reason"] else ""))
    return "\n".join(lines)
