"""Benchmark: count SMS parts for 1,000,000 rendered messages.

Generates realistic personalised messages (French templates; names with GSM-7 accents such as Zoé,
non-GSM ones such as François, Jérôme, Anaïs, and non-Latin names; long promotional texts of 2-3
parts with €; some emoji), then times, in the same run:

* ``measure()`` as the planner calls it (cache cold at the start);
* ``measure()``'s uncached path, to show what the cache brings;
* a naive baseline: a straightforward per-character implementation of the same rules
  (NFC, per-character cost lookup, greedy packing loop), checked to agree message by message.

Usage: ``.venv/bin/python bench/bench_parts.py [--messages N] [--baseline-sample N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.message import encoding
from runner.message.encoding import GSM7_ALL, GSM7_EXTENSION, clear_cache, measure

FIRST_NAMES = (
    # plain ASCII (most common)
    *("Marie", "Jean", "Pierre", "Sophie", "Nicolas", "Julie", "Thomas", "Camille", "Lucas", "Emma"),
    *("Louis", "Léa", "Hugo", "Manon", "Arthur", "Sarah", "Paul", "Laura", "Alexandre", "Inès"),
    # accented but GSM-7
    *("Zoé", "Chloé", "Hélène", "Aurélie", "Stéphane", "Frédéric", "Mélanie", "Jérémy", "Björn", "Élodie"),
    # outside GSM-7: force UCS-2
    *("François", "Jérôme", "Anaïs", "Noël", "Gaëlle", "Benoît", "Maëlys", "Françoise", "Zoë", "Loïc"),
    # non-Latin
    *("李娜", "Олег", "Αλέξης", "Nguyễn", "Łukasz"),
)
FIRST_WEIGHTS = [30] * 20 + [10] * 10 + [3] * 10 + [1] * 5
LAST_NAMES = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "Müller",
    "Da Silva",
    "Nguyen",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefebvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
)
CITIES = (
    "Paris",
    "Lyon",
    "Marseille",
    "Toulouse",
    "Nice",
    "Nantes",
    "Besançon",
    "Orléans",
    "Saint-Étienne",
    "Lille",
    "Rennes",
    "Reims",
    "Le Havre",
    "Grenoble",
    "Dijon",
    "Angers",
    "Nîmes",
    "Brest",
)
STOP = "\nSTOP au 36180"

TEMPLATES: tuple[tuple[int, str], ...] = (
    (
        30,
        "Bonjour {first}, votre rendez-vous du {date} à {time} est confirmé. "
        "Pour annuler, répondez ANNULER." + STOP,
    ),
    (20, "{first}, votre colis {code} sera livré demain entre {time} et 18:00 à {city}." + STOP),
    (
        15,
        "{first} {last}, -20% sur toute la collection ce week-end dans votre magasin de {city} ! "
        "Profitez aussi de la livraison offerte dès 49€ d'achat et de nos nouveautés printemps : "
        "robes, chemises, accessoires. Code {code} valable jusqu'au {date}. Offre non cumulable." + STOP,
    ),
    (
        10,
        "🎉 Joyeux anniversaire {first} ! Pour fêter ça, votre cadeau vous attend en boutique "
        "jusqu'au {date}." + STOP,
    ),
    (
        10,
        "Rappel : {first}, votre facture de {amount}€ arrive à échéance le {date}. "
        "Réglez-la en ligne sur votre espace client [réf. {code}]." + STOP,
    ),
    (
        10,
        "Chère cliente, cher client, notre magasin de {city} vous accueille ce dimanche de 10h à 19h. "
        "Venez découvrir nos offres exceptionnelles sur l'électroménager, le multimédia et la "
        "décoration : jusqu'à -50% sur une sélection d'articles, dans la limite des stocks "
        "disponibles. Plus d'informations sur notre site ou en magasin. A très vite !" + STOP,
    ),
    (5, "{first}, votre code de vérification est {code}. Il expire dans 10 minutes."),
)


def generate(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    weights = [w for w, _ in TEMPLATES]
    templates = rng.choices([t for _, t in TEMPLATES], weights, k=count)
    firsts = rng.choices(FIRST_NAMES, FIRST_WEIGHTS, k=count)
    out: list[str] = []
    for template, first in zip(templates, firsts, strict=True):
        out.append(
            template.format(
                first=first,
                last=rng.choice(LAST_NAMES),
                city=rng.choice(CITIES),
                date=f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}",
                time=f"{rng.randint(8, 17)}:{rng.choice(('00', '15', '30', '45'))}",
                code=f"{rng.randint(0, 999999):06d}",
                amount=f"{rng.randint(10, 500)},{rng.randint(0, 99):02d}",
            )
        )
    return out


def generate_shared(count: int, seed: int) -> list[str]:
    """A first-name-only campaign: few distinct texts, where the cache does the work."""
    rng = random.Random(seed)
    template = TEMPLATES[0][1].replace("{date}", "12/06").replace("{time}", "10:30")
    return [template.format(first=f) for f in rng.choices(FIRST_NAMES, FIRST_WEIGHTS, k=count)]


def naive_parts(text: str) -> int:
    """The straightforward implementation: NFC, per-character costs, a greedy packing loop."""
    text = unicodedata.normalize("NFC", text)
    gsm = all(c in GSM7_ALL for c in text)
    if gsm:
        costs = [2 if c in GSM7_EXTENSION else 1 for c in text]
        single, capacity = 160, 153
    else:
        costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, capacity = 70, 67
    if sum(costs) <= single:
        return 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            parts += 1
            used = 0
        used += cost
    return parts


def time_pass(
    fn: Callable[[str], int], texts: Sequence[str], before: Callable[[], None] | None = None
) -> float:
    if before is not None:
        before()
    start = time.perf_counter()
    for text in texts:
        fn(text)
    return time.perf_counter() - start


def median_of(
    runs: int, fn: Callable[[str], int], texts: Sequence[str], before: Callable[[], None] | None = None
) -> float:
    return statistics.median(time_pass(fn, texts, before) for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=200_000,
        help="messages timed with the naive baseline (0 = all)",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per variant (median reported)")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    texts = generate(args.messages, args.seed)
    gen = time.perf_counter() - t0
    sample = texts if args.baseline_sample <= 0 else texts[: args.baseline_sample]

    def parts_cached(text: str) -> int:
        return measure(text).parts

    def parts_uncached(text: str) -> int:
        return encoding._measure(text).parts

    # Correctness first: the fast path must agree with the naive implementation on every message.
    clear_cache()
    mismatches = sum(1 for t in sample if measure(t).parts != naive_parts(t))
    if mismatches:
        print(f"ERROR: {mismatches} messages disagree with the naive implementation", file=sys.stderr)
        return 1

    cached = median_of(args.runs, parts_cached, texts, before=clear_cache)
    uncached = median_of(args.runs, parts_uncached, texts)
    naive = median_of(1, naive_parts, sample)
    shared = generate_shared(len(texts), args.seed)
    shared_cached = median_of(args.runs, parts_cached, shared, before=clear_cache)
    shared_uncached = median_of(args.runs, parts_uncached, shared)

    measures = [measure(t) for t in texts]
    encodings = Counter(m.encoding for m in measures)
    parts = Counter(m.parts for m in measures)
    wrong_ceil = sum(
        1
        for m in measures
        if m.parts != (1 if m.units <= (160 if m.encoding == "GSM-7" else 70) else -(-m.units // m.per_part))
    )
    n = len(texts)
    print(f"messages          {n:,} generated in {gen:.1f} s; {len(set(texts)):,} distinct texts")
    print("encodings         " + ", ".join(f"{k} {v / n:.1%}" for k, v in sorted(encodings.items())))
    print(
        "parts             "
        + ", ".join(f"{k}: {v / n:.1%}" for k, v in sorted(parts.items()))
        + f"; total {sum(m.parts for m in measures):,}"
    )
    print(f"ceil(units/cap)   wrong for {wrong_ceil:,} messages (escape/surrogate pair at a boundary)")
    print(f"agreement         fast path == naive on {len(sample):,} messages")
    print(f"runs              median of {args.runs} (baseline: 1 run over {len(sample):,} messages)")
    rows = (
        ("measure() (cache cold at start)", cached, n),
        ("measure() without cache", uncached, n),
        ("naive per-character baseline", naive, len(sample)),
    )
    base_us = naive / len(sample) * 1e6
    for label, seconds, count in rows:
        us = seconds / count * 1e6
        print(
            f"{label:34s} {count / seconds:>12,.0f} msg/s {us:8.2f} µs/msg  x{base_us / us:5.1f} vs naive"
            f"  ({seconds:.2f} s for {count:,})"
        )
    print(f"first-name-only campaign: {len(shared):,} messages, {len(set(shared))} distinct texts")
    for label, seconds in (
        ("measure() (cache cold at start)", shared_cached),
        ("measure() without cache", shared_uncached),
    ):
        us = seconds / len(shared) * 1e6
        print(f"  {label:32s} {len(shared) / seconds:>12,.0f} msg/s {us:8.2f} µs/msg  ({seconds:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
