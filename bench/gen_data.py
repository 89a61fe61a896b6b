"""Generate the benchmark data: a 1,000,000-row recipient CSV and the campaign files that use it.

    .venv/bin/python bench/gen_data.py [--rows N] [--seed S] [--force]

Writes into ``bench/data/`` (gitignored), deterministic for a given seed:

* ``recipients-<N>.csv``: ``phone,first_name,last_name,code`` (``code``: a per-row voucher code, so
  a template using it makes every text distinct). The phone column mixes the formats people write:
  about 62% ``+336…``/``+337…``, 9% ``06 12 34 56 78``, 4% ``0612345678``, 3% ``06.12.34.56.78``,
  4% ``0033…``, 3% ``+33 6 …``, 14% other countries (DE GB BE CH ES IT US MA, as E.164 or
  ``00<cc>…``), then **20% of the rows are duplicates** of earlier rows (half the same string, half
  the same number written in another format) and **1% are invalid** (junk, truncated, too long,
  French fixed lines, which are not mobiles).
* ``bench-<N>.yaml``: one constant text to all, provider ``ovh`` (pointed at a loopback server by
  the benches through ``OVH_*`` variables), 500 recipients per request, not commercial.
* ``bench-<N>-commercial.yaml``: the same list, commercial (send windows, opt-out text, cost).
* ``bench-<N>-outbox.yaml``: the same list through the embedded outbox provider.
* ``recipients-personalised-<M>.csv`` + ``bench-personalised-<M>.yaml``: M distinct valid French
  mobiles, ``Hello {{ first_name }}, your ACME voucher {{ code }}…`` (one distinct text per
  recipient, so one request per recipient).
* ``recipients-national-<N>.csv`` + ``bench-national-<N>.yaml`` (issue 14, :func:`ensure_variants`): the
  national-heavy list of issue 14: 1% junk, then 25% national with spaces (``06 12 34 56 78``, region
  FR), 50% ``+336…``, 25% ``+337…`` of which a tenth are truncated.
* ``recipients-dupes-<N>-{1,2,3}.csv`` + ``bench-dupes-<N>.yaml`` (issue 14): N rows over three
  sources, the formats of the main list, **30% of the rows duplicates** of a number seen anywhere in
  the three files (half the same string, half another spelling), so most are found across sources.

Every other bench calls :func:`ensure` to (re)generate what it needs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

FIRST = ("Marie", "Jean", "Pierre", "Sophie", "Nicolas", "Julie", "Thomas", "Camille", "Lucas", "Emma", "Louis",
         "Léa", "Hugo", "Manon", "Arthur", "Sarah", "Paul", "Laura", "Zoé", "Chloé", "Hélène", "Jérémy", "Inès")
LAST = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
        "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Müller", "Fournier", "Girard", "Bonnet", "Dupont")
# French mobile prefixes phonenumbers accepts: 6[0-24-8]x, 63[0-8], 69[589], 7[3-9]x
FR_MOBILE_HEADS = tuple(f"6{d}" for d in "01245678") + tuple(f"7{d}" for d in "3456789")
# (country code, national significant number heads, digits after the head): mobile ranges
OTHER = (
    ("49", ("1512", "1520", "1601", "1701", "1711", "1751", "1761", "1771"), 7),  # DE
    ("44", ("7400", "7800", "7900", "7500"), 6),  # GB
    ("32", ("470", "471", "472", "475", "476", "477", "478", "479", "485", "486"), 6),  # BE
    ("41", ("75", "76", "77", "78", "79"), 7),  # CH
    ("34", ("600", "610", "620", "630", "640", "650", "660", "670", "680", "690"), 6),  # ES
    ("39", ("320", "330", "340", "347", "348", "360", "380", "390"), 7),  # IT
    ("1", ("2015550", "2125550", "4155550", "6175550", "3125550", "7135550"), 3),  # US (fixed line or mobile)
    ("212", ("61", "62", "66", "67"), 7),  # MA
)
JUNK = ("", "n/a", "-", "none", "0", "+33", "06", "tel", "john@example.org", "N/A", "+999123456789",
        "++33612345678", "+33-6-CALL-NOW", "06 12 34", "12345")


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10**n)).zfill(n)


def _fr_mobile_nsn(rng: random.Random) -> str:
    return rng.choice(FR_MOBILE_HEADS) + _digits(rng, 7)


def _fr_format(nsn: str, rng: random.Random) -> str:
    """One French mobile written as people write it."""
    r = rng.random()
    if r < 0.73:
        return "+33" + nsn
    national = "0" + nsn
    pairs = [national[i:i + 2] for i in range(0, 10, 2)]
    if r < 0.84:
        return " ".join(pairs)
    if r < 0.89:
        return national
    if r < 0.925:
        return ".".join(pairs)
    if r < 0.965:
        return "0033" + nsn
    return "+33 " + nsn[0] + " " + " ".join(nsn[i:i + 2] for i in range(1, 9, 2))


def _other(rng: random.Random) -> tuple[str, str]:
    """(canonical E.164, as written) for a number of another country."""
    cc, heads, tail = rng.choice(OTHER)
    e164 = f"+{cc}{rng.choice(heads)}{_digits(rng, tail)}"
    return e164, (e164 if rng.random() < 0.8 else "00" + e164[1:])


def _invalid(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.3:
        return rng.choice(JUNK)
    if r < 0.5:  # truncated
        return "+33" + _fr_mobile_nsn(rng)[: rng.randrange(3, 8)]
    if r < 0.7:  # too long
        return "06" + _digits(rng, 10)
    return "+33" + rng.choice("12345") + _digits(rng, 8)  # a fixed line: valid, but not a mobile


def _respell(e164: str, rng: random.Random) -> str:
    """The same number in another spelling (for a duplicate that only dedupe by E.164 finds)."""
    if e164.startswith("+33"):
        return _fr_format(e164[3:], rng) if rng.random() < 0.5 else "0" + e164[3:]
    return "00" + e164[1:]


def generate(rows: int, seed: int, path: Path) -> dict[str, int]:
    rng = random.Random(seed)
    n_invalid = rows // 100
    n_dupes = rows // 5
    n_unique = rows - n_invalid - n_dupes
    lines: list[str] = []
    canon: list[str] = []
    for _ in range(n_unique):
        if rng.random() < 0.86:
            nsn = _fr_mobile_nsn(rng)
            e164, written = "+33" + nsn, _fr_format(nsn, rng)
        else:
            e164, written = _other(rng)
        canon.append(e164)
        lines.append(written)
    # duplicates: half the same string again, half the same number in another spelling
    dupes = [lines[i] if rng.random() < 0.5 else _respell(canon[i], rng)
             for i in (rng.randrange(n_unique) for _ in range(n_dupes))]
    invalid = [_invalid(rng) for _ in range(n_invalid)]
    lines.extend(dupes)
    lines.extend(invalid)
    rng.shuffle(lines)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,first_name,last_name,code\n")
        first, last = FIRST, LAST
        choice = rng.choice
        out.writelines(f"{phone},{choice(first)},{choice(last)},C{i:07d}\n" for i, phone in enumerate(lines))
    tmp.replace(path)
    return {"rows": rows, "unique": n_unique, "duplicate_rows": n_dupes, "invalid_rows": n_invalid}


def generate_national(rows: int, seed: int, path: Path) -> dict[str, int]:
    """Issue 14's national-heavy list: 25% ``06 12 34 56 78``, 50% ``+336…``, 25% ``+337…`` (some
    truncated), 1% junk."""
    rng = random.Random(seed + 14)
    heads6 = tuple(h for h in FR_MOBILE_HEADS if h[0] == "6")
    heads7 = tuple(h for h in FR_MOBILE_HEADS if h[0] == "7")
    counts = {"national": 0, "plus336": 0, "plus337": 0, "truncated": 0, "junk": 0}
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,first_name,last_name,code\n")
        for i in range(rows):
            roll = rng.random()
            if roll < 0.01:
                counts["junk"] += 1
                phone = rng.choice(JUNK) if rng.random() < 0.5 else _digits(rng, rng.randrange(1, 6))
            elif roll < 0.2575:
                counts["national"] += 1
                national = "0" + rng.choice(FR_MOBILE_HEADS) + _digits(rng, 7)
                phone = " ".join(national[j:j + 2] for j in range(0, 10, 2))
            elif roll < 0.7525:
                counts["plus336"] += 1
                phone = "+33" + rng.choice(heads6) + _digits(rng, 7)
            else:
                counts["plus337"] += 1
                phone = "+33" + rng.choice(heads7) + _digits(rng, 7)
                if rng.random() < 0.1:
                    counts["truncated"] += 1
                    phone = phone[: rng.randrange(5, len(phone))]
            out.write(f"{phone},{rng.choice(FIRST)},{rng.choice(LAST)},N{i:07d}\n")
    tmp.replace(path)
    return {"rows": rows, **counts}


def generate_dupes(rows: int, seed: int, paths: list[Path], share: float = 0.3) -> dict[str, int]:
    """``rows`` rows over ``paths`` (in turn), ``share`` of them duplicates of a number seen anywhere."""
    rng = random.Random(seed + 30)
    n_dupes = int(rows * share)
    n_unique = rows - n_dupes
    lines: list[str] = []
    canon: list[str] = []
    for _ in range(n_unique):
        if rng.random() < 0.86:
            nsn = _fr_mobile_nsn(rng)
            e164, written = "+33" + nsn, _fr_format(nsn, rng)
        else:
            e164, written = _other(rng)
        canon.append(e164)
        lines.append(written)
    dupes = [lines[i] if rng.random() < 0.5 else _respell(canon[i], rng)
             for i in (rng.randrange(n_unique) for _ in range(n_dupes))]
    lines.extend(dupes)
    rng.shuffle(lines)
    size = -(-rows // len(paths))
    for k, path in enumerate(paths):
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8", newline="") as out:
            out.write("phone,first_name,last_name,code\n")
            out.writelines(f"{phone},{rng.choice(FIRST)},{rng.choice(LAST)},D{k}{i:07d}\n"
                           for i, phone in enumerate(lines[k * size:(k + 1) * size]))
        tmp.replace(path)
    return {"rows": rows, "unique": n_unique, "duplicate_rows": n_dupes}


def generate_personalised(rows: int, seed: int, path: Path) -> None:
    """``rows`` distinct valid French mobiles (E.164 or national), each with a name and a code."""
    rng = random.Random(seed + 1)
    seen: set[str] = set()
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,first_name,last_name,code\n")
        while len(seen) < rows:
            nsn = _fr_mobile_nsn(rng)
            if nsn in seen:
                continue
            seen.add(nsn)
            out.write(f"{_fr_format(nsn, rng)},{rng.choice(FIRST)},{rng.choice(LAST)},P{len(seen):07d}\n")


CAMPAIGN = """\
id: {id}
description: benchmark campaign ({rows:,} CSV rows), generated by bench/gen_data.py
sender: {sender}
message: "{message}"
commercial: {commercial}
{extra}recipients:
  - csv: {csv}
    region: FR
provider:
  name: {provider}
{settings}"""

OVH_SETTINGS = """\
  service_name: sms-bench-1
  batch_size: {batch}
  requests_per_minute: 0
  timeout: 30
"""


def _campaign(path: Path, *, id: str, rows: int, csv: str, message: str, provider: str = "ovh",
              commercial: bool = False, batch: int = 500, more_csv: list[str] | None = None) -> None:
    extra = 'opt_out_text: "STOP au 36111"\n' if commercial and provider != "ovh" else ""
    settings = OVH_SETTINGS.format(batch=batch) if provider == "ovh" else f"  batch_size: {batch}\n"
    path.write_text(CAMPAIGN.format(id=id, rows=rows, sender="ACME Shop", message=message,
                                    commercial=str(commercial).lower(), extra=extra, csv=csv,
                                    provider=provider, settings=settings).replace(
                                        "\nprovider:\n", "\n" + "".join(
                                            f"  - csv: {name}\n    region: FR\n" for name in more_csv or ())
                                        + "provider:\n"),
                   encoding="utf-8")


def ensure(rows: int = 1_000_000, *, seed: int = 5, personalised: int = 50_000, force: bool = False,
           quiet: bool = False) -> dict[str, Path]:
    """Generate (if missing) the CSV and the campaign files; returns their paths."""
    DATA.mkdir(parents=True, exist_ok=True)
    csv_path = DATA / f"recipients-{rows}.csv"
    if force or not csv_path.exists():
        started = time.perf_counter()
        info = generate(rows, seed, csv_path)
        if not quiet:
            print(f"generated {csv_path.relative_to(DATA.parent.parent)} ({csv_path.stat().st_size / 1e6:.1f} MB, "
                  f"{info}) in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    text = "Your ACME order is ready: collect it in store with this message. Thank you for shopping with us!"
    out = {"csv": csv_path}
    out["send"] = DATA / f"bench-{rows}.yaml"
    _campaign(out["send"], id=f"bench-{rows}", rows=rows, csv=csv_path.name, message=text)
    out["commercial"] = DATA / f"bench-{rows}-commercial.yaml"
    _campaign(out["commercial"], id=f"bench-{rows}-com", rows=rows, csv=csv_path.name, provider="outbox",
              message="ACME: -30% on everything this Friday in all our stores!", commercial=True)
    out["outbox"] = DATA / f"bench-{rows}-outbox.yaml"
    _campaign(out["outbox"], id=f"bench-{rows}-outbox", rows=rows, csv=csv_path.name, provider="outbox",
              message=text)
    small = DATA / f"recipients-personalised-{personalised}.csv"
    if force or not small.exists():
        generate_personalised(personalised, seed, small)
    out["personalised"] = DATA / f"bench-personalised-{personalised}.yaml"
    _campaign(out["personalised"], id=f"bench-pers-{personalised}", rows=personalised, csv=small.name,
              message="Hello {{ first_name }}, your ACME voucher {{ code }} is ready: show it in store.")
    return out


def ensure_variants(rows: int = 1_000_000, *, seed: int = 5, force: bool = False,
                    quiet: bool = False) -> dict[str, Path]:
    """Issue 14's variants (generated if missing): ``national`` and ``dupes`` campaign files, one text to all."""
    DATA.mkdir(parents=True, exist_ok=True)
    text = "Your ACME order is ready: collect it in store with this message. Thank you for shopping with us!"
    out: dict[str, Path] = {}
    national = DATA / f"recipients-national-{rows}.csv"
    if force or not national.exists():
        started = time.perf_counter()
        info = generate_national(rows, seed, national)
        if not quiet:
            print(f"generated {national.name} ({national.stat().st_size / 1e6:.1f} MB, {info}) in "
                  f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    out["national"] = DATA / f"bench-national-{rows}.yaml"
    _campaign(out["national"], id=f"bench-national-{rows}", rows=rows, csv=national.name, message=text)
    parts = [DATA / f"recipients-dupes-{rows}-{k}.csv" for k in (1, 2, 3)]
    if force or not all(p.exists() for p in parts):
        started = time.perf_counter()
        info = generate_dupes(rows, seed, parts)
        if not quiet:
            print(f"generated {', '.join(p.name for p in parts)} ({info}) in {time.perf_counter() - started:.1f} s",
                  file=sys.stderr)
    out["dupes"] = DATA / f"bench-dupes-{rows}.yaml"
    _campaign(out["dupes"], id=f"bench-dupes-{rows}", rows=rows, csv=parts[0].name, message=text,
              more_csv=[p.name for p in parts[1:]])
    return out


def ensure_repeated(rows: int = 1_000_000, times: int = 5, *, seed: int = 5) -> Path:
    """The main list of ``rows`` rows written ``times`` times in one file (``times`` x the rows, the same
    recipients): what a plan keeps per row, not per recipient. Returns its campaign file."""
    base = ensure(rows, seed=seed, quiet=True)
    path = DATA / f"recipients-{rows}-x{times}.csv"
    if not path.exists():
        body = base["csv"].read_bytes().split(b"\n", 1)[1]
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as out:
            out.write(b"phone,first_name,last_name,code\n")
            for _ in range(times):
                out.write(body)
        tmp.replace(path)
    campaign = DATA / f"bench-{rows}-x{times}.yaml"
    _campaign(campaign, id=f"bench-{rows}-x{times}", rows=rows * times, csv=path.name,
              message="Your ACME order is ready: collect it in store with this message. Thank you!")
    return campaign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--force", action="store_true", help="regenerate even if the files exist")
    parser.add_argument("--variants", action="store_true", help="also the issue-14 variants (national, dupes)")
    args = parser.parse_args()
    files = ensure(args.rows, seed=args.seed, force=args.force)
    if args.variants:
        files.update(ensure_variants(args.rows, seed=args.seed, force=args.force))
    for name, path in files.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
