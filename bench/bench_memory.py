"""Benchmark: peak RSS of ``smsrun plan`` with the list size (100,000 and 1,000,000 rows).

    .venv/bin/python bench/bench_memory.py [--sizes 100000,1000000]

Runs the real ``smsrun plan --json`` (one text, not commercial; then the commercial variant) on lists
generated with the same mix at each size, and prints the peak RSS (``wait4``), the RSS above the
smallest run and the bytes per row that growth means. "Flat" is a constant cost per recipient: the
plan keeps the distinct numbers (dedupe), their classification cache and the ledger rows to insert,
and nothing per CSV row beyond that.

``--scaling 1000000,5000000`` (issue 14): the plan of the main list at both sizes, with workers and
with ``SMSRUN_WORKERS=1``: wall and peak memory of the whole process tree (parent + workers, sum of
RSS and of PSS), and the ratios large/small. Target: the 5M list within 5x the time and 2x the
memory of the 1M list.

Floors (shared/reference/performance-floors.md §1, §7): the interpreter alone 12.8 MB; holding the
numbers ≈70 B each, an ordered dedupe ≈90 B each; the whole 1M-row pipeline peaked at 211 MB.
Target (issue 5): <= 300 MB at 1M rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_plan import AT, NO_OVH
from common import SMSRUN, check, run_measured, run_tree_measured, table, verdict
from gen_data import ensure, ensure_repeated

TARGET_MB = 300


def peak(campaign: Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="smsrun-bench-mem-") as tmp:
        result = run_measured([SMSRUN, "plan", "--json", "--state-dir", tmp, "--at", AT, str(campaign)], env=NO_OVH)
    check(result, f"plan {campaign.name}")
    return result.max_rss_mb, result.wall


def scaling(sizes: list[int], runs: int) -> None:
    """Issue 14: time and memory of the large list against the small one, with and without workers.

    Two large lists: one generated at that size (as many more distinct recipients), and the small list
    repeated (the same recipients, more rows).
    """
    rows = [["mode", "list", "rows", "wall (best)", "RSS sum", "PSS sum", "processes", "time ratio",
             "memory ratio", "target", "verdict"]]
    small, large = sizes[0], sizes[-1]
    lists = [("generated", small, ensure(small, quiet=True)["send"]),
             ("generated", large, ensure(large, quiet=True)["send"]),
             (f"{small:,} x{large // small}", large, ensure_repeated(small, large // small))]
    for mode, env in (("workers", {}), ("single process", {"SMSRUN_WORKERS": "1"})):
        first: tuple[float, float] | None = None
        for kind, size, campaign in lists:
            best = None
            for _ in range(runs):
                with tempfile.TemporaryDirectory(prefix="smsrun-bench-mem-") as tmp:
                    result = run_tree_measured([SMSRUN, "plan", "--json", "--state-dir", tmp, "--at", AT,
                                                str(campaign)], env={**NO_OVH, **env})
                check(result, f"plan {campaign.name}")
                if best is None or result.wall < best.wall:
                    best = result
            assert best is not None
            ratios = ["", "", "", ""]
            if first is None:  # the small list
                first = (best.wall, best.tree_rss_mb)
            else:
                time_ratio, memory_ratio = best.wall / first[0], best.tree_rss_mb / first[1]
                ratios = [f"{time_ratio:.2f}x", f"{memory_ratio:.2f}x", "<= 5x time, <= 2x memory",
                          "OK" if time_ratio <= 5 and memory_ratio <= 2 else "MISSED"]
            rows.append([mode, kind, f"{size:,}", f"{best.wall:.2f} s", f"{best.tree_rss_mb:.0f} MB",
                         f"{best.tree_pss_mb:.0f} MB", str(best.processes), *ratios])
    print(table(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--scaling", default="", help="e.g. 1000000,5000000 (issue 14)")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    if args.scaling:
        scaling([int(s) for s in args.scaling.split(",")], args.runs)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return
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
