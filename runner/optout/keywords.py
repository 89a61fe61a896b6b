"""Recognise opt-out (and opt-in) replies to an SMS campaign.

Normalisation: the reply is NFKD-decomposed, stripped of accents, case-folded and cut into words at
every character that is not a letter or digit (so ``ARRÊT!``, `` stop. `` and ``Opt-Out`` become
``arret``, ``stop`` and ``opt out``; emoji and punctuation vanish).

Opt-out rule: the reply is an opt-out when its words *start with* an opt-out keyword, after any
leading courtesy words (``please``, ``pls``, ``svp``, ``stp``, ``merci``, ``bonjour``, ``bonsoir``,
``hello``, ``hi``: "Bonjour, STOP" is a common reply).  Keywords are whole words, so
``STOP``, ``Stop svp``, ``stop all``, ``STOP SMS``, ``Arrête !``, ``Opt out please``,
``Désabonnez-moi`` and ``Remove me`` are opt-outs, while ``UNSTOP``, ``nonstop``, ``stopping by
later``, ``Don't stop`` and ``START`` are not.  The first-word rule follows the reference (§3.3):
exact matching misses "Stop svp", and AF2M 2026 / FCC 24-18 require honouring any reasonable opt-out;
the price is that a reply such as "Cancel my appointment" counts as an opt-out, which errs on the safe
side (a missed opt-out is a compliance breach, an extra one only loses a recipient).

Keywords: Twilio's defaults (STOP, STOPALL, UNSUBSCRIBE, END, QUIT, REVOKE, OPTOUT, CANCEL), AWS's
(ARRET, OPT-OUT, REMOVE, TD), the FCC's per se words ("opt out"), and French forms (ARRET/ARRÊT,
ARRÊTE/ARRÊTEZ/ARRÊTER, DÉSABONNER/DÉSABONNEZ/DÉSABONNEMENT, DÉSINSCRIRE/DÉSINSCRIVEZ/DÉSINSCRIPTION).

Replies that contain a keyword later on ("Je voudrais arrêter", but also "Don't stop") are not
opt-outs under this rule; :func:`mentions_opt_out` flags them so the caller can queue them for a human
review, as the reference suggests.

Opt-in rule (stricter, because wrongly re-subscribing someone is the dangerous direction): the whole
reply must be ``START`` or ``UNSTOP`` (after the same normalisation; ``Start!`` counts, ``Start
time?`` does not).  YES is not an opt-in here: it is too common as an answer to a question.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

OPT_OUT_KEYWORDS: Final[frozenset[tuple[str, ...]]] = frozenset(
    tuple(k.split())
    for k in (
        "stop",
        "stopall",
        "unsubscribe",
        "end",
        "quit",
        "revoke",
        "optout",
        "opt out",
        "cancel",
        "remove",
        "td",
        "arret",
        "arrete",
        "arretez",
        "arreter",
        "desabonner",
        "desabonnez",
        "desabonnement",
        "desinscrire",
        "desinscrivez",
        "desinscription",
    )
)
OPT_IN_KEYWORDS: Final[frozenset[tuple[str, ...]]] = frozenset({("start",), ("unstop",)})
COURTESY_WORDS: Final[frozenset[str]] = frozenset(
    {"please", "pls", "svp", "stp", "merci", "bonjour", "bonsoir", "hello", "hi"}
)

_LONGEST: Final = max(len(k) for k in OPT_OUT_KEYWORDS)
_WORD_RE: Final = re.compile(r"[^\W_]+")


def words(text: str) -> tuple[str, ...]:
    """The reply's words, accent-folded and case-folded (``"Arrêt, SVP!"`` -> ``("arret", "svp")``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return tuple(_WORD_RE.findall(folded))


def opt_out_keyword(text: str) -> str | None:
    """The opt-out keyword ``text`` starts with (normalised, e.g. ``"opt out"``), or None."""
    found = words(text)
    skip = 0
    while skip < len(found) and found[skip] in COURTESY_WORDS:
        skip += 1
    found = found[skip:]
    for size in range(min(_LONGEST, len(found)), 0, -1):
        if found[:size] in OPT_OUT_KEYWORDS:
            return " ".join(found[:size])
    return None


def is_opt_out(text: str) -> bool:
    """Whether the reply ``text`` asks to stop receiving messages (rule in the module docstring)."""
    return opt_out_keyword(text) is not None


def mentions_opt_out(text: str) -> bool:
    """Whether an opt-out keyword appears anywhere in ``text``: a signal to review the reply by hand."""
    found = words(text)
    return any(
        found[i : i + size] in OPT_OUT_KEYWORDS for i in range(len(found)) for size in range(1, _LONGEST + 1)
    )


def is_opt_in(text: str) -> bool:
    """Whether the whole reply ``text`` is an opt-in keyword (START, UNSTOP)."""
    return words(text) in OPT_IN_KEYWORDS
