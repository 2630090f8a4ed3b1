"""The opt-out keyword rule, as a table."""

from __future__ import annotations

import pytest

from campaign.optout import CONFIRMATIONS, confirmation, fold, optout_keyword

OPT_OUTS = [
    ("STOP", "STOP"), ("stop", "STOP"), ("Stop!", "STOP"), ("  stop.  ", "STOP"), ('"STOP"', "STOP"),
    ("stop please", "STOP"), ("STOP ALL", "STOP"), ("stopall", "STOPALL"), ("STOP 🙏", "STOP"),
    ("ARRET", "ARRET"), ("Arrêt", "ARRET"), ("ARRÊT", "ARRET"), ("arrêt svp", "ARRET"), ("ARÊT", "ARET"),
    ("ARETE", "ARETE"), ("Arrête", "ARRETE"), ("arrêter", "ARRETER"), ("Arrête de m'écrire", "ARRETE"),
    ("KANPE", "KANPE"), ("kanpe tanpri", "KANPE"), ("Kanpe!!!", "KANPE"), ("-kanpe-", "KANPE"), ("Kànpe", "KANPE"),
    ("ALTO", "ALTO"), ("alto.", "ALTO"), ("BAJA", "BAJA"), ("baja por favor", "BAJA"), ("Baja\n", "BAJA"),
    ("\tSTOP\r\n", "STOP"), ("Ｓｔｏｐ", "STOP"),  # full-width letters fold too
]
NOT_OPT_OUTS = [
    "", "   ", "!!!", "Mèsi", "Bonjou, ki lè fòmasyon an ye?", "pa janm kanpe", "I will not stop",
    "stop trafik moun se yon bagay nou tout dwe fè", "stopper", "stops", "kanpey", "altos", "bajar",
    "arrêts de bus", "S T O P",
]


@pytest.mark.parametrize(("text", "keyword"), OPT_OUTS)
def test_it_recognises_opt_out_keywords(text, keyword):
    assert optout_keyword(text) == keyword


@pytest.mark.parametrize("text", NOT_OPT_OUTS)
def test_it_does_not_read_other_replies_as_opt_outs(text):
    assert optout_keyword(text) is None


def test_it_folds_accents_case_and_punctuation():
    assert fold("  Arrêt!! Kànpe… ") == "arret kanpe"


@pytest.mark.parametrize(("language", "keyword", "expected"), [
    ("ht", "STOP", "ht"), ("fr", "KANPE", "fr"), ("fr-HT", "", "fr"), ("en", "", "en"), ("es", "", "es"),
    ("", "BAJA", "es"), ("", "ARRET", "fr"), ("", "KANPE", "ht"), ("de", "", "ht"), ("", "", "ht"),
])
def test_it_confirms_in_the_contacts_language_else_the_keywords(language, keyword, expected):
    assert confirmation(language, keyword) == CONFIRMATIONS[expected]
