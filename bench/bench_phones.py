"""Benchmark phone classification: the plain phonenumbers path vs the fast path + cache.

    .venv/bin/python bench/bench_phones.py [N]      (default N = 1,000,000)

Generates N raw numbers with a fixed seed, the "mix" of performance-floors.md
§2 (70% clean +336/+337, 12% French national/spaced, 8% other countries, 5%
French fixed lines, 5% junk or truncated; about 20% exact duplicates), then:

* naive: ``_plain_classify`` (parse + number_type + format, no cache) on a
  100k sample, extrapolated to N;
* fast: ``PhoneNormaliser("FR").classify`` (fast path + cache) on all N;
* mismatches: fast vs plain on the sample (must be 0).

The generators are also used by tests/audience/test_phones.py.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

OTHER_REGIONS = ("DE", "GB", "BE", "CH", "ES", "US", "IT", "MA", "TN", "LU", "PT")
OVERSEAS_REGIONS = ("RE", "YT", "GP", "MQ", "GF", "BL", "MF", "PM", "NC", "PF")
JUNK = (
    "",
    " ",
    "n/a",
    "N/A",
    "-",
    "none",
    "0",
    "00",
    "+",
    "+33",
    "06",
    "tel",
    "john@example.org",
    "06 12 34",
    "+33 6",
    "12345",
    "#REF!",
    "0612345678901234567890",
    "+999123456789",
    "++33612345678",
    "06 12 34 56 78 / 07 12 34 56 78",
    "+33 6 12 34 56 78 ext. 12",
    "+33-6-CALL-NOW",
    "١٢٣٤٥٦٧٨٩",
    "+33\t612345678",
    "+33 6 12 34 56 78 9",
)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _spaced(number: str, rng: random.Random) -> str:
    """A national or international number written with pairs (or triples) separated."""
    separator = rng.choice((" ", ".", "-", " ", ""))
    head, rest = (number[:2], number[2:]) if not number.startswith("+") else (number[:4], number[4:])
    step = rng.choice((2, 2, 3))
    groups = [rest[i : i + step] for i in range(0, len(rest), step)]
    return separator.join([head, *groups])


def _example_like(rng: random.Random, region: str, number_type: int) -> str | None:
    """An example number of the region and type with its last digits randomised (E.164)."""
    import phonenumbers

    example = phonenumbers.example_number_for_type(region, number_type)
    if example is None:
        return None
    nsn = phonenumbers.national_significant_number(example)
    keep = max(1, len(nsn) - rng.choice((3, 4, 5, 6)))
    return f"+{example.country_code}{nsn[:keep]}{_digits(rng, len(nsn) - keep)}"


def _other_country(rng: random.Random) -> str:
    import phonenumbers

    region = rng.choice(OTHER_REGIONS + OVERSEAS_REGIONS[:3])
    number_type = rng.choice((phonenumbers.PhoneNumberType.MOBILE,) * 3 + (phonenumbers.PhoneNumberType.FIXED_LINE,))
    e164 = _example_like(rng, region, number_type)
    if e164 is None:
        return "+" + _digits(rng, 11)
    roll = rng.random()
    if roll < 0.6:
        return e164
    if roll < 0.8:
        return _spaced(e164, rng)
    return "00" + e164[1:]


def _fr_mobile_nsn(rng: random.Random) -> str:
    if rng.random() < 0.75:
        return "6" + _digits(rng, 8)  # 92% of these are valid (not 639, 690-694, 696, 697)
    return "7" + rng.choice("3456789") + _digits(rng, 7)


def _fr_national(rng: random.Random) -> str:
    nsn = _fr_mobile_nsn(rng)
    roll = rng.random()
    if roll < 0.25:
        return "0" + nsn
    if roll < 0.6:
        return _spaced("0" + nsn, rng)
    if roll < 0.75:
        return _spaced("+33" + nsn, rng)
    if roll < 0.82:
        return "0033" + nsn
    if roll < 0.88:
        return "33" + nsn
    if roll < 0.94:
        return f"(+33) {nsn[0]} {nsn[1:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:]}"
    return f" +33{nsn} "


def _fr_fixed(rng: random.Random) -> str:
    nsn = rng.choice("123459") + _digits(rng, 8)
    roll = rng.random()
    if roll < 0.5:
        return "+33" + nsn
    if roll < 0.8:
        return _spaced("0" + nsn, rng)
    return "0" + nsn


def _junk(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4:
        return rng.choice(JUNK)
    if roll < 0.8:  # truncated or too long
        number = "+33" + _fr_mobile_nsn(rng)
        return number[: rng.randint(1, len(number) - 1)] if rng.random() < 0.7 else number + _digits(rng, 2)
    return "".join(rng.choice("0123456789 +-().abcxyz") for _ in range(rng.randint(1, 16)))


def make_mix(n: int, seed: int = 20240601, duplicates: float = 0.2) -> list[str]:
    """N raw numbers: the realistic mix of performance-floors.md §2, with duplicates."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < duplicates:
            out.append(out[rng.randrange(len(out))])
            continue
        roll = rng.random()
        if roll < 0.70:
            out.append("+33" + _fr_mobile_nsn(rng))
        elif roll < 0.82:
            out.append(_fr_national(rng))
        elif roll < 0.90:
            out.append(_other_country(rng))
        elif roll < 0.95:
            out.append(_fr_fixed(rng))
        else:
            out.append(_junk(rng))
    return out


def make_fuzz(n: int, seed: int = 7) -> list[str]:
    """Random digit strings over every country code in several formats (and mutated example numbers)."""
    import phonenumbers

    rng = random.Random(seed)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    types = sorted(phonenumbers.PhoneNumberType.values())
    out: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.5:
            cc = str(rng.choice(codes))
            body = _digits(rng, rng.randint(0, 18))
        else:  # close to a real number of some region and type, then mutated
            region = rng.choice(regions)
            e164 = _example_like(rng, region, rng.choice(types))
            if e164 is None:
                e164 = f"+{phonenumbers.country_code_for_region(region)}{_digits(rng, rng.randint(4, 12))}"
            found = phonenumbers.parse(e164)
            cc, body = str(found.country_code), e164[1 + len(str(found.country_code)) :]
            mutation = rng.random()
            if mutation < 0.15:
                body = body[:-1]
            elif mutation < 0.3:
                body += _digits(rng, 1)
            elif mutation < 0.45:
                body = "0" + body
        form = rng.random()
        if form < 0.3:
            out.append(f"+{cc}{body}")
        elif form < 0.45:
            out.append(_spaced(f"+{cc}{body}", rng))
        elif form < 0.55:
            out.append(f"00{cc}{body}")
        elif form < 0.65:
            out.append(f"011{cc}{body}")
        elif form < 0.75:
            out.append(f"{cc}{body}")
        elif form < 0.9:
            out.append(_spaced(f"0{body}", rng))
        else:
            out.append(body)
    return out


def _time(function: Callable[[str], object], numbers: Sequence[str]) -> float:
    start = time.perf_counter()
    for raw in numbers:
        function(raw)
    return time.perf_counter() - start


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return None


def main(argv: Sequence[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from runner.audience.phones import PhoneNormaliser, _plain_classify

    n = int(argv[1].replace("_", "")) if len(argv) > 1 else 1_000_000
    sample_size = min(n, 100_000)
    generated = time.perf_counter()
    numbers = make_mix(n)
    generated = time.perf_counter() - generated
    distinct = len(set(numbers))
    print(
        f"mix: {n:,} numbers, {distinct:,} distinct ({1 - distinct / n:.0%} duplicates), generated in {generated:.1f} s"
    )

    rss = _rss_mb()
    kept = PhoneNormaliser("FR")
    for raw in numbers:
        kept.classify(raw)
    after = _rss_mb()
    cache_mb = after - rss if after is not None and rss is not None else None
    del kept

    sample = numbers[:sample_size]
    _plain_classify("+33612345678", "FR")  # load metadata outside the timings
    naive = min(_time(lambda raw: _plain_classify(raw, "FR"), sample) for _ in range(2))
    naive_us = naive / sample_size * 1e6

    fast_runs = []
    for _ in range(3):
        normaliser = PhoneNormaliser("FR")
        normaliser.classify("+33612345678")
        normaliser = PhoneNormaliser("FR")
        fast_runs.append(_time(normaliser.classify, numbers))
    fast = min(fast_runs)
    fast_us = fast / n * 1e6

    check = PhoneNormaliser("FR")
    mismatches = sum(1 for raw in sample if check.classify(raw) != _plain_classify(raw, "FR"))
    fallback = sum(1 for raw in set(sample) if check._fast.classify(raw) is None)
    valid = sum(1 for raw in sample if check.classify(raw)[0] is not None)

    print(
        f"naive plain path (parse + number_type + format, no cache), {sample_size:,}-number sample, "
        f"extrapolated to {n:,}: {naive_us:.2f} µs/number, {naive_us * n / 1e6:.1f} s"
    )
    print(f"fast path + cache, all {n:,} numbers (best of 3): {fast_us:.2f} µs/number, {fast:.2f} s")
    print(f"speed-up vs naive: {naive_us / fast_us:.1f}x")
    if cache_mb is not None:
        print(f"memory: the cache of {distinct:,} results adds {cache_mb:.0f} MB of RSS")
    print(f"mismatches fast vs plain on the sample: {mismatches}")
    print(
        f"sample: {valid / sample_size:.0%} valid mobiles; {fallback / len(set(sample)):.1%} of distinct "
        f"strings fell back to phonenumbers"
    )
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
