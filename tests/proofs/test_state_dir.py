"""A read-only or full state folder stops ``smsrun send`` before the provider is called, with a clear
error (exit 1, no traceback), and loses nothing: once the folder is writable again, the same command
finishes the campaign, everyone once.

The provider is the loopback OVHcloud fake, whose record lives outside the state folder. Techniques:

* read-only: ``chmod`` 0555/0444. Root ignores file modes, so for root the child runs without
  CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH/CAP_FOWNER (dropped from its bounding set by a launcher);
  skipped, with the reason, where neither works;
* disk full, ``tmpfs``: the state folder is a small tmpfs (root, where mounting is allowed), filled up
  or sized to fill mid-run: real ENOSPC;
* disk full, ``rlimit``: RLIMIT_FSIZE on the child (anyone): writes beyond the size fail with EFBIG.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.support.harness import (
    Campaign,
    TimedFakeOvh,
    job_attempts,
    launcher,
    ledger_statuses,
    make_campaign,
    ovh_provider,
    ovh_record,
    send,
    status,
    verify,
)

RECIPIENTS = 3000
BATCH = 50

pytestmark = pytest.mark.sqlite_only("the SQLite ledger's own folder: disk full, read-only files, locks")


def _campaign(tmp_path: Path, fake: TimedFakeOvh, count: int = RECIPIENTS, **kwargs: object) -> Campaign:
    return make_campaign(tmp_path / "repo", count, provider=ovh_provider(fake, batch_size=BATCH), **kwargs)  # type: ignore[arg-type]


def _clear_error(result_err: str, campaign: Campaign) -> None:
    assert "error:" in result_err and "Traceback" not in result_err and "internal error" not in result_err, result_err
    assert str(campaign.state_dir) in result_err, result_err  # names the folder at fault


def _finish_and_check(campaign: Campaign, fake: TimedFakeOvh) -> None:
    env = campaign.env(fake.credentials)
    result = send(campaign, env)
    assert result.code == 0, result.describe()
    verdict = verify(campaign, ovh_record(fake, campaign.campaign_id),
                     ledger_statuses(campaign.state_dir, campaign.campaign_id),
                     status(campaign, env))
    assert verdict.ok and verdict.received_once == len(campaign.recipients), verdict.problems()


def _interim_check(campaign: Campaign, fake: TimedFakeOvh) -> None:
    """After a stopped run: nothing twice, nothing the provider has is still waiting to be sent."""
    verdict = verify(campaign, ovh_record(fake, campaign.campaign_id),
                     ledger_statuses(campaign.state_dir, campaign.campaign_id), None, interim=True)
    assert verdict.ok, verdict.problems()


# -- read-only -----------------------------------------------------------------------------------------


@pytest.fixture
def read_only_prefix(tmp_path: Path) -> list[str]:
    """A command prefix under which a 0555 folder really is read-only; skips when none exists."""
    prefix = launcher(drop_dac=True) if os.geteuid() == 0 else []
    probe = tmp_path / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        attempt = subprocess.run([*prefix, shutil.which("touch") or "touch", str(probe / "x")],
                                 capture_output=True, text=True, check=False)
    finally:
        probe.chmod(0o755)
    if attempt.returncode == 0:
        pytest.skip("cannot make a folder read-only for this user (root with CAP_DAC_OVERRIDE that cannot be "
                    f"dropped): {attempt.stderr.strip()}")
    return prefix


def _make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def _make_writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_read_only_fresh_state_dir(tmp_path: Path, fake: TimedFakeOvh, read_only_prefix: list[str]) -> None:
    campaign = _campaign(tmp_path, fake)
    campaign.state_dir.mkdir()
    campaign.state_dir.chmod(0o555)
    try:
        result = send(campaign, campaign.env(fake.credentials), prefix=read_only_prefix)
    finally:
        _make_writable(campaign.state_dir)
    assert result.code == 1, result.describe()
    _clear_error(result.err, campaign)
    assert job_attempts(fake) == [] and ovh_record(fake) == []
    _finish_and_check(campaign, fake)


def test_read_only_state_dir_after_a_partial_run(tmp_path: Path, fake: TimedFakeOvh,
                                                 read_only_prefix: list[str]) -> None:
    campaign = _campaign(tmp_path, fake)
    partial = send(campaign, campaign.env({**fake.credentials, "SMSRUN_TEST_CRASH_AT": "after_settle:3"}))
    assert partial.killed, partial.describe()
    jobs = len(job_attempts(fake))
    _make_read_only(campaign.state_dir)
    try:
        result = send(campaign, campaign.env(fake.credentials), prefix=read_only_prefix)
        # `status` still reads a read-only ledger, and tells the truth
        reported = status(campaign, campaign.env(fake.credentials), prefix=read_only_prefix)
    finally:
        _make_writable(campaign.state_dir)
    assert result.code == 1, result.describe()
    _clear_error(result.err, campaign)
    # killed once the third settle committed (with the settles committed beside it: runner.send.writer);
    # the requests claimed ahead, sent or not, are in doubt; the rest was never claimed
    assert len(job_attempts(fake)) == jobs and jobs >= 3
    assert 3 * BATCH <= reported["sent"] <= jobs * BATCH, reported
    assert reported["in_doubt"] >= jobs * BATCH - reported["sent"], reported
    assert reported["sent"] + reported["in_doubt"] + reported["pending"] == RECIPIENTS, reported
    _interim_check(campaign, fake)
    _finish_and_check(campaign, fake)


def test_read_only_ledger_with_unsettled_claims(tmp_path: Path, fake: TimedFakeOvh,
                                                read_only_prefix: list[str]) -> None:
    """A dead run left a batch claimed; the ledger files are then read-only (the folder is not): the
    next run cannot record the batch as in doubt, so it must stop before anything else."""
    campaign = _campaign(tmp_path, fake)
    partial = send(campaign, campaign.env({**fake.credentials, "SMSRUN_TEST_CRASH_AT": "after_send:2"}))
    assert partial.killed, partial.describe()
    assert len(job_attempts(fake)) == 2
    for path in campaign.state_dir.glob("ledger.sqlite*"):  # the ledger and its WAL, not the folder
        path.chmod(0o444)
    try:
        result = send(campaign, campaign.env(fake.credentials), prefix=read_only_prefix)
    finally:
        _make_writable(campaign.state_dir)
    assert result.code == 1, result.describe()
    _clear_error(result.err, campaign)
    assert "cannot write the ledger" in result.err
    assert len(job_attempts(fake)) == 2
    _interim_check(campaign, fake)
    _finish_and_check(campaign, fake)  # the claimed batch is reconciled, not resent


# -- disk full -----------------------------------------------------------------------------------------------


@contextmanager
def _tmpfs(folder: Path, size: str) -> Iterator[None]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a tmpfs needs root and mount(8)")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def _grow(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=256m", str(folder)], check=True)


def _fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` up to the last byte."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle, suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)
    with open(filler, "ab", buffering=0) as handle, suppress(OSError):
        while True:
            handle.write(b"\0")
    assert os.statvfs(folder).f_bavail == 0
    return filler


@pytest.mark.parametrize("technique", ["tmpfs", "rlimit"])
def test_disk_full_from_the_start(tmp_path: Path, fake: TimedFakeOvh, technique: str) -> None:
    campaign = _campaign(tmp_path, fake)
    env = campaign.env(fake.credentials)
    if technique == "tmpfs":
        with _tmpfs(campaign.state_dir, "1m"):
            filler = _fill(campaign.state_dir)
            result = send(campaign, env)
            filler.unlink()
            _grow(campaign.state_dir)
            assert result.code == 1, result.describe()
            _clear_error(result.err, campaign)
            assert job_attempts(fake) == [] and ovh_record(fake) == []
            _finish_and_check(campaign, fake)
    else:
        result = send(campaign, env, prefix=launcher(fsize=0))
        assert result.code == 1, result.describe()
        _clear_error(result.err, campaign)
        assert job_attempts(fake) == [] and ovh_record(fake) == []
        _finish_and_check(campaign, fake)


@pytest.mark.parametrize("technique", ["tmpfs", "rlimit"])
def test_disk_full_mid_run(tmp_path: Path, fake: TimedFakeOvh, technique: str) -> None:
    """The ledger's disk fills up while sending: the run stops at the first write that fails (a claim
    before a call, or a settle after one) with a clear error; what the provider accepted is never left
    to be sent again, and the same command finishes the campaign once there is room."""
    campaign = _campaign(tmp_path, fake)
    env = campaign.env(fake.credentials)
    if technique == "tmpfs":
        with _tmpfs(campaign.state_dir, "1m"):
            result = send(campaign, env)
            _grow(campaign.state_dir)
            _check_stopped_mid_run(campaign, fake, result.code, result.err, "database or disk is full")
            _finish_and_check(campaign, fake)
    else:
        result = send(campaign, env, prefix=launcher(fsize=1_000_000))
        _check_stopped_mid_run(campaign, fake, result.code, result.err, "disk I/O error")
        _finish_and_check(campaign, fake)


def _check_stopped_mid_run(campaign: Campaign, fake: TimedFakeOvh, code: int, err: str, reason: str) -> None:
    assert code == 1, err
    _clear_error(err, campaign)
    assert reason in err, err
    sent = len(job_attempts(fake))
    assert 0 < sent < RECIPIENTS // BATCH, f"{sent} job(s): the disk should fill mid-run"
    _interim_check(campaign, fake)


def test_disk_full_when_a_new_campaign_takes_its_lock(tmp_path: Path, fake: TimedFakeOvh) -> None:
    """The ledger opens without writing (a killed run left its WAL), but the new campaign's lock file
    cannot be written: a clear error naming the lock, not a traceback."""
    first = _campaign(tmp_path, fake, 300)
    second = make_campaign(tmp_path / "repo", 300, campaign_id="second", seed=1,
                           provider=ovh_provider(fake, batch_size=BATCH))
    env = first.env(fake.credentials)
    with _tmpfs(first.state_dir, "4m"):
        killed = send(first, first.env({**fake.credentials, "SMSRUN_TEST_CRASH_AT": "after_settle:2"}))
        assert killed.killed, killed.describe()
        jobs = len(job_attempts(fake))  # 2, or more if the next requests left before the kill
        filler = _fill(first.state_dir)
        result = send(second, env)
        filler.unlink()
        assert result.code == 1, result.describe()
        _clear_error(result.err, second)
        assert "cannot write the lock" in result.err and "second.lock" in result.err
        assert len(job_attempts(fake)) == jobs and jobs >= 2
        assert stat.S_ISDIR(os.stat(first.state_dir).st_mode)
        _finish_and_check(second, fake)
        _finish_and_check(first, fake)
