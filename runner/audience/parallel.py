"""The audience stage on every core: parts of large CSV files read and classified by worker processes.

The parent cuts a file's body at line ends (:meth:`CsvSource.split`) and sends each worker a byte
range, not rows; a worker reads its part, classifies every number and sends back a compact
:class:`PartResult` (the valid numbers as packed 8-byte integers, their lines packed too, their regions
one byte each, the invalid rows per reason with their first examples). In the common shape (one number in
the phone cell, no template fields) a worker answers most lines in C, with one regex call per line
(``phonelines``), and classifies the rest row by row (:func:`_by_line`); any other shape goes through the
source's general reader (:func:`_by_number`). The parent appends the parts in file order (``build.py``) and dedupes once
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
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import compress, repeat
from operator import add, itemgetter, not_
from typing import Any, Final, NamedTuple

from runner.errors import SourceError
from runner.sources.csvparts import CsvPart

DEFAULT_MIN_BYTES: Final = 4_000_000
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
    numbers: bytes  # the part's valid E.164 numbers in order, packed (runner.audience.numbers: array(CODE) of
    # their digits; 8 bytes each, no str to make in the parent); _by_number keeps only the first of each
    lines: bytes  # their lines within the part, array(_LINE_CODE)
    field_keys: tuple[str, ...] | None  # the template fields' names, if the rows carry fields
    field_values: list[tuple[str, ...] | None] | None  # per number, the fields' values (None: no fields)
    duplicates: int  # valid rows whose number came earlier in the part and is not in ``numbers`` again
    invalid: list[tuple[str, int, list[tuple[int, str]]]]  # (reason, rows, first examples (line, raw))
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


class _Several(Exception):
    """A row gave several valid numbers: the part is read again the general way."""


def classify_part(part: CsvPart, region: str | None, max_examples: int) -> PartResult:
    """Read and classify one part (runs in a worker process)."""
    from runner.audience.phones import PhoneNormaliser
    from runner.sources.csvparts import part_text

    normaliser = _NORMALISERS.get(region)
    if normaliser is None:
        normaliser = _NORMALISERS[region] = PhoneNormaliser(region)
    text, newlines = part_text(part)
    try:
        result = _by_line(part, text, newlines, normaliser, max_examples) if part.index is not None \
            and part.keep is None else None
    except _Several:
        result = None
    if result is None:
        result = _by_number(part, text, newlines, normaliser, max_examples)
    normaliser._cache.clear()  # a worker's memory is what one part needs, whatever the file's size
    return result


def _finish(numbers: Any, lines: array[int], regions: bytes | None, rows: int, duplicates: int,
            invalid: dict[str, tuple[list[int], list[tuple[int, str]]]], newlines: int,
            fields: tuple[tuple[str, ...] | None, list[tuple[str, ...] | None] | None] = (None, None)) -> PartResult:
    import resource

    from runner.audience.numbers import pack_many

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return PartResult(rows, pack_many(numbers).tobytes(), lines.tobytes(), fields[0], fields[1], duplicates,
                      [(reason, count[0], examples) for reason, (count, examples) in invalid.items()],
                      regions, newlines, os.getpid(), peak)


def _invalid_row(invalid: dict[str, tuple[list[int], list[tuple[int, str]]]], reason: str | None, line: int,
                 raw: str, max_examples: int) -> None:
    group = invalid.get(reason or "invalid")
    if group is None:
        group = invalid[reason or "invalid"] = ([0], [])
    group[0][0] += 1
    if len(group[1]) < max_examples:
        group[1].append((line, raw))


def _by_number(part: CsvPart, text: str, newlines: int, normaliser: Any, max_examples: int) -> PartResult:
    """The general way, any shape (template fields, several numbers a row): every row through
    ``CsvSource._body`` and the normaliser; the part's duplicates dropped here."""
    from runner.audience.regions import region_code
    from runner.sources.csvparts import open_part

    classify = normaliser.classify
    reader, _, source = open_part(part, text)
    seen: dict[str, int] = {}  # the part's distinct valid numbers -> their line, first occurrence first
    keys: tuple[str, ...] | None = None
    values: list[tuple[str, ...] | None] | None = None
    invalid: dict[str, tuple[list[int], list[tuple[int, str]]]] = {}
    rows = duplicates = 0
    for raw, line, fields in source._body(reader, part.index, part.keep):
        rows += 1
        e164, reason = classify(raw)
        if e164 is None:
            _invalid_row(invalid, reason, line, raw, max_examples)
        elif e164 in seen:
            duplicates += 1
        else:
            seen[e164] = line
            if fields is not None:
                if keys is None:
                    keys = tuple(fields)
                    values = [None] * (len(seen) - 1)
                assert values is not None
                values.append(tuple(fields.values()))
            elif values is not None:
                values.append(None)
    try:
        regions: bytes | None = bytes(map(region_code, seen))
    except LookupError:  # pragma: no cover - see runner.audience.regions.region_codes
        regions = None
    return _finish(seen, array(_LINE_CODE, seen.values()), regions, rows, duplicates, invalid, newlines,
                   (keys, values))


def _by_line(part: CsvPart, text: str, newlines: int, normaliser: Any, max_examples: int) -> PartResult | None:
    """The common shape (one number in the phone cell, no template fields), one answer a line: the
    default region's clean mobile numbers matched in C (``runner.audience.phonelines``), the other rows
    one by one, each valid number kept at its line with its region. The part's duplicates are left to the
    parent's dedupe (a part rarely holds a number twice). Raises _Several if a row gives two valid numbers."""
    from runner.audience.phonelines import NSN
    from runner.audience.phones import MOBILE_TYPES
    from runner.audience.regions import code_of, region_code
    from runner.sources.csvparts import open_part, part_source, plain_lines

    index = part.index
    assert index is not None
    classify = normaliser.classify
    fast = normaliser._fast.classify
    home = normaliser._fast.home_whole
    # the default region's national regexes by length, "+cc" and its prefix's length (once, not a row)
    by_length, plus_cc, skip = normaliser._fast.home_national or (None, "", 0)
    home_name = normaliser._fast.home_region
    mobile = MOBILE_TYPES
    try:
        home_region = code_of(home_name)  # the byte of a home match
    except LookupError:  # pragma: no cover - see runner.audience.regions.region_codes
        return None
    invalid: dict[str, tuple[list[int], list[tuple[int, str]]]] = {}
    delimiter = part.delimiter
    lines = plain_lines(text)
    rows = 0
    if lines is not None:
        del text
        source = part_source(part)
        # found[line] (1-based; found[0] is no line): the line's valid number, else None
        found: list[str | None] = [None] * (len(lines) + 1)
        left: Any = range(1, len(found))
        accept = normaliser._fast.home_lines(delimiter, index)
        if accept is not None:  # in C: most lines answered here, "+cc" + their NSN put at their line
            pattern, head = accept
            nsns = list(map(itemgetter(NSN), map(pattern.fullmatch, lines)))
            answered = list(compress(left, nsns))
            deque(map(found.__setitem__, answered, map(add, repeat(head), filter(None, nsns))), maxlen=0)
            rows = len(answered)
            left = compress(left, map(not_, nsns))
        cut = index + 1
        pairs: Any = ((line, lines[line - 1].split(delimiter, cut)) for line in list(left))
    else:  # quotes: the csv module cuts the rows
        reader, _, source = open_part(part, text)
        found = [None] * (newlines + 2)  # reader.line_num <= the part's lines + 1
        pairs = ((reader.line_num, cells) for cells in reader)
    regions = bytearray((home_region,)) * len(found)  # by line, like found
    lost = False  # a region outside the table (never today): the part sends no regions
    for line_num, cells in pairs:
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
                    rows += 1
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
                        found[line_num] = e164
                        continue
                    answer = fast(raw)
                    if answer is not None and answer[1] in mobile:  # what classify(raw) answers then
                        found[line_num] = answer[0]
                        if answer[2] != home_name:  # the region the classifier found
                            lost = _set_region(regions, line_num, code_of, answer[2]) or lost
                        continue
                    e164, reason = classify(raw)  # invalid, or not known to the fast path
                    if e164 is None:
                        _invalid_row(invalid, reason, line_num, raw, max_examples)
                    else:
                        found[line_num] = e164
                        lost = _set_region(regions, line_num, region_code, e164) or lost
                    continue
        if lines is not None:
            cells = lines[line_num - 1].split(delimiter)  # every cell (only the first were cut)
        for raw, line, _fields in source._emit(cells, index, None, line_num):
            rows += 1
            e164, reason = classify(raw)
            if e164 is None:
                _invalid_row(invalid, reason, line, raw, max_examples)
            elif found[line_num] is not None:
                raise _Several
            else:
                found[line_num] = e164
                lost = _set_region(regions, line_num, region_code, e164) or lost
    numbers = list(filter(None, found))
    return _finish(numbers, array(_LINE_CODE, compress(range(len(found)), found)),
                   None if lost else bytes(compress(regions, found)), rows, 0, invalid, newlines)


def _set_region(regions: bytearray, line: int, code: Callable[[Any], int], of: Any) -> bool:
    """``regions[line] = code(of)`` (``region_code`` of a number, ``code_of`` a region's name); True if
    the region has no byte in the table."""
    try:
        regions[line] = code(of)
    except LookupError:  # pragma: no cover - see runner.audience.regions.region_codes
        return True
    return False


def unpack_lines(packed: bytes, code: str = _LINE_CODE) -> array[int]:
    lines = array(code)
    lines.frombytes(packed)
    return lines
