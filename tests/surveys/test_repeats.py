"""Repeat groups: the stored shape of their answers and the rules that check each repetition."""

from __future__ import annotations

import pytest

from surveys import rules
from surveys.limits import instrument_limits
from surveys.rules import AnswersInvalid, check_answers
from surveys.scoring import scoring_key
from surveys.xlsform import read_xlsform
from tests.surveys.test_xlsform import xlsx

H = ["type", "name", "label", "required", "relevant", "constraint", "calculation", "repeat_count", "kap_domain",
     "kap_correct"]
YN = [["list_name", "name", "label"], ["yn", "yes", "Yes"], ["yn", "no", "No"]]


def household_form(*, count: bool = True) -> bytes:
    """A household roster: how many people, then one repetition per person (``count``: as many as
    ``${n}`` says, through repeat_count; else the enumerator adds them)."""
    return xlsx([H,
                 ["select_one yn", "k_law", "Is there a law?", None, None, None, None, None, "knowledge", "yes"],
                 ["integer", "n", "How many people?", "yes"],
                 ["begin repeat", "person", "Person", None, None, None, None, "${n}" if count else None],
                 ["text", "pname", "Name", "yes", None,
                  "position(..) = 1 or . != indexed-repeat(${pname}, ${person}, 1)"],
                 ["integer", "page", "Age", None, None, ". >= 0 and . < 120"],
                 ["select_one yn", "works", "Works?", "yes", "${page} >= 15", None, None, None, "knowledge", "yes"],
                 ["calculate", "idx", None, None, None, None, "position(..)"],
                 ["end repeat"],
                 ["integer", "total_age", "Sum of ages", None, None, ". = sum(${page})"]], YN)  # fmt: skip


@pytest.fixture(scope="module")
def spec():
    return read_xlsform(household_form())


def _problems(spec, answers, **kwargs) -> dict[str, str]:
    with pytest.raises(AnswersInvalid) as caught:
        check_answers(spec, answers, **kwargs)
    return {p.code: p.message for p in caught.value.problems}


def test_it_keeps_each_repetition_canonical_in_a_list(spec):
    checked = check_answers(spec, {"n": "2", "total_age": 42, "person": [
        {"pname": " Ana ", "page": "40", "works": "yes"},
        {"pname": "Bo", "page": 2, "works": "no"}]})
    assert checked.answers == {"n": 2, "total_age": 42, "person": [
        {"pname": "Ana", "page": 40, "works": "yes", "idx": "1"},
        {"pname": "Bo", "page": 2, "idx": "2"}]}  # works is not relevant at 2: dropped
    assert checked.dropped == ("person[2]/works",)


def test_it_names_the_repeat_the_repetition_and_the_question(spec):
    problems = _problems(spec, {"n": 3, "person": [
        {"pname": "Ana", "page": 40, "works": "yes"},
        {"pname": "Ana", "page": "old"},
        {"page": 130, "works": "no", "colour": "red"}]})
    assert problems == {
        "person[2]/page": "'old' is not a whole number",
        "person[2]/pname": "'Ana' breaks the constraint position(..) = 1 or . != indexed-repeat(${pname}, ${person}, 1)",
        "person[3]/colour": "is not a question of the repeat 'Person'",
        "person[3]/pname": "is required",
        "person[3]/page": "130 breaks the constraint . >= 0 and . < 120",
    }


def test_it_enforces_repeat_count(spec):
    problems = _problems(spec, {"n": 3, "person": [{"pname": "Ana"}]})
    assert problems == {"person": "the repeat 'Person' has 1 repetition; its repeat_count ${n} asks for 3"}
    assert check_answers(spec, {"n": 0}).answers == {"n": 0}


def test_main_questions_read_the_repetitions(spec):
    problems = _problems(spec, {"n": 2, "total_age": 5, "person": [{"pname": "A", "page": 1}, {"pname": "B", "page": 2}]})
    assert problems == {"total_age": "5 breaks the constraint . = sum(${page})"}


def test_it_refuses_what_is_not_a_list_of_repetitions(spec):
    assert _problems(spec, {"n": 1, "person": "Ana"}) == {
        "person": "the repeat 'Person' must be a list with one object (question code -> answer) per repetition"}
    assert _problems(spec, {"n": 1, "pname": "Ana", "person": [{"pname": "Ana"}]}) == {
        "pname": "is a question of the repeat 'person': send it in 'person', a list with one object per repetition"}


def test_it_refuses_too_many_repetitions(spec):
    many = [{"pname": f"P{i}"} for i in range(rules.MAX_REPETITIONS + 1)]
    problems = _problems(spec, {"n": len(many), "person": many})
    assert problems == {"person": f"the repeat 'Person' has {len(many)} repetitions; at most 500 are accepted"}


def test_lenient_constraints_keep_a_broken_repetition_and_report_it(spec):
    checked = check_answers(spec, {"n": 1, "person": [{"pname": "A", "page": 130, "works": "no"}]},
                            lenient_constraints=True)
    assert checked.answers["person"] == [{"pname": "A", "page": 130, "works": "no", "idx": "1"}]
    assert [p.code for p in checked.constraint_failures] == ["person[1]/page"]


def test_repeat_children_stay_out_of_kap_scoring_and_the_limits_say_they_are_collected(spec):
    assert scoring_key(spec).codes == ("k_law",)
    (limit,) = [lim for lim in instrument_limits(spec) if lim.topic.startswith("Repeat")]
    assert "once per repetition" in limit.message and "works" in limit.codes


def test_quality_flags_do_not_trip_on_repeats(spec):
    checked = check_answers(spec, {"n": 1, "person": [{"pname": "A", "page": 3}]})
    assert rules.answered_count(spec, checked.answers) == 1  # n; the repetitions are in their own list
    rules.quality_flags(spec, checked.answers, started_at=None, ended_at=None)


def test_the_phone_form_gets_one_screen_per_repeat_with_its_count():
    from surveys.spec import spec_to_dict
    from web.routes.collect import client_spec

    data = xlsx([H,
                 ["integer", "n", "How many?"],
                 ["begin repeat", "person", "Person", None, None, None, None, "${n}"],
                 ["text", "pname", "Name"],
                 ["begin group", "kids", "Kids", None, "${n} > 1"], ["integer", "kid_age", "Age"], ["end group"],
                 ["begin repeat", "visit", "Visit"], ["date", "when", "When"], ["end repeat"],
                 ["end repeat"]])  # fmt: skip
    form, problems = client_spec(spec_to_dict(read_xlsform(data)))
    assert not problems
    assert [(s["name"], (s.get("repeat") or {}).get("name")) for s in form["sections"]] == [
        ("section_1", None), ("person", "person")]  # the nested repeat is left out
    person = form["sections"][1]
    assert person["repeat"]["count"] is not None
    assert [it["code"] for it in person["items"]] == ["pname", "kid_age"]
    assert person["items"][1]["relevant"] is not None  # the group's relevant goes with its items
    (limit,) = [lim for lim in instrument_limits(read_xlsform(data)) if lim.topic == "Repeat visit"]
    assert "repeat inside a repeat" in limit.message
