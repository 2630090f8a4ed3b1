"""KAP scoring rules: item scores, domain scores, exposure dose, Bloom levels."""

from __future__ import annotations

import numpy as np
import pytest

from surveys.scoring import BloomCutoffs, bloom_levels, domain_scores, exposure_dose, favourable, score_many, scoring_key
from surveys.spec import ChoiceSpec, InstrumentSpec, ItemSpec, SectionSpec


def _choices(*names):
    return tuple(ChoiceSpec(n, {"en": n}) for n in names)


SPEC = InstrumentSpec(
    title="t", form_id="t", version="1", default_language="en", languages=("en",),
    sections=(SectionSpec(name="s", items=(
        ItemSpec("k1", "yes_no_dk", choice_list="ynd", kap_domain="knowledge", kap_correct=("yes",)),
        ItemSpec("k2", "multiple_choice", choice_list="forms", kap_domain="knowledge", kap_correct=("labour", "sexual")),
        ItemSpec("k3", "single_choice", choice_list="forms", kap_domain="knowledge"),  # no key: not scored
        ItemSpec("a1", "likert5", choice_list="agree5", kap_domain="attitude"),
        ItemSpec("a2", "likert4", choice_list="agree4", kap_domain="attitude", kap_reverse=True),
        ItemSpec("p1", "single_choice", choice_list="act", kap_domain="practice", kap_desired=("hotline", "police")),
        ItemSpec("e1", "yes_no_dk", choice_list="ynd", kap_domain="exposure", kap_channel="radio"),
        ItemSpec("e2", "yes_no_dk", choice_list="ynd", kap_domain="exposure", kap_channel="sms"),
        ItemSpec("age", "integer", kap_domain="background"),
    )),),
    choice_lists={
        "ynd": _choices("yes", "no", "dk"),
        "forms": _choices("labour", "sexual", "adoption"),
        "agree5": _choices("1", "2", "3", "4", "5", "dk"),
        "agree4": _choices("sd", "d", "a", "sa"),
        "act": _choices("nothing", "hotline", "police", "dk"),
    },
)
KEY = scoring_key(SPEC)


def test_it_scores_only_items_with_a_key():
    assert KEY.codes == ("k1", "k2", "a1", "a2", "p1", "e1", "e2")


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"k1": "yes", "k2": "labour sexual", "a1": "5", "a2": "sd", "p1": "police", "e1": "yes", "e2": "no"},
         [1, 1, 5, 4, 1, 1, 0]),
        ({"k1": "dk", "k2": "labour", "a1": "dk", "a2": "sa", "p1": "dk", "e1": "dk", "e2": ""},
         [0, 0, np.nan, 1, 0, 0, np.nan]),
        ({"k1": "refused", "k2": ["sexual", "labour"], "a1": "2"}, [np.nan, 1, 2, np.nan, np.nan, np.nan, np.nan]),
        ({}, [np.nan] * 7),
    ],
)
def test_it_scores_items(answers, expected):
    np.testing.assert_array_equal(score_many(KEY, [answers])[0], np.array(expected, dtype=float))


def test_it_computes_domain_scores_on_0_to_100():
    scores = score_many(KEY, [
        {"k1": "yes", "k2": "labour", "a1": "5", "a2": "sa", "p1": "hotline"},  # a2 reversed: sa -> 1
        {"k1": "no"},
        {},
    ])
    d = domain_scores(KEY, scores)
    np.testing.assert_allclose(d["knowledge"], [50.0, 0.0, np.nan])
    # a1 = 5 of 5 -> 100; a2 = 1 of 4 -> 0; mean 50
    np.testing.assert_allclose(d["attitude"], [50.0, np.nan, np.nan])
    np.testing.assert_allclose(d["practice"], [100.0, np.nan, np.nan])


def test_it_marks_the_top_two_points_favourable():
    fav = favourable(KEY, score_many(KEY, [{"a1": "4", "a2": "d"}, {"a1": "3", "a2": "sd"}]))
    j1, j2 = KEY.index("a1"), KEY.index("a2")
    assert fav[0, j1] == 1 and fav[0, j2] == 1  # d reversed on 4 points -> 3: top two
    assert fav[1, j1] == 0 and fav[1, j2] == 1  # sd reversed -> 4


def test_it_counts_exposure_dose():
    scores = score_many(KEY, [{"e1": "yes", "e2": "yes"}, {"e1": "no", "e2": "dk"}, {}])
    np.testing.assert_array_equal(exposure_dose(KEY, scores), [2, 0, np.nan])


def test_it_applies_blooms_cut_offs():
    levels = bloom_levels(np.array([100, 80, 79.9, 60, 59.9, np.nan]))
    assert list(levels) == ["good", "good", "moderate", "moderate", "poor", ""]
    assert list(bloom_levels(np.array([70.0]), BloomCutoffs(good=70, moderate=50))) == ["good"]
    with pytest.raises(ValueError, match="cut-offs"):
        BloomCutoffs(good=50, moderate=60)
