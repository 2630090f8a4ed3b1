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
quality flag. A cascading select (``choice_filter``, e.g. a commune filtered by the
department answered before) is checked the same way: a chosen choice whose row of the
choices sheet the filter does not offer, given the answers so far, is refused (or, leniently,
reported as a constraint failure). An expression that cannot be evaluated counts as relevant / satisfied:
the form was checked when it was imported, so this only guards against surprises.

Repeat groups
-------------
The answers of a repeat (``begin repeat person``) are a list with one object per repetition,
``answers["person"] = [{"name": "Rose", "age": 40}, {"name": "Ti Jan"}]``: the shape
:func:`surveys.expressions.evaluate` takes as ``repeats``. Each repetition is checked like the
interview (types, required, relevant, constraint, choice_filter, calculations), its
expressions reading the answers outside the repeat, every repetition (``indexed-repeat()``,
``count()``, ``sum()``) and, through ``position``, its own (``..``, ``position(..)``);
expressions outside the repeat read its repetitions too. Problems are named
``repeat[i]/code`` (``i`` from 1). ``repeat_count``, when given, must match the number of
repetitions; at most :data:`MAX_REPETITIONS` are taken. A repetition with nothing answered is
kept (``{}``): it still counts. Repeats inside repeats are refused (not collected yet).

Quality flags
-------------
:func:`quality_flags` returns a list of ``{"code": ..., "message": ...}`` dicts, codes from
:data:`FLAG_LABELS`: ``too_short`` (interview shorter than ``min_seconds_per_answer``
seconds per answered question, or ending before it starts), ``straight_lining`` (a section
with at least ``straight_line_min_items`` answered Likert items all given the same
answer), ``panel_repeat`` (the respondent code appears more than once in the wave: the
service counts), ``dont_know_rate`` (share of don't-know answers above the survey's
threshold, over at least ``dont_know_min_items`` answered questions that offer a don't-know
choice) and ``outside_constraint`` (imports only). :mod:`surveys.frame_service` adds
``out_of_frame`` (a stratum, cluster or weight outside the wave's sampling frame: the analysis
leaves it out until a supervisor corrects or approves it, which makes it ``frame_accepted``)
and ``after_wave_end`` (the interview ended after the wave's end date).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from surveys import expressions
from surveys.spec import (
    CHOICE_TYPES,
    EXTRA_QUESTION_TYPES,
    GEO_TYPES,
    LIKERT_TYPES,
    METADATA_TYPES,
    InstrumentSpec,
    ItemSpec,
    SectionSpec,
)

__all__ = [
    "ANSWERABLE_TYPES",
    "DONT_KNOW_NAMES",
    "FLAG_LABELS",
    "MAX_REPETITIONS",
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
    "section_relevant",
]

#: Item types a respondent answers (notes, calculations and metadata are not questions).
ANSWERABLE_TYPES = CHOICE_TYPES | {"integer", "decimal", "text", "date"} | EXTRA_QUESTION_TYPES

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
    "out_of_frame": "Outside the sampling frame",  # waits for a supervisor: not in the analysis
    "frame_accepted": "Outside the frame, accepted",  # a supervisor approved it as it is
    "after_wave_end": "After the wave ended",
}

_INT_RE = re.compile(r"[+-]?[0-9]+")
_DEC_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_TEXT = 10_000
#: The most repetitions one repeat group may have in one interview.
MAX_REPETITIONS = 500
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


# json.dumps() with these options builds a new encoder on every call; one is enough.
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same data always gives the same text."""
    return _CANONICAL_ENCODER.encode(value)


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


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (list, tuple)) and not value


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


# --- the plan of an instrument: what every check needs, worked out once per spec ----------------
#
# check_answers and quality_flags run for every submission and every imported row; what they
# need from the spec (items by code, choice names, parsed expressions, Likert items by section)
# never changes for a spec, so it is built once and kept in a small cache.

Canonical = Callable[[Any], Any]


def _holds(evaluator: expressions.Evaluator | None, values: Mapping[str, Any], current: Any,
           today: _dt.date | None, **context: Any) -> bool:
    """Whether a relevant / constraint holds; empty, unusable or failing expressions hold.

    ``context``: ``repeats`` and ``position`` for :func:`surveys.expressions.evaluate`."""
    if evaluator is None:
        return True
    if current is not None and current.__class__ not in _EXPR_TYPES:
        current = _expr_value(current)
    try:
        return expressions.truthy(evaluator(values, current=current, today=today, **context))
    except (expressions.ExpressionError, TypeError):
        return True


_EXPR_TYPES = frozenset({str, list, int, float})  # what _expr_value leaves as it is


def _evaluator(text: str | None) -> expressions.Evaluator | None:
    """The expression ready to evaluate; None when it is empty or does not parse (it then holds)."""
    if not text or not text.strip():
        return None
    tree = _parsed(text)
    return None if tree is None else expressions.Evaluator(tree)


def _calculation(text: str | None) -> expressions.Evaluator | None:
    tree = _parsed(text) if text else None
    return None if tree is None else expressions.Evaluator(tree)


def _calculate(evaluator: expressions.Evaluator | None, values: Mapping[str, Any], today: _dt.date | None,
               seed: int | None = None, **context: Any) -> str | None:
    if evaluator is None:
        return None
    try:
        result = evaluator(values, today=today, seed=seed, **context)
    except (expressions.ExpressionError, TypeError):
        return None
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float):
        return None if math.isnan(result) else _number_text(result)
    return result or None


def _choice_canonical(item: ItemSpec, names: tuple[str, ...]) -> Canonical:
    known = frozenset(names)
    listed = ", ".join(names)

    def single(value: Any) -> str:
        name = value.strip() if isinstance(value, str) else _as_name(value)
        if name is None:
            raise ValueError("must be one choice name")
        if name not in known:
            raise ValueError(f"{name!r} is not a choice of list '{item.choice_list}' (choices: {listed})")
        return name

    def multiple(value: Any) -> list[str]:
        raw = value.split() if isinstance(value, str) else value
        if not isinstance(raw, (list, tuple)):
            raise ValueError("must be a list of choices")
        chosen = []
        for v in raw:
            name = _as_name(v)
            if name is None:
                raise ValueError(f"{v!r} is not a choice name")
            chosen.append(name)
        unknown = [n for n in chosen if n not in known]
        if unknown:
            raise ValueError(f"{', '.join(repr(u) for u in unknown)} not in list '{item.choice_list}' "
                             f"(choices: {listed})")
        picked = set(chosen)
        return [n for n in names if n in picked]

    return multiple if item.type == "multiple_choice" else single


def _integer(value: Any) -> int:
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


def _decimal(value: Any) -> float:
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


def _date(value: Any) -> str:
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


_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?")


def _time(value: Any) -> str:
    if isinstance(value, _dt.time):
        return value.isoformat()
    if not isinstance(value, str) or not _TIME_RE.fullmatch(value.strip()):
        raise ValueError(f"{value!r} is not a time (HH:MM or HH:MM:SS)")
    return value.strip()


def _datetime(value: Any) -> str:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    text = value.strip() if isinstance(value, str) else ""
    try:
        _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    return text


def _geopoint(value: Any) -> str:
    """``"lat lon [alt [accuracy]]"`` as ODK records it."""
    parts = str(value).replace(",", " ").split() if isinstance(value, str | int | float) else []
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if not 2 <= len(numbers) <= 4 or not all(math.isfinite(n) for n in numbers) \
            or abs(numbers[0]) > 90 or abs(numbers[1]) > 180:
        raise ValueError(f"{value!r} is not a place (latitude longitude [altitude [accuracy]])")
    return " ".join(parts)


def _geo_shape(value: Any) -> str:
    text = _text(value)
    for point in filter(None, (p.strip() for p in text.split(";"))):
        _geopoint(point)
    return text


def _range(value: Any) -> int | float:
    number = _decimal(value)
    return int(number) if number.is_integer() else number


def _text(value: Any) -> str:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be text")
    text = value.strip() if isinstance(value, str) else _number_text(float(value))
    if len(text) > _MAX_TEXT:
        raise ValueError(f"is longer than {_MAX_TEXT} characters")
    return text


def _canonical_for(spec: InstrumentSpec, item: ItemSpec) -> Canonical | None:
    """How a non-blank answer to ``item`` becomes canonical (``ValueError`` says what is wrong); None: no answer."""
    t = item.type
    if t in CHOICE_TYPES:
        return _choice_canonical(item, tuple(_choice_names(spec, item)))
    if t == "integer":
        return _integer
    if t == "decimal":
        return _decimal
    if t == "date":
        return _date
    if t == "time":
        return _time
    if t == "datetime":
        return _datetime
    if t == "geopoint":
        return _geopoint
    if t in GEO_TYPES:
        return _geo_shape
    if t == "range":
        return _range
    if t == "text" or t in METADATA_TYPES or t in EXTRA_QUESTION_TYPES:
        return _text  # file names, barcodes, rankings, choices from files...: as sent
    return None  # note, calculate: a value sent is ignored


# One item as check_answers visits it.
@dataclass(frozen=True, slots=True)
class _ItemRule:
    item: ItemSpec
    code: str
    calculate: bool
    relevant: expressions.Evaluator | None
    constraint: expressions.Evaluator | None  # None also when the constraint is blank: it holds
    calculation: expressions.Evaluator | None
    required: bool  # a relevant unanswered answer is refused
    # cascading selects: the filter, and each choice's row of the choices sheet (name and columns)
    choice_filter: expressions.Evaluator | None = None
    choice_rows: Mapping[str, Mapping[str, str]] | None = None


# One section: its relevant and its items, in form order.
@dataclass(frozen=True, slots=True)
class _SectionRule:
    relevant: expressions.Evaluator | None
    items: tuple[_ItemRule, ...]
    # (code, relevant, constraint, rule) of every item, unpacked in the hot loop; ``special``: only the items
    # with something to check or compute (relevant, constraint, calculation, required)
    steps: tuple[tuple[str, expressions.Evaluator | None, expressions.Evaluator | None, _ItemRule], ...]
    special: tuple[tuple[str, expressions.Evaluator | None, expressions.Evaluator | None, _ItemRule], ...]
    likert: tuple[str, ...]  # codes of its Likert items (straight-lining)
    name: str  # how a flag names it


# How the answers to one item code become canonical. The converters are pure, so what a text
# gave is remembered (``memo``) for the types whose canonical value is immutable.
@dataclass(frozen=True, slots=True)
class _Converter:
    convert: Canonical | None  # None: a value sent is ignored (note, calculate)
    memo: dict[str, Any] | None  # answer text (not blank, valid) -> canonical value (never None)


_MEMO_TYPES = CHOICE_TYPES - {"multiple_choice"} | {"integer", "decimal", "date"}
_MEMO_SIZE = 4096
_MEMO_TEXT = 64


# Everything the checks need from one spec.
@dataclass(frozen=True, slots=True)
class _Plan:
    spec: InstrumentSpec  # held so that id(spec) is not reused while the plan is cached
    canonical: dict[str, _Converter]  # by item code: the last item of a code wins, as it always did
    memos: dict[str, dict[str, Any]]  # the converters' memos, by item code
    codes: tuple[str, ...]
    sections: tuple[_SectionRule, ...]
    unique: bool  # no code is used twice (check_spec and the XLSForm reader refuse that, but a spec may hold it)
    answerable: tuple[str, ...]  # questions, in form order (repeats kept)
    dont_know: tuple[tuple[str, frozenset[str]], ...]  # choice questions offering a don't-know, and those choices
    # the sections outside repeats and the repeats, in form order (``sections`` leaves the repeats out)
    steps: tuple[_SectionRule | _RepeatRule, ...] = ()
    repeats: Mapping[str, _RepeatRule] | None = None  # by repeat name: the key of its answers
    nested: frozenset[str] = frozenset()  # repeats inside repeats: not collected yet


# One repeat group (``begin repeat``): asked once per repetition. Its answers are
# ``answers[name] = [{child code: answer, ...}, ...]``, one mapping per repetition.
@dataclass(frozen=True, slots=True)
class _RepeatRule:
    name: str
    title: str  # how messages name it
    count: expressions.Evaluator | None  # repeat_count: how many repetitions there must be
    count_text: str | None
    sections: tuple[_SectionRule, ...]
    canonical: Mapping[str, _Converter]  # by child code
    codes: tuple[str, ...]  # child codes, in form order


def _unknowable(spec: InstrumentSpec) -> frozenset[str]:
    """Calculations Konbit cannot evaluate (a function it lacks), and those computed from them."""
    calculations = {it.code: it.calculation for it in spec.items() if it.type == "calculate" and it.calculation}
    out = {code for code, text in calculations.items() if _parsed(text) is None}
    grown = True
    while grown:
        grown = False
        for code, text in calculations.items():
            tree = _parsed(text)
            if code not in out and tree is not None and tree.references() & out:
                out.add(code)
                grown = True
    return frozenset(out)


def _constraint(text: str | None, unknowable: frozenset[str]) -> expressions.Evaluator | None:
    """A constraint that reads a value Konbit cannot compute is not checked (ODK Collect checks it)."""
    tree = _parsed(text) if text and text.strip() else None
    if tree is None or tree.references() & unknowable:
        return None
    return expressions.Evaluator(tree)


def _choice_rows(spec: InstrumentSpec, item: ItemSpec) -> dict[str, dict[str, str]]:
    """Each choice of ``item``'s list as a ``choice_filter`` reads it: its name and its other columns."""
    return {c.name: {**c.extra, "name": c.name} for c in spec.choice_lists.get(item.choice_list or "", ())}


def _filtered_out(rule: _ItemRule, values: Mapping[str, Any], value: Any, today: _dt.date | None,
                  **context: Any) -> list[str]:
    """The chosen names that ``rule``'s choice_filter does not offer given the answers so far.

    A filter that cannot be evaluated offers every choice, as a relevant that cannot be
    evaluated shows its question.
    """
    rows = rule.choice_rows or {}
    out = []
    for name in value if isinstance(value, list) else [value]:
        row = rows.get(name)
        if row is None:
            continue
        try:
            offered = expressions.truthy(rule.choice_filter(values, current=None, today=today, choice=row, **context))
        except (expressions.ExpressionError, TypeError):
            offered = True
        if not offered:
            out.append(name)
    return out


def _build_plan(spec: InstrumentSpec) -> _Plan:
    canonical = {it.code: _Converter(_canonical_for(spec, it), {} if it.type in _MEMO_TYPES else None)
                 for it in spec.items()}
    unknowable = _unknowable(spec)
    sections = []
    order: list[_SectionRule | str] = []  # sections outside repeats, and repeat names, in form order
    repeat_parts: dict[str, tuple[Any, list[_SectionRule], list[str]]] = {}  # name -> (group, sections, codes)
    nested: set[str] = set()
    for section in spec.sections:
        repeat_groups = [g for g in section.path if g.repeat]
        if len(repeat_groups) > 1:
            nested.add(repeat_groups[1].name)
            continue
        items = tuple(
            _ItemRule(item=it, code=it.code, calculate=it.type == "calculate", relevant=_evaluator(it.relevant),
                      constraint=_constraint(it.constraint, unknowable),
                      calculation=_calculation(it.calculation) if it.type == "calculate" else None,
                      required=it.required and it.type in ANSWERABLE_TYPES,
                      choice_filter=_evaluator(it.choice_filter) if it.choice_filter and it.choice_list else None,
                      choice_rows=_choice_rows(spec, it) if it.choice_filter and it.choice_list else None)
            for it in section.items)
        likert = tuple(it.code for it in section.items if it.type in LIKERT_TYPES)
        name = label(section.labels, "en", spec.default_language, section.name or "a section")
        item_steps = tuple((rule.code, rule.relevant, rule.constraint, rule) for rule in items)
        special = tuple(step for step in item_steps
                        if step[1] is not None or step[2] is not None or step[3].calculate or step[3].required
                        or step[3].choice_filter is not None)
        built = _SectionRule(relevant=_evaluator(section_relevant(section)), items=items, steps=item_steps,
                             special=special, likert=likert, name=name)
        if repeat_groups:
            group = repeat_groups[0]
            if group.name not in repeat_parts:
                repeat_parts[group.name] = (group, [], [])
                order.append(group.name)
            repeat_parts[group.name][1].append(built)
            repeat_parts[group.name][2].extend(rule.code for rule in items)
            continue
        sections.append(built)
        order.append(built)
    repeats: dict[str, _RepeatRule] = {}
    for repeat_name, (group, parts, child_codes) in repeat_parts.items():
        count_text = (group.extra.get("repeat_count") or "").strip() or None
        repeats[repeat_name] = _RepeatRule(
            name=repeat_name, title=label(group.labels, "en", spec.default_language, repeat_name),
            count=_evaluator(count_text), count_text=count_text, sections=tuple(parts),
            canonical={code: canonical[code] for code in child_codes}, codes=tuple(child_codes))
    steps = tuple(repeats[step] if isinstance(step, str) else step for step in order)
    in_repeats = {code for rule in repeats.values() for code in rule.codes}
    in_nested = {it.code for section in spec.sections if section.in_repeat for it in section.items} - in_repeats
    main_canonical = {code: conv for code, conv in canonical.items() if code not in in_repeats and code not in in_nested}
    dont_know = []
    for it in spec.items():
        if it.type in CHOICE_TYPES:
            names = frozenset(n for n in _choice_names(spec, it) if n.lower() in DONT_KNOW_NAMES)
            if names:
                dont_know.append((it.code, names))
    return _Plan(spec=spec, canonical=main_canonical,
                 memos={c: v.memo for c, v in main_canonical.items() if v.memo is not None},
                 codes=tuple(main_canonical), sections=tuple(sections),
                 unique=len(canonical) == sum(len(section.items) for section in spec.sections),
                 answerable=tuple(it.code for it in spec.items() if it.type in ANSWERABLE_TYPES),
                 dont_know=tuple(dont_know), steps=steps, repeats=repeats, nested=frozenset(nested))


_PLANS: dict[int, _Plan] = {}
_PLANS_KEPT = 64


def _plan(spec: InstrumentSpec) -> _Plan:
    """The spec's plan, built on first use. Specs are frozen and treated as read-only."""
    plan = _PLANS.get(id(spec))
    if plan is None or plan.spec is not spec:
        plan = _build_plan(spec)
        if len(_PLANS) >= _PLANS_KEPT:
            _PLANS.clear()
        _PLANS[id(spec)] = plan
    return plan


def section_relevant(section: SectionSpec) -> str | None:
    """The section's relevant with those of the groups around it (nested groups): all must hold."""
    parts = section.relevants
    if len(parts) <= 1:
        return parts[0] if parts else None
    return " and ".join(f"({p})" for p in parts)


def _message(messages: Mapping[str, str], lang: str | None, default_lang: str) -> str:
    return label(messages, lang, default_lang)


def check_answers(
    spec: InstrumentSpec,
    answers: Mapping[str, Any],
    *,
    language: str | None = None,
    today: _dt.date | None = None,
    lenient_constraints: bool = False,
    interview: str | None = None,
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
    interview : str, optional
        The interview's UUID: calculations are then seeded with
        ``expressions.seed_for(interview, code)``, as the phone seeds them, so a ``random()``
        calculation gives the phone's draw.

    Raises
    ------
    AnswersInvalid
        With one :class:`AnswerProblem` per unknown code, wrong value, missing required
        answer or broken constraint.
    """
    if not isinstance(answers, Mapping):
        raise AnswersInvalid([AnswerProblem("", "answers must be an object of item code -> answer")])
    plan = _plan(spec)
    problems: list[AnswerProblem] = []
    canonical = plan.canonical
    memos = plan.memos.get
    given: dict[str, Any] = {}
    repeat_given: dict[str, Any] = {}
    for code, value in answers.items():
        if value.__class__ is str:  # the usual case: a text seen before
            memo = memos(code)
            if memo is not None:
                result = memo.get(value)
                if result is not None:
                    given[code] = result
                    continue
        found = canonical.get(code) if isinstance(code, str) else None
        if found is None:
            if plan.repeats and code in plan.repeats:
                repeat_given[code] = value
            elif code in plan.nested:
                problems.append(AnswerProblem(code, "is a repeat inside a repeat: Konbit cannot collect those yet"))
            elif (holder := _repeat_of(plan, code)) is not None:
                problems.append(AnswerProblem(code, f"is a question of the repeat {holder!r}: send it in "
                                                    f"{holder!r}, a list with one object per repetition"))
            else:
                problems.append(AnswerProblem(str(code), "is not an item of this instrument"))
            continue
        convert, memo = found.convert, found.memo
        if convert is None or value is None or _blank(value):
            continue
        try:
            result = convert(value)
        except ValueError as err:
            problems.append(AnswerProblem(code, str(err)))
            continue
        given[code] = result
        if memo is not None and value.__class__ is str and len(value) <= _MEMO_TEXT:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[value] = result

    values: dict[str, Any] = dict.fromkeys(plan.codes)
    values.update(given)
    out: dict[str, Any] = {}
    dropped: list[str] = []
    failures: list[AnswerProblem] = []
    lang, default = language, spec.default_language
    given_get = given.get
    # When every code is used once, an item with nothing to check or compute needs no visit: its
    # value stays as given, and the answers kept are the values left at the end (see below).
    quick = plan.unique
    # the repeat context of every expression: the repetitions checked so far (see _check_repeat)
    repeat_values: dict[str, list[dict[str, Any]]] = {name: [] for name in plan.repeats or ()}
    context: dict[str, Any] = {"repeats": repeat_values} if repeat_values else {}
    repeat_out: dict[str, list[dict[str, Any]]] = {}
    for section in plan.steps:
        if section.__class__ is _RepeatRule:
            kept = _check_repeat(section, repeat_given.get(section.name), values=values, repeat_values=repeat_values,
                                 problems=problems, failures=failures, dropped=dropped, language=lang,
                                 default_language=default, today=today, lenient=lenient_constraints,
                                 interview=interview)
            if kept:
                repeat_out[section.name] = kept
            continue
        if section.relevant is not None and not _holds(section.relevant, values, None, today, **context):
            for rule in section.items:  # the section is skipped: none of its items is asked
                if rule.code in given:
                    dropped.append(rule.code)
                values[rule.code] = None
            continue
        for code, relevant, constraint, rule in section.special if quick else section.steps:
            if relevant is not None and not _holds(relevant, values, None, today, **context):
                if code in given:
                    dropped.append(code)
                values[code] = None
                continue
            value = given_get(code, given)
            if value is given:  # not answered (or a calculation)
                if rule.calculate:
                    seed = None if interview is None else expressions.seed_for(interview, code)
                    result = _calculate(rule.calculation, values, today, seed, **context)
                    values[code] = result
                    if result is not None:
                        out[code] = result
                elif rule.required and not any(p.code == code for p in problems):
                    own = _message(rule.item.required_message, lang, default)
                    problems.append(AnswerProblem(code, "is required" + (f" ({own})" if own else "")))
                continue
            if constraint is not None and not _holds(constraint, values, value, today, **context):
                item = rule.item
                own = _message(item.constraint_message, lang, default)
                shown = " ".join(value) if isinstance(value, list) else value
                problem = AnswerProblem(
                    code, f"{shown!r} breaks the constraint {item.constraint}" + (f" ({own})" if own else ""))
                if lenient_constraints:
                    failures.append(problem)
                else:
                    problems.append(problem)
                    continue
            if rule.choice_filter is not None:
                hidden = _filtered_out(rule, values, value, today, **context)
                if hidden:
                    item = rule.item
                    problem = AnswerProblem(code, f"{', '.join(repr(n) for n in hidden)} "
                                                  f"{'is' if len(hidden) == 1 else 'are'} not offered given the earlier "
                                                  f"answers (choice_filter {item.choice_filter})")
                    if lenient_constraints:
                        failures.append(problem)
                    else:
                        problems.append(problem)
                        continue
            out[code] = value
    if problems:
        raise AnswersInvalid(problems)
    if quick:
        # The answers kept are, in form order, those of the relevant items (not relevant ones
        # were set to None) and the calculations' results: no canonical value is None.
        out = {code: value for code, value in values.items() if value is not None}
    out.update(repeat_out)
    return CheckedAnswers(answers=out, dropped=tuple(dropped), constraint_failures=tuple(failures))


def _repeat_of(plan: _Plan, code: Any) -> str | None:
    for rule in (plan.repeats or {}).values():
        if code in rule.canonical:
            return rule.name
    return None


def _repetition_count(rule: _RepeatRule, values: Mapping[str, Any], today: _dt.date | None,
                      context: Mapping[str, Any]) -> int | None:
    """How many repetitions ``repeat_count`` asks for; None when it cannot be told."""
    if rule.count is None:
        return None
    try:
        result = rule.count(values, today=today, **context)
    except (expressions.ExpressionError, TypeError):
        return None
    if isinstance(result, str):
        if not result.strip():
            return 0  # unanswered: no repetitions, as ODK Collect shows none
        try:
            result = float(result.strip())
        except ValueError:
            return None
    number = float(result)
    if not math.isfinite(number):
        return None
    return max(0, int(number))


def _check_repeat(rule: _RepeatRule, raw: Any, *, values: Mapping[str, Any],
                  repeat_values: dict[str, list[dict[str, Any]]], problems: list[AnswerProblem],
                  failures: list[AnswerProblem], dropped: list[str], language: str | None, default_language: str,
                  today: _dt.date | None, lenient: bool, interview: str | None) -> list[dict[str, Any]]:
    """Check the repetitions of one repeat; their canonical answers (one dict per repetition).

    Problems are named ``repeat[i]/code`` (``i`` from 1). Each repetition's expressions see the
    answers outside the repeat, every repetition of it (``indexed-repeat()``, ``count()``) and,
    through ``position``, its own answers (``..`` steps and ``position(..)``).
    """
    name = rule.name
    if raw is None or _blank(raw):
        given: list[Any] = []
    elif isinstance(raw, (list, tuple)) and all(isinstance(r, Mapping) for r in raw):
        given = list(raw)
    else:
        problems.append(AnswerProblem(name, f"the repeat {rule.title!r} must be a list with one object "
                                            "(question code -> answer) per repetition"))
        return []
    if len(given) > MAX_REPETITIONS:
        problems.append(AnswerProblem(name, f"the repeat {rule.title!r} has {len(given)} repetitions; "
                                            f"at most {MAX_REPETITIONS} are accepted"))
        return []
    context = {"repeats": repeat_values}
    wanted = _repetition_count(rule, values, today, context)
    if wanted is not None and wanted != len(given):
        problems.append(AnswerProblem(name, f"the repeat {rule.title!r} has {len(given)} repetition"
                                            f"{'' if len(given) == 1 else 's'}; its repeat_count "
                                            f"{rule.count_text} asks for {wanted}"))
    # every repetition, converted (the others' answers are visible to indexed-repeat())
    instances: list[dict[str, Any]] = []
    answered: list[dict[str, Any]] = []
    for index, repetition in enumerate(given, start=1):
        inst: dict[str, Any] = dict.fromkeys(rule.codes)
        own: dict[str, Any] = {}
        for code, value in repetition.items():
            where = f"{name}[{index}]/{code}"
            found = rule.canonical.get(code) if isinstance(code, str) else None
            if found is None:
                problems.append(AnswerProblem(where, f"is not a question of the repeat {rule.title!r}"))
                continue
            if found.convert is None or value is None or _blank(value):
                continue
            try:
                own[code] = inst[code] = found.convert(value)
            except ValueError as err:
                problems.append(AnswerProblem(where, str(err)))
        instances.append(inst)
        answered.append(own)
    repeat_values[name] = instances
    out: list[dict[str, Any]] = []
    for index, (inst, own) in enumerate(zip(instances, answered, strict=True), start=1):
        here = {**context, "position": {name: index}}
        kept: dict[str, Any] = {}
        for section in rule.sections:
            shown = section.relevant is None or _holds(section.relevant, values, None, today, **here)
            for code, relevant, constraint, item_rule in section.steps:
                where = f"{name}[{index}]/{code}"
                if not shown or (relevant is not None and not _holds(relevant, values, None, today, **here)):
                    if code in own:
                        dropped.append(where)
                    inst[code] = None
                    continue
                if item_rule.calculate:
                    seed = None if interview is None else expressions.seed_for(interview, where)
                    result = _calculate(item_rule.calculation, values, today, seed, **here)
                    inst[code] = result
                    if result is not None:
                        kept[code] = result
                    continue
                if code not in own:
                    if item_rule.required and not any(p.code == where for p in problems):
                        message = _message(item_rule.item.required_message, language, default_language)
                        problems.append(AnswerProblem(where, "is required" + (f" ({message})" if message else "")))
                    continue
                value = own[code]
                if constraint is not None and not _holds(constraint, values, value, today, **here):
                    item = item_rule.item
                    message = _message(item.constraint_message, language, default_language)
                    text = " ".join(value) if isinstance(value, list) else value
                    problem = AnswerProblem(where, f"{text!r} breaks the constraint {item.constraint}"
                                                   + (f" ({message})" if message else ""))
                    if not lenient:
                        problems.append(problem)
                        continue
                    failures.append(problem)
                if item_rule.choice_filter is not None:
                    hidden = _filtered_out(item_rule, values, value, today, **here)
                    if hidden:
                        problem = AnswerProblem(where, f"{', '.join(repr(n) for n in hidden)} "
                                                       f"{'is' if len(hidden) == 1 else 'are'} not offered given the "
                                                       f"earlier answers (choice_filter {item_rule.item.choice_filter})")
                        if not lenient:
                            problems.append(problem)
                            continue
                        failures.append(problem)
                kept[code] = value
        out.append(kept)
    return out


# --- quality ------------------------------------------------------------------------------


def flag(code: str, message: str) -> dict[str, str]:
    """One quality flag as stored in ``Submission.flags``."""
    if code not in FLAG_LABELS:
        raise ValueError(f"unknown flag {code!r}")
    return {"code": code, "message": message}


def answered_count(spec: InstrumentSpec, answers: Mapping[str, Any]) -> int:
    """How many questions (not notes, calculations or metadata) have an answer."""
    count = 0
    for value in map(answers.get, _plan(spec).answerable):
        if value is None:
            continue
        cls = value.__class__
        if cls is str:
            if value.strip():
                count += 1
        elif cls is int or cls is float or not _blank(value):
            count += 1
    return count


def dont_know_counts(spec: InstrumentSpec, answers: Mapping[str, Any]) -> tuple[int, int]:
    """(don't-know answers, answered questions that offer a don't-know choice)."""
    dk = offered = 0
    get = answers.get
    for code, names in _plan(spec).dont_know:
        value = get(code)
        if value is None:
            continue
        if value.__class__ is str:  # the usual case, made quick: {value} & names is value in names
            if value.strip():
                offered += 1
                if value in names:
                    dk += 1
            continue
        if _blank(value):
            continue
        offered += 1
        chosen = set(value) if isinstance(value, (list, tuple)) else {value}
        if chosen & names:
            dk += 1
    return dk, offered


def _straight_lined(likert_codes: Sequence[str], answers: Mapping[str, Any], minimum: int) -> tuple[int, str] | None:
    likert = [value for value in map(answers.get, likert_codes)
              if value is not None and (value.strip() if value.__class__ is str else not _blank(value))]
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
    plan = _plan(spec)
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
    for section in plan.sections:
        if not section.likert:
            continue  # no Likert item: never straight-lined
        found = _straight_lined(section.likert, answers, settings.straight_line_min_items)
        if found:
            flags.append(flag("straight_lining", f"All {found[0]} Likert items of {section.name} answered {found[1]!r}."))
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
