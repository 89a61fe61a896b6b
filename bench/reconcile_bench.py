"""Crash recovery through OVHcloud (issue 11): what a resumed ``smsrun send`` costs after ``kill -9``.

Two scenarios against the loopback OVHcloud fake (tests/support/fake_ovh.py), through the real
``smsrun send`` command, the client limited to ``--rpm`` requests per minute (60, OVHcloud's fair use):

* ``first``: a ``--recipients`` campaign (batches of 500) is killed while its second 500-recipient
  request is on the wire (the fake records the job, answers 150 ms later; the process dies in
  between), then resumed once. Printed: the in-doubt batches the resume found, its reconciliation
  requests (``GET /outgoing*`` and ``GET /jobs*``) per in-doubt batch, the seconds before its first new
  ``POST /jobs`` and the seconds to finish the campaign, and the duplicate / missing count.
* ``kills``: ``--kills`` such kills in a row on one campaign (each resumed run is killed on its first
  request on the wire), every 7th API request answered HTTP 500, then a final run; 0 duplicates and 0
  silent misses are required (judged by the fake's record, as the kill proofs do).

``--smsrun-src DIR`` runs ``python -m runner`` from another source tree (e.g. an export of the commit
before this work) to measure the figure before a change. Exit 1 on any duplicate or silent miss.

Usage: ``.venv/bin/python bench/reconcile_bench.py [--scenario first|kills|both] [--recipients 3000]
[--kills 12] [--rpm 60] [--smsrun-src DIR] [--timeout 1200]``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import harness
from tests.support.harness import (
    JOB_PATH,
    Campaign,
    TimedFakeOvh,
    finish,
    ledger_statuses,
    make_campaign,
    ovh_provider,
    ovh_record,
    start_send,
    verify,
)

BATCH = 500
ANSWER_DELAY = 0.15


def _in_doubt_batches(campaign: Campaign) -> tuple[int, int]:
    """(distinct batches, rows) left claimed or in doubt in the ledger."""
    path = campaign.state_dir / "ledger.sqlite"
    if not path.exists():
        return 0, 0
    db = sqlite3.connect(path, timeout=30.0)
    try:
        row = db.execute("SELECT count(DISTINCT batch_id), count(*) FROM messages WHERE campaign_id = ? AND "
                         "status IN ('claimed', 'in_doubt')", (campaign.campaign_id,)).fetchone()
        return int(row[0]), int(row[1])
    finally:
        db.close()


def _kill_on_the_wire(campaign: Campaign, fake: TimedFakeOvh, env: dict[str, str], *, after: int,
                      timeout: float) -> tuple[bool, float]:
    """Start a send whose (after+1)-th ``POST /jobs`` is answered ANSWER_DELAY late; SIGKILL it once the
    fake recorded that job. (killed, seconds the run lived)."""
    jobs_before = len(fake.jobs)
    fake.fail_next("slow", where=JOB_PATH, delay=ANSWER_DELAY, after=after)
    started = time.monotonic()
    process = start_send(campaign, env)
    deadline = started + timeout
    killed = False
    while process.poll() is None and time.monotonic() < deadline:
        jobs = fake.jobs
        if len(jobs) > jobs_before + after and jobs[-1].fault == "slow":
            os.kill(process.pid, 9)
            killed = True
            break
        time.sleep(0.002)
    result = finish(process, started, ["send", "kill-on-the-wire"], timeout=timeout)
    fake.clear_faults()
    if not killed and result.code not in (0,):
        raise SystemExit(f"the run to kill failed: {result.describe()}")
    return killed, result.elapsed


def _classify(records: list[Any]) -> dict[str, int]:
    out = {"reconcile_reads": 0, "posts": 0, "other": 0, "http_500": 0}
    for record in records:
        if record.method == "GET" and ("/outgoing" in record.path or "/jobs" in record.path):
            out["reconcile_reads"] += 1
        elif record.method == "POST" and record.path.endswith("/jobs"):
            out["posts"] += 1
        else:
            out["other"] += 1
        out["http_500"] += record.status == 500
    return out


def scenario_first(args: argparse.Namespace, root: Path, env_extra: dict[str, str]) -> bool:
    with TimedFakeOvh() as fake:
        campaign = make_campaign(root / "first", args.recipients, campaign_id="recover", seed=11,
                                 provider=ovh_provider(fake, batch_size=BATCH, requests_per_minute=args.rpm,
                                                       timeout=30.0))
        env = campaign.env({**fake.credentials, **env_extra})
        killed, lived = _kill_on_the_wire(campaign, fake, env, after=1, timeout=args.timeout)
        batches, rows = _in_doubt_batches(campaign)
        print(f"first: killed={killed} after {lived:.2f}s with a {BATCH}-recipient request on the wire; "
              f"{batches} batch(es) / {rows} row(s) left claimed or in doubt", flush=True)
        mark = len(fake.requests)
        stamp = time.monotonic()
        process = start_send(campaign, env)
        result = finish(process, stamp, ["send", "resume"], timeout=args.timeout)
        resume = fake.requests[mark:]
        counts = _classify(resume)
        first_post = next((t for t, method, path, _ in fake.timeline
                           if t >= stamp and method == "POST" and path.endswith("/jobs")), None)
        record = ovh_record(fake)
        verdict = verify(campaign, record, ledger_statuses(campaign.state_dir, campaign.campaign_id), None)
        per_batch = counts["reconcile_reads"] / batches if batches else 0.0
        print(f"first: resumed run exit {result.code} in {result.elapsed:.1f}s (until its first new POST /jobs: "
              f"{(first_post - stamp) if first_post else float('nan'):.1f}s); requests {len(resume)} = "
              f"{counts['reconcile_reads']} reconciliation reads + {counts['posts']} POST /jobs + "
              f"{counts['other']} other; {per_batch:.2f} reconciliation request(s) per in-doubt batch; "
              f"duplicates {verdict.duplicates}, missing {verdict.missing}, in doubt {verdict.in_doubt}",
              flush=True)
        if result.code != 0:
            print(result.describe())
        return verdict.ok and result.code == 0


class _Every(TimedFakeOvh):
    """The fake, answering every ``n``-th API request (``/auth/time`` included) HTTP 500."""

    every = 7

    def _pick_fault(self, method: str, path: str) -> Any:
        with self._lock:
            self._counted = getattr(self, "_counted", 0) + 1
            nth = self._counted % self.every == 0
        if nth:
            from tests.support.fake_ovh import Fault

            with self._timeline_lock:
                self.timeline.append((time.monotonic(), method, path, "http_500"))
            return Fault("http_500")
        return super()._pick_fault(method, path)


def scenario_kills(args: argparse.Namespace, root: Path, env_extra: dict[str, str]) -> bool:
    recipients = (args.kills + 2) * BATCH
    with _Every() as fake:
        campaign = make_campaign(root / "kills", recipients, campaign_id="kills", seed=12,
                                 provider=ovh_provider(fake, batch_size=BATCH, requests_per_minute=args.rpm,
                                                       timeout=30.0))
        env = campaign.env({**fake.credentials, **env_extra})
        kills = 0
        resumes: list[float] = []
        worst = 0.0
        for _ in range(args.kills):
            batches, _rows = _in_doubt_batches(campaign)
            mark = len(fake.requests)
            killed, lived = _kill_on_the_wire(campaign, fake, env, after=0, timeout=args.timeout)
            reads = _classify(fake.requests[mark:])["reconcile_reads"]
            if batches:
                worst = max(worst, reads / batches)
            resumes.append(lived)
            kills += killed
            if harness.duplicates_in(ovh_record(fake)):
                print("kills: DUPLICATE after a kill")
                return False
        stamp = time.monotonic()
        mark = len(fake.requests)
        process = start_send(campaign, env)
        result = finish(process, stamp, ["send", "final"], timeout=args.timeout)
        final = _classify(fake.requests[mark:])
        record = ovh_record(fake)
        verdict = verify(campaign, record, ledger_statuses(campaign.state_dir, campaign.campaign_id), None)
        print(f"kills: {kills} kills on the wire, every 7th request answered 500 "
              f"({sum(r.status == 500 for r in fake.requests)} answered 500 in all); runs lived "
              f"{min(resumes):.1f}-{max(resumes):.1f}s before their kill; at most {worst:.2f} reconciliation "
              f"read(s) per in-doubt batch (500s retried included); final run exit {result.code} in "
              f"{result.elapsed:.1f}s ({final['reconcile_reads']} reads, {final['posts']} POST /jobs); "
              f"{recipients} recipients: received once {verdict.received_once}, duplicates {verdict.duplicates}, "
              f"missing {verdict.missing}, in doubt {verdict.in_doubt}", flush=True)
        if not verdict.ok:
            print(f"kills: FAILED: {verdict.problems()}")
        return verdict.ok and result.code == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenario", choices=("first", "kills", "both"), default="both")
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--rpm", type=float, default=60.0, help="the client's requests per minute")
    parser.add_argument("--smsrun-src", type=Path, default=None,
                        help="run `python -m runner` from this source tree instead of the installed smsrun")
    parser.add_argument("--timeout", type=float, default=1200.0)
    args = parser.parse_args(argv)
    env_extra: dict[str, str] = {}
    if args.smsrun_src is not None:
        harness.smsrun_command = lambda: [sys.executable, "-m", "runner"]  # type: ignore[assignment]
        env_extra["PYTHONPATH"] = str(args.smsrun_src.resolve())
        print(f"smsrun from {args.smsrun_src}")
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {load}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="smsrun-reconcile-") as folder:
        if args.scenario in ("first", "both"):
            ok &= scenario_first(args, Path(folder), env_extra)
        if args.scenario in ("kills", "both"):
            ok &= scenario_kills(args, Path(folder), env_extra)
    print("OK: 0 duplicates, 0 silent misses" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
