"""XLSForm import and export for KAP instruments (pure: bytes in, bytes out).

:func:`read_xlsform` turns an ``.xlsx`` XLSForm (as written for KoboToolbox / ODK) into an
:class:`~surveys.spec.InstrumentSpec`, or raises :class:`XLSFormError` listing every
problem found, each with its sheet, 1-based Excel row and column header. It never lets
another exception out, whatever the bytes.

:func:`write_xlsform` turns a spec back into an XLSForm that pyxform converts and that
:func:`read_xlsform` reads back to an equal spec.

Konbit takes the subset of XLSForm that KAP questionnaires need. Refused, with a message
naming the row: repeats and loops, groups inside groups, question types other than those
in :data:`surveys.spec.ITEM_TYPES`, ``or_other``, ``choice_filter``, choices from files,
conditional ``required`` expressions, and media / read_only / parameters columns. Column
and type aliases follow pyxform 4.5 (the tables below mirror ``pyxform/aliases.py``).

Extra survey columns read by Konbit: ``kap_domain``, ``kap_correct``, ``kap_reverse``,
``kap_desired``, ``kap_channel`` and ``personal`` (pyxform ignores them).

How a ``select_one`` becomes a Konbit type (the writer relies on the same rule):
a list of yes and no choices, with or without one don't-know (by choice name: yes/wi/oui,
no/non, dk/dont_know/pa_konnen/nsp...) is ``yes_no_dk``; else 4 or 5 choices with
appearance ``likert`` or kap_domain ``attitude`` is ``likert4``/``likert5``; else
``single_choice``.

Languages are keyed by the code in parentheses (``label::Kreyol (ht)`` -> ``ht``), else
the lowercased name; a plain ``label`` column is in the settings' ``default_language``,
else ``en``. As in pyxform, a sheet's columns end after 20 empty header cells and its
rows after 60 empty rows. Expressions (relevant, constraint, calculation) are checked
with :mod:`surveys.expressions`, and every ``${name}`` must name a row of the survey.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import warnings
import zipfile
from dataclasses import dataclass
from typing import Any, Iterable

from surveys.spec import (
    CHOICE_TYPES,
    KAP_DOMAINS,
    LIKERT_TYPES,
    METADATA_TYPES,
    ChoiceSpec,
    InstrumentSpec,
    ItemSpec,
    SectionSpec,
)

try:  # Without surveys.expressions, a small built-in check (quotes, brackets, ${}) stands in.
    from surveys.expressions import ExpressionError, parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the checkout
    ExpressionError = None  # type: ignore[assignment,misc]
    parse = None  # type: ignore[assignment]

__all__ = ["XLSFormError", "XLSFormProblem", "read_xlsform", "write_xlsform"]


# One thing wrong with an uploaded form; sheet/row/column are None when they don't apply.
@dataclass(frozen=True, slots=True)
class XLSFormProblem:
    sheet: str | None
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.sheet:
            where.append(f"sheet {self.sheet}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class XLSFormError(ValueError):
    """The form cannot be imported; ``errors`` lists every problem found."""

    def __init__(self, errors: list[XLSFormProblem]):
        self.errors = list(errors)
        head = f"{len(self.errors)} problem(s) in the XLSForm"
        super().__init__(head + ":\n" + "\n".join(f"- {p}" for p in self.errors))


# --- vocabulary (mirrors pyxform/aliases.py and question_type_dictionary.py) -----------

SURVEY, CHOICES, SETTINGS = "survey", "choices", "settings"

_TRANSLATABLE = {"label", "hint", "required_message", "constraint_message"}
_SURVEY_FIELDS = _TRANSLATABLE | {
    "type", "name", "required", "constraint", "relevant", "calculation", "default",
    "appearance", "choice_filter",
    "kap_domain", "kap_correct", "kap_reverse", "kap_desired", "kap_channel", "personal",
}  # fmt: skip
_SURVEY_ALIASES = {
    "caption": "label",
    "relevance": "relevant",
    "constraining_message": "constraint_message",
    "jr:constraintmsg": "constraint_message",
    "calculate": "calculation",
    "command": "type",
    "tag": "name",
    "value": "name",
    "requiredmsg": "required_message",
    "jr:requiredmsg": "required_message",
}
# Columns pyxform knows that Konbit does not model: refused when a row fills them.
_SURVEY_UNSUPPORTED = {
    "read_only", "readonly", "repeat_count", "count", "jr:count", "parameters", "trigger",
    "image", "big-image", "audio", "video", "media", "guidance_hint", "autoplay", "rows",
    "noapperrorstring", "no_app_error_string", "body", "bind", "control", "instance",
    "save_to", "sms_field", "sms_option", "sms_separator", "sms_allow_media",
    "sms_date_format", "sms_datetime_format", "sms_response", "compact_tag",
}  # fmt: skip
_CHOICES_FIELDS = {"list_name", "name", "label"}
_CHOICES_ALIASES = {"caption": "label", "value": "name", "list name": "list_name"}
_CHOICES_UNSUPPORTED = {"image", "big-image", "audio", "video", "media"}
_SETTINGS_ALIASES = {
    "form_title": "form_title", "set_form_title": "form_title", "title": "form_title",
    "form_id": "form_id", "set_form_id": "form_id", "id_string": "form_id",
}  # fmt: skip

_SIMPLE_TYPES = {
    "text": "text", "string": "text", "q string": "text", "add text prompt": "text",
    "integer": "integer", "int": "integer", "q int": "integer",
    "add integer prompt": "integer",
    "decimal": "decimal", "q decimal": "decimal", "add decimal prompt": "decimal",
    "date": "date", "q date": "date", "add date prompt": "date",
    "note": "note", "q note": "note", "add note prompt": "note",
    "calculate": "calculate", "q calculate": "calculate", "add calculate prompt": "calculate",
    "start": "start", "start time": "start", "get start time": "start",
    "end": "end", "end time": "end", "get end time": "end",
    "today": "today", "get today": "today",
    "username": "username", "uri:username": "username",
    "deviceid": "deviceid", "imei": "deviceid", "device id": "deviceid",
    "get device id": "deviceid", "uri:deviceid": "deviceid",
}  # fmt: skip
_SELECT_ONE = (
    "select_one", "select one", "select1", "select one from", "select one using",
    "add select one prompt using",
)  # fmt: skip
_SELECT_MULTIPLE = (
    "select_multiple", "select all that apply", "select all that apply from",
    "select multiple from", "select multiple using", "add select multiple prompt using",
)  # fmt: skip
_SELECT_COMMANDS = sorted(
    [(tuple(c.split()), "single") for c in _SELECT_ONE]
    + [(tuple(c.split()), "multiple") for c in _SELECT_MULTIPLE],
    key=lambda c: -len(c[0]),
)
_OR_OTHER = {("or_other",), ("or", "other"), ("or", "specify", "other")}
_UNSUPPORTED_TYPES = {
    "time", "datetime", "date time", "q date time", "q datetime", "add date time prompt",
    "add datetime prompt", "geopoint", "geotrace", "geoshape", "location", "gps",
    "q location", "q geopoint", "q geoshape", "q geotrace", "add location prompt",
    "barcode", "q barcode", "add barcode prompt", "image", "photo", "q picture", "q image",
    "add image prompt", "add photo prompt", "audio", "q audio", "add audio prompt", "video",
    "q video", "add video prompt", "file", "add file prompt", "acknowledge",
    "q acknowledge", "add acknowledge prompt", "trigger", "range", "rank", "phonenumber",
    "phone number", "get phone number", "uri:phonenumber", "simserial", "sim id",
    "get sim id", "uri:simserial", "subscriberid", "subscriber id", "get subscriber id",
    "uri:subscriberid", "email", "uri:email", "hidden", "audit", "osm", "xml-external",
    "csv-external", "start-geopoint", "background-audio", "background-geopoint",
    "percentage", "number of days in last month", "number of days in last six months",
    "number of days in last year", "select_one_external", "select one external",
    "select_one_from_file", "select_multiple_from_file", "select one from file",
    "select multiple from file", "q select", "q select1",
}  # fmt: skip
_RE_BEGIN = re.compile(r"^begin[ _](group|repeat|lgroup|loop|looped group)(?: (.*))?$")
_RE_END = re.compile(r"^end[ _](group|repeat|lgroup|loop|looped group)$")

_YES_NO = {
    "yes": True, "true": True, "true()": True, "no": False, "false": False, "false()": False,
}  # fmt: skip
_BINDING_CONVERSIONS = {
    v: ("true()" if v.lower() in ("yes", "true") else "false()")
    for v in ("yes", "Yes", "YES", "true", "True", "TRUE",
              "no", "No", "NO", "false", "False", "FALSE")  # fmt: skip
}
_YES_NAMES = {"yes", "y", "wi", "oui", "si", "sí"}
_NO_NAMES = {"no", "n", "non"}
_DK_NAMES = {
    "dk", "dont_know", "don_t_know", "do_not_know", "dontknow", "idk", "pa_konnen",
    "pakonnen", "pa_konn", "nsp", "ne_sait_pas", "ne_sais_pas", "no_sabe", "ns",
}  # fmt: skip

_RE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_RE_LANG = re.compile(r"^(?P<name>.*?)\s*\((?P<code>[^()]+)\)\s*$")
_RE_REF = re.compile(r"\$\{([^}]*)\}")
_SMART_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})

#: Display names for language codes when a spec has none of its own.
LANGUAGE_NAMES = {"ht": "Kreyol", "fr": "French", "en": "English", "es": "Español"}

_MAX_ROWS = 20_000  # per sheet; a KAP questionnaire has a few hundred
_MAX_COLUMNS = 500
_MAX_UNZIPPED = 200 * 1024 * 1024  # bytes; refuses zip bombs before openpyxl inflates them


# --- reading the workbook ----------------------------------------------------------------


def _cell_str(value: Any) -> str | None:
    """A cell value as pyxform sees it: stripped text, or None when empty."""
    if value is None:
        return None
    if value is True:
        return "TRUE"
    if value is False:
        return "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, _dt.datetime):
        if value.time() == _dt.time(0, 0):
            return value.date().isoformat()
        return str(value)
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    text = str(value).replace("\xa0", " ").strip()
    return text or None


def _snake(text: str) -> str:
    return "_".join(text.split()).lower()


@dataclass(slots=True)
class _Sheet:
    title: str  # as spelled in the workbook
    rows: list[tuple[int, tuple[Any, ...]]]  # (excel row, raw values); first is the header


_MAX_EMPTY_COLUMNS = 20  # pyxform's rules for where a sheet's data ends
_MAX_EMPTY_ROWS = 60


def _sheet_rows(ws: Any, problems: list[XLSFormProblem]) -> list[tuple[int, tuple[Any, ...]]]:
    """Non-empty rows as (excel row, values), the header first if row 1 has one.

    Like pyxform, columns end after a run of empty header cells and rows after a run of
    empty rows: sheets saved by LibreOffice often claim a million formatted rows.
    """
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()  # trust the cells, not the claimed A1:AMJ1048576
    header = next(iter(ws.iter_rows(min_row=1, max_row=1, values_only=True)), ())
    width = empty = 0
    for i, value in enumerate(header):
        if _cell_str(value) is None:
            empty += 1
            if empty > _MAX_EMPTY_COLUMNS:
                break
        else:
            width, empty = i + 1, 0
    if not width:
        return []
    if width > _MAX_COLUMNS:
        problems.append(
            XLSFormProblem(ws.title, 1, None, f"More than {_MAX_COLUMNS} columns: not a form.")
        )
        width = _MAX_COLUMNS
    rows: list[tuple[int, tuple[Any, ...]]] = [(1, tuple(header[:width]))]
    empty = 0
    for n, values in enumerate(ws.iter_rows(min_row=2, max_col=width, values_only=True), start=2):
        if not any(_cell_str(v) is not None for v in values):
            empty += 1
            if empty > _MAX_EMPTY_ROWS:
                break
            continue
        empty = 0
        if len(rows) > _MAX_ROWS:
            problems.append(
                XLSFormProblem(ws.title, n, None, f"More than {_MAX_ROWS} rows: not a form.")
            )
            break
        rows.append((n, tuple(values)))
    return rows


def _load_sheets(data: Any, problems: list[XLSFormProblem]) -> dict[str, _Sheet] | None:
    def fail(message: str) -> None:
        problems.append(XLSFormProblem(None, None, None, message))

    if not isinstance(data, bytes | bytearray | memoryview):
        fail("Expected the bytes of an .xlsx file.")
        return None
    data = bytes(data)
    if not data:
        fail("The file is empty.")
        return None
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        fail("This is an old .xls (Excel 97-2003) workbook; save it as .xlsx and try again.")
        return None
    if not zipfile.is_zipfile(io.BytesIO(data)):
        fail("This is not an .xlsx workbook (XLSForms must be uploaded as .xlsx).")
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except Exception:  # noqa: BLE001
        unzipped = 0
    if unzipped > _MAX_UNZIPPED:
        fail("The workbook is too large to be a questionnaire.")
        return None
    try:
        import openpyxl

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a workbook we can read"
        fail(f"The .xlsx file could not be read ({type(exc).__name__}: {exc}).")
        return None
    sheets: dict[str, _Sheet] = {}
    try:
        names = list(wb.sheetnames)
        for title in names:
            key = title.strip().lower()
            if key not in (SURVEY, CHOICES, SETTINGS):
                if len(names) == 1:
                    key = SURVEY  # pyxform reads a lone sheet as the survey
                else:
                    continue
            if key in sheets:
                problems.append(
                    XLSFormProblem(title, None, None, f"There are two '{key}' sheets.")
                )
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rows = _sheet_rows(wb[title], problems)
            sheets[key] = _Sheet(title, rows)
    except Exception as exc:  # noqa: BLE001
        fail(f"The .xlsx file could not be read ({type(exc).__name__}: {exc}).")
        return None
    finally:
        try:
            wb.close()
        except Exception:  # noqa: BLE001  # pragma: no cover
            pass
    return sheets


# --- headers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Column:
    index: int
    header: str  # as written (whitespace collapsed)
    field: str | None  # None: a column Konbit ignores
    lang: str | None = None  # language code for translatable columns
    unsupported: bool = False


def _lang_code(token: str) -> str:
    m = _RE_LANG.match(token)
    return (m.group("code") if m else token).strip().lower()


def _parse_headers(
    sheet: _Sheet,
    *,
    kind: str,
    default_lang: str,
    language_names: dict[str, str],
    problems: list[XLSFormProblem],
) -> list[_Column]:
    if kind == SURVEY:
        fields, aliases, unsupported = _SURVEY_FIELDS, _SURVEY_ALIASES, _SURVEY_UNSUPPORTED
        translatable = _TRANSLATABLE
    else:
        fields, aliases, unsupported = _CHOICES_FIELDS, _CHOICES_ALIASES, _CHOICES_UNSUPPORTED
        translatable = {"label"}
    header_row = sheet.rows[0][1] if sheet.rows and sheet.rows[0][0] == 1 else ()
    raw = [(i, _cell_str(v)) for i, v in enumerate(header_row)]
    raw = [(i, " ".join(h.split())) for i, h in raw if h is not None]
    double = any("::" in h for _, h in raw)
    columns: list[_Column] = []
    seen_raw: dict[str, int] = {}
    seen_key: dict[tuple[str, str | None], str] = {}

    def problem(header: str, message: str) -> None:
        problems.append(XLSFormProblem(sheet.title, 1, header, message))

    for index, header in raw:
        if header in seen_raw:
            problem(header, f"Duplicate column header: {header}")
            continue
        seen_raw[header] = index
        whole = _snake(header)
        whole = aliases.get(whole, aliases.get(header.lower(), whole))
        if whole in fields:
            tokens = [whole]
        else:
            if double or "::" in header:
                tokens = [t.strip() for t in header.split("::")]
            else:
                tokens = [t.strip() for t in header.split(":")]
                if "jr" in tokens:  # "jr:constraintMsg" written with single colons
                    j = tokens.index("jr")
                    tokens[j : j + 2] = [":".join(tokens[j : j + 2])]
            first = _snake(tokens[0])
            tokens[0] = aliases.get(first, first)
        field = tokens[0]
        if field in unsupported:
            columns.append(_Column(index, header, field, unsupported=True))
            continue
        if field not in fields:
            columns.append(_Column(index, header, None))  # notes, filters...: ignored
            continue
        lang = None
        if len(tokens) > 2:
            problem(header, f"Column '{header}' is not understood (too many '::' parts).")
            continue
        if len(tokens) == 2:
            if field not in translatable:
                problem(header, f"Column '{field}' cannot have a language ('{header}').")
                continue
            if not tokens[1]:
                problem(header, f"Column '{header}' names no language.")
                continue
            lang = _lang_code(tokens[1])
            language_names.setdefault(lang, tokens[1])
        elif field in translatable:
            lang = default_lang
        key = (field, lang)
        if key in seen_key:
            what = f"the '{lang}' {field}" if lang else f"'{field}'"
            problem(
                header,
                f"Duplicate column header: '{header}' and '{seen_key[key]}' both hold {what}.",
            )
            continue
        seen_key[key] = header
        columns.append(_Column(index, header, field, lang))
    return columns


@dataclass(slots=True)
class _Row:
    sheet: str
    number: int
    values: dict[tuple[str, str | None], str]  # (field, lang) -> text
    headers: dict[tuple[str, str | None], str]
    unsupported: list[str]  # headers of filled columns Konbit refuses

    def get(self, field: str) -> str | None:
        return self.values.get((field, None))

    def langs(self, field: str) -> dict[str, str]:
        return {l: v for (f, l), v in self.values.items() if f == field and l is not None}

    def header(self, field: str) -> str:
        for (f, _), h in self.headers.items():
            if f == field:
                return h
        return field


def _rows(sheet: _Sheet, columns: list[_Column]) -> Iterable[_Row]:
    headers = {(c.field, c.lang): c.header for c in columns if c.field and not c.unsupported}
    for number, raw in sheet.rows:
        if number == 1:
            continue
        values: dict[tuple[str, str | None], str] = {}
        unsupported: list[str] = []
        for c in columns:
            if c.field is None or c.index >= len(raw):
                continue
            text = _cell_str(raw[c.index])
            if text is None:
                continue
            if c.unsupported:
                unsupported.append(c.header)
            else:
                values[(c.field, c.lang)] = text
        if values or unsupported:
            yield _Row(sheet.title, number, values, headers, unsupported)


# --- expressions ------------------------------------------------------------------------


def _fallback_references(text: str) -> frozenset[str]:
    """Stand-in for surveys.expressions: balanced quotes/brackets and ${name} syntax."""
    depth, quote = 0, None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                raise _LocalExpressionError(f"unexpected '{ch}'", i)
    if quote:
        raise _LocalExpressionError("unterminated string", text.index(quote))
    if depth:
        raise _LocalExpressionError("unclosed parenthesis", len(text))
    outside = re.sub(r"'[^']*'|\"[^\"]*\"", lambda m: " " * len(m.group()), text)
    refs = set()
    for m in re.finditer(r"\$\{([^}]*)(\})?", outside):
        if not m.group(2):
            raise _LocalExpressionError("'${' without a closing '}'", m.start())
        refs.add(m.group(1).strip())
    return frozenset(refs)


class _LocalExpressionError(ValueError):
    def __init__(self, message: str, position: int | None = None):
        super().__init__(message if position is None else f"{message} at position {position}")


def _expression_refs(text: str) -> frozenset[str]:
    """Names an expression references; raises ``ValueError`` saying what is wrong."""
    if parse is None:
        return _fallback_references(text)
    return frozenset(parse(text).references())  # ExpressionError is a ValueError


# --- survey rows -------------------------------------------------------------------------


def _select(words: list[str]) -> tuple[str, list[str]] | None:
    lowered = [w.lower() for w in words]
    for command, kind in _SELECT_COMMANDS:
        if tuple(lowered[: len(command)]) == command:
            return kind, words[len(command) :]
    return None


def _is_yes_no_dk(names: list[str]) -> bool:
    """A list of yes and no, with or without one don't-know, recognised by choice names."""
    low = [n.lower() for n in names]
    yes = sum(n in _YES_NAMES for n in low)
    no = sum(n in _NO_NAMES for n in low)
    dk = sum(n in _DK_NAMES for n in low)
    return yes == 1 and no == 1 and dk <= 1 and yes + no + dk == len(low)


def _select_one_type(names: list[str], appearance: str | None, kap_domain: str | None) -> str:
    """Konbit's type for a select_one over a list with these choice names."""
    if _is_yes_no_dk(names):
        return "yes_no_dk"
    likert = "likert" in (appearance or "").split() or kap_domain == "attitude"
    if likert and len(names) in (4, 5):
        return f"likert{len(names)}"
    return "single_choice"


@dataclass(slots=True)
class _Pending:
    """An item read from a row, checked against the rest of the form once all is read."""

    row: _Row
    fields: dict[str, Any]
    refs: list[tuple[_Row, str, frozenset[str]]]  # (row, column header, referenced names)


def _yes_no(row: _Row, field: str, problems: list[XLSFormProblem]) -> bool:
    text = row.get(field)
    if text is None:
        return False
    value = _YES_NO.get(text.strip().lower())
    if value is None:
        problems.append(
            XLSFormProblem(row.sheet, row.number, row.header(field), f"'{text}' is not yes or no.")
        )
        return False
    return value


class _Reader:
    def __init__(self) -> None:
        self.problems: list[XLSFormProblem] = []
        self.language_names: dict[str, str] = {}
        self.survey_languages: list[str] = []  # in column order
        self.choice_languages: list[str] = []
        self.names: dict[str, int] = {}  # every name claimed in the survey -> its row

    def problem(self, sheet: str | None, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(XLSFormProblem(sheet, row, column, message))

    def at(self, row: _Row, column: str, message: str) -> None:
        self.problems.append(XLSFormProblem(row.sheet, row.number, column, message))

    # settings ----------------------------------------------------------------------
    def settings(self, sheet: _Sheet | None) -> dict[str, str]:
        out: dict[str, str] = {}
        if sheet is None or not sheet.rows or sheet.rows[0][0] != 1:
            return out
        header = sheet.rows[0][1]
        data = sheet.rows[1][1] if len(sheet.rows) > 1 and sheet.rows[1][0] == 2 else ()
        seen: dict[str, str] = {}
        for i, h in enumerate(header):
            h = _cell_str(h)
            if h is None:
                continue
            h = " ".join(h.split())
            key = _snake(h)
            key = _SETTINGS_ALIASES.get(key, key)
            if key in seen:
                self.problem(sheet.title, 1, h, f"Duplicate column header: {h}")
                continue
            seen[key] = h
            value = _cell_str(data[i]) if i < len(data) else None
            if value is not None:
                out[key] = value
        return out

    # choices -------------------------------------------------------------------------
    def choices(self, sheet: _Sheet | None, default_lang: str) -> dict[str, list[ChoiceSpec]]:
        lists: dict[str, list[ChoiceSpec]] = {}
        if sheet is None:
            return lists
        columns = _parse_headers(
            sheet, kind=CHOICES, default_lang=default_lang,
            language_names=self.language_names, problems=self.problems,
        )  # fmt: skip
        self._note_languages(columns, self.choice_languages)
        present = {c.field for c in columns}
        if sheet.rows and "list_name" not in present:
            self.problem(sheet.title, 1, "list_name", "The choices sheet has no list_name column.")
        if sheet.rows and "name" not in present:
            self.problem(sheet.title, 1, "name", "The choices sheet has no 'name' column.")
        seen: dict[tuple[str, str], int] = {}
        for row in _rows(sheet, columns):
            for header in row.unsupported:
                self.at(
                    row, header,
                    f"Column '{header}' (choice media) is not supported by Konbit; leave it empty.",
                )  # fmt: skip
            list_name, name = row.get("list_name"), row.get("name")
            if not row.values:
                continue
            if list_name is None:
                self.at(row, row.header("list_name"), "Choice has no list_name.")
                continue
            if name is None:
                self.at(row, row.header("name"), f"Choice in list '{list_name}' has no name.")
                continue
            if any(ch.isspace() for ch in name):
                self.at(row, row.header("name"), f"Choice name '{name}' contains a space.")
            if (list_name, name) in seen:
                self.at(
                    row, row.header("name"),
                    f"Duplicate choice '{name}' in list '{list_name}' "
                    f"(first on row {seen[list_name, name]}).",
                )  # fmt: skip
                continue
            seen[list_name, name] = row.number
            labels = row.langs("label")
            if not labels:
                self.at(row, row.header("label"), f"Choice '{name}' in '{list_name}' has no label.")
            lists.setdefault(list_name, []).append(ChoiceSpec(name, labels))
        return lists

    @staticmethod
    def _note_languages(columns: list[_Column], languages: list[str]) -> None:
        for c in columns:
            if c.lang is not None and c.lang not in languages:
                languages.append(c.lang)

    # survey ---------------------------------------------------------------------------
    def survey(
        self, sheet: _Sheet, default_lang: str, lists: dict[str, list[ChoiceSpec]]
    ) -> tuple[list[dict[str, Any]], list[tuple[_Row, str, frozenset[str]]]]:
        columns = _parse_headers(
            sheet, kind=SURVEY, default_lang=default_lang,
            language_names=self.language_names, problems=self.problems,
        )  # fmt: skip
        self._note_languages(columns, self.survey_languages)
        present = {c.field for c in columns}
        for required in ("type", "name"):
            if required not in present:
                message = f"The survey sheet has no '{required}' column."
                self.problem(sheet.title, 1, required, message)
        if "type" not in present:
            return [], []
        type_header = next(c.header for c in columns if c.field == "type")

        # sections as dicts (implicit, name, labels, relevant, appearance, items: _Pending)
        sections: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None  # the section items go to
        stack: list[tuple[str, str, int]] = []  # open groups/repeats: (kind, name, row)
        names = self.names
        group_refs: list[tuple[_Row, str, frozenset[str]]] = []

        def target() -> dict[str, Any]:
            """The section an item on this row belongs to."""
            nonlocal current
            if stack:
                return current  # type: ignore[return-value]  # set by the outermost begin
            if current is None or not current["implicit"]:
                current = {
                    "implicit": True, "name": "", "labels": {}, "relevant": None,
                    "appearance": None, "items": [],
                }  # fmt: skip
                sections.append(current)
            return current

        def claim(row: _Row, name: str | None, what: str) -> bool:
            header = row.header("name")
            if name is None:
                self.at(row, header, f"The {what} has no name.")
                return False
            if not _RE_NAME.match(name):
                self.at(
                    row, header,
                    f"Name '{name}' is not valid: use letters, digits, '_', '-' or '.', "
                    "starting with a letter or '_'.",
                )  # fmt: skip
                return False
            if name in names:
                self.at(
                    row, header,
                    f"Duplicate name '{name}' (first used on row {names[name]}).",
                )  # fmt: skip
                return False
            names[name] = row.number
            return True

        for row in _rows(sheet, columns):
            type_text = row.get("type")
            for header in row.unsupported:
                self.at(
                    row, header,
                    f"Column '{header}' is not supported by Konbit; leave it empty or remove it.",
                )  # fmt: skip
            if type_text is None:
                if row.values:
                    self.at(row, type_header, "This row has no type.")
                continue
            words = type_text.split()
            low = " ".join(words).lower()

            if m := _RE_BEGIN.match(low):
                kind = "group" if m.group(1) == "group" else "repeat"
                name = row.get("name")
                if kind == "repeat":
                    self.at(
                        row, type_header,
                        f"Repeats ('{type_text}') are not supported by Konbit: a KAP "
                        "questionnaire asks each question once.",
                    )  # fmt: skip
                elif stack:
                    if stack[-1][0] == "group":
                        self.at(
                            row, type_header,
                            f"Group '{name}' is inside group '{stack[-1][1]}': Konbit sections "
                            "cannot be nested.",
                        )  # fmt: skip
                self._check_group_row(row)
                claim(row, name, "group")
                relevant = self._expression(row, "relevant", group_refs)
                if not stack:
                    current = {
                        "implicit": False, "name": name or "", "labels": row.langs("label"),
                        "relevant": relevant, "appearance": row.get("appearance"), "items": [],
                    }  # fmt: skip
                    if kind == "group":
                        sections.append(current)  # a top-level repeat's items go nowhere
                stack.append((kind, name or "", row.number))
                continue
            if m := _RE_END.match(low):
                kind = "group" if m.group(1) == "group" else "repeat"
                if not stack:
                    self.at(
                        row, type_header,
                        f"'{type_text}' has no matching 'begin {kind}'.",
                    )  # fmt: skip
                    continue
                open_kind, open_name, open_row = stack.pop()
                if open_kind != kind:
                    self.at(
                        row, type_header,
                        f"'{type_text}' closes 'begin {open_kind}' '{open_name}' "
                        f"of row {open_row}.",
                    )  # fmt: skip
                if not stack:
                    current = None
                continue

            pending = self._item(row, words, low, lists, claim)
            if pending is None:
                continue
            target()["items"].append(pending)

        for kind, name, number in stack:
            self.problem(
                sheet.title, number, type_header,
                f"'begin {kind}' '{name}' is never closed (no 'end {kind}').",
            )  # fmt: skip
        return sections, group_refs

    def _check_group_row(self, row: _Row) -> None:
        for field in ("required", "constraint", "calculation", "default", "kap_domain",
                      "kap_correct", "kap_reverse", "kap_desired", "kap_channel", "personal",
                      "choice_filter"):  # fmt: skip
            if row.get(field) is not None:
                self.at(
                    row, row.header(field),
                    f"Column '{field}' cannot be used on a group.",
                )  # fmt: skip

    def _expression(self, row: _Row, field: str, refs_out: list) -> str | None:
        text = row.get(field)
        if text is None:
            return None
        text = text.translate(_SMART_QUOTES)
        if text in _BINDING_CONVERSIONS:  # pyxform reads a bare yes/TRUE/no as true()/false()
            text = _BINDING_CONVERSIONS[text]
        try:
            refs = _expression_refs(text)
        except ValueError as exc:
            self.at(row, row.header(field), f"Invalid expression '{text}': {exc}.")
            return text
        refs_out.append((row, row.header(field), refs))
        return text

    def _item(self, row: _Row, words: list[str], low: str, lists, claim) -> _Pending | None:
        type_header = row.header("type")
        choice_list = None
        select = _select(words)
        if select is not None:
            kind, rest = select
            if not rest:
                self.at(row, type_header, f"'{row.get('type')}' names no choice list.")
                return None
            choice_list = rest[0]
            extra = tuple(w.lower() for w in rest[1:])
            if extra in _OR_OTHER:
                self.at(
                    row, type_header,
                    "'or_other' is not supported by Konbit: add an 'other' choice to the list "
                    "and a text question shown when it is selected.",
                )  # fmt: skip
            elif extra:
                self.at(
                    row, type_header,
                    f"Unexpected text after the choice list name: '{' '.join(rest[1:])}'.",
                )  # fmt: skip
            item_type = "multiple_choice" if kind == "multiple" else "single_choice"
            if choice_list not in lists:
                self.at(
                    row, type_header,
                    f"Choice list '{choice_list}' is not defined in the choices sheet.",
                )  # fmt: skip
        elif low in _SIMPLE_TYPES:
            item_type = _SIMPLE_TYPES[low]
        elif low in _UNSUPPORTED_TYPES or words[0].lower() in _UNSUPPORTED_TYPES:
            self.at(
                row, type_header,
                f"Question type '{row.get('type')}' is not supported by Konbit.",
            )  # fmt: skip
            claim(row, row.get("name"), "question")
            return None
        else:
            self.at(row, type_header, f"Unknown question type '{row.get('type')}'.")
            claim(row, row.get("name"), "question")
            return None

        name = row.get("name")
        if not claim(row, name, "question"):
            name = None
        refs: list = []
        fields: dict[str, Any] = {
            "code": name,
            "type": item_type,
            "labels": row.langs("label"),
            "hints": row.langs("hint"),
            "choice_list": choice_list,
            "required_message": row.langs("required_message"),
            "constraint_message": row.langs("constraint_message"),
            "default": row.get("default"),
            "appearance": row.get("appearance"),
            "kap_channel": row.get("kap_channel"),
        }
        # required: yes/no only
        required = row.get("required")
        fields["required"] = False
        if required is not None:
            value = _YES_NO.get(required.strip().lower())
            if value is None:
                self.at(
                    row, row.header("required"),
                    f"required must be yes or no; conditional required ('{required}') is not "
                    "supported by Konbit.",
                )  # fmt: skip
            else:
                fields["required"] = value
        fields["kap_reverse"] = _yes_no(row, "kap_reverse", self.problems)
        fields["personal"] = _yes_no(row, "personal", self.problems)
        for field in ("relevant", "constraint", "calculation"):
            fields[field] = self._expression(row, field, refs)
        if row.get("choice_filter") is not None:
            self.at(
                row, row.header("choice_filter"),
                "choice_filter (cascading selects) is not supported by Konbit.",
            )  # fmt: skip
        if item_type == "calculate" and fields["calculation"] is None:
            self.at(row, row.header("calculation"), f"Calculate '{name}' has no calculation.")
        if item_type not in METADATA_TYPES and item_type != "calculate" and not fields["labels"]:
            what = f"Question '{name}'" if name else "This question"
            self.at(row, row.header("label"), f"{what} has no label.")
        # ${name} in texts
        for field in ("label", "hint", "constraint_message", "required_message"):
            for lang, text in row.langs(field).items():
                found = frozenset(m.strip() for m in _RE_REF.findall(text))
                if found:
                    refs.append((row, row.headers.get((field, lang), field), found))
        for column in ("default", "appearance"):  # pyxform checks ${name} in every column
            text = row.get(column)
            if text and "${" in text:
                refs.append((row, row.header(column), frozenset(m.strip() for m in _RE_REF.findall(text))))

        domain = row.get("kap_domain")
        if domain is not None:
            if domain.strip().lower() in KAP_DOMAINS:
                domain = domain.strip().lower()
                if item_type in METADATA_TYPES or item_type == "note":
                    self.at(
                        row, row.header("kap_domain"),
                        f"A {item_type} item cannot have a kap_domain.",
                    )  # fmt: skip
            else:
                self.at(
                    row, row.header("kap_domain"),
                    f"kap_domain '{domain}' is not one of {', '.join(sorted(KAP_DOMAINS))}.",
                )  # fmt: skip
                domain = None
        fields["kap_domain"] = domain
        if fields["kap_channel"] is not None and domain != "exposure":
            self.at(
                row, row.header("kap_channel"),
                "kap_channel is only for exposure items (kap_domain exposure).",
            )  # fmt: skip
        for field in ("kap_correct", "kap_desired"):
            text = row.get(field)
            fields[field] = tuple(text.split()) if text else ()
            if text and choice_list is None:
                self.at(
                    row, row.header(field),
                    f"{field} needs a select question (it names choices).",
                )  # fmt: skip
        return _Pending(row, fields, refs)

    # whole form ------------------------------------------------------------------------
    def read(self, data: Any, title: str | None) -> InstrumentSpec | None:
        sheets = _load_sheets(data, self.problems)
        if sheets is None:
            return None
        if SURVEY not in sheets:
            found = ", ".join(repr(s) for s in sheets) or "none"
            self.problem(
                SURVEY, None, None,
                f"The workbook has no 'survey' sheet (XLSForm sheets found: {found}).",
            )  # fmt: skip
            return None
        settings = self.settings(sheets.get(SETTINGS))
        default_setting = settings.pop("default_language", None)
        plain_lang = _lang_code(default_setting) if default_setting else "en"
        if default_setting and _RE_LANG.match(default_setting):
            self.language_names.setdefault(plain_lang, default_setting)
        raw_lists = self.choices(sheets.get(CHOICES), plain_lang)
        sections, group_refs = self.survey(sheets[SURVEY], plain_lang, raw_lists)

        # cross-checks that need the whole form
        all_refs = list(group_refs)
        for s in sections:
            for p in s["items"]:
                all_refs.extend(p.refs)
        for row, header, refs in all_refs:
            for ref in sorted(refs):
                if ref not in self.names:
                    self.at(row, header, f"${{{ref}}} refers to no question in the form.")
        lists = {name: tuple(choices) for name, choices in raw_lists.items()}
        for s in sections:
            for p in s["items"]:
                self._finish_item(p, lists)

        if not any(s["items"] for s in sections) and not self.problems:
            self.problem(SURVEY, None, None, "The survey sheet has no questions.")
        if self.problems:
            return None

        form_title = settings.pop("form_title", None)
        form_id = settings.pop("form_id", None)
        version = settings.pop("version", None)
        form_title = title or form_title or form_id or "Untitled survey"
        if form_id is None:
            form_id = re.sub(r"[^A-Za-z0-9_]+", "_", form_title).strip("_").lower() or "survey"
        languages = tuple(dict.fromkeys([*self.survey_languages, *self.choice_languages]))
        if default_setting or plain_lang in languages or not languages:
            default_language = plain_lang
        else:  # only "label::X" columns and no setting: the first language is the default
            default_language = languages[0]
        for code in (*languages, default_language):
            self.language_names.setdefault(code, f"{LANGUAGE_NAMES.get(code, code)} ({code})")
        used = set(languages) | {default_language}
        return InstrumentSpec(
            title=form_title,
            form_id=form_id,
            version=version,
            default_language=default_language,
            languages=languages,
            sections=tuple(
                SectionSpec(
                    name=s["name"], labels=s["labels"], relevant=s["relevant"],
                    items=tuple(ItemSpec(**p.fields) for p in s["items"]),
                    appearance=s["appearance"],
                )
                for s in sections
            ),  # fmt: skip
            choice_lists=lists,
            settings=settings,
            language_names={k: v for k, v in self.language_names.items() if k in used},
        )

    def _finish_item(self, p: _Pending, lists: dict[str, tuple[ChoiceSpec, ...]]) -> None:
        f, row = p.fields, p.row
        choices = lists.get(f["choice_list"]) if f["choice_list"] else None
        if f["type"] == "single_choice" and choices is not None:
            names = [c.name for c in choices]
            f["type"] = _select_one_type(names, f["appearance"], f["kap_domain"])
        if choices is not None:
            known = {c.name for c in choices}
            for field in ("kap_correct", "kap_desired"):
                for name in f[field]:
                    if name not in known:
                        self.at(
                            row, row.header(field),
                            f"'{name}' is not a choice of list '{f['choice_list']}'.",
                        )  # fmt: skip
        if f["kap_reverse"] and f["type"] not in LIKERT_TYPES:
            self.at(
                row, row.header("kap_reverse"),
                "kap_reverse is only for Likert items (4 or 5 choices, appearance likert or "
                "kap_domain attitude).",
            )  # fmt: skip


def read_xlsform(data: bytes, *, title: str | None = None) -> InstrumentSpec:
    """Read an ``.xlsx`` XLSForm into a spec.

    ``title``, when given, replaces the form's own ``form_title``. Raises
    :class:`XLSFormError` listing every problem; no other exception escapes.
    """
    reader = _Reader()
    try:
        spec = reader.read(data, title)
    except Exception as exc:  # noqa: BLE001 - a bug here must still read as a refusal
        message = f"The form could not be read ({type(exc).__name__}: {exc})."
        reader.problem(None, None, None, message)
        spec = None
    if spec is None:
        if not reader.problems:  # pragma: no cover - defensive
            reader.problem(None, None, None, "The form could not be read.")
        raise XLSFormError(_ordered(reader.problems))
    return spec


_SHEET_ORDER = {SURVEY: 1, CHOICES: 2, SETTINGS: 3}
_MAX_PROBLEMS = 500


def _ordered(problems: list[XLSFormProblem]) -> list[XLSFormProblem]:
    """Problems by sheet then row (stable otherwise); a garbage sheet gets a bounded list."""
    ranked = sorted(
        enumerate(problems),
        key=lambda ip: (
            0 if ip[1].sheet is None else _SHEET_ORDER.get(ip[1].sheet.strip().lower(), 4),
            ip[1].row or 0,
            ip[0],
        ),
    )
    out = [p for _, p in ranked]
    if len(out) > _MAX_PROBLEMS:
        more = len(out) - _MAX_PROBLEMS
        out = out[:_MAX_PROBLEMS]
        out.append(XLSFormProblem(None, None, None, f"... and {more} more problems."))
    return out


# --- writing -----------------------------------------------------------------------------


def _language_token(spec: InstrumentSpec, code: str) -> str:
    name = spec.language_names.get(code)
    if name and _lang_code(name) == code and "::" not in name:
        return name
    return f"{LANGUAGE_NAMES.get(code, code)} ({code})"


_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _written_appearance(spec: InstrumentSpec, it: ItemSpec) -> str | None:
    """The appearance to write so that ``it`` reads back with its type; ValueError if none."""
    if it.type not in CHOICE_TYPES:
        return it.appearance
    if it.choice_list not in spec.choice_lists:
        raise ValueError(f"{it.code}: choice list {it.choice_list!r} is missing")
    if it.type == "multiple_choice":
        return it.appearance
    names = [c.name for c in spec.choice_lists[it.choice_list]]
    appearance = it.appearance
    if it.type in LIKERT_TYPES and _select_one_type(names, appearance, it.kap_domain) != it.type:
        appearance = " ".join([*(appearance or "").split(), "likert"])
    derived = _select_one_type(names, appearance, it.kap_domain)
    if derived != it.type:
        raise ValueError(
            f"{it.code}: a {it.type} over list {it.choice_list!r} would read back as {derived}"
        )
    return appearance


def _languages(spec: InstrumentSpec) -> list[str]:
    """spec.languages, then any other code a label uses."""
    found = dict.fromkeys(spec.languages)
    texts: list[dict[str, str]] = [s.labels for s in spec.sections]
    for it in spec.items():
        texts += [it.labels, it.hints, it.required_message, it.constraint_message]
    texts += [c.labels for choices in spec.choice_lists.values() for c in choices]
    for d in texts:
        found.update(dict.fromkeys(d))
    return list(found)


_TEXT_COLUMNS = (("label", "labels"), ("hint", "hints"), ("required_message", "required_message"),
                 ("constraint_message", "constraint_message"))  # fmt: skip


def write_xlsform(spec: InstrumentSpec) -> bytes:
    """Write ``spec`` as an ``.xlsx`` XLSForm (survey, choices and settings sheets).

    Likert items get the ``likert`` appearance when neither it nor kap_domain ``attitude``
    already marks them, so that the file reads back with the same type. Raises
    ``ValueError`` for a spec whose item types its choice lists cannot express.
    """
    import openpyxl

    errors, appearances = [], {}
    for it in spec.items():
        try:
            appearances[it.code] = _written_appearance(spec, it)
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        raise ValueError("Spec cannot be written as an XLSForm: " + "; ".join(errors))
    languages = _languages(spec)
    tokens = {code: _language_token(spec, code) for code in languages}

    def texts(field: str, values: dict[str, str]) -> dict[str, str]:
        return {f"{field}::{tokens[code]}": text for code, text in values.items()}

    rows: list[dict[str, str | None]] = []
    for section in spec.sections:
        if not section.implicit:
            rows.append({
                "type": "begin group", "name": section.name, **texts("label", section.labels),
                "relevant": section.relevant, "appearance": section.appearance,
            })  # fmt: skip
        for it in section.items:
            row: dict[str, str | None] = {
                "type": _xls_type(it),
                "name": it.code,
                "required": "yes" if it.required else None,
                "constraint": it.constraint,
                "relevant": it.relevant,
                "calculation": it.calculation,
                "default": it.default,
                "appearance": appearances[it.code],
                "kap_domain": it.kap_domain,
                "kap_correct": " ".join(it.kap_correct) or None,
                "kap_reverse": "yes" if it.kap_reverse else None,
                "kap_desired": " ".join(it.kap_desired) or None,
                "kap_channel": it.kap_channel,
                "personal": "yes" if it.personal else None,
            }
            for field, attr in _TEXT_COLUMNS:
                row.update(texts(field, getattr(it, attr)))
            rows.append(row)
        if not section.implicit:
            rows.append({"type": "end group"})

    def translated(field: str) -> list[str]:
        headers = [f"{field}::{tokens[code]}" for code in languages]
        return headers if field == "label" or any(r.get(h) for r in rows for h in headers) else []

    def plain(*fields: str) -> list[str]:
        return [f for f in fields if any(r.get(f) for r in rows)]

    headers = [
        "type", "name", *translated("label"), *translated("hint"), *plain("required"),
        *translated("required_message"), *plain("constraint"), *translated("constraint_message"),
        *plain("relevant", "calculation", "default", "appearance", "kap_domain", "kap_correct",
               "kap_reverse", "kap_desired", "kap_channel", "personal"),
    ]  # fmt: skip

    wb = openpyxl.Workbook()
    survey = wb.active
    survey.title = SURVEY
    _put_rows(survey, [headers, *([r.get(h) for h in headers] for r in rows)])

    choice_rows: list[list[str | None]] = [
        ["list_name", "name", *(f"label::{tokens[c]}" for c in languages)]
    ]
    for list_name, options in spec.choice_lists.items():
        for option in options:
            choice_rows.append([list_name, option.name, *(option.labels.get(c) for c in languages)])
    _put_rows(wb.create_sheet(CHOICES), choice_rows)

    settings = {"form_title": spec.title, "form_id": spec.form_id, "version": spec.version,
                "default_language": _language_token(spec, spec.default_language)}  # fmt: skip
    settings.update((k, v) for k, v in spec.settings.items() if k not in settings)
    settings = {k: v for k, v in settings.items() if v is not None}
    _put_rows(wb.create_sheet(SETTINGS), [list(settings), list(settings.values())])

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _put_rows(ws: Any, rows: list[list[str | None]]) -> None:
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values, start=1):
            if not value:
                continue
            cell = ws.cell(row=r, column=c, value=_ILLEGAL.sub("", value))
            if value.startswith("="):
                cell.data_type = "s"  # text, not a formula


def _xls_type(it: ItemSpec) -> str:
    if it.type == "multiple_choice":
        return f"select_multiple {it.choice_list}"
    if it.type in CHOICE_TYPES:
        return f"select_one {it.choice_list}"
    return it.type
