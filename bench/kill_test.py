"""Kill test: ``kill -9`` the real ``smsrun send`` again and again; count what the provider received.

A campaign of N valid French mobile numbers is sent by ``smsrun send --yes`` subprocesses, each killed
with SIGKILL at a chosen moment (a random delay after start or after it took the campaign lock, as
soon as the ledger shows claimed rows, exactly after the claim / the provider's answer / the settle /
a reconciliation through the engine's test-only ``SMSRUN_TEST_CRASH_AT`` hook, and, for OVH, while
the server holds the answer of a job it recorded), re-running after each kill until a run finishes.

Both providers are judged by their own record: the embedded outbox's SQLite table, and the loopback
OVHcloud fake's list of created SMS (smsrun reconciles with it by tag). Every recipient must be in
the record exactly once, or reported in doubt by ``smsrun status --json``; never twice, never
silently missing. Exit status 1 when any duplicate or missing recipient is found.

Usage: ``.venv/bin/python bench/kill_test.py [--recipients 20000] [--kills 50] [--provider both]
[--batch-size 100] [--rate 5000] [--seed S] [--personalised]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.harness import (
    KillStats,
    TimedFakeOvh,
    kill_campaign,
    kill_moments,
    make_campaign,
    outbox_record,
    ovh_provider,
    ovh_record,
)

COLUMNS = ("provider", "recipients", "kills", "runs", "duplicates", "missing", "in_doubt", "received_once",
           "rejected", "elapsed_s")


def run(provider: str, args: argparse.Namespace, root: Path) -> KillStats:
    rng = random.Random(f"{args.seed}-{provider}")
    # the delay window of the random kills, so that the kills spread over the campaign: each one lets
    # about 1.2 N / kills / 2 messages through on average, and the last runs finish it
    rate = args.rate if args.rate > 0 else None  # 0: no limits.rate (small requests are then claimed 64 at a time)
    spread = max(0.02, 1.2 * args.recipients / args.kills / (rate or 2000.0))
    moments = kill_moments(args.kills, rng, in_call=provider == "ovh")
    if provider == "outbox":
        campaign = make_campaign(root / provider, args.recipients, seed=args.seed, personalised=args.personalised,
                                 provider={"name": "outbox", "batch_size": args.batch_size}, rate=rate)
        return kill_campaign(campaign, moments, provider=provider, rng=rng, spread=spread,
                             record=lambda: outbox_record(campaign.state_dir, campaign.campaign_id))
    with TimedFakeOvh() as fake:
        campaign = make_campaign(root / provider, args.recipients, seed=args.seed, personalised=args.personalised,
                                 provider=ovh_provider(fake, batch_size=args.batch_size), rate=rate)
        return kill_campaign(campaign, moments, provider=provider, rng=rng, spread=spread, fake=fake,
                             env_extra=fake.credentials, record=lambda: ovh_record(fake))


def table(rows: list[dict[str, Any]]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in COLUMNS}
    lines = ["  ".join(c.rjust(widths[c]) for c in COLUMNS)]
    lines += ["  ".join(str(r.get(c, "")).rjust(widths[c]) for c in COLUMNS) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--provider", choices=("outbox", "ovh", "both"), default="both")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5000.0,
                        help="limits.rate, messages/s, which spreads the kills over the campaign (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--personalised", action="store_true",
                        help="one text per recipient: one request each, claimed 64 at a time when --rate is 0 "
                             "(under a rate limit the engine claims one request at a time)")
    args = parser.parse_args(argv)
    providers = ["outbox", "ovh"] if args.provider == "both" else [args.provider]
    rows: list[dict[str, Any]] = []
    failed = False
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="smsrun-kill-") as folder:
        for provider in providers:
            stats = run(provider, args, Path(folder))
            figures = stats.figures()
            rows.append(figures)
            verdict = stats.verdict
            assert verdict is not None
            print(f"{provider}: {figures['kills']} kills landed in {figures['runs']} runs "
                  f"({figures['finished_before_kill']} finished before their kill; the last run sent "
                  f"{figures.get('sent_by_last_run')}); moments {figures['kill_moments']}; exit codes "
                  f"{dict(stats.exit_codes)}", flush=True)
            if not verdict.ok:
                failed = True
                print(f"{provider}: FAILED: {verdict.problems()}", flush=True)
    print()
    print(table(rows))
    print(f"\ntotal {time.monotonic() - started:.1f}s; "
          + ("FAILED: duplicates or missing recipients" if failed else
             "never twice, never silently missing (in_doubt: reported by `smsrun status`)"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
