"""Benchmark: peak RSS of ``smsrun plan`` with the list size (100,000 and 1,000,000 rows).

    .venv/bin/python bench/bench_memory.py [--sizes 100000,1000000]

Runs the real ``smsrun plan --json`` (one text, not commercial; then the commercial variant) on lists
generated with the same mix at each size, and prints the peak RSS (``wait4``), the RSS above the
smallest run and the bytes per row that growth means. "Flat" is a constant cost per recipient: the
plan keeps the distinct numbers (dedupe), their classification cache and the ledger rows to insert,
and nothing per CSV row beyond that.

Floors (shared/reference/performance-floors.md §1, §7): the interpreter alone 12.8 MB; holding the
numbers ≈70 B each, an ordered dedupe ≈90 B each; the whole 1M-row pipeline peaked at 211 MB.
Target (issue 5): <= 300 MB at 1M rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_plan import AT, NO_OVH
from common import SMSRUN, check, run_measured, table, verdict
from gen_data import ensure

TARGET_MB = 300


def peak(campaign: Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="smsrun-bench-mem-") as tmp:
        result = run_measured([SMSRUN, "plan", "--json", "--state-dir", tmp, "--at", AT, str(campaign)], env=NO_OVH)
    check(result, f"plan {campaign.name}")
    return result.max_rss_mb, result.wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    floor = run_measured([sys.executable, "-c", "pass"]).max_rss_mb
    rows = [["campaign", "rows", "peak RSS", "above smallest", "per row", "wall", "target", "verdict"]]
    for kind in ("send", "commercial"):
        first: tuple[int, float] | None = None
        for size in sizes:
            mb, wall = peak(ensure(size, quiet=True)[kind])
            growth = per_row = ""
            if first is None:
                first = (size, mb)
            else:
                growth = f"+{mb - first[1]:.0f} MB"
                per_row = f"{(mb - first[1]) * 2**20 / (size - first[0]):.0f} B"
            target = f"<= {TARGET_MB} MB" if size >= 1_000_000 else ""
            rows.append([kind, f"{size:,}", f"{mb:.0f} MB", growth, per_row, f"{wall:.2f} s", target,
                         verdict(mb, TARGET_MB) if target else ""])
    print(table(rows))
    print(f"python -c pass: {floor:.0f} MB; floors: ~70 B per number held, ~90 B per deduped number (§1), "
          "211 MB for the whole 1M-row pipeline (§7)")


if __name__ == "__main__":
    main()
