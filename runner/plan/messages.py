"""The messages of a plan: every recipient's text rendered, finished (transliteration, the opt-out text)
and measured (encoding, parts, characters), with the problems of the texts; and each recipient's region.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from typing import Any

from runner.audience.build import Audience
from runner.audience.numbers import E164List
from runner.campaign.model import Campaign
from runner.message.template import TemplateProblem, compile_template
from runner.plan.model import RecipientList
from runner.plan.problems import MAX_NAMED, Problem, where


def render_messages(campaign: Campaign, audience: Audience, todo: E164List, stop_mention: str | None,
                    appended: str | None, problems: list[Problem]) -> tuple[RecipientList, dict[str, Any]]:
    from runner.message.checks import RenderBudget, RenderChecks, empty_problem
    from runner.message.encoding import check_text, measure
    from runner.message.transliterate import transliterate

    template = compile_template(campaign.message)
    suffix_phone = stop_mention or ""
    suffix_ours = f"\n{appended}" if appended else ""
    missing: dict[str, list[tuple[str, int]]] = {}
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
                    named.append(_row(audience, e164))
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
                                   + ", ".join(where(path, line) for path, line in rows)
                                   + (f" and {more:,} more" if more > 0 else "")))
    for message in checks.problems():
        problems.append(Problem.at(campaign.where("message"), "error", message))
    recipients.regions = regions(recipients.numbers, audience)
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


def regions(numbers: E164List, audience: Audience | None = None) -> Sequence[str | None]:
    """The region of every number (for cost and windows): phonenumbers' ``region_code_for_number``
    (``runner.audience.regions``). When the audience's workers already found them (``region_codes``)
    and the plan sends to the whole audience, in its order, they are read from there."""
    from runner.audience.regions import RegionCodes, regions_of

    codes = audience.region_codes if audience is not None else None
    if codes is not None and len(codes) == len(numbers) and (numbers is audience.recipients  # type: ignore[union-attr]
                                                             or numbers == audience.recipients):  # type: ignore[union-attr]
        return RegionCodes(codes)  # read one by one when asked (a million list slots saved)
    return regions_of(numbers)


def _row(audience: Audience, e164: str) -> tuple[str, int]:
    """The file and line where ``e164`` was first seen (a scan: for problems naming a few recipients)."""
    code = audience.codes[audience.recipients.index(e164)]
    return audience.labels[code >> 32], code & 0xFFFFFFFF
