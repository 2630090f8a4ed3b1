"""Exporting survey responses: CSV, XLSX, SPSS ``.sav`` and Stata ``.dta``.

Two halves, kept apart:

* :func:`export_columns` decides the columns from the instrument specs and the options,
  and :func:`write_csv`, :func:`write_xlsx`, :func:`write_sav`, :func:`write_dta` write
  rows of :class:`ExportRow` to a file. Pure: no database.
* :func:`iter_export_rows` reads a survey's submissions from the database, streaming.

Columns come first for the design (submission id, wave, status, instrument version,
enumerator, times, language, segment, region, cluster, stratum, weight, respondent code,
arm, sex, age group), then the items in form order. When a survey has several instrument
versions, the newest spec sets the order and the labels, and items only older versions
had follow at the end. Notes are left out, and so are the ``start`` / ``end`` metadata
items (they are ``started_at`` / ``ended_at``). Items marked ``personal`` are left out
unless ``include_personal`` is set; the route that sets it needs the
``surveys.export_personal`` permission.

Choices in SPSS and Stata are numbered: when every choice name of a list is a whole number
(``1``, ``2``, ``99``) that number is the code; otherwise choices are numbered 1, 2, 3 … in
list order. The value labels carry the choice labels in the chosen language, and the
``variables`` sheet of the XLSX export lists every column with its label and its codes.
A select_multiple item split into one column per choice gives 1 (chosen), 0 (answered,
not chosen) or empty (not answered); SPSS and Stata names become ``q_choice``.

Repeat groups get a table of their own, as KoboToolbox exports them (:func:`repeat_tables`):
one row per repetition, linked to its interview by ``submission_uuid`` and numbered by
``repetition`` (from 1). The XLSX export has one sheet per repeat; the CSV export gives each
repeat's table as a CSV of its own (``write_csv`` with :func:`repeat_export_rows`). SPSS and
Stata files hold the interviews only: repeats are in the XLSX.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import IO, Any, Literal

from sqlalchemy import select
from sqlmodel import Session, col

from surveys.models import InstrumentVersion, Submission, SubmissionStatus, Survey, Wave
from surveys.spec import CHOICE_TYPES, InstrumentSpec, ItemSpec, spec_from_dict
from web.accounts.models import User
from web.exports_safe import safe_cell, safe_row

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "ExportColumn",
    "ExportOptions",
    "ExportRow",
    "RepeatTable",
    "export_columns",
    "export_filename",
    "iter_export_rows",
    "load_specs",
    "repeat_export_rows",
    "repeat_tables",
    "write_csv",
    "write_dta",
    "write_export",
    "write_sav",
    "write_xlsx",
]

Format = Literal["csv", "xlsx", "sav", "dta"]
FORMATS: tuple[str, ...] = ("csv", "xlsx", "sav", "dta")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sav": "application/x-spss-sav",
    "dta": "application/x-stata-dta",
}
Scope = Literal["all", "non_rejected", "approved"]

_STATA_RESERVED = frozenset({
    "_all", "_b", "byte", "_coef", "_cons", "double", "float", "if", "in", "int", "long", "_n", "_pi",
    "_pred", "_rc", "_skip", "strl", "using", "with",
})
_SPSS_RESERVED = frozenset({"all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to", "with"})
_STATA_STR = re.compile(r"^str\d+$")


# What the caller wants in the file.
@dataclass(frozen=True, slots=True)
class ExportOptions:
    format: Format = "csv"
    labels: bool = False  # CSV/XLSX: choice labels instead of choice names
    split_multiple: bool = False  # one 0/1 column per choice of a select_multiple
    language: str | None = None  # of labels; the form's default when None
    include_personal: bool = False
    wave_ids: tuple[int, ...] = ()  # all waves when empty
    scope: Scope | None = None  # which statuses; the survey's analysis scope when None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown export format {self.format!r}: use one of {', '.join(FORMATS)}")
        if self.scope not in (None, "all", "non_rejected", "approved"):
            raise ValueError(f"unknown scope {self.scope!r}: use all, non_rejected or approved")


# One column of the export. ``codes`` maps choice names to the numbers SPSS/Stata get.
@dataclass(frozen=True, slots=True)
class ExportColumn:
    name: str  # CSV/XLSX header
    var: str  # SPSS/Stata variable name
    label: str  # variable label
    kind: str  # text, number, datetime, date, choice, multiple, flag
    key: str  # design field or item code
    choice: str | None = None  # for a split select_multiple column
    codes: dict[str, int] = field(default_factory=dict)
    choice_labels: dict[str, str] = field(default_factory=dict)
    is_item: bool = False
    part: int | None = None  # a geopoint's latitude (0), longitude, altitude or accuracy (3)

    @property
    def value_labels(self) -> dict[int, str]:
        if self.kind == "flag":
            return {0: "No", 1: "Yes"}
        return {code: self.choice_labels.get(name, name) for name, code in self.codes.items()}


# One submission as the writers need it: design values and answers (strings).
@dataclass(frozen=True, slots=True)
class ExportRow:
    design: dict[str, Any]
    answers: dict[str, Any]


_DESIGN: tuple[tuple[str, str, str], ...] = (
    ("uuid", "text", "Submission id"),
    ("wave", "text", "Wave"),
    ("status", "text", "Review status"),
    ("instrument_version", "number", "Instrument version"),
    ("enumerator", "text", "Enumerator"),
    ("started_at", "datetime", "Interview start (UTC)"),
    ("ended_at", "datetime", "Interview end (UTC)"),
    ("received_at", "datetime", "Received (UTC)"),
    ("language", "text", "Interview language"),
    ("segment", "text", "Audience segment"),
    ("region", "text", "Region"),
    ("cluster", "text", "Cluster"),
    ("stratum", "text", "Stratum"),
    ("weight", "number", "Sampling weight"),
    ("respondent_code", "text", "Panel respondent code"),
    ("arm", "text", "Arm (intervention or comparison)"),
    ("sex", "text", "Sex"),
    ("age_group", "text", "Age group"),
)


# --- columns --------------------------------------------------------------------------------


def _label(labels: dict[str, str], language: str, default: str, fallback: str) -> str:
    return labels.get(language) or labels.get(default) or next(iter(labels.values()), "") or fallback


def _codes(names: Sequence[str]) -> dict[str, int]:
    try:
        numbers = [int(n) for n in names]
    except ValueError:
        numbers = []
    if numbers and len(set(numbers)) == len(numbers) and all(str(n) == name.strip() for n, name in zip(numbers, names)):
        return dict(zip(names, numbers))
    return {name: i for i, name in enumerate(names, start=1)}


def _var_name(name: str, taken: set[str], limit: int) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not base or not base[0].isalpha():
        base = "v" + base
    if base.lower() in _STATA_RESERVED or base.lower() in _SPSS_RESERVED or _STATA_STR.match(base.lower()):
        base = "v_" + base
    base = base[:limit]
    candidate, n = base, 1
    while candidate.lower() in taken:
        n += 1
        suffix = f"_{n}"
        candidate = base[: limit - len(suffix)] + suffix
    taken.add(candidate.lower())
    return candidate


def export_columns(specs: Sequence[InstrumentSpec], options: ExportOptions) -> list[ExportColumn]:
    """The export's columns for a survey whose instrument versions are ``specs`` (newest first)."""
    if not specs:
        raise ValueError("a survey with no instrument has nothing to export")
    newest = specs[0]
    language = options.language or newest.default_language
    taken: set[str] = set()
    limit = 31  # Stata allows 32, but its value-label names (one per labelled variable) 31; SPSS allows 64

    columns = [ExportColumn(name=key, var=_var_name(key, taken, limit), label=label, kind=kind, key=key) for key, kind, label in _DESIGN]
    seen: set[str] = set()
    for spec in specs:
        seen.update(it.code for section in spec.sections if section.in_repeat for it in section.items)
    for spec in specs:
        for item in spec.items():
            if item.code in seen or item.type in ("note", "start", "end"):
                continue
            seen.add(item.code)
            if item.personal and not options.include_personal:
                continue
            columns.extend(_item_columns(spec, item, options, language, taken, limit))
    return columns


# The table of one repeat group: its name (the key of its answers), a label, and its columns
# (``submission_uuid`` and ``repetition`` first).
@dataclass(frozen=True, slots=True)
class RepeatTable:
    name: str
    label: str
    columns: tuple[ExportColumn, ...]


def repeat_tables(specs: Sequence[InstrumentSpec], options: ExportOptions) -> list[RepeatTable]:
    """One table per repeat group of the survey (newest spec's order first), repeats in repeats left out."""
    if not specs:
        return []
    language = options.language or specs[0].default_language
    found: dict[str, tuple[str, list[ExportColumn], set[str], set[str]]] = {}  # name -> label, columns, codes, vars
    for spec in specs:
        for section in spec.sections:
            groups = [g for g in section.path if g.repeat]
            if len(groups) != 1:
                continue
            group = groups[0]
            if group.name not in found:
                taken: set[str] = set()
                design = [ExportColumn(name="submission_uuid", var=_var_name("submission_uuid", taken, 31),
                                       label="Submission id", kind="text", key="uuid"),
                          ExportColumn(name="repetition", var=_var_name("repetition", taken, 31),
                                       label="Repetition (from 1)", kind="number", key="repetition")]
                found[group.name] = (_label(group.labels, language, spec.default_language, group.name), design, set(), taken)
            _, columns, codes, taken = found[group.name]
            for item in section.items:
                if item.code in codes or item.type in ("note", "start", "end"):
                    continue
                codes.add(item.code)
                if item.personal and not options.include_personal:
                    continue
                columns.extend(_item_columns(spec, item, options, language, taken, 31))
    return [RepeatTable(name=name, label=label, columns=tuple(columns)) for name, (label, columns, _, _) in found.items()]


def repeat_export_rows(rows: Iterable[ExportRow], table: RepeatTable) -> Iterator[ExportRow]:
    """The rows of ``table``: one per repetition of each interview, in order."""
    for row in rows:
        repetitions = row.answers.get(table.name)
        if not isinstance(repetitions, list):
            continue
        for index, repetition in enumerate(repetitions, start=1):
            if isinstance(repetition, dict):
                yield ExportRow(design={"uuid": row.design.get("uuid"), "repetition": index}, answers=repetition)


def _item_columns(spec: InstrumentSpec, item: ItemSpec, options: ExportOptions, language: str,
                  taken: set[str], limit: int) -> list[ExportColumn]:
    label = _label(item.labels, language, spec.default_language, item.code)
    if item.type == "geopoint":  # the answer as recorded, then its four numbers
        whole = ExportColumn(name=item.code, var=_var_name(item.code, taken, limit), label=label, kind="text",
                             key=item.code, is_item=True)
        return [whole, *(
            ExportColumn(name=f"{item.code}_{part}", var=_var_name(f"{item.code}_{part}", taken, limit),
                         label=f"{label}: {part}", kind="number", key=item.code, is_item=True, part=i)
            for i, part in enumerate(_GEO_PARTS))]  # fmt: skip
    if item.type not in CHOICE_TYPES:
        kind = {"integer": "number", "decimal": "number", "date": "date", "today": "date"}.get(item.type, "text")
        return [ExportColumn(name=item.code, var=_var_name(item.code, taken, limit), label=label, kind=kind, key=item.code, is_item=True)]
    choices = spec.choice_lists.get(item.choice_list or "", ())
    names = [c.name for c in choices]
    choice_labels = {c.name: _label(c.labels, language, spec.default_language, c.name) for c in choices}
    if item.type == "multiple_choice" and options.split_multiple:
        return [
            ExportColumn(
                name=f"{item.code}/{name}", var=_var_name(f"{item.code}_{name}", taken, limit),
                label=f"{label}: {choice_labels[name]}", kind="flag", key=item.code, choice=name, is_item=True,
            )
            for name in names
        ]
    kind = "multiple" if item.type == "multiple_choice" else "choice"
    return [ExportColumn(name=item.code, var=_var_name(item.code, taken, limit), label=label, kind=kind, key=item.code,
                         codes=_codes(names), choice_labels=choice_labels, is_item=True)]


# --- values ---------------------------------------------------------------------------------

_GEO_PARTS = ("latitude", "longitude", "altitude", "accuracy")


def _geo_part(answer: Any, part: int) -> str:
    parts = str(answer).split() if answer is not None else []
    return parts[part] if part < len(parts) else ""


def _text_value(column: ExportColumn, row: ExportRow, labels: bool) -> str:
    """The cell for CSV/XLSX, as text."""
    if not column.is_item:
        value = row.design.get(column.key)
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(value, float):
            return repr(value) if not value.is_integer() else str(int(value))
        return str(value)
    answer = row.answers.get(column.key)
    if column.part is not None:
        answer = _geo_part(answer, column.part)
    if answer is None or answer == "" or answer == []:
        return ""
    if column.kind == "flag":
        return "1" if column.choice in _chosen(answer) else "0"
    if column.kind == "choice" and labels:
        return column.choice_labels.get(str(answer), str(answer))
    if column.kind == "multiple":
        chosen = _chosen(answer)
        return "; ".join(column.choice_labels.get(c, c) for c in chosen) if labels else " ".join(chosen)
    return str(answer)


def _chosen(answer: Any) -> list[str]:
    if isinstance(answer, list | tuple):
        return [str(a) for a in answer]
    return str(answer).split()


def _typed_value(column: ExportColumn, row: ExportRow) -> Any:
    """The cell for SPSS/Stata and for typed XLSX cells: numbers, dates, or text."""
    if not column.is_item:
        value = row.design.get(column.key)
        if column.kind == "datetime":
            return value.astimezone(timezone.utc).replace(tzinfo=None) if isinstance(value, datetime) else None
        if column.kind == "number":
            return float(value) if value is not None else math.nan
        return "" if value is None else str(value)
    answer = row.answers.get(column.key)
    if column.part is not None:
        answer = _geo_part(answer, column.part)
    empty = answer is None or answer == "" or answer == []
    if column.kind == "flag":
        return math.nan if empty else float(column.choice in _chosen(answer))
    if column.kind == "choice":
        return math.nan if empty else float(column.codes.get(str(answer), math.nan))
    if column.kind == "number":
        if empty:
            return math.nan
        try:
            return float(str(answer).replace(",", "."))
        except ValueError:
            return math.nan
    if column.kind == "date":
        if empty:
            return None
        try:
            return date.fromisoformat(str(answer)[:10])
        except ValueError:
            return None
    if column.kind == "multiple":
        return "" if empty else " ".join(_chosen(answer))
    return "" if empty else str(answer)


# --- writers --------------------------------------------------------------------------------


def write_csv(rows: Iterable[ExportRow], columns: Sequence[ExportColumn], *, labels: bool = False,
              chunk_rows: int = 500) -> Iterator[bytes]:
    """Yield the CSV (UTF-8 with a BOM, so that Excel reads accents right) in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(safe_row(c.name for c in columns))
    first = True
    pending = 0
    for row in rows:
        writer.writerow([safe_cell(_text_value(c, row, labels)) for c in columns])
        pending += 1
        if pending >= chunk_rows:
            yield _drain(buffer, first)
            first, pending = False, 0
    yield _drain(buffer, first)


def _drain(buffer: io.StringIO, first: bool) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return (b"\xef\xbb\xbf" + data) if first else data


def _xlsx_cells(columns: Sequence[ExportColumn], row: ExportRow, labels: bool) -> list[Any]:
    cells: list[Any] = []
    for c in columns:
        if c.kind in ("number", "flag", "datetime", "date"):
            value = _typed_value(c, row)
            cells.append(None if isinstance(value, float) and math.isnan(value) else value)
        else:
            text = _text_value(c, row, labels)
            cells.append(safe_cell(text) if text != "" else None)
    return cells


def _sheet_title(name: str, taken: set[str]) -> str:
    """An Excel sheet name (31 characters, none of []:*?/\\) not yet used."""
    base = re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "repeat"
    title, n = base, 1
    while title.lower() in taken:
        n += 1
        title = f"{base[: 31 - len(str(n)) - 1]}_{n}"
    taken.add(title.lower())
    return title


def write_xlsx(rows: Iterable[ExportRow], columns: Sequence[ExportColumn], out: IO[bytes], *, labels: bool = False,
               repeats: Sequence[RepeatTable] = ()) -> None:
    """An XLSX written row by row (openpyxl's write-only mode): ``responses``, one sheet per repeat
    (its rows linked to ``responses`` by ``submission_uuid``) and ``variables``."""
    from openpyxl import Workbook  # noqa: PLC0415

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("responses")
    sheet.append(safe_row(c.name for c in columns))
    titles = {"responses", "variables"}
    repeat_sheets = []
    for table in repeats:
        repeat_sheet = workbook.create_sheet(_sheet_title(table.name, titles))
        repeat_sheet.append(safe_row(c.name for c in table.columns))
        repeat_sheets.append((table, repeat_sheet))
    for row in rows:
        sheet.append(_xlsx_cells(columns, row, labels))
        for table, repeat_sheet in repeat_sheets:
            for child in repeat_export_rows((row,), table):
                repeat_sheet.append(_xlsx_cells(table.columns, child, labels))
    variables = workbook.create_sheet("variables")
    variables.append(["column", "label", "type", "codes"])
    described = [(c, "") for c in columns] + [(c, f"{table.name}/") for table in repeats for c in table.columns[2:]]
    for c, prefix in described:
        codes = "; ".join(f"{code} = {text}" for code, text in c.value_labels.items()) if c.kind in ("choice", "flag", "multiple") else ""
        if c.kind == "multiple":
            codes = "; ".join(f"{name} = {c.choice_labels.get(name, name)}" for name in c.codes)
        variables.append(safe_row([prefix + c.name, c.label, c.kind, codes]))
    workbook.save(out)


def _frame(rows: Iterable[ExportRow], columns: Sequence[ExportColumn], text_limit: int):
    import pandas as pd  # noqa: PLC0415 - pandas is only needed for SPSS and Stata

    data: dict[str, list[Any]] = {c.var: [] for c in columns}
    targets = [(data[c.var], c) for c in columns]
    for row in rows:
        for values, c in targets:
            value = _typed_value(c, row)
            if isinstance(value, str) and len(value.encode("utf-8")) > text_limit:
                value = value.encode("utf-8")[:text_limit].decode("utf-8", "ignore")
            values.append(value)
    frame = {}
    for c in columns:
        values = data[c.var]
        if c.kind == "datetime":
            frame[c.var] = pd.Series(values, dtype="datetime64[us]")
        elif c.kind in ("number", "choice", "flag"):
            frame[c.var] = pd.Series(values, dtype="float64")
        elif c.kind == "date":
            frame[c.var] = pd.Series(values, dtype="object")
        else:
            frame[c.var] = pd.Series(values, dtype="object")
    return pd.DataFrame(frame)


def _truncate(text: str, limit_bytes: int) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit_bytes else data[:limit_bytes].decode("utf-8", "ignore")


def _labelled(columns: Sequence[ExportColumn], label_bytes: int, value_bytes: int) -> tuple[dict, dict]:
    variable_labels = {c.var: _truncate(c.label, label_bytes) for c in columns}
    value_labels = {
        c.var: {code: _truncate(text, value_bytes) for code, text in c.value_labels.items()}
        for c in columns if c.kind in ("choice", "flag") and c.value_labels
    }
    return variable_labels, value_labels


def write_sav(rows: Iterable[ExportRow], columns: Sequence[ExportColumn], path: str | os.PathLike, *, title: str = "") -> None:
    """An SPSS ``.sav`` with variable labels and value labels (through pyreadstat)."""
    import pyreadstat  # noqa: PLC0415

    variable_labels, value_labels = _labelled(columns, 255, 120)
    measure = {c.var: "nominal" if c.kind in ("choice", "flag", "text", "multiple") else "scale" for c in columns}
    pyreadstat.write_sav(_frame(rows, columns, 32767), os.fspath(path), file_label=_truncate(title, 64),
                         column_labels=variable_labels, variable_value_labels=value_labels, variable_measure=measure)


def write_dta(rows: Iterable[ExportRow], columns: Sequence[ExportColumn], path: str | os.PathLike, *, title: str = "") -> None:
    """A Stata ``.dta`` (version 15) with variable labels and value labels (through pyreadstat)."""
    import pyreadstat  # noqa: PLC0415

    variable_labels, value_labels = _labelled(columns, 80, 32000)
    pyreadstat.write_dta(_frame(rows, columns, 2045), os.fspath(path), file_label=_truncate(title, 80),
                         column_labels=variable_labels, variable_value_labels=value_labels, version=15)


def write_export(rows: Iterable[ExportRow], columns: Sequence[ExportColumn], options: ExportOptions, *,
                 title: str = "", repeats: Sequence[RepeatTable] = ()) -> IO[bytes]:
    """The whole file in a temporary file, rewound (for XLSX, SPSS and Stata); ``repeats``: the XLSX's
    repeat sheets (SPSS and Stata hold the interviews only)."""
    out = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - handed to the response
    if options.format == "csv":
        for chunk in write_csv(rows, columns, labels=options.labels):
            out.write(chunk)
    elif options.format == "xlsx":
        write_xlsx(rows, columns, out, labels=options.labels, repeats=repeats)
    else:
        with tempfile.TemporaryDirectory(prefix="konbit-export-") as tmp:
            path = os.path.join(tmp, f"export.{options.format}")
            (write_sav if options.format == "sav" else write_dta)(rows, columns, path, title=title)
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    out.write(chunk)
    out.seek(0)
    return out


def export_filename(survey: Survey, options: ExportOptions, when: datetime | None = None, table: str = "") -> str:
    """The download's file name; ``table``: a repeat's table (``...-person-...csv``)."""
    when = when or datetime.now(timezone.utc)
    slug = re.sub(r"[^a-z0-9]+", "-", survey.title.lower()).strip("-")[:40] or "survey"
    personal = "-personal" if options.include_personal else ""
    part = ("-" + (re.sub(r"[^a-z0-9_]+", "-", table.lower()).strip("-")[:40] or "repeat")) if table else ""
    return f"{slug}-{survey.id}{part}{personal}-{when:%Y%m%d-%H%M}.{options.format}"


# --- the database side ---------------------------------------------------------------------


def load_specs(*, session: Session, survey: Survey) -> list[InstrumentSpec]:
    """The survey's instrument specs, newest version first."""
    versions = session.exec(
        select(InstrumentVersion).where(InstrumentVersion.survey_id == survey.id).order_by(col(InstrumentVersion.version).desc())
    ).scalars().all()
    return [spec_from_dict(v.spec) for v in versions]


def _statuses(scope: Scope) -> tuple[SubmissionStatus, ...]:
    if scope == "approved":
        return (SubmissionStatus.approved,)
    if scope == "non_rejected":
        return (SubmissionStatus.received, SubmissionStatus.has_issues, SubmissionStatus.approved)
    return tuple(SubmissionStatus)


def iter_export_rows(*, session: Session, survey: Survey, options: ExportOptions, batch: int = 1000) -> Iterator[ExportRow]:
    """The survey's submissions in the order they were received, read ``batch`` at a time."""
    scope = options.scope or survey.analysis_scope.value
    fields = (
        Submission.id, Submission.uuid, Submission.status, Submission.enumerator_name, Submission.started_at,
        Submission.ended_at, Submission.received_at, Submission.language, Submission.segment, Submission.region,
        Submission.cluster, Submission.stratum, Submission.weight, Submission.respondent_code, Submission.arm,
        Submission.sex, Submission.age_group, Submission.answers,
    )
    query = (
        select(*fields, Wave.name.label("wave"), InstrumentVersion.version.label("instrument_version"),
               User.username.label("username"))
        .join(Wave, Wave.id == Submission.wave_id)
        .join(InstrumentVersion, InstrumentVersion.id == Submission.instrument_version_id)
        .outerjoin(User, User.id == Submission.enumerator_id)
        .where(Submission.survey_id == survey.id, col(Submission.status).in_(_statuses(scope)))
        .order_by(col(Submission.id))
    )
    if options.wave_ids:
        query = query.where(col(Submission.wave_id).in_(options.wave_ids))
    last_id = 0
    while True:  # keyset pages: steady memory, and no cursor held open while the writer works
        page = session.execute(query.where(col(Submission.id) > last_id).limit(batch)).mappings().all()
        if not page:
            return
        for r in page:
            status = r["status"]
            yield ExportRow(
                design={
                    "uuid": r["uuid"], "wave": r["wave"], "status": getattr(status, "value", status),
                    "instrument_version": r["instrument_version"], "enumerator": r["username"] or r["enumerator_name"],
                    "started_at": r["started_at"], "ended_at": r["ended_at"], "received_at": r["received_at"],
                    "language": r["language"], "segment": r["segment"], "region": r["region"], "cluster": r["cluster"],
                    "stratum": r["stratum"], "weight": r["weight"], "respondent_code": r["respondent_code"],
                    "arm": r["arm"], "sex": r["sex"], "age_group": r["age_group"],
                },
                answers=r["answers"] or {},
            )
        last_id = page[-1]["id"]
