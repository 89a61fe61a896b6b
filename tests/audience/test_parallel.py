"""The audience read by worker processes is the audience read in one process, to the last file:line."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.audience import dedupe, parallel
from runner.audience.build import Audience, build_audience
from runner.audience.regions import decode, regions_of
from runner.check import load_campaign
from runner.errors import SourceError
from runner.plan import PlanOptions, build_plan
from runner.sources import SourceContext
from runner.sources.csvfile import CsvSource
from tests.support.repo import Repo

# Raw cells: valid (several spellings of a few numbers, so duplicates across spellings), invalid for
# each reason, several numbers in one cell, empty.
CELLS = [
    "+33612345678", "06 12 34 56 78", "0612345678", "+33 6 12 34 56 78", "0033612345678",
    "+33712345670", "07 12 34 56 70", "+33623456789", "06.23.45.67.89", "+447400123456",
    "+4915123456789", "+12015550123", "+33698765432", "0698765432", "+15145550123", "+79161234567",
    "+77012345678", "+447797123456", "+262692123456",
    "+33123456789", "01 23 45 67 89", "0800 12 34 56", "+3361234567", "n/a", "", "  ", "tel",
    "+999123456789", "06 12 34", "0612345678;0712345670", "+33611111111|+33622222222",
]
NAMES = ["Zoé", "Jean", "", "Marie-Hélène"]
ONE_FILE = "id: c\ncommercial: false\nmessage: hi\nrecipients:\n  - csv: l.csv\n"


def _audience_dict(audience: Audience) -> dict[str, Any]:
    return {
        "recipients": list(audience.recipients),
        "codes": list(audience.codes),
        "origins": [audience.origin(e164) for e164 in list(audience.recipients)[:3]],
        "fields": list(audience.fields.items()),
        "labels": audience.labels,
        "digests": audience.digests,
        "counts": (audience.rows, audience.valid, audience.duplicates, audience.excluded, audience.suppressed,
                   audience.exclusion_invalid),
        "invalid": [(r, g.reason, g.count, g.examples) for r, g in audience.invalid.items()],
        "suppressed_by": list(audience.suppressed_by.items()),
    }


def _both(repo: Repo, body: str, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The audience in one process, and with two workers cutting every file in several parts."""
    campaign = load_campaign(repo.write("c.yaml", body))
    ctx = SourceContext(repo_root=repo.path)
    single = build_audience(campaign, ctx, workers=1, **kwargs)
    several = build_audience(campaign, ctx, workers=2, min_parallel_bytes=0, **kwargs)
    # the regions the workers found, carried through the merge and the dedupe, are the recipients' own
    assert single.region_codes is None and several.region_codes is not None
    assert decode(several.region_codes) == regions_of(several.recipients)
    return _audience_dict(single), _audience_dict(several)


@pytest.fixture(autouse=True)
def _small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_PART_BYTES", 1)  # tiny files still get cut in several parts
    monkeypatch.setattr(dedupe, "SMALL", 0)  # and the dedupe takes numpy's way, as a long list does
    monkeypatch.setattr(dedupe, "UNLOADED", 0)
    monkeypatch.delenv("SMSRUN_WORKERS", raising=False)
    monkeypatch.delenv("SMSRUN_PARALLEL_MIN_BYTES", raising=False)


def _csv(rows: list[tuple[str, str]], *, header: bool, extra: list[str]) -> str:
    lines = ["phone,first_name"] if header else []
    lines += [f"{phone},{name}" for phone, name in rows]
    for position, text in zip(range(3, 3 * len(extra) + 3, 3), extra, strict=True):
        lines.insert(min(position, len(lines)), text)
    return "\n".join(lines) + "\n"


_rows = st.lists(st.tuples(st.sampled_from(CELLS), st.sampled_from(NAMES)), max_size=60)
_extra = st.lists(st.sampled_from(["", "# a comment", ",", "   "]), max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.tuples(_rows, st.booleans(), _extra), min_size=1, max_size=3),
       exclude=st.lists(st.sampled_from(CELLS[:14]), max_size=3),
       opted_out=st.lists(st.sampled_from(["+33612345678", "+33698765432", "+447400123456"]), max_size=2),
       fields=st.booleans())
def test_workers_give_the_single_process_audience(repo: Repo, files: list[tuple[list[tuple[str, str]], bool,
                                                                                   list[str]]],
                                                  exclude: list[str], opted_out: list[str], fields: bool) -> None:
    body = "id: c\ncommercial: false\nmessage: hi\nrecipients:\n"
    for k, (rows, header, extra) in enumerate(files):
        repo.write(f"l{k}.csv", _csv(rows, header=header, extra=extra))
        body += f"  - csv: l{k}.csv\n    region: FR\n" + ("" if header else "    column: 1\n")
    if exclude:
        repo.write("ex.csv", "phone\n" + "\n".join(exclude) + "\n")
        body += "exclude:\n  - csv: ex.csv\n    region: FR\n"
    wanted = frozenset({"first_name"}) if fields else frozenset()
    suppressed = {number: "manual" for number in opted_out}
    single, several = _both(repo, body, wanted_fields=wanted, suppressed=suppressed)
    assert several == single


def test_big_enough_files_really_go_to_the_workers(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.write("l.csv", "phone\n" + "".join(f"+336{i:08d}\n" for i in range(2000)))
    calls: list[int] = []
    real = parallel.Pool.seen

    def seen(self: parallel.Pool, result: parallel.PartResult) -> None:
        calls.append(result.pid)
        real(self, result)

    monkeypatch.setattr(parallel.Pool, "seen", seen)
    single, several = _both(repo, "id: c\ncommercial: false\nmessage: hi\nrecipients:\n  - csv: l.csv\n")
    assert several == single
    assert len(calls) == 2 * parallel.PARTS_PER_WORKER and os.getpid() not in calls  # none read in the parent
    assert len(single["recipients"]) == 2000


def test_small_files_and_single_process_setting_stay_in_the_parent(repo: Repo,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = repo.write("l.csv", "phone\n" + "".join(f"+336{i:08d}\n" for i in range(200)))
    source = CsvSource(path, label="l.csv")
    assert source.split(8, min_bytes=parallel.DEFAULT_MIN_BYTES) is None
    assert source.split(8, min_bytes=0) is not None
    monkeypatch.setenv("SMSRUN_WORKERS", "1")
    assert parallel.settings().workers == 1
    monkeypatch.setenv("SMSRUN_WORKERS", "3")
    monkeypatch.setenv("SMSRUN_PARALLEL_MIN_BYTES", "10")
    assert parallel.settings() == parallel.Settings(3, 10)
    monkeypatch.setenv("SMSRUN_WORKERS", "many")
    with pytest.raises(SourceError, match="SMSRUN_WORKERS"):
        parallel.settings()


@pytest.mark.parametrize(
    ("content", "splittable"),
    [
        ('phone,name\n+33612345678,"Dupont, Jean"\n+33612345679,x\n', True),  # quotes: cut outside them
        ('"+33612345678\n",x\n+33612345679,x\n', False),  # no header, a first record on two lines
        ("phone,name\r+33612345678,x\r+33612345679,x\r", False),  # bare CR
        ("phone,name\r\n+33612345678,x\r\n06 12 34 56 79,x\r\n", True),
        ("\ufeffphone,name\n+33612345678,x\n0612345679,x\n", True),
        ("\ufeff+33612345678,x\n0612345679,x\n", True),  # BOM, no header: the first line is a row
    ],
)
def test_which_files_are_cut(repo: Repo, content: str, splittable: bool) -> None:
    path = repo.write("l.csv", content)
    assert (CsvSource(path, label="l.csv", region="FR").split(2, min_bytes=0) is not None) is splittable
    single, several = _both(repo, f"{ONE_FILE}    region: FR\n")
    assert several == single
    assert len(single["recipients"]) == 2


def test_latin1_file_and_lines_after_comments(repo: Repo) -> None:
    text = "# exported\n\nnuméro;prénom\n" + "".join(f"06 12 34 {i:02d} {j:02d};Hélène\n" if (i + j) % 7 else "\n"
                                                     for i in range(30) for j in range(10))
    (repo.path / "l.csv").write_bytes(text.encode("latin-1"))
    single, several = _both(repo, f"{ONE_FILE}    region: FR\n", wanted_fields=frozenset({"prenom"}))
    assert several == single
    assert single["fields"][0][1] == {"prenom": "Hélène"}


def test_a_latin1_body_under_an_ascii_header_is_read_again_in_the_parent(repo: Repo) -> None:
    """A large file is cut before its encoding is known (the scan runs while the workers read): a part
    that is not UTF-8 fails in its worker, and the parent reads the file as Latin-1, as one process
    does."""
    names = ["Hélène" if i % 97 == 60 and i > 1000 else "x" for i in range(3000)]  # none in the first 8 kB
    text = "phone,name\n" + "".join(f"+336{i:08d},{name}\n" for i, name in enumerate(names))
    path = repo.path / "l.csv"
    path.write_bytes(text.encode("latin-1"))
    split = CsvSource(path, label="l.csv", region="FR").split(4, min_bytes=0)
    assert split is not None and split[0][1].encoding == "utf-8"  # cut, as UTF-8
    single, several = _both(repo, f"{ONE_FILE}    region: FR\n", wanted_fields=frozenset({"name"}))
    assert several == single
    assert ("+33600001030", {"name": "Hélène"}) in single["fields"]


def test_a_bad_file_fails_the_same_way(repo: Repo) -> None:
    # Declared UTF-8, with a Latin-1 byte far down: the worker's part fails to decode; the parent reads
    # the file itself and reports what the single-process path reports.
    good = "".join(f"+336{i:08d},x\n" for i in range(3000)).encode()
    (repo.path / "l.csv").write_bytes(b"phone,name\n" + good + "+33600000001,Ren\xe9\n".encode("latin-1") + good)
    body = "id: c\ncommercial: false\nmessage: hi\nrecipients:\n  - csv: l.csv\n    encoding: utf-8\n"
    campaign = load_campaign(repo.write("c.yaml", body))
    ctx = SourceContext(repo_root=repo.path)
    with pytest.raises(SourceError) as single:
        build_audience(campaign, ctx, workers=1)
    with pytest.raises(SourceError) as several:
        build_audience(campaign, ctx, workers=2, min_parallel_bytes=0)
    assert str(several.value) == str(single.value)
    assert "not valid utf-8" in str(single.value)


def test_the_first_error_in_source_order_is_the_one_reported(repo: Repo) -> None:
    repo.write("a.csv", "name,phone\nx,+33612345678\n")
    repo.write("b.csv", "phone\n+33612345679\n")
    body = ("id: c\ncommercial: false\nmessage: hi\nrecipients:\n  - csv: b.csv\n  - csv: a.csv\n    column: mobile\n"
            "  - csv: missing.csv\n")
    campaign = load_campaign(repo.write("c.yaml", body), check_files=False)
    ctx = SourceContext(repo_root=repo.path)
    messages = []
    for workers in (1, 2):
        with pytest.raises(SourceError) as caught:
            build_audience(campaign, ctx, workers=workers, min_parallel_bytes=0)
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "no column named 'mobile'" in messages[0]


def test_the_plan_is_the_same_to_its_digest(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    for k in range(3):
        repo.write(f"l{k}.csv", "phone,first_name\n" + "".join(
            f"{'06 12' if i % 3 else '+33 6 12'} {n // 100 % 100:02d} {n // 10 % 10}{k % 2} {n % 97:02d},N{i}\n"
            for i, n in ((i, (i * 7 + k * 300) % 1500) for i in range(900))))
    body = ("id: c\ncommercial: false\nmessage: 'Hi {{ first_name }}'\nrecipients:\n"
            + "".join(f"  - csv: l{k}.csv\n    region: FR\n" for k in range(3)))
    path = repo.write("c.yaml", body)
    results = []
    for workers in ("1", "2"):
        monkeypatch.setenv("SMSRUN_WORKERS", workers)
        monkeypatch.setenv("SMSRUN_PARALLEL_MIN_BYTES", "0")
        plan = build_plan(load_campaign(path), PlanOptions(state_dir=repo.state, check_provider=False))
        results.append((plan.digest, plan.recipients.numbers, plan.recipients.texts, plan.audience.duplicates,
                        [p.message for p in plan.problems], plan.recipients.regions, plan.cost))
    assert results[0] == results[1]
    assert results[0][3] > 0


def test_parts_are_cut_at_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text("phone\n" + "".join(f"+336{i:08d}\n" for i in range(1000)), encoding="utf-8")
    parts, skip = CsvSource(path, label="l.csv").split(7, min_bytes=0) or ([], 0)
    data = path.read_bytes()
    assert skip == 1 and parts[0].start == len("phone\n") and parts[-1].end == len(data)
    assert all(a.end == b.start for a, b in pairwise(parts))
    assert all(data[p.start - 1:p.start] == b"\n" for p in parts)
    assert 2 <= len(parts) <= 7


def test_with_threads_running_the_workers_come_from_a_fork_server(repo: Repo) -> None:
    import threading

    repo.write("l.csv", "phone\n" + "".join(f"06 12 {i // 100:02d} {i % 100:02d} 0{i % 7}\n" for i in range(3000)))
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        single, several = _both(repo, f"{ONE_FILE}    region: FR\n")
    finally:
        stop.set()
        thread.join()
    assert several == single and len(single["recipients"]) > 2000


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(c) for c in handle.read().split()]
    except OSError:
        return []


def test_ctrl_c_while_the_workers_run_exits_130_without_a_traceback(repo: Repo) -> None:
    import signal
    import subprocess
    import sys
    import time

    repo.write("l.csv", "phone\n" + "".join(f"06 {i // 10**6 % 100:02d} {i // 10**4 % 100:02d} {i // 100 % 100:02d} "
                                            f"{i % 100:02d}\n" for i in range(6 * 10**7, 6 * 10**7 + 400_000)))
    repo.write("c.yaml", f"{ONE_FILE}    region: FR\n")
    process = subprocess.Popen([sys.executable, "-m", "runner", "plan", "c.yaml"], cwd=repo.path,
                               env=repo.env(SMSRUN_WORKERS="2", SMSRUN_PARALLEL_MIN_BYTES="0"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    workers: list[int] = []
    for _ in range(6000):  # until the workers exist (or the plan is over: then the test says so below)
        workers = _children(process.pid)
        if workers or process.poll() is not None:
            break
        time.sleep(0.005)
    assert workers, "the plan ended before its workers were seen"
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert all(not os.path.exists(f"/proc/{pid}") or _zombie(pid) for pid in workers)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_fields_mapping_is_applied_by_the_workers_too(repo: Repo) -> None:
    """`fields:` (runner.sources.keyed) maps the template's fields to columns on the parallel path as well,
    and a mapped column the header lacks is the same error at the same campaign key."""
    repo.write("l.csv", "phone,Prénom\n" + "".join(f"+336{i:08d},N{i}\n" for i in range(600)))
    body = ("id: c\ncommercial: false\nmessage: 'Hi {{ first_name }}'\nrecipients:\n"
            "  - csv: l.csv\n    fields: {first_name: Prénom}\n")
    single, several = _both(repo, body, wanted_fields=frozenset({"first_name"}))
    assert several == single
    assert dict(several["fields"])["+33600000007"]["first_name"] == "N7"
    campaign = load_campaign(repo.write("c.yaml", body.replace("Prénom}", "Nom}")), check_files=False)
    ctx = SourceContext(repo_root=repo.path)
    messages = []
    for workers in (1, 2):
        with pytest.raises(SourceError) as caught:
            build_audience(campaign, ctx, workers=workers, min_parallel_bytes=0,
                           wanted_fields=frozenset({"first_name"}))
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "c.yaml:6:" in messages[0] and "'Nom'" in messages[0]


# issue 14, second round: files with quotes (Excel exports) are cut too, outside quoted fields.
QUOTED_CELLS = ['"Dupont, Jean"', '"a ""quoted"" word"', '"two\nlines"', '"three\r\nlines\nhere"', 'x"y',
                '5"6', '"', '""', 'plain', '"unfinished', '"a"b', '"+33 6 12 34 56 78"', '"06 12 34 56 78"']


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from([*CELLS[:14], '"+33612345678"', '"06 98 76 54 32"']),
                               st.sampled_from(QUOTED_CELLS)), min_size=1, max_size=80),
       crlf=st.booleans(), parts=st.integers(2, 9))
def test_files_with_quotes_give_the_single_process_audience(repo: Repo, rows: list[tuple[str, str]], crlf: bool,
                                                            parts: int, monkeypatch: pytest.MonkeyPatch) -> None:
    end = "\r\n" if crlf else "\n"
    text = "phone,note" + end + "".join(f"{phone},{note}{end}" for phone, note in rows)
    repo.write("l.csv", text)
    monkeypatch.setattr(parallel, "PARTS_PER_WORKER", parts)
    single, several = _both(repo, f"{ONE_FILE}    region: FR\n", wanted_fields=frozenset({"note"}))
    assert several == single


def test_a_typical_excel_export_is_cut_and_read_by_the_workers(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = "".join(f'"Dupont, Jean {i}";"+336{i:08d}";"12 rue X\nBât. {i % 3}";"say ""hi"""\r\n' for i in range(3000))
    path = repo.write("l.csv", '"Nom";"Téléphone";"Adresse";"Note"\r\n' + rows)
    split = CsvSource(path, label="l.csv", delimiter=";").split(2 * parallel.PARTS_PER_WORKER, min_bytes=0)
    assert split is not None and len(split[0]) > 2
    pids: list[int] = []
    real = parallel.Pool.seen

    def seen(self: parallel.Pool, result: parallel.PartResult) -> None:
        pids.append(result.pid)
        real(self, result)

    monkeypatch.setattr(parallel.Pool, "seen", seen)
    single, several = _both(repo, f"{ONE_FILE}    delimiter: ';'\n", wanted_fields=frozenset({"adresse"}))
    assert several == single and len(single["recipients"]) == 3000
    assert len(pids) == len(split[0]) and os.getpid() not in pids  # every part read by a worker
    assert single["origins"][1].endswith("l.csv:5")  # two physical lines per record (the last one is given)


def test_a_cut_inside_a_quoted_field_falls_back_to_the_parent(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Literal quotes (5"6) make the even-quotes guess wrong: a part ends inside a quoted field, its strict
    reader refuses it, and the parent reads the file: the same audience, not a shifted one."""
    rows = "".join(f'+336{i:08d},5"6 {i}\n' if i % 2 else f'+336{i:08d},"multi\nline {i}"\n' for i in range(2000))
    path = repo.write("l.csv", "phone,note\n" + rows)
    split = CsvSource(path, label="l.csv").split(2 * parallel.PARTS_PER_WORKER, min_bytes=0)
    assert split is not None
    pids: list[int] = []
    real = parallel.Pool.seen

    def seen(self: parallel.Pool, result: parallel.PartResult) -> None:
        pids.append(result.pid)
        real(self, result)

    monkeypatch.setattr(parallel.Pool, "seen", seen)
    single, several = _both(repo, ONE_FILE, wanted_fields=frozenset({"note"}))
    assert several == single and len(single["recipients"]) == 2000
    assert len(pids) < len(split[0])  # a part was refused: the parent read the file


def test_regions_of_a_small_source_beside_large_ones(repo: Repo) -> None:
    """A source read in the parent (too small to cut) beside one the workers read: the regions of its
    numbers join the workers' ones, in order, through the dedupe."""
    big = [CELLS[i % len(CELLS)] for i in range(400)]
    repo.write("big.csv", "phone\n" + "\n".join(big) + "\n")
    repo.write("small.csv", "phone\n+15145550123\n+447797123456\n+33612345678\n+79161234567\n")
    body = ("id: c\ncommercial: false\nmessage: hi\nrecipients:\n  - csv: small.csv\n    region: FR\n"
            "  - csv: big.csv\n    region: FR\n  - csv: small.csv\n    region: FR\n")
    campaign = load_campaign(repo.write("c.yaml", body))
    ctx = SourceContext(repo_root=repo.path)
    single = build_audience(campaign, ctx, workers=1)
    several = build_audience(campaign, ctx, workers=2, min_parallel_bytes=1000)
    assert several.labels == single.labels and several.recipients == single.recipients
    assert several.region_codes is not None
    assert decode(several.region_codes) == regions_of(single.recipients)
    assert {"US", "CA", "GB", "FR", "RU"} <= set(decode(several.region_codes))


def test_a_part_leaves_no_cycle_behind(repo: Repo) -> None:
    """A worker's part is freed when its result is made, not when the garbage collector runs: the
    exceptions phonenumbers handles (junk rows) must not keep the worker's frame (the part) in a cycle."""
    import gc

    repo.write("l.csv", "phone\n" + "".join(f"{cell}\n" for cell in CELLS * 20 if "," not in cell))
    source = CsvSource(repo.path / "l.csv", label="l.csv")
    split = source.split(2, 0)
    assert split is not None
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for part in split[0]:
            result = parallel.classify_part(part, "FR", 5)
            assert result.invalid
        gc.collect()
        frames = [o for o in gc.garbage if type(o).__name__ == "frame" and "classify_part" in repr(o)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert frames == []


# A part without quotes is cut with str.split instead of csv.reader (runner.sources.csvparts.plain_lines):
# the same rows, lines and results, whatever the line ends, blank and comment lines, odd characters.
PLAIN_CELLS = [*[c for c in CELLS if '"' not in c], "#note", " # x", "a\x00b", "+33 6 12\t34 56 78", "é;+33612345678",
               "\x0b+33612345678", "+33612345678\u2028", "06 12 34 56 78 06 98 76 54 32", "x" * 40]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(st.sampled_from(PLAIN_CELLS), min_size=0, max_size=4), min_size=1, max_size=40),
       crlf=st.booleans(), delimiter=st.sampled_from([",", ";", "\t", "|"]), index=st.integers(0, 2),
       last_newline=st.booleans())
def test_a_part_without_quotes_reads_as_the_csv_reader_reads_it(tmp_path: Path, rows: list[list[str]], crlf: bool,
                                                                delimiter: str, index: int,
                                                                last_newline: bool) -> None:
    from runner.sources import csvparts
    from runner.sources.csvparts import CsvPart

    end = "\r\n" if crlf else "\n"
    text = end.join(delimiter.join(cells) for cells in rows) + (end if last_newline else "")
    path = tmp_path / "p.csv"
    path.write_bytes(text.encode("utf-8"))
    part = CsvPart(str(path), 0, path.stat().st_size, "utf-8", delimiter, index, None)
    assert csvparts.plain_lines(text) is not None
    plain = parallel.classify_part(part, "FR", 5)
    real = csvparts.plain_lines
    try:
        csvparts.plain_lines = lambda text: None  # type: ignore[assignment]  # force csv.reader
        reference = parallel.classify_part(part, "FR", 5)
    finally:
        csvparts.plain_lines = real
    assert plain._replace(pid=0, peak_rss_kb=0) == reference._replace(pid=0, peak_rss_kb=0)


def test_plain_lines_refuses_what_csv_reader_reads_otherwise() -> None:
    from runner.sources.csvparts import plain_lines

    assert plain_lines('a,"b,c"\n') is None  # a quote
    assert plain_lines("a\rb\n") is None  # a bare CR ends a line for the reader
    assert plain_lines("a," + "9" * 200_000 + "\n") is None  # over the field limit the reader raises
    assert plain_lines("a,b\r\nc\r\n") == ["a,b", "c"]
    assert plain_lines("a\n\nb") == ["a", "", "b"]


@pytest.mark.parametrize(("region", "seed"), [("FR", 21), ("DE", 22), ("ES", 23), ("GB", 24), ("US", 25), ("BE", 26)])
def test_the_workers_inline_matches_answer_as_classify_on_fuzzed_cells(repo: Repo, region: str, seed: int) -> None:
    """A worker answers a clean or spaced ``+cc…`` of the default region, and its national numbers with
    " .-" separators, with its own regex call instead of classify's (parallel.classify_part): on fuzzed
    numbers of every code in every spelling, the audience is the single-process one, regions included."""
    import random

    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    from tests.audience.test_phones import bench

    rng = random.Random(seed)
    cells = bench.make_fuzz(3_000, seed=seed)
    for _ in range(1_500):  # the region's own mobiles (last digits random: valid or not), as people write them
        e164 = bench._example_like(rng, region, PhoneNumberType.MOBILE)
        number = phonenumbers.parse(e164)
        form = rng.choice((PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164))
        cells.append(phonenumbers.format_number(number, form))
    cells += [cell.replace(" ", rng.choice(".-")) for cell in cells if " " in cell and cell[:1] != "+"]
    repo.write("l.csv", "phone\n" + "".join(f"{cell}\n" for cell in cells))
    single, several = _both(repo, f"{ONE_FILE}    region: {region}\n")
    assert several == single
    assert len(single["recipients"]) > 500  # valid mobiles of the region in every spelling, and of others


def test_the_pool_leaves_the_collector_as_it_found_it(repo: Repo) -> None:
    """The workers fork from a frozen heap (gc.freeze); the parent unfreezes it when the pool closes, and
    leaves alone what a host process froze itself."""
    import gc

    repo.write("l.csv", "phone\n" + "".join(f"+336{i:08d}\n" for i in range(2_000)))
    frozen: list[int] = []
    real_freeze = gc.freeze

    def freeze() -> None:
        real_freeze()
        frozen.append(gc.get_freeze_count())

    assert gc.get_freeze_count() == 0
    gc.freeze = freeze  # type: ignore[assignment]
    try:
        single, several = _both(repo, f"{ONE_FILE}    region: FR\n")
    finally:
        gc.freeze = real_freeze  # type: ignore[assignment]
    assert several == single and frozen and frozen[0] > 0  # frozen while the workers ran...
    assert gc.get_freeze_count() == 0  # ...and not after
    calls: list[str] = []
    real_unfreeze = gc.unfreeze
    gc.freeze()
    try:
        held = gc.get_freeze_count()
        gc.freeze = lambda: calls.append("freeze")  # type: ignore[assignment]
        gc.unfreeze = lambda: calls.append("unfreeze")  # type: ignore[assignment]
        _both(repo, f"{ONE_FILE}    region: FR\n")
        # a host's own freeze is neither redone nor undone (the count may only drop: frozen objects can die)
        assert calls == [] and 0 < gc.get_freeze_count() <= held
    finally:
        gc.freeze, gc.unfreeze = real_freeze, real_unfreeze  # type: ignore[assignment]
        gc.unfreeze()
