"""The audience stage on every core: parts of large CSV files read and classified by worker processes.

The parent cuts a file's body at line ends (:meth:`CsvSource.split`) and sends each worker a byte
range, not rows; a worker reads its part, classifies every number, drops the duplicates *within the
part* and sends back a compact :class:`PartResult` (the distinct valid numbers as packed 8-byte
integers, their lines packed too, their positions grouped by dedupe bucket, the invalid rows per reason
with their first examples). The parent appends the parts in file order (``build.py``) and dedupes once
everything is read (``dedupe.py``), so recipients, duplicates, invalid rows and their
``file:line`` are exactly those of the single-process path, which stays the reference: small inputs,
files that cannot be cut safely and ``SMSRUN_WORKERS=1`` use it.

Settings (environment):

* ``SMSRUN_WORKERS``: worker processes (default: the CPUs this process may run on); ``1`` forces the
  single-process path.
* ``SMSRUN_PARALLEL_MIN_BYTES``: files smaller than this are read in the parent (default 4 MB, about
  110,000 rows: below it the pool's start-up costs more than the second core gives back).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
from array import array
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import repeat
from typing import Any, Final, NamedTuple

from runner.errors import SourceError
from runner.sources.csvparts import CsvPart

DEFAULT_MIN_BYTES: Final = 4_000_000
SHARED_DEDUPE_MIN: Final = 200_000  # valid rows from which the workers take a share of the dedupe
PARTS_PER_WORKER: Final = 16
MIN_PART_BYTES: Final = 500_000
MAX_PART_BYTES: Final = 1_200_000
_LINE_CODE: Final = "L"  # array type of the packed line numbers (at least 32 bits)

assert array(_LINE_CODE).itemsize >= 4


class Settings(NamedTuple):
    workers: int
    min_bytes: int


def settings(workers: int | None = None, min_bytes: int | None = None) -> Settings:
    """The settings in force: the arguments, else the environment, else the defaults."""
    if workers is None:
        workers = _env_int("SMSRUN_WORKERS")
    if workers is None:
        try:
            workers = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            workers = os.cpu_count() or 1
    if min_bytes is None:
        min_bytes = _env_int("SMSRUN_PARALLEL_MIN_BYTES")
    return Settings(max(1, workers), DEFAULT_MIN_BYTES if min_bytes is None else max(0, min_bytes))


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise SourceError(f"{name}={value!r}: expected a whole number") from None


def parts_wanted(workers: int, size: int) -> int:
    """How many parts to cut ``size`` bytes into: several per worker, of 500 kB to 1.2 MB each.

    A worker holds one part at a time, so its memory depends on the part's size, never the file's.
    """
    return max(2, min(workers * PARTS_PER_WORKER, size // MIN_PART_BYTES), -(-size // MAX_PART_BYTES))


class PartResult(NamedTuple):
    """What a worker sends back for one part (small to pickle: strings joined, integers packed)."""

    rows: int
    numbers: bytes  # the distinct valid E.164 numbers of the part, first occurrence first, packed
    # (runner.audience.numbers: array(CODE) of their digits; 8 bytes each, no str to make in the parent)
    lines: bytes  # their lines within the part, array(_LINE_CODE)
    field_keys: tuple[str, ...] | None  # the template fields' names, if the rows carry fields
    field_values: list[tuple[str, ...] | None] | None  # per number, the fields' values (None: no fields)
    duplicates: int  # valid rows whose number came earlier in the same part
    invalid: list[tuple[str, int, list[tuple[int, str]]]]  # (reason, rows, first examples (line, raw))
    order: bytes  # the numbers' positions grouped by dedupe bucket, array("I") (runner.audience.dedupe.group)
    bucketed: bytes  # the numbers in that order, array(CODE)
    bucket_counts: list[int]  # how many numbers in each bucket
    regions: bytes | None  # the numbers' regions, one byte each (runner.audience.regions.region_codes)
    newlines: int  # lines in the part, for the next part's line offset
    pid: int  # the worker's process id
    peak_rss_kb: int  # the worker's peak RSS so far


class Pool:
    """Worker processes, started on first use; ``fork`` (cheap, inherits the loaded metadata) unless
    threads run, then ``forkserver``."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._froze = False  # gc.freeze() was called when the workers were started (undone by close)
        self.peak_rss_kb: dict[int, int] = {}  # worker pid -> its peak RSS, as reported

    def seen(self, result: PartResult) -> None:
        self.peak_rss_kb[result.pid] = max(self.peak_rss_kb.get(result.pid, 0), result.peak_rss_kb)

    def submit(self, part: CsvPart, region: str | None, max_examples: int) -> Future[PartResult]:
        if self._executor is not None:
            return self._executor.submit(classify_part, part, region, max_examples)
        method = "fork" if threading.active_count() == 1 else "forkserver"
        context = multiprocessing.get_context(method)
        # Every object alive now (modules, metadata, compiled regexes) outlives the pool: frozen, a full
        # collection no longer walks them (one took ~47 ms of the parent here), and a worker's collections
        # never write to the pages it shares with the parent (the gc module's advice for fork without exec).
        # The parent unfreezes them when the pool closes; a host process that froze objects itself is
        # left as it is.
        self._froze = gc.get_freeze_count() == 0
        if self._froze:
            gc.freeze()
        self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                             initializer=_worker_signals)
        # The first submit starts the workers. A Ctrl-C meanwhile would hit a child before it ignores
        # SIGINT (a traceback, a broken pool) or the parent inside os.fork's handlers (where Python
        # drops it): SIGINT waits, blocked, until the workers are started, then reaches the parent.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return self._executor.submit(classify_part, part, region, max_examples)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    @property
    def started(self) -> bool:
        return self._executor is not None

    def share(self, numbers: list[bytes], positions: list[bytes]) -> Future[bytes]:
        """Some buckets of the dedupe, to a (started, idle) worker (runner.audience.dedupe.first_positions)."""
        from runner.audience.dedupe import first_positions

        assert self._executor is not None
        return self._executor.submit(first_positions, numbers, positions)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self._froze:
            gc.unfreeze()
            self._froze = False


# --- in the worker -------------------------------------------------------------------------------------


def _worker_signals() -> None:
    """Ctrl-C is the parent's to handle (it stops the pool): a worker ignores SIGINT, so that no worker
    prints a traceback; SIGTERM gets its default action, not a handler the parent may have installed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by the parent while it forked


_NORMALISERS: dict[str | None, Any] = {}


def classify_part(part: CsvPart, region: str | None, max_examples: int) -> PartResult:
    """Read and classify one part (runs in a worker process)."""
    import resource

    from runner.audience.dedupe import group
    from runner.audience.numbers import pack_many
    from runner.audience.phones import MOBILE_TYPES, PhoneNormaliser
    from runner.audience.regions import code_of, region_code
    from runner.sources.csvparts import open_part, part_text, plain_lines

    normaliser = _NORMALISERS.get(region)
    if normaliser is None:
        normaliser = _NORMALISERS[region] = PhoneNormaliser(region)
    classify = normaliser.classify
    text, newlines = part_text(part)
    reader, _, source = open_part(part, text)
    seen: dict[str, int] = {}  # the part's distinct valid numbers -> their line, first occurrence first
    keys: tuple[str, ...] | None = None
    values: list[tuple[str, ...] | None] | None = None
    invalid: dict[str, tuple[list[int], list[tuple[int, str]]]] = {}
    counts = [0, 0]  # rows, duplicates
    # the region of each distinct number (runner.audience.regions), found as it joins `seen`: a clean
    # number of the default region's single-region code needs no lookup
    regions = bytearray()
    add_region = regions.append
    lost: list[LookupError] = []  # a region outside the table (never today): the part sends no regions

    def region_of(e164: str | None, region: str | None = None) -> int:
        """The byte of ``e164``'s region, looked up; or, with no number, of the ``region`` already found."""
        try:
            return region_code(e164) if e164 is not None else code_of(region)
        except LookupError as exc:  # pragma: no cover - see runner.audience.regions.region_codes
            lost.append(exc)
            return 0

    def take(raw: str, line: int, fields: dict[str, str] | None) -> None:
        nonlocal keys, values
        counts[0] += 1
        e164, reason = classify(raw)
        if e164 is None:
            group = invalid.get(reason or "invalid")
            if group is None:
                group = invalid[reason or "invalid"] = ([0], [])
            group[0][0] += 1
            if len(group[1]) < max_examples:
                group[1].append((line, raw))
        elif e164 in seen:
            counts[1] += 1
        else:
            seen[e164] = line
            add_region(region_of(e164))
            if fields is not None:
                if keys is None:
                    keys = tuple(fields)
                    values = [None] * (len(seen) - 1)
                assert values is not None
                values.append(tuple(fields.values()))
            elif values is not None:
                values.append(None)

    index = part.index
    if index is None or part.keep is not None:
        for raw, line, fields in source._body(reader, index, part.keep):
            take(raw, line, fields)
    else:
        # CsvSource._body's common shape (one number in the phone cell, no template fields) without a
        # generator step per row; every other row goes through its _emit, as there.
        # A valid number is answered by the fast path without the normaliser's cache (a part rarely holds
        # the same string twice: the cache cost more than it saved); the rest goes the general way.
        # A part without quotes is cut with str.split, as csv.reader would cut it (csvparts.plain_lines):
        # half the reader's cost a row.
        fast = normaliser._fast.classify
        home = normaliser._fast.home_whole
        # the default region's national regexes by length, "+cc" and its prefix's length (once, not a row)
        by_length, plus_cc, skip = normaliser._fast.home_national or (None, "", 0)
        home_region = region_of(None, normaliser._fast.home_region)  # the byte of a home match
        mobile = MOBILE_TYPES
        fast_rows = 0
        lines = plain_lines(text)
        del text
        delimiter = part.delimiter
        if lines is not None:
            rows: Any = enumerate(map(str.split, lines, repeat(delimiter), repeat(index + 1)), 1)
        else:
            rows = ((reader.line_num, cells) for cells in reader)
        for line_num, cells in rows:
            if not cells:
                continue
            head = cells[0]
            if "#" in head and head.lstrip().startswith("#"):
                continue
            if index < len(cells):
                cell = cells[index]
                if not ("," in cell or ";" in cell or "|" in cell or "  " in cell or (" " in cell and len(cell) > 20)):
                    raw = cell.strip()  # (the condition is csvfile._several(cell), inlined)
                    if raw:
                        # fast(raw)'s common answers without the call: a clean "+cc…" of the default region
                        # ("+33 6 12 34 56 78" too: its spaces dropped, as classify drops them), or one of its
                        # national numbers, separators " .-" dropped ("06 12 34 56 78", "06.12.34.56.78").
                        # A match is classify's answer (tests/audience: test_phones, test_parallel); else it is called.
                        match = None
                        if raw[:1] == "+":
                            if home is not None:
                                candidate = raw.replace(" ", "") if " " in raw else raw
                                pattern, types = home[len(candidate)]
                                match = pattern.fullmatch(candidate)
                                e164 = candidate
                        elif by_length is not None:
                            candidate = raw.replace(" ", "").replace(".", "").replace("-", "")
                            if len(candidate) >= 3:
                                pattern, types = by_length[len(candidate)]
                                match = pattern.fullmatch(candidate)
                                if match is not None:
                                    e164 = plus_cc + candidate[skip:]
                        if match is not None and types[match.lastindex or 0] in mobile:
                            fast_rows += 1
                            if e164 in seen:
                                counts[1] += 1
                            else:
                                seen[e164] = line_num
                                add_region(home_region)
                            continue
                        found = fast(raw)
                        if found is not None and found[1] in mobile:  # what classify(raw) answers then
                            fast_rows += 1
                            e164 = found[0]
                            if e164 in seen:
                                counts[1] += 1
                            else:
                                seen[e164] = line_num
                                add_region(region_of(None, found[2]))  # the region the classifier found
                        else:
                            take(raw, line_num, None)  # invalid or not known to the fast path
                        continue
            if lines is not None:
                cells = lines[line_num - 1].split(delimiter)  # every cell (only the first were cut)
            for raw, line, fields in source._emit(cells, index, None, line_num):
                take(raw, line, fields)
        counts[0] += fast_rows
    normaliser._cache.clear()  # a worker's memory is what one part needs, whatever the file's size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    numbers = pack_many(seen)
    order, bucketed, bucket_counts = group(numbers)
    assert len(regions) == len(seen)
    return PartResult(counts[0], numbers.tobytes(), array(_LINE_CODE, seen.values()).tobytes(), keys, values,
                      counts[1], [(reason, rows[0], examples) for reason, (rows, examples) in invalid.items()],
                      order.tobytes(), bucketed.tobytes(), bucket_counts, None if lost else bytes(regions), newlines,
                      os.getpid(), peak)


def unpack_lines(packed: bytes, code: str = _LINE_CODE) -> array[int]:
    lines = array(code)
    lines.frombytes(packed)
    return lines
