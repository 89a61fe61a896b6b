"""Benchmark: ``smsrun plan --json`` of a campaign whose CSV has 1,000,000 rows.

    .venv/bin/python bench/bench_plan.py [--rows N] [--runs R] [--sample S]

Runs the real command in a subprocess (start-up, campaign loading, CSV read, phone validation,
dedupe, rendering, cost, JSON output) and reads its wall time and peak RSS from ``wait4``; median
of R runs (default 3). Two campaigns on the same list: the one ``bench_send.py`` sends (one text,
not commercial) and a commercial one (send windows per recipient locality, opt-out text).

Phone validation, in the same run: ``PhoneNormaliser("FR").classify`` (fast path + cache, as the
plan uses it) on the CSV's phone column, against the naive phonenumbers baseline (``parse`` +
``is_valid_number`` + ``number_type`` + ``format_number`` for the valid ones) on the first S rows
(default 100,000), extrapolated to the whole list.

Targets (issue 5): plan <= 5 s wall and <= 300 MB peak RSS. Floors measured on this machine
(shared/reference/performance-floors.md §7): the whole pipeline 4.1 s, 211 MB; plain phonenumbers
18.2 us/number (18 s per 1M), fast path + cache 1.7-2.0 s per 1M.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import SMSRUN, check, median, run_measured, table, verdict
from gen_data import ensure

AT = "2026-11-25T10:00:00+01:00"  # a Wednesday morning: commercial windows open everywhere in Europe
NO_OVH = {k: "" for k in ("OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY")}

FLOOR_PLAN_S, FLOOR_PLAN_MB = 4.1, 211
FLOOR_PLAIN_US, FLOOR_FAST_S = 18.2, (1.7, 2.0)
TARGET_S, TARGET_MB = 5.0, 300


def plan_once(campaign: Path, state: Path) -> tuple[float, float, dict[str, object]]:
    result = run_measured([SMSRUN, "plan", "--json", "--state-dir", str(state), "--at", AT, str(campaign)],
                          env=NO_OVH)
    check(result, f"plan {campaign.name}")
    summary = json.loads(result.stdout)
    return result.wall, result.max_rss_mb, summary


def phone_column(csv_path: Path) -> list[str]:
    with csv_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [row[0].strip() for row in reader if row]


def naive_classify(numbers: list[str]) -> float:
    """The plain phonenumbers path, as the naive baseline (seconds for ``numbers``)."""
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberFormat

    phonenumbers.parse("+33612345678", "FR")  # metadata loaded outside the timing
    started = time.perf_counter()
    for raw in numbers:
        try:
            number = phonenumbers.parse(raw, "FR")
        except NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            phonenumbers.number_type(number)
            phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return time.perf_counter() - started


def ours_classify(numbers: list[str]) -> float:
    from runner.audience.phones import PhoneNormaliser

    PhoneNormaliser("FR").classify("+33612345678")  # metadata and regexes built outside the timing
    normaliser = PhoneNormaliser("FR")
    classify = normaliser.classify
    started = time.perf_counter()
    for raw in numbers:
        classify(raw)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample", type=int, default=100_000)
    args = parser.parse_args()
    files = ensure(args.rows)

    rows: list[list[str]] = [["measure", "target", "measured", "floor / baseline", "verdict"]]
    with tempfile.TemporaryDirectory(prefix="smsrun-bench-plan-") as tmp:
        state = Path(tmp)
        for name, label in (("send", "plan, one text"), ("commercial", "plan, commercial (windows)")):
            walls, rss = [], []
            summary: dict[str, object] = {}
            for _ in range(args.runs):
                wall, peak, summary = plan_once(files[name], state)
                walls.append(wall)
                rss.append(peak)
            counts = summary["recipients"]
            assert isinstance(counts, dict)
            print(f"{label}: {files[name].name}: {counts['rows']:,} rows, {counts['valid']:,} valid, "
                  f"{counts['invalid']:,} invalid, {counts['duplicates']:,} duplicates, {counts['to_send']:,} "
                  f"to send; runs {', '.join(f'{w:.2f}' for w in walls)} s", file=sys.stderr)
            wall, peak = median(walls), median(rss)
            rows.append([f"{label}: wall", f"<= {TARGET_S:g} s", f"{wall:.2f} s", f"{FLOOR_PLAN_S} s (floors §7)",
                         verdict(wall, TARGET_S)])
            rows.append([f"{label}: peak RSS", f"<= {TARGET_MB} MB", f"{peak:.0f} MB",
                         f"{FLOOR_PLAN_MB} MB (floors §7)", verdict(peak, TARGET_MB)])

    numbers = phone_column(files["csv"])
    sample = numbers[: args.sample]
    naive = naive_classify(sample) * len(numbers) / len(sample)
    ours = min(ours_classify(numbers) for _ in range(2))
    per_number = ours / len(numbers) * 1e6
    rows.append([f"phone validation, {len(numbers):,} numbers", "", f"{ours:.2f} s ({per_number:.2f} us/n)",
                 f"fast path + cache {FLOOR_FAST_S[0]}-{FLOOR_FAST_S[1]} s (floors §2)", ""])
    rows.append([f"naive phonenumbers ({len(sample):,} sample, extrapolated)", "", f"{naive:.2f} s",
                 f"{FLOOR_PLAIN_US} us/n = {FLOOR_PLAIN_US * len(numbers) / 1e6:.1f} s (floors §2)", ""])
    rows.append(["phone validation speed-up vs naive", "", f"{naive / ours:.1f}x", "10.5x (floors §2)", ""])
    print(table(rows))


if __name__ == "__main__":
    main()
