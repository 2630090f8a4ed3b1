"""surveys.rules works from a plan built once per spec; it must answer exactly as the rules did
when they read the spec afresh for every interview.

The reference below is the straightforward version of check_answers and quality_flags (as they
were before the plan), kept here verbatim in spirit: the spec walked item by item, every
expression parsed (cached) and evaluated with :func:`surveys.expressions.evaluate`. Hypothesis
throws random answer sets at both, valid and not; outcomes (canonical answers, dropped codes,
constraint failures, problems and their messages, flags) must be identical.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveys import expressions, rules
from surveys.rules import (
    _DATE_RE,
    _DEC_RE,
    _INT_RE,
    _MAX_INT,
    _MAX_TEXT,
    ANSWERABLE_TYPES,
    DONT_KNOW_NAMES,
    AnswerProblem,
    AnswersInvalid,
    CheckedAnswers,
    QualitySettings,
    _as_name,
    _expr_value,
    _number_text,
    flag,
    label,
    panel_repeat_flag,
)
from surveys.spec import CHOICE_TYPES, LIKERT_TYPES, METADATA_TYPES, InstrumentSpec, ItemSpec, SectionSpec
from tests.surveys.factories import make_answers, make_kap_spec

# --- the reference: the rules as they read the spec for every interview ---------------------------


@functools.lru_cache(maxsize=4096)
def _ref_parsed(text):
    try:
        return expressions.parse(text)
    except expressions.ExpressionError:
        return None


def _ref_true(text, values, *, current=None, today=None):
    if not text or not text.strip():
        return True
    tree = _ref_parsed(text)
    if tree is None:
        return True
    try:
        return expressions.truthy(expressions.evaluate(tree, values, current=_expr_value(current), today=today))
    except (expressions.ExpressionError, TypeError):
        return True


def _ref_calculate(text, values, today):
    tree = _ref_parsed(text) if text else None
    if tree is None:
        return None
    try:
        result = expressions.evaluate(tree, values, today=today)
    except (expressions.ExpressionError, TypeError):
        return None
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float):
        return None if math.isnan(result) else _number_text(result)
    return result or None


def _ref_blank(value):
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, (list, tuple)) and not value)


def _ref_choice_names(spec, item):
    return [c.name for c in spec.choice_lists.get(item.choice_list or "", ())]


def _ref_canonical(spec, item, value):
    t = item.type
    if t in CHOICE_TYPES:
        names = _ref_choice_names(spec, item)
        if t == "multiple_choice":
            raw = value.split() if isinstance(value, str) else value
            if not isinstance(raw, (list, tuple)):
                raise ValueError("must be a list of choices")
            chosen = []
            for v in raw:
                name = _as_name(v)
                if name is None:
                    raise ValueError(f"{v!r} is not a choice name")
                chosen.append(name)
            unknown = [n for n in chosen if n not in names]
            if unknown:
                raise ValueError(f"{', '.join(repr(u) for u in unknown)} not in list '{item.choice_list}' "
                                 f"(choices: {', '.join(names)})")
            return [n for n in names if n in set(chosen)]
        name = _as_name(value)
        if name is None:
            raise ValueError("must be one choice name")
        if name not in names:
            raise ValueError(f"{name!r} is not a choice of list '{item.choice_list}' (choices: {', '.join(names)})")
        return name
    if t == "integer":
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            number = int(value.strip())
        else:
            raise ValueError(f"{value!r} is not a whole number")
        if abs(number) >= _MAX_INT:
            raise ValueError("is too large")
        return number
    if t == "decimal":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str) and _DEC_RE.fullmatch(value.strip().replace(",", ".")):
            number = float(value.strip().replace(",", "."))
        else:
            raise ValueError(f"{value!r} is not a number")
        if not math.isfinite(number) or abs(number) >= _MAX_INT:
            raise ValueError("is not a finite number")
        return number
    if t == "date":
        if isinstance(value, _dt.datetime):
            return value.date().isoformat()
        if isinstance(value, _dt.date):
            return value.isoformat()
        text = value.strip()[:10] if isinstance(value, str) else None
        if text is None or not _DATE_RE.fullmatch(text) or (isinstance(value, str) and len(value.strip()) > 10
                                                             and value.strip()[10] not in "T "):
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
        try:
            return _dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not a valid date") from None
    if t == "text" or t in METADATA_TYPES:
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError("must be text")
        text = value.strip() if isinstance(value, str) else _number_text(float(value))
        if len(text) > _MAX_TEXT:
            raise ValueError(f"is longer than {_MAX_TEXT} characters")
        return text
    raise ValueError(f"items of type {t} take no answer")


def ref_check_answers(spec, answers, *, language=None, today=None, lenient_constraints=False):
    if not isinstance(answers, Mapping):
        raise AnswersInvalid([AnswerProblem("", "answers must be an object of item code -> answer")])
    problems = []
    items = {it.code: it for it in spec.items()}
    given = {}
    for code, value in answers.items():
        item = items.get(code) if isinstance(code, str) else None
        if item is None:
            problems.append(AnswerProblem(str(code), "is not an item of this instrument"))
            continue
        if item.type in ("note", "calculate") or _ref_blank(value):
            continue
        try:
            given[code] = _ref_canonical(spec, item, value)
        except ValueError as err:
            problems.append(AnswerProblem(code, str(err)))
    values = {code: given.get(code) for code in items}
    out, dropped, failures = {}, [], []
    lang, default = language, spec.default_language
    for section in spec.sections:
        section_relevant = _ref_true(section.relevant, values, today=today)
        for item in section.items:
            code = item.code
            relevant = section_relevant and _ref_true(item.relevant, values, today=today)
            if not relevant:
                if code in given:
                    dropped.append(code)
                values[code] = None
                continue
            if item.type == "calculate":
                result = _ref_calculate(item.calculation, values, today)
                values[code] = result
                if result is not None:
                    out[code] = result
                continue
            if code not in given:
                if item.required and item.type in ANSWERABLE_TYPES and not any(p.code == code for p in problems):
                    own = label(item.required_message, lang, default)
                    problems.append(AnswerProblem(code, "is required" + (f" ({own})" if own else "")))
                continue
            value = given[code]
            if item.constraint and not _ref_true(item.constraint, values, current=value, today=today):
                own = label(item.constraint_message, lang, default)
                shown = " ".join(value) if isinstance(value, list) else value
                problem = AnswerProblem(
                    code, f"{shown!r} breaks the constraint {item.constraint}" + (f" ({own})" if own else ""))
                if lenient_constraints:
                    failures.append(problem)
                else:
                    problems.append(problem)
                    continue
            out[code] = value
    if problems:
        raise AnswersInvalid(problems)
    return CheckedAnswers(answers=out, dropped=tuple(dropped), constraint_failures=tuple(failures))


def ref_answered_count(spec, answers):
    return sum(1 for it in spec.items() if it.type in ANSWERABLE_TYPES and not _ref_blank(answers.get(it.code)))


def ref_dont_know_counts(spec, answers):
    dk = offered = 0
    for it in spec.items():
        if it.type not in CHOICE_TYPES or _ref_blank(answers.get(it.code)):
            continue
        names = {n for n in _ref_choice_names(spec, it) if n.lower() in DONT_KNOW_NAMES}
        if not names:
            continue
        offered += 1
        value = answers[it.code]
        chosen = set(value) if isinstance(value, (list, tuple)) else {value}
        if chosen & names:
            dk += 1
    return dk, offered


def ref_quality_flags(spec, answers, *, started_at, ended_at, settings=QualitySettings(), constraint_failures=(),
                      panel_repeats=0, respondent_code=""):
    flags = []
    answered = ref_answered_count(spec, answers)
    if started_at is not None and ended_at is not None and answered:
        seconds = (ended_at - started_at).total_seconds()
        needed = settings.min_seconds_per_answer * answered
        if seconds < 0:
            flags.append(flag("too_short", "The interview ends before it starts."))
        elif seconds < needed:
            flags.append(flag("too_short", f"{seconds:.0f} s for {answered} answers "
                                           f"(under {settings.min_seconds_per_answer:g} s per answer)."))
    for section in spec.sections:
        likert = [answers[it.code] for it in section.items
                  if it.type in LIKERT_TYPES and not _ref_blank(answers.get(it.code))]
        if len(likert) >= settings.straight_line_min_items and len(set(likert)) == 1:
            name = label(section.labels, "en", spec.default_language, section.name or "a section")
            flags.append(flag("straight_lining", f"All {len(likert)} Likert items of {name} answered {str(likert[0])!r}."))
    if respondent_code and panel_repeats > 1:
        flags.append(panel_repeat_flag(respondent_code, panel_repeats))
    dk, offered = ref_dont_know_counts(spec, answers)
    if offered >= settings.dont_know_min_items and dk / offered > settings.dont_know_threshold:
        flags.append(flag("dont_know_rate", f"{dk} don't-know answers out of {offered} "
                                            f"({dk / offered:.0%}, above {settings.dont_know_threshold:.0%})."))
    if constraint_failures:
        flags.append(flag("outside_constraint", "; ".join(str(p) for p in constraint_failures)[:500]))
    return flags


# --- specs to try: the tests' KAP form, and one with every awkward thing a form can hold ------------


def _awkward_spec() -> InstrumentSpec:
    base = make_kap_spec()
    extra = SectionSpec(name="extra", labels={"en": "Extra"}, relevant="${age} >= 18 or ${age} = ''", items=(
        ItemSpec(code="income", type="decimal", constraint=". >= 0", constraint_message={"fr": "positif"}),
        ItemSpec(code="visit", type="date", required=True, required_message={"ht": "obligatwa", "en": "needed"},
                 constraint=". <= today()"),
        ItemSpec(code="years", type="calculate", calculation="int((today() - ${visit}) div 365.25)"),
        ItemSpec(code="double_age", type="calculate", calculation="${age} * 2"),
        ItemSpec(code="adult", type="calculate", calculation="${age} >= 18"),
        ItemSpec(code="label_text", type="calculate", calculation="coalesce(${comments}, 'none')"),
        ItemSpec(code="broken_calc", type="calculate", calculation="${nowhere} + 1"),
        ItemSpec(code="nan_calc", type="calculate", calculation="number(${comments})"),
        ItemSpec(code="note1", type="note", labels={"en": "Thanks"}),
        ItemSpec(code="name", type="text", constraint="string-length(.) <= 5 and regex(., '^[a-z]*$')"),
        ItemSpec(code="blank_rel", type="integer", relevant="   ", constraint="  "),
        ItemSpec(code="bad_rel", type="integer", relevant="${age} >>> 3", constraint="((("),
        ItemSpec(code="uses_calc", type="yes_no_dk", choice_list="ynd", relevant="${adult} = 'true'", required=True),
        ItemSpec(code="l1", type="likert4", choice_list="agree4"),
        ItemSpec(code="l2", type="likert4", choice_list="agree4"),
        ItemSpec(code="l3", type="likert4", choice_list="agree4", relevant="${l1} != '1'"),
        ItemSpec(code="nums", type="single_choice", choice_list="nums"),
        ItemSpec(code="many", type="multiple_choice", choice_list="nums", constraint="count-selected(.) <= 2"),
        ItemSpec(code="username", type="username"),
        ItemSpec(code="today", type="today"),
        ItemSpec(code="comments", type="text"),  # the same code twice: the last one wins in look-ups
    ))
    lists = {**base.choice_lists,
             "agree4": tuple(rules_choice(n) for n in ("1", "2", "3", "4")),
             "nums": tuple(rules_choice(n) for n in ("1", "2", "10", "NSP", "Dont_Know"))}
    return dataclasses.replace(base, sections=base.sections + (extra,), choice_lists=lists, default_language="en")


def rules_choice(name: str):
    from surveys.spec import ChoiceSpec  # noqa: PLC0415

    return ChoiceSpec(name=name, labels={"en": name})


def _bench_spec() -> InstrumentSpec:
    import sys  # noqa: PLC0415

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        from import_kobo_csv import form_spec  # noqa: PLC0415
    finally:
        sys.path.pop(0)
    return form_spec()


SPECS = {"kap": make_kap_spec(), "awkward": _awkward_spec(), "bench": _bench_spec()}


_ODD = [None, "", "  ", [], (), "maybe", True, False, 3, 2.0, 2.5, -1, "12", " 7 ", "2,5", "1e3", "2026-10-02",
        "2026-02-30", "2026-10-02T08:00", "02/10/2026", _dt.date(2026, 1, 31), _dt.datetime(2026, 1, 31, 8), {"a": 1},
        [["x"]], ["yes", 3], "abc", "abcdefgh", "x" * 70, 10**16, float("nan"), float("inf"), "Infinity"]


def _good_values(spec: InstrumentSpec, item: ItemSpec) -> st.SearchStrategy:
    names = [c.name for c in spec.choice_lists.get(item.choice_list or "", ())]
    if item.type == "multiple_choice":
        many = st.lists(st.sampled_from(names), min_size=1, max_size=4)
        return st.one_of(many, many.map(" ".join), many.map(tuple))
    if item.type in CHOICE_TYPES:
        one = st.sampled_from(names)
        return st.one_of(one, one.map(lambda n: f" {n} "))
    if item.type == "integer":
        return st.one_of(st.integers(-5, 120), st.integers(-5, 120).map(str))
    if item.type == "decimal":
        return st.one_of(st.floats(-10, 1e4, allow_nan=False), st.sampled_from(["1.5", "2,5", ".5", "-3."]))
    if item.type in ("date", "today"):
        return st.dates(_dt.date(2020, 1, 1), _dt.date(2030, 1, 1)).map(_dt.date.isoformat)
    return st.one_of(st.text("abcxyz 1", max_size=8), st.sampled_from(["", "abc", "Hello"]))


@st.composite
def _answer_sets(draw, spec: InstrumentSpec, odd_share: int = 4) -> dict[Any, Any]:
    """An answer set: mostly sensible values (1 in ``odd_share`` odd ones), some items left out."""
    items = [it for it in {it.code: it for it in spec.items()}.values()]
    answers: dict[Any, Any] = {}
    for it in items:
        if draw(st.integers(0, 4)) == 0:
            continue  # left out
        odd = draw(st.integers(0, odd_share * 4)) < 4 or it.type in ("note", "calculate")
        answers[it.code] = draw(st.sampled_from(_ODD) if odd else _good_values(spec, it))
    if draw(st.integers(0, 9)) == 0:
        answers[draw(st.sampled_from(["nonsense", "k_LAW", "", 7]))] = "x"
    return answers


def _outcome(fn, *args, **kwargs):
    try:
        return "ok", fn(*args, **kwargs)
    except AnswersInvalid as err:
        return "invalid", [(p.code, p.message) for p in err.problems]
    except Exception as err:  # noqa: BLE001 - both sides must fail the same way
        return "error", (type(err).__name__, str(err))


KWARGS = st.fixed_dictionaries({
    "language": st.sampled_from([None, "ht", "fr", "en", "xx"]),
    "today": st.one_of(st.none(), st.dates(_dt.date(2024, 1, 1), _dt.date(2028, 1, 1))),
    "lenient_constraints": st.booleans(),
})
QUALITY = st.fixed_dictionaries({
    "started_at": st.one_of(st.none(), st.just(_dt.datetime(2026, 11, 2, 14, 0, tzinfo=_dt.timezone.utc))),
    "ended_at": st.one_of(st.none(), st.builds(lambda m: _dt.datetime(2026, 11, 2, 14, 0, tzinfo=_dt.timezone.utc)
                                               + _dt.timedelta(minutes=m), st.integers(-5, 30))),
    "settings": st.builds(QualitySettings, min_seconds_per_answer=st.sampled_from([0.0, 4.0, 60.0]),
                          straight_line_min_items=st.integers(0, 6), dont_know_threshold=st.sampled_from([0.0, 0.3, 1.0]),
                          dont_know_min_items=st.integers(0, 6)),
    "panel_repeats": st.integers(0, 3),
    "respondent_code": st.sampled_from(["", "R-1"]),
})


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_it_checks_answers_exactly_as_the_reference(name, data):
    spec = SPECS[name]
    answers = data.draw(_answer_sets(spec, data.draw(st.sampled_from([2, 30, 1000]))))
    kwargs = data.draw(KWARGS)
    expected = _outcome(ref_check_answers, spec, answers, **kwargs)
    assert _outcome(rules.check_answers, spec, answers, **kwargs) == expected
    assert _outcome(rules.check_answers, spec, answers, **kwargs) == expected  # again: remembered results agree


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_it_flags_quality_exactly_as_the_reference(name, data):
    spec = SPECS[name]
    answers = data.draw(_answer_sets(spec, data.draw(st.sampled_from([2, 30, 1000]))))
    kind, checked = _outcome(rules.check_answers, spec, answers, lenient_constraints=True)
    if kind == "ok" and data.draw(st.booleans()):
        answers = checked.answers  # what the service passes: canonical answers
    kwargs = data.draw(QUALITY)
    assert _outcome(rules.quality_flags, spec, answers, **kwargs) == _outcome(ref_quality_flags, spec, answers, **kwargs)
    assert _outcome(rules.answered_count, spec, answers) == _outcome(ref_answered_count, spec, answers)
    assert _outcome(rules.dont_know_counts, spec, answers) == _outcome(ref_dont_know_counts, spec, answers)


def test_it_agrees_with_the_reference_on_the_usual_answers():
    spec = SPECS["kap"]
    for answers in (make_answers(), make_answers(consent="no"), make_answers(e_radio="no", e_times=4),
                    make_answers(age=12), make_answers(k_signs="dk debt")):
        for lenient in (False, True):
            expected = _outcome(ref_check_answers, spec, answers, lenient_constraints=lenient)
            assert _outcome(rules.check_answers, spec, answers, lenient_constraints=lenient) == expected


def test_it_builds_the_plan_once_per_spec_and_never_confuses_two_specs():
    spec = _awkward_spec()
    assert rules._plan(spec) is rules._plan(spec)
    other = dataclasses.replace(spec, default_language="ht")
    assert rules._plan(other) is not rules._plan(spec) and rules._plan(other).spec is other


# --- expressions.Evaluator: evaluate() with the work shared between calls ---------------------------

CASES_FILE = Path(__file__).resolve().parent / "expression_cases.json"


def _case_outcome(fn):
    try:
        result = fn()
    except (expressions.ExpressionError, TypeError) as err:
        return type(err).__name__, str(err)
    if isinstance(result, float) and math.isnan(result):
        return "nan", None
    return type(result).__name__, result


def test_evaluator_gives_what_evaluate_gives_on_every_shared_case():
    doc = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    checked = 0
    for raw in doc["cases"]:
        try:
            tree = expressions.parse(raw["expr"])
        except expressions.ExpressionError:
            continue
        if "check" in raw or "uuid(" in raw["expr"]:
            continue  # a different result at each call
        values = {**doc["default_values"], **raw.get("values", {})}
        today = _dt.date.fromisoformat(raw.get("today", doc["default_today"]))
        current = raw.get("current")
        options = {key: raw[key] for key in ("now", "repeats", "position", "choice", "choices", "seed") if key in raw}
        if "random()" in raw["expr"] and "seed" not in raw:
            options["seed"] = 1
        expected = _case_outcome(lambda: expressions.evaluate(tree, values, current=current, today=today, **options))
        evaluator = expressions.Evaluator(tree)
        for _ in range(2):  # the second time from the memo
            assert _case_outcome(lambda: evaluator(values, current=current, today=today, **options)) == expected, raw["expr"]
        assert _case_outcome(lambda: expressions.Evaluator(tree, memo=0)(values, current=current, today=today, **options)) == expected
        checked += 1
    assert checked > 300


def test_evaluator_remembers_only_what_the_result_depends_on():
    evaluator = expressions.Evaluator(expressions.parse(". <= today() and ${a} = 'x'"), memo=2)
    assert evaluator({"a": "x"}, current="2026-01-01", today=_dt.date(2026, 1, 2)) is True
    assert evaluator({"a": "x"}, current="2026-01-03", today=_dt.date(2026, 1, 2)) is False
    assert evaluator({"a": "x"}, current="2026-01-03", today=_dt.date(2026, 1, 4)) is True  # memo full: cleared
    assert evaluator({"a": "y"}, current="2026-01-03", today=_dt.date(2026, 1, 4)) is False
    with pytest.raises(expressions.ExpressionError, match="unknown field"):
        evaluator({}, current="2026-01-03", today=_dt.date(2026, 1, 4))


def test_it_seeds_random_calculations_with_the_interview_as_the_phone_does():
    base = make_kap_spec()
    extra = SectionSpec(name="draws", labels={"en": "Draws"}, items=(
        ItemSpec(code="draw", type="calculate", calculation="random()"),
    ))
    spec = dataclasses.replace(base, sections=base.sections + (extra,))
    answers = make_answers()
    first = rules.check_answers(spec, answers, interview="5b6c").answers["draw"]
    again = rules.check_answers(spec, answers, interview="5b6c").answers["draw"]
    other = rules.check_answers(spec, answers, interview="9f00").answers["draw"]
    expected = expressions.evaluate(expressions.parse("random()"), {}, seed=expressions.seed_for("5b6c", "draw"))
    assert first == again == rules._number_text(expected) != other
