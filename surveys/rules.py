"""Pure rules of the surveys package: answers checked against an instrument, content hashes,
quality flags. No session, no HTTP: specs and plain values in, plain values out.

Answers
-------
:func:`check_answers` takes the answers of one interview (item code -> value, as sent by the
data-entry form, the API or an import) and returns them in *canonical* form, or raises
:class:`AnswersInvalid` listing every problem, each naming the item code and saying why.

Canonical values, by item type:

=====================================  ==================================================
single_choice, likert4/5, yes_no_dk    the choice name, ``str`` (a number is read as its
                                       text: Likert lists named ``1``..``5``)
multiple_choice                        ``list[str]`` of choice names in the choice list's
                                       order, without repeats (a space-separated string
                                       is accepted)
integer                                ``int`` (``"12"`` and ``12.0`` are accepted)
decimal                                ``float`` (``"2.5"`` and ``"2,5"`` are accepted)
text                                   ``str``, stripped
date                                   ``"YYYY-MM-DD"``
start, end, today, username, deviceid  ``str`` as recorded by the collecting app
calculate                              computed here, in form order, as a ``str``; what
                                       the client sent is ignored
note                                   nothing (a value sent for a note is ignored)
=====================================  ==================================================

Unanswered is ``None``, ``""`` (or blank) or ``[]``; unanswered items are left out of the
canonical dict. An answer to a code that is not in the instrument is refused.

Relevance (skip logic): items are visited in form order; an item is relevant when its
section's ``relevant`` and its own are true, evaluated with :mod:`surveys.expressions` on
the answers so far (an item found not relevant counts as unanswered for the items after
it). **Answers to items that are not relevant are dropped, not refused**, as ODK Collect
does when it saves a form: a phone that kept a stale answer after the respondent changed
an earlier one must not lose the whole interview. The dropped codes are reported in
:attr:`CheckedAnswers.dropped`. Required items that are relevant and unanswered are
refused. A constraint that is false is refused, or, with ``lenient_constraints=True``
(imports of data already collected elsewhere), kept and reported in
:attr:`CheckedAnswers.constraint_failures` so that it becomes an ``outside_constraint``
quality flag. An expression that cannot be evaluated counts as relevant / satisfied:
the form was checked when it was imported, so this only guards against surprises.

Quality flags
-------------
:func:`quality_flags` returns a list of ``{"code": ..., "message": ...}`` dicts, codes from
:data:`FLAG_LABELS`: ``too_short`` (interview shorter than ``min_seconds_per_answer``
seconds per answered question, or ending before it starts), ``straight_lining`` (a section
with at least ``straight_line_min_items`` answered Likert items all given the same
answer), ``panel_repeat`` (the respondent code appears more than once in the wave: the
service counts), ``dont_know_rate`` (share of don't-know answers above the survey's
threshold, over at least ``dont_know_min_items`` answered questions that offer a don't-know
choice) and ``outside_constraint`` (imports only).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from surveys import expressions
from surveys.spec import CHOICE_TYPES, LIKERT_TYPES, METADATA_TYPES, InstrumentSpec, ItemSpec, SectionSpec

__all__ = [
    "ANSWERABLE_TYPES",
    "DONT_KNOW_NAMES",
    "FLAG_LABELS",
    "AnswerProblem",
    "AnswersInvalid",
    "CheckedAnswers",
    "QualitySettings",
    "answered_count",
    "canonical_json",
    "check_answers",
    "check_spec",
    "content_hash",
    "display_answer",
    "dont_know_counts",
    "flag",
    "label",
    "panel_repeat_flag",
    "quality_flags",
]

#: Item types a respondent answers (notes, calculations and metadata are not questions).
ANSWERABLE_TYPES = CHOICE_TYPES | {"integer", "decimal", "text", "date"}

#: Choice names that mean "don't know" (as recognised by the XLSForm reader).
DONT_KNOW_NAMES = frozenset({
    "dk", "dont_know", "don_t_know", "do_not_know", "dontknow", "idk", "pa_konnen", "pakonnen", "pa_konn",
    "nsp", "ne_sait_pas", "ne_sais_pas", "no_sabe", "ns",
})

#: Quality flag codes and what to call them.
FLAG_LABELS: dict[str, str] = {
    "too_short": "Too short",
    "straight_lining": "Straight-lining",
    "panel_repeat": "Panel code repeated",
    "dont_know_rate": "Many don't knows",
    "outside_constraint": "Outside a constraint",
}

_INT_RE = re.compile(r"[+-]?[0-9]+")
_DEC_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_TEXT = 10_000
_MAX_INT = 10**15


# One thing wrong with an answer set: the item code ("" for the set as a whole) and why.
@dataclass(frozen=True, slots=True)
class AnswerProblem:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


class AnswersInvalid(ValueError):
    """The answers cannot be stored; ``problems`` names every item and why."""

    def __init__(self, problems: Sequence[AnswerProblem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


# What check_answers gives back.
@dataclass(frozen=True, slots=True)
class CheckedAnswers:
    answers: dict[str, Any]
    dropped: tuple[str, ...] = ()  # answered but not relevant: left out
    constraint_failures: tuple[AnswerProblem, ...] = ()  # kept, with lenient_constraints only


# Thresholds of the quality flags.
@dataclass(frozen=True, slots=True)
class QualitySettings:
    min_seconds_per_answer: float = 4.0
    straight_line_min_items: int = 5
    dont_know_threshold: float = 0.3
    dont_know_min_items: int = 5


# --- helpers ------------------------------------------------------------------------------


def label(labels: Mapping[str, str], lang: str | None, default_lang: str | None = None, fallback: str = "") -> str:
    """The label in ``lang``, else the default language, else English, else any, else ``fallback``."""
    for code in (lang, default_lang, "en"):
        if code and labels.get(code):
            return labels[code]
    for value in labels.values():
        if value:
            return value
    return fallback


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same data always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(answers: Mapping[str, Any], design: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of canonical answers and design fields: what a resend must match."""
    text = canonical_json({"answers": dict(answers), "design": dict(design)})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> expressions.Expr | None:
    try:
        return expressions.parse(text)
    except expressions.ExpressionError:
        return None


def _true(text: str | None, values: Mapping[str, Any], *, current: Any = None, today: _dt.date | None = None) -> bool:
    """Whether an expression holds; empty or unusable expressions hold."""
    if not text or not text.strip():
        return True
    tree = _parsed(text)
    if tree is None:
        return True
    try:
        return expressions.truthy(expressions.evaluate(tree, values, current=_expr_value(current), today=today))
    except (expressions.ExpressionError, TypeError):
        return True


def _expr_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, list)):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    return str(value)


def _number_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _calculate(text: str | None, values: Mapping[str, Any], today: _dt.date | None) -> str | None:
    tree = _parsed(text) if text else None
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


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, (list, tuple)) and not value)


def _choice_names(spec: InstrumentSpec, item: ItemSpec) -> list[str]:
    return [c.name for c in spec.choice_lists.get(item.choice_list or "", ())]


def _as_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def _canonical(spec: InstrumentSpec, item: ItemSpec, value: Any) -> Any:
    """The canonical form of a non-blank answer; ``ValueError`` says what is wrong with it."""
    t = item.type
    if t in CHOICE_TYPES:
        names = _choice_names(spec, item)
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
    raise ValueError(f"items of type {t} take no answer")  # pragma: no cover - note / calculate handled before


def _message(messages: Mapping[str, str], lang: str | None, default_lang: str) -> str:
    return label(messages, lang, default_lang)


def check_answers(
    spec: InstrumentSpec,
    answers: Mapping[str, Any],
    *,
    language: str | None = None,
    today: _dt.date | None = None,
    lenient_constraints: bool = False,
) -> CheckedAnswers:
    """Check ``answers`` against ``spec`` and return them canonical (see the module docstring).

    Parameters
    ----------
    spec : InstrumentSpec
        The instrument version the interview was collected with.
    answers : Mapping
        Item code -> value.
    language : str, optional
        Language of the interview: the form's own required/constraint messages are quoted in it.
    today : datetime.date, optional
        The value of ``today()`` in constraints (the interview's date; default the local date).
    lenient_constraints : bool
        Keep answers that break a constraint and report them instead of refusing (imports).

    Raises
    ------
    AnswersInvalid
        With one :class:`AnswerProblem` per unknown code, wrong value, missing required
        answer or broken constraint.
    """
    if not isinstance(answers, Mapping):
        raise AnswersInvalid([AnswerProblem("", "answers must be an object of item code -> answer")])
    problems: list[AnswerProblem] = []
    items = {it.code: it for it in spec.items()}
    given: dict[str, Any] = {}
    for code, value in answers.items():
        item = items.get(code) if isinstance(code, str) else None
        if item is None:
            problems.append(AnswerProblem(str(code), "is not an item of this instrument"))
            continue
        if item.type in ("note", "calculate") or _blank(value):
            continue
        try:
            given[code] = _canonical(spec, item, value)
        except ValueError as err:
            problems.append(AnswerProblem(code, str(err)))

    values: dict[str, Any] = {code: given.get(code) for code in items}
    out: dict[str, Any] = {}
    dropped: list[str] = []
    failures: list[AnswerProblem] = []
    lang, default = language, spec.default_language
    for section in spec.sections:
        section_relevant = _true(section.relevant, values, today=today)
        for item in section.items:
            code = item.code
            relevant = section_relevant and _true(item.relevant, values, today=today)
            if not relevant:
                if code in given:
                    dropped.append(code)
                values[code] = None
                continue
            if item.type == "calculate":
                result = _calculate(item.calculation, values, today)
                values[code] = result
                if result is not None:
                    out[code] = result
                continue
            if code not in given:
                if item.required and item.type in ANSWERABLE_TYPES and not any(p.code == code for p in problems):
                    own = _message(item.required_message, lang, default)
                    problems.append(AnswerProblem(code, "is required" + (f" ({own})" if own else "")))
                continue
            value = given[code]
            if item.constraint and not _true(item.constraint, values, current=value, today=today):
                own = _message(item.constraint_message, lang, default)
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


# --- quality ------------------------------------------------------------------------------


def flag(code: str, message: str) -> dict[str, str]:
    """One quality flag as stored in ``Submission.flags``."""
    if code not in FLAG_LABELS:
        raise ValueError(f"unknown flag {code!r}")
    return {"code": code, "message": message}


def answered_count(spec: InstrumentSpec, answers: Mapping[str, Any]) -> int:
    """How many questions (not notes, calculations or metadata) have an answer."""
    return sum(1 for it in spec.items() if it.type in ANSWERABLE_TYPES and not _blank(answers.get(it.code)))


def _dk_choices(spec: InstrumentSpec, item: ItemSpec) -> set[str]:
    return {n for n in _choice_names(spec, item) if n.lower() in DONT_KNOW_NAMES}


def dont_know_counts(spec: InstrumentSpec, answers: Mapping[str, Any]) -> tuple[int, int]:
    """(don't-know answers, answered questions that offer a don't-know choice)."""
    dk = offered = 0
    for it in spec.items():
        if it.type not in CHOICE_TYPES or _blank(answers.get(it.code)):
            continue
        names = _dk_choices(spec, it)
        if not names:
            continue
        offered += 1
        value = answers[it.code]
        chosen = set(value) if isinstance(value, (list, tuple)) else {value}
        if chosen & names:
            dk += 1
    return dk, offered


def _straight_lined(section: SectionSpec, answers: Mapping[str, Any], minimum: int) -> tuple[int, str] | None:
    likert = [answers[it.code] for it in section.items if it.type in LIKERT_TYPES and not _blank(answers.get(it.code))]
    if len(likert) >= minimum and len(set(likert)) == 1:
        return len(likert), str(likert[0])
    return None


def panel_repeat_flag(respondent_code: str, count: int) -> dict[str, str]:
    """The flag of a respondent code that ``count`` submissions of one wave share."""
    return flag("panel_repeat", f"Respondent code {respondent_code!r} appears in {count} submissions of this wave.")


def quality_flags(
    spec: InstrumentSpec,
    answers: Mapping[str, Any],
    *,
    started_at: _dt.datetime | None,
    ended_at: _dt.datetime | None,
    settings: QualitySettings = QualitySettings(),
    constraint_failures: Sequence[AnswerProblem] = (),
    panel_repeats: int = 0,
    respondent_code: str = "",
) -> list[dict[str, str]]:
    """The quality flags of one interview (canonical answers), in :data:`FLAG_LABELS` order.

    ``panel_repeats`` is how many submissions of the wave, this one included, carry
    ``respondent_code``: the service counts them.
    """
    flags: list[dict[str, str]] = []
    answered = answered_count(spec, answers)
    if started_at is not None and ended_at is not None and answered:
        seconds = (ended_at - started_at).total_seconds()
        needed = settings.min_seconds_per_answer * answered
        if seconds < 0:
            flags.append(flag("too_short", "The interview ends before it starts."))
        elif seconds < needed:
            flags.append(flag("too_short", f"{seconds:.0f} s for {answered} answers "
                                           f"(under {settings.min_seconds_per_answer:g} s per answer)."))
    for section in spec.sections:
        found = _straight_lined(section, answers, settings.straight_line_min_items)
        if found:
            name = label(section.labels, "en", spec.default_language, section.name or "a section")
            flags.append(flag("straight_lining", f"All {found[0]} Likert items of {name} answered {found[1]!r}."))
    if respondent_code and panel_repeats > 1:
        flags.append(panel_repeat_flag(respondent_code, panel_repeats))
    dk, offered = dont_know_counts(spec, answers)
    if offered >= settings.dont_know_min_items and dk / offered > settings.dont_know_threshold:
        flags.append(flag("dont_know_rate", f"{dk} don't-know answers out of {offered} "
                                            f"({dk / offered:.0%}, above {settings.dont_know_threshold:.0%})."))
    if constraint_failures:
        flags.append(flag("outside_constraint", "; ".join(str(p) for p in constraint_failures)[:500]))
    return flags


# --- display ------------------------------------------------------------------------------


def display_answer(spec: InstrumentSpec, item: ItemSpec, value: Any, lang: str | None) -> str:
    """An answer as people read it: choice labels in ``lang``, other values as text."""
    if _blank(value):
        return ""
    if item.type in CHOICE_TYPES:
        labels = {c.name: label(c.labels, lang, spec.default_language, c.name)
                  for c in spec.choice_lists.get(item.choice_list or "", ())}
        values = value if isinstance(value, (list, tuple)) else [value]
        return "; ".join(labels.get(str(v), str(v)) for v in values)
    if isinstance(value, float):
        return _number_text(value)
    return str(value)


# --- instruments given as JSON --------------------------------------------------------------

_CODE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def check_spec(spec: InstrumentSpec) -> list[str]:
    """What is wrong with a spec given as JSON (an XLSForm is checked by its reader): [] when fine."""
    problems: list[str] = []
    seen: set[str] = set()
    codes = {it.code for it in spec.items()}
    if not any(it.type in ANSWERABLE_TYPES for it in spec.items()):
        problems.append("the instrument has no questions")
    if not spec.title.strip():
        problems.append("the instrument has no title")
    for section in spec.sections:
        if section.name and not _CODE_RE.match(section.name):
            problems.append(f"section {section.name!r}: not a valid name")
        where = f"section {section.name or '(top)'}"
        problems.extend(_expression_problems(section.relevant, f"{where} relevant", codes))
        for it in section.items:
            if not _CODE_RE.match(it.code):
                problems.append(f"item {it.code!r}: not a valid code (letters, digits, _ . -; not starting with a digit)")
            if it.code in seen:
                problems.append(f"item {it.code!r}: code used twice")
            seen.add(it.code)
            if it.choice_list is not None:
                names = [c.name for c in spec.choice_lists.get(it.choice_list, ())]
                if it.choice_list not in spec.choice_lists:
                    problems.append(f"item {it.code!r}: choice list {it.choice_list!r} does not exist")
                elif not names:
                    problems.append(f"item {it.code!r}: choice list {it.choice_list!r} is empty")
                for key in ("kap_correct", "kap_desired"):
                    for name in getattr(it, key):
                        if name not in names:
                            problems.append(f"item {it.code!r}: {key} {name!r} is not a choice of {it.choice_list!r}")
            elif it.kap_correct or it.kap_desired:
                problems.append(f"item {it.code!r}: kap_correct / kap_desired need a choice question")
            if it.kap_reverse and it.type not in LIKERT_TYPES:
                problems.append(f"item {it.code!r}: kap_reverse is only for Likert items")
            if it.type == "calculate" and not (it.calculation or "").strip():
                problems.append(f"item {it.code!r}: a calculate item needs a calculation")
            for key in ("relevant", "constraint", "calculation"):
                problems.extend(_expression_problems(getattr(it, key), f"item {it.code!r} {key}", codes))
    for list_name, choices in spec.choice_lists.items():
        names = [c.name for c in choices]
        if len(set(names)) != len(names):
            problems.append(f"choice list {list_name!r}: a choice name is used twice")
    if not problems:
        from surveys.xlsform import write_xlsform  # noqa: PLC0415 - only to prove the spec can be exported

        try:
            write_xlsform(spec)
        except ValueError as err:
            problems.append(str(err))
    return problems


def _expression_problems(text: str | None, where: str, codes: set[str]) -> list[str]:
    if not text or not text.strip():
        return []
    try:
        expressions.check_references(expressions.parse(text), codes)
    except expressions.ExpressionError as err:
        return [f"{where}: {err}"]
    return []
