"""Helpers shared by the benches: run a command and measure it, print a target table."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMSRUN = str(Path(sys.executable).with_name("smsrun"))


@dataclass
class Measured:
    wall: float  # seconds
    user: float
    system: float
    max_rss_mb: float  # peak resident set size of the child
    returncode: int
    stdout: str
    stderr: str


def run_measured(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> Measured:
    """Run ``argv`` and measure wall time and the child's own peak RSS (``wait4`` rusage)."""
    merged = dict(os.environ)
    if env:
        merged.update(env)
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"smsrun-bench-{os.getpid()}.out"
    err_path = out_path.with_suffix(".err")
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), stdout=out, stderr=err, env=merged, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text(encoding="utf-8", errors="replace")
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    out_path.unlink()
    err_path.unlink()
    return Measured(wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024, process.returncode, stdout,
                    stderr)


def check(result: Measured, what: str) -> None:
    if result.returncode not in (0, 2):
        sys.stderr.write(result.stdout[-2000:] + result.stderr[-4000:])
        raise SystemExit(f"{what}: exit code {result.returncode}")


def verdict(measured: float, target: float, *, higher_is_better: bool = False) -> str:
    ok = measured >= target if higher_is_better else measured <= target
    return "OK" if ok else "MISSED"


def table(rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table (first row: the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


class Loopback:
    """bench/loopback_provider.py in its own process; ``env`` points the ovh provider at it."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "loopback_provider.py")],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.close()
            raise SystemExit("the loopback provider did not start")
        self.env = {"OVH_ENDPOINT": self.base_url, "OVH_APPLICATION_KEY": "bench-ak",
                    "OVH_APPLICATION_SECRET": "bench-as", "OVH_CONSUMER_KEY": "bench-ck",
                    "OVH_SERVICE_NAME": "sms-bench-1"}
        self.root = self.base_url.rsplit("/1.0", 1)[0]

    def stats(self) -> dict[str, int]:
        import json
        import urllib.request

        with urllib.request.urlopen(f"{self.root}/_stats", timeout=10) as answer:
            data: dict[str, int] = json.loads(answer.read())
        return data

    def reset(self) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.root}/_reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self) -> Loopback:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ledger_counts(state_dir: Path, campaign_id: str) -> dict[str, int]:
    import sqlite3

    db = sqlite3.connect(state_dir / "ledger.sqlite")
    try:
        return dict(db.execute("SELECT status, count(*) FROM messages WHERE campaign_id = ? GROUP BY status",
                               (campaign_id,)).fetchall())
    finally:
        db.close()


def bare_httpx(base_url: str, bodies: Sequence[bytes], *, seconds: float = 3.0) -> tuple[float, int]:
    """A bare sequential httpx loop posting ``bodies`` (cycled) to the loopback's /jobs: requests/s."""
    import httpx

    url = f"{base_url}/sms/sms-bench-1/jobs"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    with httpx.Client(timeout=30) as client:
        for body in bodies[:50]:  # warm-up
            client.post(url, content=body, headers=headers).json()
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            for body in bodies[done % len(bodies): done % len(bodies) + 100] or bodies[:100]:
                client.post(url, content=body, headers=headers).json()
                done += 1
        elapsed = time.perf_counter() - started
    return done / elapsed, done


@dataclass
class TreeMeasured(Measured):
    tree_rss_mb: float  # peak of the sum of the RSS of the process and its descendants (sampled)
    tree_pss_mb: float  # peak of the sum of their PSS (shared pages counted once, split among sharers)
    processes: int  # how many distinct processes were seen in the tree


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                out.extend(int(c) for c in handle.read().split())
    except OSError:
        pass
    return out


def _rss_kb(pid: int) -> int:
    """RSS of one process in kB (cheap: /proc/<pid>/statm); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return 0


def _pss_kb(pid: int) -> int:
    """PSS of one process in kB (/proc/<pid>/smaps_rollup walks the page tables: sampled less often)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_tree_measured(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path = ROOT,
                      interval: float = 0.02, pss_every: int = 10) -> TreeMeasured:
    """:func:`run_measured`, and the peak memory of the whole process tree (the command and its workers),
    sampled every ``interval`` seconds from /proc: the sum of RSS (shared pages counted in every process
    that maps them: an upper bound) and, every ``pss_every`` samples, the sum of PSS (shared pages split
    among the processes; sampled less often, so it may miss the very peak)."""
    import threading

    peaks = {"rss": 0, "pss": 0}
    seen: set[int] = set()
    stop = threading.Event()
    started_pid: list[int] = []

    def sample() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            if started_pid:
                tree, todo = [], [started_pid[0]]
                while todo:
                    pid = todo.pop()
                    tree.append(pid)
                    todo.extend(_children(pid))
                seen.update(tree)
                peaks["rss"] = max(peaks["rss"], sum(_rss_kb(pid) for pid in tree))
                if count % pss_every == 0:
                    peaks["pss"] = max(peaks["pss"], sum(_pss_kb(pid) for pid in tree))
            stop.wait(interval)

    merged = dict(os.environ)
    if env:
        merged.update(env)
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"smsrun-bench-{os.getpid()}.out"
    err_path = out_path.with_suffix(".err")
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), stdout=out, stderr=err, env=merged, cwd=cwd)
        started_pid.append(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    sampler.join()
    stdout = out_path.read_text(encoding="utf-8", errors="replace")
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    out_path.unlink()
    err_path.unlink()
    return TreeMeasured(wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024, process.returncode, stdout,
                        stderr, peaks["rss"] / 1024, peaks["pss"] / 1024, len(seen))
