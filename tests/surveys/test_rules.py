"""surveys.rules: canonical answers, validation against a spec, content hashes, quality flags."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

import pytest

from surveys import rules
from surveys.rules import AnswersInvalid, QualitySettings, check_answers, content_hash, quality_flags
from surveys.spec import ItemSpec, SectionSpec
from tests.surveys.factories import ATTITUDE_CODES, make_answers, make_kap_spec

SPEC = make_kap_spec()
END = datetime(2026, 11, 2, 14, 30, tzinfo=timezone.utc)


def _problems(answers, **kwargs) -> dict[str, str]:
    with pytest.raises(AnswersInvalid) as caught:
        check_answers(SPEC, answers, **kwargs)
    return {p.code: p.message for p in caught.value.problems}


def _codes(flags) -> list[str]:
    return [f["code"] for f in flags]


# --- canonical answers ------------------------------------------------------------------------


def test_it_returns_canonical_values_by_type():
    checked = check_answers(SPEC, make_answers(age="34", household_size=5.0, k_signs="debt job_offer debt",
                                               a_report_duty=5, e_times=" 3 ", e_last="2026-10-02",
                                               comments="  merci  "))
    a = checked.answers
    assert a["age"] == 34 and a["household_size"] == 5 and a["e_times"] == 3
    assert a["k_signs"] == ["job_offer", "debt"]  # choice-list order, no repeats
    assert a["a_report_duty"] == "5"  # Likert choice names are text
    assert a["e_last"] == "2026-10-02"
    assert a["comments"] == "merci"
    assert checked.dropped == () and checked.constraint_failures == ()


def test_it_leaves_out_unanswered_items():
    checked = check_answers(SPEC, make_answers(education="", comments="   ", k_signs=[], e_sms=None))
    assert not {"education", "comments", "k_signs", "e_sms"} & set(checked.answers)


def test_it_accepts_decimal_commas_and_dates_as_objects():
    spec = dataclasses.replace(SPEC, sections=SPEC.sections + (SectionSpec(name="extra", items=(
        ItemSpec(code="income", type="decimal"), ItemSpec(code="visit", type="date"))),))
    checked = check_answers(spec, make_answers(income="2,5", visit=date(2026, 1, 31)))
    assert checked.answers["income"] == 2.5 and checked.answers["visit"] == "2026-01-31"


def test_it_names_each_wrong_item_and_says_why():
    problems = _problems(make_answers(age="thirty", k_law="maybe", k_signs=["debt", "magic"], e_last="02/10/2026",
                                      nonsense="x", a_report_duty=True))
    assert set(problems) == {"age", "k_law", "k_signs", "e_last", "nonsense", "a_report_duty"}
    assert "not a whole number" in problems["age"]
    assert "'maybe' is not a choice of list 'ynd'" in problems["k_law"]
    assert "'magic'" in problems["k_signs"]
    assert "not a date" in problems["e_last"]
    assert "not an item" in problems["nonsense"]


def test_it_refuses_impossible_dates_and_huge_numbers():
    problems = _problems(make_answers(e_last="2026-02-30", household_size=10**16))
    assert "valid date" in problems["e_last"]
    assert "too large" in problems["household_size"]


def test_it_requires_required_items_that_are_relevant():
    problems = _problems(make_answers(age=None, k_law=None))
    assert problems == {"age": "is required", "k_law": "is required"}


def test_it_does_not_require_items_that_are_not_relevant():
    checked = check_answers(SPEC, {"consent": "no"})
    assert checked.answers == {"consent": "no"}


def test_it_drops_answers_to_items_that_are_not_relevant():
    # k_law_year is asked only when k_law is yes; e_times / e_last only after hearing the radio spot.
    checked = check_answers(SPEC, make_answers(k_law="no", e_radio="no"))
    assert set(checked.dropped) == {"k_law_year", "e_times", "e_last"}
    assert not set(checked.dropped) & set(checked.answers)


def test_it_drops_a_whole_section_whose_relevance_is_false():
    checked = check_answers(SPEC, make_answers(consent="no"))
    assert checked.answers == {"consent": "no"}
    assert "age" in checked.dropped and "a_report_duty" in checked.dropped


def test_it_refuses_an_answer_that_breaks_a_constraint_with_the_forms_message():
    problems = _problems(make_answers(age=12), language="fr")
    assert "breaks the constraint . >= 15 and . <= 99" in problems["age"]
    assert "L'âge doit être entre 15 et 99" in problems["age"]


def test_it_evaluates_constraints_with_selected_and_today():
    problems = _problems(make_answers(k_signs=["debt", "dk"], e_last="2026-12-01"), today=date(2026, 11, 2))
    assert set(problems) == {"k_signs", "e_last"}
    assert check_answers(SPEC, make_answers(e_last="2026-11-02"), today=date(2026, 11, 2)).answers["e_last"] == "2026-11-02"


def test_it_keeps_constraint_failures_when_lenient():
    checked = check_answers(SPEC, make_answers(age=12), lenient_constraints=True)
    assert checked.answers["age"] == 12
    assert [p.code for p in checked.constraint_failures] == ["age"]


def test_it_computes_calculations_and_ignores_what_the_client_sent():
    spec = dataclasses.replace(SPEC, sections=SPEC.sections + (SectionSpec(name="calc", items=(
        ItemSpec(code="age_next", type="calculate", calculation="${age} + 1"),
        ItemSpec(code="knows", type="calculate", calculation="if(${k_law} = 'yes', 'yes', 'no')"))),))
    checked = check_answers(spec, make_answers(age_next="999"))
    assert checked.answers["age_next"] == "35" and checked.answers["knows"] == "yes"


def test_it_ignores_values_sent_for_notes():
    spec = dataclasses.replace(SPEC, sections=(SectionSpec(name="n", items=(ItemSpec(code="hello", type="note"),)),)
                               + SPEC.sections)
    assert "hello" not in check_answers(spec, make_answers(hello="read")).answers


def test_it_refuses_answers_that_are_not_an_object():
    with pytest.raises(AnswersInvalid, match="answers must be an object"):
        check_answers(SPEC, ["yes"])  # type: ignore[arg-type]


# --- content hash -----------------------------------------------------------------------------


def test_the_hash_does_not_depend_on_key_order_or_choice_order():
    design = {"wave_id": 1, "weight": 1.0}
    one = check_answers(SPEC, make_answers(k_signs=["debt", "job_offer"])).answers
    two = check_answers(SPEC, dict(reversed(list(make_answers(k_signs="job_offer debt").items())))).answers
    assert content_hash(one, design) == content_hash(two, design)


def test_the_hash_changes_with_an_answer_or_a_design_field():
    answers = check_answers(SPEC, make_answers()).answers
    base = content_hash(answers, {"wave_id": 1, "weight": 1.0})
    assert content_hash({**answers, "age": 35}, {"wave_id": 1, "weight": 1.0}) != base
    assert content_hash(answers, {"wave_id": 1, "weight": 2.0}) != base
    assert len(base) == 64


# --- quality flags ----------------------------------------------------------------------------


def test_a_normal_interview_has_no_flag():
    answers = check_answers(SPEC, make_answers()).answers
    assert quality_flags(SPEC, answers, started_at=END - timedelta(minutes=15), ended_at=END) == []


def test_it_flags_an_interview_too_short_for_its_answers():
    answers = check_answers(SPEC, make_answers()).answers
    n = rules.answered_count(SPEC, answers)
    assert n == 19
    short = quality_flags(SPEC, answers, started_at=END - timedelta(seconds=4 * n - 1), ended_at=END)
    assert _codes(short) == ["too_short"] and f"for {n} answers" in short[0]["message"]
    assert quality_flags(SPEC, answers, started_at=END - timedelta(seconds=4 * n), ended_at=END) == []
    lax = QualitySettings(min_seconds_per_answer=2)
    assert quality_flags(SPEC, answers, started_at=END - timedelta(seconds=60), ended_at=END, settings=lax) == []
    backwards = quality_flags(SPEC, answers, started_at=END + timedelta(minutes=1), ended_at=END)
    assert "ends before it starts" in backwards[0]["message"]
    assert quality_flags(SPEC, answers, started_at=None, ended_at=END) == []


def test_it_flags_straight_lining_on_five_likert_items():
    same = check_answers(SPEC, make_answers(**{code: "4" for code in ATTITUDE_CODES})).answers
    flags = quality_flags(SPEC, same, started_at=None, ended_at=None)
    assert _codes(flags) == ["straight_lining"] and "All 5 Likert items of Attitudes answered '4'" in flags[0]["message"]
    four = check_answers(SPEC, make_answers(**{code: "4" for code in ATTITUDE_CODES[:4]}, a_migrants_help=None)).answers
    assert quality_flags(SPEC, four, started_at=None, ended_at=None) == []


def test_it_flags_a_high_dont_know_rate_over_the_threshold():
    dk = {"k_law": "dk", "k_hotline": "dk", "p_talked": "dk", "e_radio": "dk", "e_sms": "no", "p_report_to": "police"}
    answers = check_answers(SPEC, make_answers(**dk)).answers
    assert rules.dont_know_counts(SPEC, answers) == (4, 7)
    flags = quality_flags(SPEC, answers, started_at=None, ended_at=None)
    assert _codes(flags) == ["dont_know_rate"] and "4 don't-know answers out of 7" in flags[0]["message"]
    strict_enough = QualitySettings(dont_know_threshold=0.6)
    assert quality_flags(SPEC, answers, started_at=None, ended_at=None, settings=strict_enough) == []


def test_it_flags_panel_repeats_and_constraint_failures_when_told():
    answers = check_answers(SPEC, make_answers(age=12), lenient_constraints=True)
    flags = quality_flags(SPEC, answers.answers, started_at=None, ended_at=None,
                          constraint_failures=answers.constraint_failures, panel_repeats=2, respondent_code="R-7")
    assert _codes(flags) == ["panel_repeat", "outside_constraint"]
    assert "'R-7' appears in 2 submissions" in flags[0]["message"] and "age" in flags[1]["message"]


def test_it_refuses_unknown_flag_codes():
    with pytest.raises(ValueError):
        rules.flag("bad_vibes", "no")


# --- display and specs --------------------------------------------------------------------------


def test_it_shows_answers_with_choice_labels_in_a_language():
    item = SPEC.item("k_signs")
    assert rules.display_answer(SPEC, item, ["job_offer", "debt"], "fr") == "Fausse offre d'emploi; Dette sans fin"
    assert rules.display_answer(SPEC, SPEC.item("age"), 34, "fr") == "34"
    assert rules.display_answer(SPEC, item, None, "fr") == ""


def test_a_good_spec_has_no_problem():
    assert rules.check_spec(SPEC) == []


def test_it_lists_the_problems_of_a_spec_given_as_json():
    bad = dataclasses.replace(SPEC, sections=(SectionSpec(name="s", items=(
        ItemSpec(code="q1", type="integer", relevant="${nowhere} = 1"),
        ItemSpec(code="q1", type="text", constraint="(("),
        ItemSpec(code="q3", type="single_choice", choice_list="missing", kap_correct=("x",)),
    )),))
    problems = " | ".join(rules.check_spec(bad))
    assert "unknown field ${nowhere}" in problems
    assert "code used twice" in problems
    assert "'q1' constraint" in problems
    assert "choice list 'missing' does not exist" in problems


# --- cascading selects (choice_filter) ---------------------------------------------------------


def _cascade_spec():
    """Department -> commune -> communal section, as Haitian forms ask for a place (names from the
    IHSI's administrative divisions)."""
    from surveys.spec import ChoiceSpec, InstrumentSpec  # noqa: PLC0415

    def c(name, **columns):
        return ChoiceSpec(name=name, labels={"en": name.replace("_", " ").title()}, extra=columns)

    items = (
        ItemSpec(code="department", type="single_choice", labels={"en": "Department"}, choice_list="departments",
                 required=True),
        ItemSpec(code="commune", type="single_choice", labels={"en": "Commune"}, choice_list="communes",
                 choice_filter="department=${department}"),
        ItemSpec(code="section", type="multiple_choice", labels={"en": "Communal sections"}, choice_list="sections",
                 choice_filter="commune=${commune} or name='unknown'"),
    )
    return InstrumentSpec(
        title="Places", form_id="places", version="1", default_language="en", languages=("en",),
        sections=(SectionSpec(name="place", labels={"en": "Place"}, items=items),),
        choice_lists={
            "departments": (c("ouest"), c("nord")),
            "communes": (c("port_au_prince", department="ouest"), c("petion_ville", department="ouest"),
                         c("cap_haitien", department="nord")),
            "sections": (c("turgeau", commune="port_au_prince"), c("bellevue_chardonniere", commune="petion_ville"),
                         c("bande_du_nord", commune="cap_haitien"), c("unknown")),
        })


def test_a_cascading_select_takes_what_its_filter_offers_given_the_earlier_answers():
    spec = _cascade_spec()
    ok = check_answers(spec, {"department": "ouest", "commune": "petion_ville", "section": ["bellevue_chardonniere", "unknown"]})
    assert ok.answers == {"department": "ouest", "commune": "petion_ville", "section": ["bellevue_chardonniere", "unknown"]}
    with pytest.raises(AnswersInvalid) as refused:
        check_answers(spec, {"department": "nord", "commune": "port_au_prince"})
    (problem,) = refused.value.problems
    assert problem.code == "commune"
    assert problem.message == ("'port_au_prince' is not offered given the earlier answers "
                               "(choice_filter department=${department})")
    with pytest.raises(AnswersInvalid) as many:
        check_answers(spec, {"department": "ouest", "commune": "port_au_prince", "section": ["turgeau", "bande_du_nord"]})
    assert [(p.code, p.message.split(" is ")[0]) for p in many.value.problems] == [("section", "'bande_du_nord'")]


def test_an_import_keeps_an_answer_outside_the_filter_as_a_constraint_failure():
    checked = check_answers(_cascade_spec(), {"department": "nord", "commune": "port_au_prince"}, lenient_constraints=True)
    assert checked.answers["commune"] == "port_au_prince"
    assert [p.code for p in checked.constraint_failures] == ["commune"]
