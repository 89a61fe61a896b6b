"""Streamed renderings of per-recipient rows: CSV, JSON (an array written element by element) or text.

Each writer takes an iterator and writes as it goes: nothing is collected, so the output of a million
rows needs no more memory than one row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import IO, Any


def write_csv(rows: Iterable[dict[str, Any]], fields: Sequence[str], out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    count = 0
    for row in rows:
        writer.writerow(["" if row[f] is None else row[f] for f in fields])
        count += 1
    return count


def write_json(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n  " if count else "\n  ")
        out.write(json.dumps(row, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_text(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    out.write(f"{'recipient':<16} {'status':<9} {'parts':>5} {'cost':>6}  {'provider id':<24} {'claimed':<24} "
              f"{'sent':<24} {'delivered':<24} reason\n")
    count = 0
    for r in rows:
        cost = "" if r["cost"] is None else f"{r['cost']:g}"
        out.write(f"{r['recipient']:<16} {r['status']:<9} {_s(r['parts']):>5} {cost:>6}  {_s(r['provider_id']):<24} "
                  f"{_s(r['claimed_at']):<24} {_s(r['sent_at']):<24} {_s(r['delivered_at']):<24} "
                  f"{_s(r['reason'])}\n")
        count += 1
    return count


def _s(value: Any) -> str:
    return "" if value is None else str(value)
