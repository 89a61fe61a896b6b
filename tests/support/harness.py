"""Harness for the exactly-once proofs (tests/proofs, bench/kill_test.py, bench/fault_test.py).

It drives the **real** ``smsrun`` command as a subprocess and judges it by the **provider's own record**
(the outbox's SQLite table, or the loopback OVHcloud fake's list of created SMS), never by what smsrun
says about itself:

* :func:`make_campaign` writes a throw-away repository (with a ``.git`` folder so smsrun finds its
  root) holding a campaign file and a CSV of N distinct, valid French mobile numbers (some written in
  national format, to go through normalisation);
* :func:`start_send` / :func:`run_smsrun` run ``smsrun`` with a controlled environment (private HOME and
  state folder, no credentials but the ones given);
* :func:`outbox_record`, :func:`ovh_record` read the provider's record; :func:`ledger_statuses` reads the
  ledger read-only; :func:`verify` compares them recipient by recipient;
* :func:`kill_campaign` sends a campaign under ``kill -9`` at chosen moments, re-running after each
  kill, and reports what happened (:class:`KillStats`).

The engine's opt-in test hook ``SMSRUN_TEST_CRASH_AT=<point>:<n>`` (see ``runner/send/crashpoints.py``)
makes the child SIGKILL itself the n-th time it reaches ``point``, for kills exactly between claim,
call and settle.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.support.fake_ovh import FakeOvh

REPO_ROOT = Path(__file__).resolve().parents[2]
TEXT = "Hello from ACME: your order is ready. Reply STOP to opt out."
PERSONAL = "Hello {{ first_name }}, your order is ready."  # one text, so one request, per recipient
JOB_PATH = r"^POST /sms/[^/]+/jobs$"
CRASH_POINTS = ("after_claim", "after_send", "after_settle", "after_reconcile")

# Two-digit prefixes after +336 that libphonenumber classifies as mobile (639 and 690-697 are not).
_MOBILE_PREFIXES = [p for p in range(10, 90) if p != 39]

_SCRUBBED_PREFIXES = ("OVH_", "TWILIO_", "KANNEL_", "SMSRUN_")


# -- campaign folders -------------------------------------------------------------------------------


def french_mobiles(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct valid French mobile numbers in E.164, reproducible from ``seed``."""
    space = len(_MOBILE_PREFIXES) * 1_000_000
    if count > space:
        raise ValueError(f"at most {space} numbers")
    picks = random.Random(seed).sample(range(space), count)
    return [f"+336{_MOBILE_PREFIXES[p // 1_000_000]:02d}{p % 1_000_000:06d}" for p in picks]


def national(e164: str) -> str:
    """``+33612345678`` → ``06 12 34 56 78``."""
    digits = "0" + e164[3:]
    return " ".join(digits[i:i + 2] for i in range(0, 10, 2))


@dataclass
class Campaign:
    root: Path  # the throw-away repository
    path: Path  # the campaign file
    campaign_id: str
    recipients: list[str]  # E.164, the truth the proofs compare against
    text: str
    state_dir: Path
    home: Path
    texts: dict[str, str] = field(default_factory=dict)  # recipient -> text, when personalised

    def text_for(self, recipient: str) -> str:
        return self.texts.get(recipient, self.text)

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return child_env(self.state_dir, self.home, extra)


def ovh_provider(fake: FakeOvh, *, batch_size: int = 100, timeout: float = 5.0, **extra: Any) -> dict[str, Any]:
    """Campaign ``provider`` settings for the loopback OVHcloud fake: no client-side rate limit, and a
    short ``reconcile_delay`` (the fake records a job before it drops or stalls the answer, so there is
    nothing to wait for; the 5 s default is for the real OVHcloud)."""
    return {"name": "ovh", "endpoint": fake.base_url, "service_name": fake.service_name,
            "batch_size": batch_size, "timeout": timeout, "requests_per_minute": 0, "max_retries": 4,
            "reconcile_delay": 0.2, **extra}


def make_campaign(root: Path, count: int, *, campaign_id: str = "proof", provider: str | Mapping[str, Any] = "outbox",
                  seed: int = 0, max_consecutive_failures: int | None = None, rate: float | None = None,
                  national_every: int = 10, state_dir: Path | None = None, csv_name: str | None = None,
                  personalised: bool = False) -> Campaign:
    """A repository at ``root`` with ``<campaign_id>.yaml`` and its CSV of ``count`` recipients.

    Several campaigns may share one root (and one state folder): give them different ids and seeds.
    ``personalised``: the message names each recipient, so every request carries one recipient and
    the engine claims many small requests in one transaction.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    recipients = french_mobiles(count, seed)
    csv_name = csv_name or f"{campaign_id}.csv"
    lines = ["phone;first_name"]
    for index, number in enumerate(recipients):
        shown = national(number) if national_every and index % national_every == 0 else number
        lines.append(f"{shown};n{index}")
    (root / csv_name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    limits: dict[str, Any] = {"max_recipients": max(count, 1)}
    if max_consecutive_failures is not None:
        limits["max_consecutive_failures"] = max_consecutive_failures
    if rate is not None:
        limits["rate"] = rate
    document = {
        "id": campaign_id,
        "message": PERSONAL if personalised else TEXT,
        "commercial": False,
        "recipients": [{"csv": csv_name, "region": "FR"}],
        "provider": provider if isinstance(provider, str) else dict(provider),
        "limits": limits,
    }
    path = root / f"{campaign_id}.yaml"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")  # JSON is YAML
    home = root / ".home"
    home.mkdir(exist_ok=True)
    texts = {r: PERSONAL.replace("{{ first_name }}", f"n{i}") for i, r in enumerate(recipients)} if personalised else {}
    return Campaign(root, path, campaign_id, recipients, TEXT, state_dir or root / ".smsrun", home, texts)


# -- running smsrun -------------------------------------------------------------------------------------


def smsrun_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m runner``."""
    script = Path(sys.executable).parent / "smsrun"
    return [str(script)] if script.exists() else [sys.executable, "-m", "runner"]


_LAUNCHER = """\
import ctypes, os, resource, sys
fsize, drop = int(sys.argv[1]), sys.argv[2] == "1"
if fsize >= 0:  # files may not grow beyond fsize bytes: writes fail with EFBIG (Python ignores SIGXFSZ)
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
if drop:  # root without CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: file modes apply to it too
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            sys.exit("launcher: cannot drop capability %d (errno %d)" % (cap, ctypes.get_errno()))
os.execv(sys.argv[3], sys.argv[3:])
"""


def launcher(*, fsize: int | None = None, drop_dac: bool = False) -> list[str]:
    """A command prefix that applies limits in the child, then execs the command: RLIMIT_FSIZE (a "disk
    full" anyone can cause) and, for root, dropping the capabilities that ignore file modes from the
    bounding set (so a chmod 0555 state folder is read-only for it too). No ``preexec_fn``: it is unsafe
    with the fake's server threads running in the test process."""
    return [sys.executable, "-c", _LAUNCHER, str(-1 if fsize is None else fsize), "1" if drop_dac else "0"]


def child_env(state_dir: Path, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES) or k == "SMSRUN_LEDGER"}
    env.pop("GITHUB_ACTIONS", None)
    env.update({"HOME": str(home), "SMSRUN_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"})
    if env.get("SMSRUN_LEDGER", "").startswith("postgresql://"):
        # a killed run's lease expires after SMSRUN_LEASE_SECONDS; the next run waits for it (a SQLite
        # lock goes with the process at once)
        env.update({"SMSRUN_LEASE_SECONDS": "3", "SMSRUN_LOCK_TIMEOUT": "60"})
    env.update(extra or {})
    return env


@dataclass
class RunResult:
    args: list[str]
    code: int  # negative: killed by that signal
    out: str
    err: str
    elapsed: float

    @property
    def killed(self) -> bool:
        return self.code == -signal.SIGKILL

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    def describe(self) -> str:
        return f"`smsrun {' '.join(self.args)}` exited {self.code} after {self.elapsed:.2f}s\n{self.err[-3000:]}"


def start_send(campaign: Campaign, env: Mapping[str, str], *extra: str,
               prefix: Sequence[str] = ()) -> subprocess.Popen[str]:
    return subprocess.Popen([*prefix, *smsrun_command(), "send", str(campaign.path), "--yes", "--json", *extra],
                            cwd=campaign.root, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(process: subprocess.Popen[str], started: float, args: Sequence[str], timeout: float = 300) -> RunResult:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"smsrun {' '.join(args)} did not finish within {timeout}s (a lock-up?)\n"
                             f"{err[-3000:]}") from None
    return RunResult(list(args), process.returncode, out, err, time.monotonic() - started)


def run_smsrun(campaign: Campaign, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300,
               prefix: Sequence[str] = ()) -> RunResult:
    started = time.monotonic()
    process = subprocess.Popen([*prefix, *smsrun_command(), *args], cwd=campaign.root,
                               env=dict(env if env is not None else campaign.env()), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    return finish(process, started, args, timeout)


def send(campaign: Campaign, env: Mapping[str, str] | None = None, *extra: str, timeout: float = 300,
         prefix: Sequence[str] = ()) -> RunResult:
    return run_smsrun(campaign, "send", str(campaign.path), "--yes", "--json", *extra, env=env, timeout=timeout,
                      prefix=prefix)


def status(campaign: Campaign, env: Mapping[str, str] | None = None, prefix: Sequence[str] = ()) -> dict[str, Any]:
    result = run_smsrun(campaign, "status", str(campaign.path), "--json", "--show-numbers", env=env, prefix=prefix)
    if result.code != 0:
        raise AssertionError(result.describe())
    data: dict[str, Any] = result.json
    return data


# -- the records ----------------------------------------------------------------------------------------


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that only reads. Not ``mode=ro``: after a kill -9 the WAL may need recovering, which
    a read-only connection cannot do ("attempt to write a readonly database")."""
    return sqlite3.connect(path, timeout=30.0)


def outbox_record(state_dir: Path, campaign_id: str) -> list[tuple[str, str]]:
    """(recipient, text) of every message the outbox provider accepted for this campaign."""
    path = state_dir / "outbox.sqlite"
    if not path.exists():
        return []
    db = _read_only(path)
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'outbox'").fetchone() is None:
            return []  # a run was killed between creating the file and its schema
        return [(r, t) for r, t in db.execute(
            "SELECT recipient, text FROM outbox WHERE campaign_id = ? ORDER BY id", (campaign_id,))]
    finally:
        db.close()


def ovh_record(fake: FakeOvh, campaign_id: str | None = None) -> list[tuple[str, str]]:
    """(receiver, text) of every SMS the OVHcloud fake created (outgoing and deferred), only those whose
    tag belongs to ``campaign_id`` when given (the tag starts with the campaign's slug)."""
    from runner.providers.ovh.provider import job_tag

    prefix = job_tag(campaign_id, "").split("-")[0] + "-" if campaign_id else ""
    items = [s for s in (*fake.outgoing, *fake.pending) if str(s.get("tag") or "").startswith(prefix)]
    return [(str(s["receiver"]), str(s["message"])) for s in sorted(items, key=lambda s: int(s["id"]))]


def ledger_statuses(state_dir: Path, campaign_id: str) -> dict[str, str]:
    from tests.support import ledgerdb

    return {str(r): str(s) for r, s in ledgerdb.query(
        state_dir, "SELECT recipient, status FROM messages WHERE campaign_id = ?", (campaign_id,))}


def count_claimed(state_dir: Path, campaign_id: str, statuses: tuple[str, ...] = ("claimed",)) -> int:
    from tests.support import ledgerdb

    if ledgerdb._pg() is not None:
        marks = ",".join("?" * len(statuses))
        found = ledgerdb.query(state_dir, f"SELECT count(*) FROM messages WHERE campaign_id = ? AND status IN "
                               f"({marks})", (campaign_id, *statuses))
        return int(found[0][0]) if found else 0
    path = state_dir / "ledger.sqlite"
    if not path.exists():
        return 0
    try:
        db = _read_only(path)
    except sqlite3.Error:
        return 0
    try:
        marks = ",".join("?" * len(statuses))
        row = db.execute(f"SELECT count(*) FROM messages WHERE campaign_id = ? AND status IN ({marks})",
                         (campaign_id, *statuses)).fetchone()
        return int(row[0])
    except sqlite3.Error:  # the child is creating the schema
        return 0
    finally:
        db.close()


def count_done(state_dir: Path, campaign_id: str) -> int:
    """Rows no longer pending (sent, rejected, claimed, in doubt...)."""
    return count_claimed(state_dir, campaign_id, ("claimed", "in_doubt", "sent", "rejected", "delivered", "failed"))


def count_unsettled(state_dir: Path, campaign_id: str) -> int:
    """Rows a killed run left between claim and settle (or in doubt)."""
    return count_claimed(state_dir, campaign_id, ("claimed", "in_doubt"))


def duplicates_in(record: Iterable[tuple[str, str]]) -> int:
    """Extra messages: a recipient present k times counts k - 1."""
    return sum(n - 1 for n in Counter(r for r, _ in record).values() if n > 1)


# -- the verdict ------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    recipients: int
    received_once: int = 0
    duplicates: int = 0  # extra messages beyond one per recipient
    duplicate_recipients: int = 0
    missing: int = 0  # not in the provider's record, and not reported in doubt or rejected
    in_doubt: int = 0  # reported in doubt by `smsrun status`
    in_doubt_received: int = 0  # of which the provider did accept (smsrun could not tell)
    rejected: int = 0
    pending: int = 0
    strangers: int = 0  # provider records for numbers not in the campaign
    wrong_text: int = 0
    claims_false: int = 0  # ledger says sent but the provider has nothing
    pending_received: int = 0  # ledger says pending (to send) but the provider has it: a future duplicate
    interim: bool = False  # judged after a run that stopped on purpose: pending rows are expected
    status_mismatch: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.missing or self.strangers or self.wrong_text or self.claims_false
                    or self.pending_received or (self.pending and not self.interim) or self.status_mismatch)

    def problems(self) -> str:
        return (f"duplicates={self.duplicates} missing={self.missing} pending={self.pending} "
                f"pending_received={self.pending_received} strangers={self.strangers} "
                f"wrong_text={self.wrong_text} claims_false={self.claims_false} "
                f"status_mismatch={self.status_mismatch} examples={self.examples[:10]}")

    def figures(self) -> dict[str, int]:
        return {"recipients": self.recipients, "received_once": self.received_once,
                "duplicates": self.duplicates, "missing": self.missing, "in_doubt": self.in_doubt,
                "in_doubt_received": self.in_doubt_received, "rejected": self.rejected, "pending": self.pending}


def verify(campaign: Campaign, record: Sequence[tuple[str, str]], statuses: Mapping[str, str],
           reported: Mapping[str, Any] | None, *, interim: bool = False) -> Verdict:
    """Every recipient is in the provider's record exactly once, or reported in doubt / rejected.

    ``interim``: after a run that stopped on purpose (exit 1), rows still pending are expected, but a
    pending row the provider already has is still an error (the next run would send it again)."""
    counts = Counter(r for r, _ in record)
    wanted = set(campaign.recipients)
    verdict = Verdict(len(campaign.recipients), interim=interim)
    for recipient, text in record:
        if recipient not in wanted:
            verdict.strangers += 1
            verdict.examples.append(f"stranger {recipient}")
        elif text != campaign.text_for(recipient):
            verdict.wrong_text += 1
            verdict.examples.append(f"wrong text for {recipient}: {text!r}")
    for recipient in campaign.recipients:
        n = counts.get(recipient, 0)
        state = statuses.get(recipient)
        if n > 1:
            verdict.duplicates += n - 1
            verdict.duplicate_recipients += 1
            verdict.examples.append(f"{recipient} received {n} times (ledger: {state})")
        if state in ("in_doubt", "claimed"):
            verdict.in_doubt += 1
            verdict.in_doubt_received += n >= 1
        elif state == "rejected":
            verdict.rejected += 1
        elif state == "pending" or state is None:
            verdict.pending += 1
            if n:
                verdict.pending_received += 1
                verdict.examples.append(f"{recipient} is {state or 'out of the ledger'} but was received")
            elif not interim:
                verdict.missing += 1
                verdict.examples.append(f"{recipient} left {state or 'out of the ledger'}")
        elif n == 0:  # sent / delivered / failed, yet the provider never got it
            verdict.claims_false += 1
            verdict.examples.append(f"{recipient} is {state} in the ledger but not in the provider's record")
        if n == 1:
            verdict.received_once += 1
    if reported is not None:
        ledger_counts = Counter(statuses.values())
        # a send writes a recipient when it claims it: those it had not reached are not in the ledger,
        # and `status` counts them pending (unrecorded)
        unrecorded = sum(1 for r in campaign.recipients if r not in statuses)
        expected = {"sent": ledger_counts["sent"], "rejected": ledger_counts["rejected"],
                    "pending": ledger_counts["pending"] + unrecorded,
                    "in_doubt": ledger_counts["in_doubt"] + ledger_counts["claimed"]}
        for key, value in expected.items():
            if reported.get(key) != value:
                verdict.status_mismatch.append(f"status {key}={reported.get(key)} but the ledger has {value}")
        total = sum(int(reported.get(k, 0)) for k in ("sent", "delivered", "failed", "rejected", "in_doubt",
                                                        "pending"))
        if total != len(campaign.recipients):
            verdict.status_mismatch.append(f"status accounts for {total} of {len(campaign.recipients)} recipients")
    return verdict


# -- kill -9 ------------------------------------------------------------------------------------------------


@dataclass
class KillStats:
    provider: str
    recipients: int
    kills: int = 0  # processes that died of SIGKILL (ours or the hook's)
    runs: int = 0  # smsrun send processes started
    finished_early: int = 0  # a run meant to be killed finished first
    by_moment: Counter[str] = field(default_factory=Counter)
    max_interim_duplicates: int = 0
    final_runs: int = 0
    elapsed: float = 0.0
    verdict: Verdict | None = None
    final: RunResult | None = None
    exit_codes: Counter[int] = field(default_factory=Counter)

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {"provider": self.provider, "recipients": self.recipients, "kills": self.kills,
                               "runs": self.runs, "finished_before_kill": self.finished_early,
                               "kill_moments": dict(sorted(self.by_moment.items()))}
        if self.verdict is not None:
            out |= {k: v for k, v in self.verdict.figures().items() if k != "recipients"}
        if self.final is not None and self.final.code == 0:
            out["sent_by_last_run"] = self.final.json["sent"]
        out["elapsed_s"] = round(self.elapsed, 1)
        return out


Record = Callable[[], list[tuple[str, str]]]


def _wait_lock(campaign: Campaign, process: subprocess.Popen[str], timeout: float = 30.0) -> bool:
    """Wait until the child holds the campaign lock (its send loop has begun); False if it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if holds_lock(campaign, process.pid):
            return True
        time.sleep(0.002)
    return False


def holds_lock(campaign: Campaign, pid: int) -> bool:
    """Does process ``pid`` hold the campaign (the SQLite lock file, or the PostgreSQL lease, names it)?"""
    from tests.support import ledgerdb

    needle = f"pid {pid} "
    if ledgerdb.is_postgres():
        return any(str(h).startswith(needle) for (h,) in ledgerdb.query(
            campaign.state_dir, "SELECT holder FROM leases WHERE campaign_id = ? AND expires_at > now()",
            (campaign.campaign_id,)))
    try:
        return (campaign.state_dir / "locks" / f"{campaign.campaign_id}.lock").read_text().startswith(needle)
    except OSError:
        return False


def _kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)


class Staller(Protocol):
    """A peer that can record the next send request, then leave it unanswered (the ``in_call`` moment)."""

    def stall_next(self) -> Callable[[], bool]:
        """Arm the stall; returns a check that is true once the stalled request has been recorded."""
        ...

    def release(self) -> None:
        """Disarm it (and let a stalled answer go: its client is dead by then)."""
        ...


class OvhStaller:
    """``in_call`` on the OVHcloud fake: the job is recorded, then the answer stalls 30 s."""

    def __init__(self, fake: FakeOvh) -> None:
        self.fake = fake

    def stall_next(self) -> Callable[[], bool]:
        before = len(self.fake.jobs)
        self.fake.fail_next("slow", where=JOB_PATH, delay=30.0)
        return lambda: len(self.fake.jobs) > before

    def release(self) -> None:
        self.fake.clear_faults()


def kill_campaign(campaign: Campaign, moments: Sequence[str], *, provider: str, record: Record,
                  rng: random.Random, fake: FakeOvh | None = None, env_extra: Mapping[str, str] | None = None,
                  spread: float = 0.4, check_every_kill: bool = True, stall: Staller | None = None,
                  settle: Callable[[], None] | None = None) -> KillStats:
    """Send ``campaign`` once per moment, killing the process (-9) at that moment, then until a run
    finishes; returns the statistics with the final :class:`Verdict`.

    Moments: ``start`` (a random delay after the process started, up to start-up + ``spread``),
    ``running`` (a random delay up to ``spread`` after it took the campaign lock), ``claimed`` (as soon
    as the ledger shows claimed rows: between claim and settle), ``hook:<point>`` (the engine's test
    hook at a random occurrence of ``point``), ``in_call`` (the peer records the request then stalls,
    and the process dies waiting for the answer: ``stall``, by default the OVHcloud ``fake``'s).
    ``settle``: waits until the peer's record is complete (a gateway that delivers asynchronously),
    before it is judged.
    """
    if stall is None and fake is not None:
        stall = OvhStaller(fake)
    stats = KillStats(provider, len(campaign.recipients))
    started_all = time.monotonic()
    base_env = campaign.env(env_extra)
    startup = 1.0
    for index, moment in enumerate(moments):
        done_before = count_done(campaign.state_dir, campaign.campaign_id)
        env = dict(base_env)
        if moment == "hook:after_reconcile" and not count_unsettled(campaign.state_dir, campaign.campaign_id):
            moment = "running"  # nothing left in doubt by the previous kill: nothing to reconcile
        kind, _, point = moment.partition(":")
        if kind == "hook":
            nth = 1 if point == "after_reconcile" else rng.randint(1, 3)
            env["SMSRUN_TEST_CRASH_AT"] = f"{point}:{nth}"
        recorded: Callable[[], bool] = lambda: False  # noqa: E731
        if kind == "in_call":
            assert stall is not None, "in_call needs a peer that can stall"
            recorded = stall.stall_next()
        started = time.monotonic()
        process = start_send(campaign, env)
        stats.runs += 1
        if kind == "start":
            time.sleep(rng.uniform(0.0, startup + spread))
            _kill(process)
        elif kind == "running":
            if _wait_lock(campaign, process):
                startup = 0.8 * startup + 0.2 * (time.monotonic() - started)
                time.sleep(rng.uniform(0.0, spread))
                _kill(process)
        elif kind == "claimed":
            if _wait_lock(campaign, process):
                while process.poll() is None and not count_claimed(campaign.state_dir, campaign.campaign_id):
                    time.sleep(0.001)
                _kill(process)
        elif kind == "in_call":
            assert stall is not None
            while process.poll() is None and not recorded():
                time.sleep(0.002)
            _kill(process)
            stall.release()
        elif kind != "hook":
            raise ValueError(f"unknown kill moment {moment!r}")
        result = finish(process, started, ["send", moment])
        stats.exit_codes[result.code] += 1
        if result.killed:
            stats.kills += 1
            stats.by_moment[kind if kind != "hook" else moment] += 1
        elif result.code == 0:
            stats.finished_early += 1
        else:
            raise AssertionError(f"kill moment {moment}: {result.describe()}")
        if kind in ("start", "running") and result.killed:
            # adapt the random window so that the kills spread over the whole campaign
            done = count_done(campaign.state_dir, campaign.campaign_id)
            target = (len(campaign.recipients) - done) / (len(moments) - index + 1)
            ratio = target / max(1, done - done_before)
            spread = min(max(spread * min(max(ratio, 0.5), 2.0), 0.01), 5.0)
        if check_every_kill:
            extra = duplicates_in(record())
            stats.max_interim_duplicates = max(stats.max_interim_duplicates, extra)
            assert extra == 0, f"{extra} duplicate message(s) after kill moment {moment} (run {stats.runs})"
    # then run until one finishes with nothing left to do
    for _ in range(5):
        result = send(campaign, base_env)
        stats.runs += 1
        stats.final_runs += 1
        stats.final = result
        stats.exit_codes[result.code] += 1
        if result.code != 0:
            raise AssertionError(f"the run after the kills failed: {result.describe()}")
        if not ledger_pending(campaign):
            break
    if settle is not None:
        settle()
    stats.verdict = verify(campaign, record(), ledger_statuses(campaign.state_dir, campaign.campaign_id),
                           status(campaign, base_env))
    stats.elapsed = time.monotonic() - started_all
    return stats


def ledger_pending(campaign: Campaign) -> int:
    return sum(1 for s in ledger_statuses(campaign.state_dir, campaign.campaign_id).values() if s == "pending")


def kill_moments(kills: int, rng: random.Random, *, in_call: bool) -> list[str]:
    """``kills`` moments: every kind once (in random order) as soon as ``kills`` allows, then more of
    the same in random order. A crash while reconciling needs a dead run's batch to reconcile, so
    ``hook:after_reconcile`` always follows a kill between claim and settle."""
    units: list[list[str]] = [["start"], ["running"], ["running"], ["claimed"], ["hook:after_claim"],
                              ["hook:after_send", "hook:after_reconcile"], ["hook:after_settle"]]
    if in_call:
        units.append(["in_call", "hook:after_reconcile"])
    moments: list[str] = []
    while len(moments) < kills:
        cycle = [list(u) for u in units]
        rng.shuffle(cycle)
        moments.extend(m for unit in cycle for m in unit)
    return moments[:kills]


# -- the OVH fake, with timestamps ---------------------------------------------------------------------------


class TimedFakeOvh(FakeOvh):
    """The fake OVHcloud API, also recording (monotonic time, method, path, fault) of every request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeline: list[tuple[float, str, str, str | None]] = []
        self._timeline_lock = threading.Lock()

    def __enter__(self) -> TimedFakeOvh:
        self.start()
        return self

    def start(self) -> TimedFakeOvh:
        super().start()
        server = self._server
        assert server is not None
        default = server.handle_error

        def handle_error(request: Any, client_address: Any) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed smsrun resets its connection
                default(request, client_address)

        server.handle_error = handle_error  # type: ignore[method-assign]
        return self

    def _pick_fault(self, method: str, path: str) -> Any:
        fault = super()._pick_fault(method, path)
        with self._timeline_lock:
            self.timeline.append((time.monotonic(), method, path, fault.kind if fault else None))
        return fault


RETRYABLE_FAULTS = ("http_500", "http_502", "http_503", "http_429")


def inject_fault_mix(fake: FakeOvh, *, seed: int, delay: float) -> None:
    """The proofs' fault mix on every API call but ``/auth/time``: 10% 5xx (500/502/503), 5% 429, 2%
    connection dropped after the work was done, 2% answers ``delay`` seconds late (past the client's
    timeout)."""
    fake.set_fault_rates(seed=seed, delay=delay, http_500=0.04, http_502=0.03, http_503=0.03, http_429=0.05,
                         drop_after_accept=0.02, slow=0.02)


def job_attempts(fake: TimedFakeOvh) -> list[tuple[float, str | None]]:
    """(time, fault) of every ``POST /jobs``, in arrival order."""
    pattern = re.compile(JOB_PATH)
    return [(t, fault) for t, method, path, fault in fake.timeline if pattern.search(f"{method} {path}")]


def retry_gaps(fake: TimedFakeOvh, kinds: Iterable[str]) -> list[float]:
    """Seconds between a ``POST /jobs`` that failed with one of ``kinds`` and the next ``POST /jobs``
    (the engine's backoff before retrying the same batch)."""
    wanted = set(kinds)
    attempts = job_attempts(fake)
    return [b[0] - a[0] for a, b in itertools.pairwise(attempts) if a[1] in wanted]


def longest_failure_streak(fake: TimedFakeOvh, kinds: Iterable[str]) -> int:
    wanted = set(kinds)
    best = run = 0
    for _, fault in job_attempts(fake):
        run = run + 1 if fault in wanted else 0
        best = max(best, run)
    return best
