"""Opt-out and opt-in reply recognition."""

from __future__ import annotations

import pytest

from runner.optout.keywords import is_opt_in, is_opt_out, mentions_opt_out, opt_out_keyword, words


@pytest.mark.parametrize(
    ("reply", "keyword"),
    [
        ("STOP", "stop"),
        ("stop", "stop"),
        ("Stop!", "stop"),
        (" stop. ", "stop"),
        ("stop svp", "stop"),
        ("STOP SMS", "stop"),
        ("Stop all", "stop"),
        ("STOPALL", "stopall"),
        ("ARRET", "arret"),
        ("ARRÊT", "arret"),
        ("arrêt.", "arret"),
        ("Arrête !", "arrete"),
        ("Arrêtez svp", "arretez"),
        ("ARRETER", "arreter"),
        ("arrêter", "arreter"),
        ("DESABONNER", "desabonner"),
        ("Désabonner", "desabonner"),
        ("Désabonnez-moi", "desabonnez"),
        ("désabonnement", "desabonnement"),
        ("DESINSCRIRE", "desinscrire"),
        ("désinscrire", "desinscrire"),
        ("Désinscription", "desinscription"),
        ("UNSUBSCRIBE", "unsubscribe"),
        ("Unsubscribe me", "unsubscribe"),
        ("END", "end"),
        ("QUIT", "quit"),
        ("cancel", "cancel"),
        ("OPTOUT", "optout"),
        ("OPT-OUT", "opt out"),
        ("opt out", "opt out"),
        ("Opt out please", "opt out"),
        ("REVOKE", "revoke"),
        ("Remove me", "remove"),
        ("TD", "td"),
        ("please stop", "stop"),
        ("Bonjour, STOP", "stop"),
        ("svp stop", "stop"),
        ("\u00abSTOP\u00bb", "stop"),
        ("🛑 STOP", "stop"),
        ("\uff33\uff34\uff2f\uff30", "stop"),  # fullwidth letters
        ("*stop*", "stop"),
        ("stop\n", "stop"),
    ],
)
def test_opt_out_replies(reply: str, keyword: str) -> None:
    assert is_opt_out(reply)
    assert opt_out_keyword(reply) == keyword
    assert mentions_opt_out(reply)
    assert not is_opt_in(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "UNSTOP",
        "START",
        "YES",
        "nonstop",
        "Nonstop!",
        "stopping by later",
        "don't stop",
        "Don’t stop me now",
        "opt outside",
        "optional",
        "ending",
        "arrets",
        "Merci",
        "Bonjour",
        "please",
        "",
        "   ",
        "!!!",
        "Je voudrais arrêter",  # the keyword is not the first word: not recognised (documented)
    ],
)
def test_not_opt_out(reply: str) -> None:
    assert not is_opt_out(reply)
    assert opt_out_keyword(reply) is None


@pytest.mark.parametrize(
    ("reply", "mentioned"),
    [
        ("Je voudrais arrêter", True),
        ("Don't stop", True),
        ("Merci de me désinscrire.", True),
        ("I want to opt-out", True),
        ("UNSTOP", False),
        ("nonstop", False),
        ("See you later", False),
        ("", False),
    ],
)
def test_mentions_opt_out_flags_keywords_anywhere(reply: str, mentioned: bool) -> None:
    assert mentions_opt_out(reply) is mentioned


@pytest.mark.parametrize("reply", ["START", "start", "Start!", " START. ", "UNSTOP", "unstop"])
def test_opt_in_replies(reply: str) -> None:
    assert is_opt_in(reply)
    assert not is_opt_out(reply)


@pytest.mark.parametrize("reply", ["YES", "Start time?", "start stop", "STOP", "restart", ""])
def test_not_opt_in(reply: str) -> None:
    assert not is_opt_in(reply)


def test_words_fold_accents_case_and_punctuation() -> None:
    assert words("Arrêt, SVP!") == ("arret", "svp")
    assert words("OPT-OUT") == ("opt", "out")
    assert words("don't_stop") == ("don", "t", "stop")
    assert words("Straße") == ("strasse",)
    assert words("") == ()
