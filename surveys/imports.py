"""Reading survey responses exported by KoboToolbox or ODK Central (pure: bytes in, rows out).

:func:`read_responses` takes a CSV or XLSX export and an :class:`~surveys.spec.InstrumentSpec`
and yields one :class:`ParsedRow` per data row, streaming, so that a 100,000-row file never
sits in memory. Each row carries the submission id, the wave name, the answers (strings, as
in the ODK submission XML), the design fields, and the problems found in it, each naming the
row, the item and the value. Nothing here touches the database; :mod:`surveys.import_jobs`
stores the rows.

Columns are recognised as the two tools write them:

* Answers by XLSForm name, with or without group paths: ``k1``, ``grp_knowledge/k1`` (Kobo),
  ``grp_knowledge-k1`` (ODK Central), ``grp_knowledge.k1``.
* select_multiple as one column of space-separated choice names, or split into one 0/1 column
  per choice (``q/choice`` or ``q.choice``). When both are present the single column wins.
* Choices by name; a choice label in any of the form's languages is accepted when it names
  exactly one choice (Kobo's "labels" exports).
* The submission id from ``_uuid``, ``meta/instanceID``, ``meta-instanceID``, ``instanceID``
  or ``KEY``, in that order of preference, with any ``uuid:`` prefix removed.
* The time the server received it from ``_submission_time`` or ``SubmissionDate``.
* Design columns by these names, with or without a group path: ``wave``, ``segment``,
  ``region``, ``cluster``, ``stratum``, ``weight``, ``respondent_code``, ``arm``, ``sex``,
  ``age_group``, ``enumerator``, ``language``, ``start``, ``end``. The enumerator falls back
  to ``username``, ``_submitted_by`` or ``SubmitterName`` when there is no ``enumerator``.
  A column may feed both an item and a design field (a ``sex`` question, the ``start`` time).

``mapping`` (``{"region": "departement", "uuid": "id"}``) names the file column for a design
field, for ``uuid`` or ``submitted_at``, or for an item code; it replaces the automatic match.

Times without a UTC offset are taken as UTC. Empty cells, and ``n/a``, are unanswered.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import math
import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import IO, Any

from surveys.spec import CHOICE_TYPES, QUESTION_TYPES, InstrumentSpec, ItemSpec
from web.exports_safe import restore_cell

__all__ = [
    "ARMS",
    "DESIGN_FIELDS",
    "MAPPABLE_FIELDS",
    "ColumnPlan",
    "ImportFileError",
    "NUL_IN_CELL",
    "ParsedRow",
    "ResponseReader",
    "RowProblem",
    "parse_mapping",
    "open_table_rows",
    "read_header",
    "read_responses",
    "repeat_paths",
    "row_from_json",
]

#: Design and background columns recognised by name (``--map NAME=COLUMN`` renames them).
DESIGN_FIELDS = (
    "wave", "segment", "region", "cluster", "stratum", "weight", "respondent_code", "arm",
    "sex", "age_group", "enumerator", "language", "start", "end",
)
#: Everything a mapping may name besides item codes.
MAPPABLE_FIELDS = DESIGN_FIELDS + ("uuid", "submitted_at")
ARMS = ("intervention", "comparison")

_ID_COLUMNS = ("_uuid", "meta/instanceID", "meta-instanceID", "instanceID", "KEY")
_SUBMITTED_COLUMNS = ("_submission_time", "SubmissionDate")
_ENUMERATOR_FALLBACKS = ("username", "_submitted_by", "SubmitterName")
# Columns the two tools add that mean nothing to Konbit: not worth a warning.
_TOOL_COLUMNS = frozenset({
    "_id", "_index", "_parent_index", "_parent_table_name", "_submission__id", "_submission__uuid",
    "_submitted_by", "_validation_status", "_notes", "_status", "_tags", "_version_", "__version__",
    "_xform_id_string", "_attachments", "_geolocation", "_media_count", "_total_media",
    "_media_all_received", "formhub/uuid", "meta/instanceName", "meta/deprecatedID", "meta/rootUuid",
    "meta-instanceName", "meta-deprecatedID", "SubmitterID", "SubmitterName", "AttachmentsPresent",
    "AttachmentsExpected", "Status", "ReviewState", "DeviceID", "Edits", "FormVersion", "deviceid",
    "today", "username", "simserial", "subscriberid", "phonenumber", "audit", "_duration",
    "_submission_time", "SubmissionDate", "_uuid", "meta/instanceID", "meta-instanceID", "instanceID", "KEY",
})
# Longest text each design field takes (the Submission columns' sizes).
_TEXT_LIMITS = {
    "wave": 40, "segment": 40, "region": 80, "cluster": 80, "stratum": 80, "respondent_code": 80,
    "sex": 20, "age_group": 20, "enumerator": 64, "language": 35,
}
_SEPARATORS = "/-.:"
_EMPTY = frozenset({"", "n/a", "N/A", "NA"})
_TRUE = frozenset({"1", "1.0", "true", "True", "TRUE", "yes", "Yes"})
_FALSE = frozenset({"0", "0.0", "false", "False", "FALSE", "no", "No"}) | _EMPTY
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INT_RE = re.compile(r"^[+-]?\d+(?:\.0*)?$")
_DECIMAL_RE = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)$")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$")
_MAX_UUID = 64
_UNREMEMBERED_TYPES = frozenset({"text", "start", "end", "username", "deviceid"})
_LOOKUP = dict.__getitem__  # on a _CellMemo: converts a cell not seen yet
_ANSWERED = operator.itemgetter(1)  # (code, value) pairs with a value
_MEMO_SIZE = 4096
_MEMO_TEXT = 64
_SHOWN_VALUE = 60
# The database's text cannot hold U+0000 (PostgreSQL refuses it), so a cell with it is a row problem.
NUL_IN_CELL = "the text holds a NUL character (\\0), which cannot be stored: remove it from the file"


class ImportFileError(ValueError):
    """The file as a whole cannot be read (format, header, mapping); nothing was imported."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


# One thing wrong with one row: ``row`` is the spreadsheet row number (the header is row 1).
@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int
    message: str
    item: str | None = None
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = f"row {self.row}"
        if self.item:
            where += f", {self.item}"
        if self.column and self.column != self.item:
            where += f" (column {self.column})"
        return f"{where}: {self.message}"


# One data row made ready for storage, with what is wrong with it (if anything).
@dataclass(slots=True)
class ParsedRow:
    row: int
    uuid: str
    wave: str
    answers: dict[str, str]
    design: dict[str, Any]
    submitted_at: datetime | None = None
    problems: list[RowProblem] = field(default_factory=list)
    # Row number of an identical earlier row with the same submission id: skip this one.
    duplicate_of: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


# Which file column feeds what; built once from the header.
@dataclass(frozen=True, slots=True)
class ColumnPlan:
    header: tuple[str, ...]
    id_column: str | None
    submitted_column: str | None
    items: dict[str, str]  # item code -> column
    splits: dict[str, dict[str, str]]  # select_multiple code -> {choice: column}
    design: dict[str, str]  # design field -> column
    unused: tuple[str, ...]  # columns nobody recognised (offer them for mapping)
    missing_items: tuple[str, ...]  # questions with no column

    def describe(self) -> list[str]:
        """Human-readable lines for the preview."""
        lines = [f"Submission id from column {self.id_column}." if self.id_column else "No submission id column."]
        split_count = sum(len(c) for c in self.splits.values())
        lines.append(
            f"{len(self.items) + len(self.splits)} items recognised"
            + (f" ({len(self.splits)} select_multiple split into {split_count} columns)" if self.splits else "") + "."
        )
        if self.design:
            lines.append("Design fields: " + ", ".join(f"{k} ← {v}" for k, v in self.design.items()) + ".")
        if self.missing_items:
            lines.append("No column for: " + ", ".join(self.missing_items) + " (left unanswered).")
        if self.unused:
            lines.append("Not used: " + ", ".join(self.unused) + ".")
        return lines


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``["region=departement", ...]`` -> ``{"region": "departement"}``; ``ValueError`` if malformed."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise ValueError(f"{pair!r}: expected NAME=COLUMN")
        if name in mapping and mapping[name] != column:
            raise ValueError(f"{name} is mapped twice ({mapping[name]!r} and {column!r})")
        mapping[name] = column
    return mapping


# --- cells ---------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """An XLSX cell (or a JSON value) as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return " ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ""
    return str(value)


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN_VALUE else value[: _SHOWN_VALUE - 1] + "…"


def _parse_datetime(text: str) -> datetime | None:
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=timezone.utc) if value.utcoffset() is None else value.astimezone(timezone.utc)


def _normalise_uuid(text: str) -> str:
    text = text.strip()
    if text[:5].lower() == "uuid:":
        text = text[5:].strip()
    return text.lower() if _UUID_RE.match(text) else text


# --- item converters: text in, (stored value or None, error message or None) out ------------

Converter = Callable[[str], tuple[str | None, str | None]]


def _choice_lookup(spec: InstrumentSpec, item: ItemSpec) -> tuple[dict[str, str], tuple[str, ...]]:
    choices = spec.choice_lists.get(item.choice_list or "", ())
    names = tuple(c.name for c in choices)
    lookup: dict[str, str] = {}
    ambiguous: set[str] = set()
    for c in choices:  # labels first, so that names win where they clash
        for label in c.labels.values():
            key = label.strip().casefold()
            if key in lookup and lookup[key] != c.name:
                ambiguous.add(key)
            lookup.setdefault(key, c.name)
    for key in ambiguous:
        del lookup[key]
    for name in names:
        lookup[name] = name
        lookup.setdefault(name.casefold(), name)
    return lookup, names


def _choices_hint(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
    return f"({shown})"


def _converter(spec: InstrumentSpec, item: ItemSpec) -> Converter:
    code, kind = item.code, item.type
    if kind in CHOICE_TYPES and kind != "multiple_choice":
        lookup, names = _choice_lookup(spec, item)
        hint = _choices_hint(names)

        def single(text: str) -> tuple[str | None, str | None]:
            found = lookup.get(text)
            if found is not None:
                return found, None
            value = text.strip()
            found = lookup.get(value) or lookup.get(value.casefold())
            if found is None:
                return None, f"{_shown(value)!r} is not a choice of {code} {hint}"
            return found, None

        return single
    if kind == "multiple_choice":
        lookup, names = _choice_lookup(spec, item)
        hint = _choices_hint(names)

        def multiple(text: str) -> tuple[str | None, str | None]:
            chosen: list[str] = []
            for token in text.split():
                found = lookup.get(token) or lookup.get(token.casefold())
                if found is None:
                    return None, f"{_shown(token)!r} is not a choice of {code} {hint}"
                if found not in chosen:
                    chosen.append(found)
            return " ".join(chosen), None

        return multiple
    if kind == "integer":

        def integer(text: str) -> tuple[str | None, str | None]:
            value = text.strip()
            if not _INT_RE.match(value):
                return None, f"{_shown(value)!r} is not a whole number"
            return str(int(float(value))) if "." in value else str(int(value)), None

        return integer
    if kind == "decimal":

        def decimal(text: str) -> tuple[str | None, str | None]:
            value = text.strip()
            if not _DECIMAL_RE.match(value):
                return None, f"{_shown(value)!r} is not a number"
            return value.replace(",", "."), None

        return decimal
    if kind in ("date", "today"):

        def a_date(text: str) -> tuple[str | None, str | None]:
            value = text.strip()
            match = _DATE_RE.match(value)
            if match:
                try:
                    return date(int(match[1]), int(match[2]), int(match[3])).isoformat(), None
                except ValueError:
                    pass
            return None, f"{_shown(value)!r} is not a date (YYYY-MM-DD)"

        return a_date
    if kind in ("start", "end"):

        def a_time(text: str) -> tuple[str | None, str | None]:
            value = _parse_datetime(text)
            if value is None:
                return None, f"{_shown(text.strip())!r} is not a date and time (ISO 8601)"
            return value.isoformat(), None

        return a_time

    def as_text(text: str) -> tuple[str | None, str | None]:
        return text, None

    return as_text


class _CellMemo(dict):
    """Cell text -> what the column's converter makes of it, ``""`` for an unanswered cell.

    A converter is a pure function of the cell, so what a cell gave is remembered (choice
    names, numbers, dates: a few distinct cells in 100,000 rows); for free text and times,
    which are seldom the same twice, only blank cells are. Looking up a cell not seen yet
    converts it (``__missing__``); a cell that cannot be converted gives ``""``, is not
    remembered, and its problem is added to ``errors``.
    """

    __slots__ = ("code", "column", "convert", "errors", "keep")

    def __init__(self, code: str, column: str, convert: Converter, errors: list, keep: bool) -> None:
        super().__init__()
        self.code, self.column, self.convert, self.errors, self.keep = code, column, convert, errors, keep

    def __missing__(self, text: str) -> str:
        if text in _EMPTY or text.isspace():
            value = ""
        else:
            value, error = self.convert(text)
            if error is not None:
                self.errors.append((self.code, self.column, text, error))
                return ""
            if not self.keep:
                return value or ""
            value = value or ""
        if len(text) <= _MEMO_TEXT:
            if len(self) >= _MEMO_SIZE:
                self.clear()
            self[text] = value
        return value


# --- the column plan ------------------------------------------------------------------------


def _suffixes(header: str) -> Iterator[str]:
    """``a/b-c`` -> ``a/b-c``, ``b-c``, ``c``: the header without ever longer group paths."""
    yield header
    for i, ch in enumerate(header):
        if ch in _SEPARATORS and i + 1 < len(header):
            yield header[i + 1 :]


def _last_segment(header: str) -> str:
    for i in range(len(header) - 1, -1, -1):
        if header[i] in _SEPARATORS:
            return header[i + 1 :]
    return header


def _plan(header: list[str], spec: InstrumentSpec, mapping: Mapping[str, str]) -> ColumnPlan:
    problems: list[str] = []
    items = {it.code: it for it in spec.items() if it.type != "note"}
    multi = {code for code, it in items.items() if it.type == "multiple_choice"}
    choice_names = {code: {c.name for c in spec.choice_lists.get(items[code].choice_list or "", ())} for code in multi}
    present = set(header)
    counts: dict[str, int] = {}
    for name in header:
        counts[name] = counts.get(name, 0) + 1
    for name, n in counts.items():
        if n > 1 and name:
            problems.append(f"The column {name!r} appears {n} times.")

    for name, column in mapping.items():
        if name not in MAPPABLE_FIELDS and name not in items:
            problems.append(
                f"--map {name}={column}: {name!r} is neither a design field ({', '.join(MAPPABLE_FIELDS)}) "
                "nor an item of this form."
            )
        elif column not in present:
            problems.append(f"--map {name}={column}: the file has no column {column!r}.")

    def item_of(column: str) -> str | None:
        for suffix in _suffixes(column):
            if suffix in items:
                return suffix
        return None

    def split_of(column: str) -> tuple[str, str] | None:
        for i in range(len(column) - 1, 0, -1):
            if column[i] in "/.":
                code = item_of(column[:i])
                if code in multi and column[i + 1 :] in choice_names[code]:
                    return code, column[i + 1 :]
        return None

    mapped_columns = set(mapping.values())
    item_cols: dict[str, str] = {code: col for code, col in mapping.items() if code in items}
    item_auto: dict[str, list[str]] = {}
    splits: dict[str, dict[str, str]] = {}
    design: dict[str, str] = {f: col for f, col in mapping.items() if f in DESIGN_FIELDS}
    design_auto: dict[str, list[str]] = {}
    used: set[str] = set(mapped_columns)

    for column in header:
        if not column or column in mapped_columns:
            continue
        split = split_of(column)
        if split is not None:
            code, choice = split
            if code not in item_cols:
                splits.setdefault(code, {})[choice] = column
                used.add(column)
            continue  # a 0/1 choice column is never a design field
        code = item_of(column)
        if code is not None and code not in item_cols:
            item_auto.setdefault(code, []).append(column)
            used.add(column)
        last = _last_segment(column).lower()
        if last in DESIGN_FIELDS and last not in design and column not in _TOOL_COLUMNS:
            design_auto.setdefault(last, []).append(column)
            used.add(column)

    for code, columns in item_auto.items():
        if len(columns) > 1:
            exact = [c for c in columns if c == code]
            if len(exact) == 1:
                columns = exact
            else:
                problems.append(
                    f"Columns {', '.join(repr(c) for c in columns)} all look like item {code}; "
                    f"say which with --map {code}=COLUMN."
                )
                continue
        item_cols[code] = columns[0]
    for name, columns in design_auto.items():
        if len(columns) > 1:
            exact = [c for c in columns if c.lower() == name]
            if len(exact) != 1:
                problems.append(
                    f"Columns {', '.join(repr(c) for c in columns)} all look like {name}; "
                    f"say which with --map {name}=COLUMN."
                )
                continue
            columns = exact
        design[name] = columns[0]
    for code in list(splits):
        if code in item_cols:  # the single column holds the same answers
            del splits[code]
    for code in [c for c in item_cols if items[c].type in ("calculate", "start", "end")]:
        # calculate: recomputed on storage from the answers; start/end: they are started_at/ended_at
        if items[code].type in ("start", "end") and items[code].type not in design:
            design[items[code].type] = item_cols[code]
        del item_cols[code]
    if "enumerator" not in design:
        for candidate in _ENUMERATOR_FALLBACKS:
            if candidate in present:
                design["enumerator"] = candidate
                used.add(candidate)
                break

    id_column = mapping.get("uuid") or next((c for c in _ID_COLUMNS if c in present), None)
    if id_column is None:
        problems.append(
            "No submission id column: expected one of " + ", ".join(_ID_COLUMNS)
            + " (or name it with --map uuid=COLUMN). Without it a second import could not be recognised."
        )
    submitted_column = mapping.get("submitted_at") or next((c for c in _SUBMITTED_COLUMNS if c in present), None)
    if not item_cols and not splits:
        problems.append(
            "No column matches an item of this form: is it the right survey, and was the file "
            "exported with XML names (not labels) as headers?"
        )
    if problems:
        raise ImportFileError(problems)
    used |= {c for c in (id_column, submitted_column) if c}
    used |= {c for cols in splits.values() for c in cols.values()}
    used |= set(item_cols.values())
    unused = tuple(c for c in header if c and c not in used and c not in _TOOL_COLUMNS)
    question_codes = [it.code for it in spec.items() if it.type in QUESTION_TYPES and it.type != "note"]
    missing = tuple(c for c in question_codes if c not in item_cols and c not in splits)
    return ColumnPlan(
        header=tuple(header), id_column=id_column, submitted_column=submitted_column, items=item_cols,
        splits=splits, design=design, unused=unused, missing_items=missing,
    )


# --- rows -----------------------------------------------------------------------------------


class _RowBuilder:
    """Turns one row of cells into a ParsedRow, with converters compiled once per column."""

    def __init__(self, spec: InstrumentSpec, plan: ColumnPlan, wave: str | None) -> None:
        index = {name: i for i, name in enumerate(plan.header)}
        items = {it.code: it for it in spec.items()}
        self.plan = plan
        self.wave = wave
        self.id_index = index[plan.id_column] if plan.id_column else None
        self.submitted_index = index[plan.submitted_column] if plan.submitted_column else None
        self.items = [(code, col, index[col]) for code, col in plan.items.items()]
        # Item cells are converted in one pass at C speed: a lookup in each column's memo, the
        # answered ones kept; conversions and their problems happen only for cells not seen yet.
        self.errors: list[tuple[str, str, str, str]] = []
        self.codes = tuple(code for code, _, _ in self.items)
        self.memos = tuple(_CellMemo(code, col, _converter(spec, items[code]), self.errors,
                                     keep=items[code].type not in _UNREMEMBERED_TYPES)
                           for code, col, _ in self.items)
        self.item_cells = _getter([i for _, _, i in self.items])
        self.splits = [
            (code, [(choice, col, index[col]) for choice, col in self._ordered(spec, items[code], cols)])
            for code, cols in plan.splits.items()
        ]
        # (field, column, index, memo of cell -> outcome): times are seldom the same twice
        self.design = [(name, col, index[col], None if name in ("start", "end") else {})
                       for name, col in plan.design.items()]
        self.width = len(plan.header)
        used = sorted({i for _, _, i in self.items} | {i for _, cs in self.splits for *_, i in cs}
                      | {i for _, _, i, _ in self.design})
        self.used = operator.itemgetter(*used) if used else (lambda cells: ())
        # submission id -> (row, fingerprint) of its first row, to catch repeats within the file
        self.seen: dict[str, tuple[int, int]] = {}

    @staticmethod
    def _ordered(spec: InstrumentSpec, item: ItemSpec, cols: dict[str, str]) -> list[tuple[str, str]]:
        order = [c.name for c in spec.choice_lists.get(item.choice_list or "", ())]
        return sorted(cols.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))

    def build(self, row: int, cells: list[str]) -> ParsedRow:
        if len(cells) < self.width:
            cells = cells + [""] * (self.width - len(cells))
        answers: dict[str, str] = dict(filter(_ANSWERED, zip(self.codes, map(_LOOKUP, self.memos, self.item_cells(cells)))))
        problems: list[RowProblem] = []
        if "\x00" in "\x1f".join(cells):  # PostgreSQL's text cannot hold it: the row is refused, by its column
            at = next(i for i, cell in enumerate(cells) if "\x00" in cell)
            column = self.plan.header[at] if at < len(self.plan.header) else None
            problems.append(RowProblem(row, NUL_IN_CELL, column, column, _shown(cells[at].replace("\x00", "\\0"))))
        if self.errors:  # in item order, as the lookups went
            problems.extend(RowProblem(row, error, code, col, _shown(text)) for code, col, text, error in self.errors)
            self.errors.clear()
        for code, choices in self.splits:
            chosen = []
            for choice, col, i in choices:
                text = cells[i].strip()
                if text in _TRUE:
                    chosen.append(choice)
                elif text not in _FALSE:
                    problems.append(RowProblem(row, f"{_shown(text)!r} should be 1 or 0", code, col, _shown(text)))
            if chosen:
                answers[code] = " ".join(chosen)

        design: dict[str, Any] = {}
        wave = self.wave or ""
        for name, col, i, memo in self.design:
            raw = cells[i]
            outcome = memo.get(raw) if memo is not None else None
            if outcome is None:
                outcome = _design_cell(name, raw)
                if memo is not None and len(raw) <= _MEMO_TEXT:
                    if len(memo) >= _MEMO_SIZE:
                        memo.clear()
                    memo[raw] = outcome
            if not outcome:
                continue
            kind = outcome[0]
            if kind == "set":
                design[outcome[1]] = outcome[2]
            elif kind == "wave":
                if not self.wave:
                    wave = outcome[1]
            else:
                problems.append(RowProblem(row, outcome[1], name, col, outcome[2]))
        if not wave:
            problems.append(RowProblem(row, "no wave: choose one for the import or add a wave column", "wave"))
        elif len(wave) > _TEXT_LIMITS["wave"]:
            problems.append(RowProblem(row, f"wave is longer than {_TEXT_LIMITS['wave']} characters", "wave", None, _shown(wave)))

        submitted_at = None
        if self.submitted_index is not None and cells[self.submitted_index].strip():
            submitted_at = _parse_datetime(cells[self.submitted_index])

        uuid = _normalise_uuid(cells[self.id_index]) if self.id_index is not None else ""
        duplicate_of = None
        if not uuid:
            problems.insert(0, RowProblem(row, "no submission id", "uuid", self.plan.id_column))
        elif len(uuid) > _MAX_UUID:
            problems.insert(0, RowProblem(row, f"the submission id is longer than {_MAX_UUID} characters", "uuid",
                                          self.plan.id_column, _shown(uuid)))
        else:
            fingerprint = hash((wave, self.used(cells)))
            first = self.seen.get(uuid)
            if first is None:
                self.seen[uuid] = (row, fingerprint)
            elif first[1] == fingerprint:
                duplicate_of = first[0]
            else:
                problems.insert(0, RowProblem(row, f"the submission id {uuid} is also on row {first[0]}, with different answers",
                                              "uuid", self.plan.id_column, uuid))
        return ParsedRow(row=row, uuid=uuid, wave=wave, answers=answers, design=design,
                         submitted_at=submitted_at, problems=problems, duplicate_of=duplicate_of)


def _design_cell(name: str, raw: str) -> tuple:
    """What a design cell gives: () when empty, ("set", key, value), ("wave", name) or ("problem", message, shown)."""
    text = raw.strip()
    if text in _EMPTY:
        return ()
    if name == "wave":
        return ("wave", text)
    if name == "weight":
        try:
            weight = float(text.replace(",", "."))
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight > 0):
            return ("problem", f"weight {_shown(text)!r} is not a positive number", _shown(text))
        return ("set", "weight", weight)
    if name == "arm":
        arm = text.lower()
        if arm not in ARMS:
            return ("problem", f"arm {_shown(text)!r} is not intervention or comparison", _shown(text))
        return ("set", "arm", arm)
    if name in ("start", "end"):
        moment = _parse_datetime(text)
        if moment is None:
            return ("problem", f"{name} {_shown(text)!r} is not a date and time (ISO 8601)", _shown(text))
        return ("set", "started_at" if name == "start" else "ended_at", moment)
    limit = _TEXT_LIMITS[name]
    if len(text) > limit:
        return ("problem", f"{name} is longer than {limit} characters", _shown(text))
    return ("set", "enumerator_name" if name == "enumerator" else name, text)


def _getter(indices: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    """``operator.itemgetter`` that always returns a tuple."""
    if not indices:
        return lambda cells: ()
    if len(indices) == 1:
        only = indices[0]
        return lambda cells: (cells[only],)
    return operator.itemgetter(*indices)


# --- files ----------------------------------------------------------------------------------

Source = bytes | str | os.PathLike | IO[bytes]


def _binary(source: Source) -> IO[bytes]:
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(source)
    if isinstance(source, str | os.PathLike):
        return open(source, "rb")  # noqa: SIM115 - closed by ResponseReader.close
    return source


def _encoding(stream: IO[bytes]) -> str:
    start = stream.tell()
    head = stream.read(1 << 20)
    stream.seek(start)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"  # Excel's "CSV" on Windows in French or English


def _csv_rows(stream: IO[bytes]) -> Iterator[list[str]]:
    text = io.TextIOWrapper(stream, encoding=_encoding(stream), newline="")
    first = text.readline()
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter)
    try:
        yield from reader
    except UnicodeDecodeError:
        raise ImportFileError([f"Row {reader.line_num + 1} is not valid UTF-8: save the file as \"CSV UTF-8\"."]) from None
    except csv.Error as err:
        raise ImportFileError([f"Row {reader.line_num}: the CSV is malformed ({err})."]) from None
    finally:
        if not stream.closed:
            text.detach()  # leave the caller's stream open


class _XlsxRows:
    """The first sheet's rows as text (Kobo and Central put the main table first, repeats after)."""

    def __init__(self, stream: IO[bytes]) -> None:
        import openpyxl  # noqa: PLC0415 - only XLSX imports need it

        try:
            self.workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
            self.sheet = self.workbook.worksheets[0]
            self.total = self.sheet.max_row or 0
        except Exception as err:  # openpyxl raises many kinds on a damaged file
            raise ImportFileError([f"The XLSX file cannot be read ({type(err).__name__}: {err})."]) from None
        self.done = 0

    def __iter__(self) -> Iterator[list[str]]:
        try:
            for values in self.sheet.iter_rows(values_only=True):
                self.done += 1
                yield [_cell(v) for v in values]
        finally:
            self.workbook.close()

    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


class _CsvRows:
    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        start = stream.tell()
        self.size = stream.seek(0, os.SEEK_END) or 0
        stream.seek(start)

    def __iter__(self) -> Iterator[list[str]]:
        return _csv_rows(self.stream)

    def fraction(self) -> float:
        try:
            return min(1.0, self.stream.tell() / self.size) if self.size else 0.0
        except (OSError, ValueError):  # closed
            return 1.0


def _open_rows(source: Source, filename: str) -> tuple[Any, Callable[[], None]]:
    """(rows with a fraction() method, closer) for a CSV or XLSX source."""
    stream = _binary(source)
    owned = stream is not source
    close = stream.close if owned else (lambda: None)
    try:
        start = stream.read(4)
        stream.seek(0)
        lower = filename.lower()
        if start == b"PK\x03\x04" or lower.endswith((".xlsx", ".xlsm")):
            return _XlsxRows(stream), close
        if start.startswith(b"\xd0\xcf\x11\xe0") or lower.endswith(".xls"):
            raise ImportFileError(["This is an old .xls workbook: export as .xlsx or CSV instead."])
        return _CsvRows(stream), close
    except BaseException:
        close()
        raise


def open_table_rows(source: Source, filename: str = "") -> tuple[Any, Callable[[], None]]:
    """The rows of a CSV (any of , ; tab, UTF-8 or Windows-1252) or XLSX file as lists of text.

    Returns (rows, close): ``rows`` iterates once and has ``fraction()`` (how much is read);
    :class:`ImportFileError` says why a file cannot be read. Other packages' imports use it.
    """
    return _open_rows(source, filename)


class ResponseReader:
    """A file's rows, read once, streaming. ``plan`` is known as soon as the header is read."""

    def __init__(self, rows: Iterable[list[str]], spec: InstrumentSpec, mapping: Mapping[str, str],
                 wave: str | None, closer: Callable[[], None] = lambda: None) -> None:
        self._closer = closer
        self._fraction = getattr(rows, "fraction", None)
        rows = iter(rows)
        self._rows = rows
        header: list[str] | None = None
        self._row = 0
        for cells in rows:
            self._row += 1
            if any(c.strip() for c in cells):
                header = [c.strip().lstrip("\ufeff") for c in cells]
                break
        if header is None:
            self.close()
            raise ImportFileError(["The file is empty: no header row."])
        while header and not header[-1]:
            header.pop()
        try:
            self.plan = _plan(header, spec, mapping)
        except ImportFileError:
            self.close()
            raise
        self._builder = _RowBuilder(spec, self.plan, wave)
        # A table has one value per question: the questions of repeats (a list of repetitions each)
        # are left out of its rows; row_from_json takes them from the lists Kobo sends.
        self._in_repeats = frozenset(it.code for section in spec.sections if section.in_repeat for it in section.items)

    def __iter__(self) -> Iterator[ParsedRow]:
        try:
            for cells in self._rows:
                self._row += 1
                if not any(c.strip() for c in cells):
                    continue
                if any(c[:1] == "'" for c in cells):  # a Konbit export read back: undo safe_cell
                    cells = [restore_cell(c) for c in cells]
                row = self._builder.build(self._row, cells)
                if self._in_repeats and not self._in_repeats.isdisjoint(row.answers):
                    row.answers = {code: value for code, value in row.answers.items() if code not in self._in_repeats}
                yield row
        finally:
            self.close()

    def close(self) -> None:
        self._closer()

    def fraction(self) -> float:
        """How much of the file has been read, from 0 to 1 (for progress bars)."""
        return self._fraction() if self._fraction else 0.0

    def __enter__(self) -> ResponseReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_responses(source: Source, *, spec: InstrumentSpec, filename: str = "", mapping: Mapping[str, str] | None = None,
                   wave: str | None = None) -> ResponseReader:
    """Open a CSV or XLSX export of responses; ``ImportFileError`` if it cannot be used at all.

    ``wave``, when given, is every row's wave whatever the file says. Iterate the result
    for the rows; it is read once.
    """
    rows, close = _open_rows(source, filename)
    return ResponseReader(rows, spec, mapping or {}, wave, closer=close)


def read_header(source: Source, *, filename: str = "") -> list[str]:
    """The column names of a CSV or XLSX file (for a mapping form); ImportFileError if unreadable."""
    rows, close = _open_rows(source, filename)
    try:
        for cells in rows:
            if any(c.strip() for c in cells):
                return [c.strip().lstrip("\ufeff") for c in cells if c.strip()]
        return []
    finally:
        close()


def repeat_paths(spec: InstrumentSpec) -> dict[str, tuple[str, dict[str, str]]]:
    """Each repeat group's path (``group/repeat``) -> (its name, its children's XLSForm names -> item codes).

    Repeats inside repeats are left out (Konbit cannot collect them yet)."""
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for section in spec.sections:
        indexes = [i for i, g in enumerate(section.path) if g.repeat]
        if len(indexes) != 1:
            continue
        path = "/".join(g.name for g in section.path[: indexes[0] + 1])
        _, children = out.setdefault(path, (section.path[indexes[0]].name, {}))
        for it in section.items:
            children[it.xls_name] = it.code
    return out


def _repetitions(value: Any) -> list[Mapping[str, Any]] | None:
    if isinstance(value, list | tuple) and all(isinstance(v, Mapping) for v in value):
        return list(value)
    return None


def row_from_json(payload: Mapping[str, Any], *, spec: InstrumentSpec, wave: str | None = None,
                  mapping: Mapping[str, str] | None = None) -> ParsedRow:
    """One submission as KoboToolbox's REST Service posts it (keys are the CSV headers).

    A repeat group's answers are a list with one object per repetition, under the repeat's path
    or name (``"member": [{"member/name": "Rose"}, ...]``); they become ``answers[repeat]``, one
    dict of item code -> text per repetition (children known by the last step of their key;
    keys the form does not know are left out, as unknown columns are).
    """
    paths = repeat_paths(spec)
    path_of = {name: path for path, (name, _) in paths.items()}
    plain: dict[str, Any] = {}
    repeats: dict[str, list[dict[str, str]]] = {}
    first: dict[str, Any] = {}
    for key, value in payload.items():
        path = str(key) if str(key) in paths else path_of.get(str(key).rsplit("/", 1)[-1])
        repetitions = _repetitions(value) if path else None
        if path is None or repetitions is None:
            plain[str(key)] = value
            continue
        name, children = paths[path]
        repeats[name] = [{children[k.rsplit("/", 1)[-1]]: text for k, v in rep.items()
                          if k.rsplit("/", 1)[-1] in children and (text := _cell(v)).strip()}
                         for rep in repetitions]
        if repetitions:
            # the first repetition goes along as columns, so that a form whose questions are all in
            # repeats still has columns the reader recognises; answers are taken from ``repeats``
            first.update({f"{path}/{k.rsplit('/', 1)[-1]}": v for k, v in repetitions[0].items()})
    header = [*plain.keys(), *(k for k in first if k not in plain)]
    cells = [_cell(plain[k]) if k in plain else _cell(first[k]) for k in header]
    reader = ResponseReader(iter([header, cells]), spec, mapping or {}, wave)
    row = next(iter(reader))
    row.answers.update(repeats)  # type: ignore[arg-type]
    return row
