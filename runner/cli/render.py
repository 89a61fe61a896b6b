"""Presentation only: plan summaries and reports as text or Markdown. No I/O, no logic."""

from __future__ import annotations

from typing import Any


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


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
        lines.append(f"    held           {_n(w['held'])}"
                     + (f" (next opening {w['next_opening']})" if w.get("next_opening") else ""))
    for group in s["invalid"]:
        lines.append(f"  invalid: {group['reason']} ×{_n(group['count'])}: " + "; ".join(group["examples"][:3]))
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
    lines += ["", f"Cost       {cost['total']:g} {cost['unit']}"]
    for country, item in cost["by_country"].items():
        lines.append(f"  {country}  {_n(item['parts'])} part(s) × {item['price']:g} = {item['cost']:g}")
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
        f"estimated cost **{cost['total']:g} {cost['unit']}**.",
    ]
    if w.get("applies") or w.get("held"):
        out.append(f"**Window** {_n(w['sendable_now'])} sendable now, {_n(w['held'])} held"
                   + (f" until {w['next_opening']}" if w.get("next_opening") else "") + ".")
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


def report_text(d: dict[str, Any]) -> str:
    line = (f"{d['campaign']}: sent {_n(d['sent'])}, rejected {_n(d['rejected'])}, in doubt {_n(d['in_doubt'])}, "
            f"skipped {_n(d['skipped'])}, held {_n(d['held'])}")
    if d.get("reconciled"):
        line += f", reconciled {_n(d['reconciled'])}"
    if d.get("adopted"):  # issue 11: found at the provider, written to a lost ledger
        line += f", adopted from the provider {_n(d['adopted'])}"
    line += f" ({d['requests']} request(s), {d['retries']} retried, {d['elapsed_s']:.1f} s)"
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
    for key in ("sent", "delivered", "failed", "pending", "in_doubt", "rejected"):
        lines.append(f"  {key:<10} {_n(d[key])}")
    for row in d.get("in_doubt_rows", []):
        lines.append(f"  in doubt: {row['recipient']} (batch {row['batch_id']}, claimed {row['claimed_at']}): "
                     f"{row['reason']}")
    return "\n".join(lines)
