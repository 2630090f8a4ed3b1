"""XLSForm import and export for KAP instruments (pure: bytes in, bytes out).

:func:`read_xlsform` turns an ``.xlsx`` or ``.xls`` XLSForm (as written for KoboToolbox / ODK)
into an :class:`~surveys.spec.InstrumentSpec`, or raises :class:`XLSFormError` listing every
problem found, with its sheet, row and column where they are known. It never lets another
exception out, whatever the bytes.

The form is read by pyxform itself, the converter KoboToolbox and ODK run: the workbook is
parsed by ``pyxform.xls2json`` and built into an XForm by ``pyxform.builder``; a form pyxform
refuses is refused with pyxform's own message, and Konbit's instrument is made from pyxform's
JSON survey structure, so every form pyxform accepts is parsed as pyxform parses it. The KAP
columns (``kap_domain``, ``kap_correct``, ``kap_reverse``, ``kap_desired``, ``kap_channel``,
``personal``), which pyxform passes through untouched, are read beside it and checked; a
mistake in them refuses the form. See ``docs/xlsform-import.md`` for why this road was chosen.

What Konbit keeps of a form beyond its own model: nested groups (``SectionSpec.parents``),
repeats (``repeat``), types outside KAP scoring (geopoint, image, time, range, rank ... see
:data:`surveys.spec.EXTRA_QUESTION_TYPES`), ``choice_filter``, ``parameters``, and every other
column (bind::*, body::*, instance::*, media::*, guidance_hint, read_only, conditional
``required`` ...) in ``extra``; :func:`write_xlsform` writes them back, so a form comes out
of Konbit as pyxform took it in. What Konbit cannot do with them is said by
:func:`surveys.limits.instrument_limits`, shown on the survey page.

How a ``select_one`` becomes a Konbit type (the writer relies on the same rule):
a list of yes and no choices, with or without one don't-know (by choice name: yes/wi/oui,
no/non, dk/dont_know/pa_konnen/nsp...) is ``yes_no_dk``; else 4 or 5 choices with
appearance ``likert`` or kap_domain ``attitude`` is ``likert4``/``likert5``; else
``single_choice``.

Languages are keyed by the code in parentheses (``label::Kreyol (ht)`` -> ``ht``), else
the lowercased name; a plain ``label`` column is in the settings' ``default_language``,
else ``en``. A choice without a label is labelled with its name.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import re
import warnings
import zipfile
from dataclasses import dataclass
from typing import Any

from surveys.spec import (
    CHOICE_TYPES,
    KAP_DOMAINS,
    LIKERT_TYPES,
    METADATA_TYPES,
    LIST_TYPES,
    ChoiceSpec,
    GroupSpec,
    InstrumentSpec,
    ItemSpec,
    SectionSpec,
)

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



# --- vocabulary ------------------------------------------------------------------------

_SETTINGS_ALIASES = {
    "form_title": "form_title", "set_form_title": "form_title", "title": "form_title",
    "form_id": "form_id", "set_form_id": "form_id", "id_string": "form_id",
}  # fmt: skip
SURVEY, CHOICES, SETTINGS = "survey", "choices", "settings"
_KAP_COLUMNS = ("kap_domain", "kap_correct", "kap_reverse", "kap_desired", "kap_channel", "personal")
_ROW_KEY = "_konbit_row"  # a column added to pyxform's rows so that problems can name the row


def _lang_code(token: str) -> str:
    m = _RE_LANG.match(token)
    return (m.group("code") if m else token).strip().lower()


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



# --- reading: pyxform's own parse, the KAP columns read beside it ------------------------

_CONTAINERS = {"group", "repeat", "loop"}
# pyxform JSON keys an item's own fields come from (the rest are kept in ``extra``).
_ITEM_KEYS = {
    "type", "name", "label", "hint", "bind", "control", "default", "itemset", "list_name",
    "choices", "parameters", "choice_filter", "media", "guidance_hint", "instance", "query",
    "trigger", "tags", "columns", "children", "actions", "_dynamic_default", "__row_number",
    "sms_field", "flat", "jr:constraintMsg", "jr:requiredMsg", *_KAP_COLUMNS, _ROW_KEY,
}  # fmt: skip
_CHOICE_KEYS = {"name", "label", "media", "__row_number", _ROW_KEY}
_BIND_OWN = {"required", "relevant", "constraint", "calculate", "jr:constraintMsg", "jr:requiredMsg"}
_METADATA_ALIASES = {"uri:deviceid": "deviceid", "uri:username": "username", "uri:email": "email",
                     "uri:phonenumber": "phonenumber", "uri:simserial": "simserial",
                     "uri:subscriberid": "subscriberid"}  # fmt: skip
_SELECT1 = {"select one", "select1", "select one from", "select one using", "select_one",
            "add select one prompt using", "q select1"}  # fmt: skip
_SELECTN = {"select all that apply", "select all that apply from", "select multiple from",
            "select multiple using", "add select multiple prompt using", "q select",
            "select_multiple"}  # fmt: skip
_BY_BIND = {"string": "text", "int": "integer", "decimal": "decimal", "date": "date", "time": "time",
            "dateTime": "datetime", "geopoint": "geopoint", "geotrace": "geotrace",
            "geoshape": "geoshape", "barcode": "barcode"}  # fmt: skip
_BY_MEDIA = {"image/*": "image", "audio/*": "audio", "video/*": "video", "application/*": "file"}
_FILE_LIST = re.compile(r"\.(csv|xml|geojson)$", re.IGNORECASE)


def _konbit_type(c: dict[str, Any], lists: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(Konbit type, xls_type to keep, choice list) for one pyxform JSON question."""
    from pyxform.question_type_dictionary import QUESTION_TYPE_DICT  # noqa: PLC0415

    t = str(c.get("type") or "")
    low = " ".join(t.split()).lower()
    itemset = c.get("itemset") or c.get("list_name")
    if low in _SELECT1 or low in _SELECTN:
        one = low in _SELECT1
        if itemset and _FILE_LIST.search(str(itemset)) and itemset not in lists:
            kind = "select_one_from_file" if one else "select_multiple_from_file"
            return kind, f"{kind} {itemset}", None
        return ("single_choice" if one else "multiple_choice"), None, str(c.get("list_name") or itemset)
    if low == "rank":
        return "rank", None, str(c.get("list_name") or itemset)
    if low in ("select one external", "select_one_external"):
        return "other", f"select_one_external {c.get('query') or itemset}", None
    if low == "osm":
        tags = c.get("list_name") or c.get("itemset")
        return "other", f"osm {tags}" if tags else "osm", None
    if "note" in low.split():
        return "note", None, None
    if low in ("calculate", "q calculate", "add calculate prompt"):
        return "calculate", None, None
    if low in ("trigger", "acknowledge", "q acknowledge", "add acknowledge prompt"):
        return "acknowledge", None, None
    if low in _METADATA_ALIASES:
        return _METADATA_ALIASES[low], None, None
    from surveys.spec import METADATA_TYPES  # noqa: PLC0415

    if low in METADATA_TYPES:
        return low, None, None
    known = QUESTION_TYPE_DICT.get(t) or QUESTION_TYPE_DICT.get(low)
    if known is None:
        return "other", t, None
    bind, control = known.get("bind", {}), known.get("control", {})
    preload = bind.get("jr:preloadParams")
    if preload and not control:
        name = _METADATA_ALIASES.get(preload, preload)
        return (name, None, None) if name in METADATA_TYPES else ("other", t, None)
    tag = control.get("tag")
    if tag == "range":
        return "range", None, None
    if tag == "upload" and control.get("mediatype") in _BY_MEDIA:
        return _BY_MEDIA[control["mediatype"]], None, None
    if tag == "input" and bind.get("type") in _BY_BIND:
        kind = _BY_BIND[bind["type"]]
        return kind, (t if kind == "text" and low not in ("text", "string") else None), None
    return "other", t, None


def _str_value(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    text = str(value).strip()
    return text or None


class _Walker:
    """Builds the spec's sections and items from pyxform's JSON survey."""

    def __init__(self, plain_lang: str, lists: dict[str, tuple[ChoiceSpec, ...]], default_token: str = "default"):
        self.plain_lang = plain_lang
        self.default_token = default_token  # how pyxform keys the unsuffixed columns
        self.lists = lists
        self.problems: list[XLSFormProblem] = []
        self.language_names: dict[str, str] = {}
        self.languages: list[str] = []
        self.sections: list[SectionSpec] = []
        self.codes: set[str] = set()
        self.loops: dict[str, str] = {}

    # texts ---------------------------------------------------------------------
    def lang(self, token: str) -> str:
        if token == "default":
            code = self.plain_lang
        else:
            code = _lang_code(token)
            self.language_names.setdefault(code, token)
        if code not in self.languages:
            self.languages.append(code)
        return code

    def texts(self, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if isinstance(value, dict):
            out = {}
            for token, text in value.items():
                text = _str_value(text)
                if text is not None:
                    out[self.lang(str(token))] = text
            return out
        text = _str_value(value)
        return {self.lang("default"): text} if text is not None else {}

    def translated_columns(self, column: str, value: Any, out: dict[str, str]) -> None:
        """``column`` (media::image, guidance_hint) per language, as XLSForm headers."""
        if isinstance(value, dict):
            for token, text in value.items():
                text = _str_value(text)
                if text is not None:
                    plain = token in ("default", self.default_token)
                    out[column if plain else f"{column}::{token}"] = text
        elif (text := _str_value(value)) is not None:
            out[column] = text

    # rows ------------------------------------------------------------------------
    def problem(self, c: dict[str, Any], column: str, message: str) -> None:
        row = c.get(_ROW_KEY)
        self.problems.append(XLSFormProblem(SURVEY, int(row) if row else None, column, message))

    def extra(self, c: dict[str, Any], *, group: bool = False) -> dict[str, str]:
        out: dict[str, str] = {}
        bind = c.get("bind") or {}
        for key, value in bind.items():
            if key in _BIND_OWN and not (group and key == "required"):
                continue
            text = _str_value(value)
            if text is None:
                continue
            if group and key == "required":
                continue  # Kobo writes required false on group rows; a group is never answered
            out["read_only" if key == "readonly" else f"bind::{key}"] = text
        for key, value in (c.get("control") or {}).items():
            if key in ("appearance", "bodyless", "tag"):
                continue
            text = _str_value(value)
            if text is not None:
                out["repeat_count" if key == "jr:count" else f"body::{key}"] = text
        for key, value in (c.get("instance") or {}).items():
            if (text := _str_value(value)) is not None:
                out[f"instance::{key}"] = text
        for kind, value in (c.get("media") or {}).items():
            self.translated_columns(f"media::{kind}", value, out)
        if "guidance_hint" in c:
            self.translated_columns("guidance_hint", c["guidance_hint"], out)
        if c.get("trigger"):
            names = c["trigger"] if isinstance(c["trigger"], list | tuple) else [c["trigger"]]
            names = [n[0] if isinstance(n, list | tuple) else n for n in names]
            out["trigger"] = " ".join(n if str(n).startswith("${") else f"${{{n}}}" for n in names)
        for key, value in c.items():
            if key in _ITEM_KEYS or key.startswith("_"):
                continue
            if (text := _str_value(value)) is not None:
                out[key] = text
        return out

    def group(self, c: dict[str, Any]) -> GroupSpec:
        kind = str(c.get("type"))
        extra = self.extra(c, group=True)
        if kind == "loop":
            columns = [col.get("name") for col in c.get("columns") or []]
            over = next((n for n, ch in self.lists.items() if [x.name for x in ch] == columns), None)
            extra["type"] = f"begin loop over {over}" if over else "begin loop"
        return GroupSpec(
            name=str(c.get("name") or ""),
            labels=self.texts(c.get("label")),
            relevant=_relative_refs((c.get("bind") or {}).get("relevant")),
            appearance=_str_value((c.get("control") or {}).get("appearance")),
            repeat=kind == "repeat",
            extra=extra,
        )

    def walk(self, children: list[dict[str, Any]], parents: tuple[GroupSpec, ...], own: GroupSpec | None) -> None:
        run: list[ItemSpec] = []

        def flush(empty: bool = False) -> None:
            if not run and not empty:
                return
            if own is None:
                self.sections.append(SectionSpec(name="", items=tuple(run)))
            else:
                self.sections.append(SectionSpec(
                    name=own.name, labels=own.labels, relevant=own.relevant, items=tuple(run),
                    appearance=own.appearance, parents=parents, repeat=own.repeat, extra=own.extra,
                ))  # fmt: skip
            run.clear()

        for c in children:
            kind = str(c.get("type") or "")
            if kind in _CONTAINERS:
                if kind == "group" and (c.get("control") or {}).get("bodyless") and c.get("name") == "meta":
                    # pyxform's own instanceID (and entities) block, where it also puts audit
                    run.extend(filter(None, (self.item(m, own) for m in c.get("children") or []
                                             if m.get("type") == "audit")))
                    continue
                flush()
                inner = self.group(c)
                self.walk(c.get("children") or [], parents + ((own,) if own else ()), inner)
                continue
            item = self.item(c, own)
            if item is not None:
                run.append(item)
        flush(empty=own is not None and not children)  # an empty group stays, as written

    def item(self, c: dict[str, Any], own: GroupSpec | None) -> ItemSpec | None:
        ktype, xls_type, choice_list = _konbit_type(c, self.lists)
        name = str(c.get("name") or "")
        code = name
        if code in self.codes:  # the same name in another group: pyxform allows it
            base = f"{own.name}_{name}" if own and own.name else f"{name}_2"
            code, n = base, 2
            while code in self.codes:
                n += 1
                code = f"{base}_{n}"
        self.codes.add(code)
        bind = c.get("bind") or {}
        extra = self.extra(c)
        required_text = _str_value(bind.get("required"))
        required = False
        if required_text is not None:
            value = _YES_NO.get(required_text.lower())
            if value is None:
                extra["required"] = required_text  # conditional required, kept as written
            else:
                required = value
        parameters = c.get("parameters")
        if isinstance(parameters, dict):
            parameters = " ".join(f"{k}={v}" for k, v in parameters.items()) or None
        else:
            parameters = _str_value(parameters)
        if choice_list is not None and choice_list not in self.lists:
            self.lists[choice_list] = ()  # choices in a file, or built by pyxform alone
        fields: dict[str, Any] = {
            "code": code,
            "type": ktype,
            "labels": self.texts(c.get("label")),
            "hints": self.texts(c.get("hint")),
            "choice_list": choice_list,
            "required": required,
            "required_message": self.texts(bind.get("jr:requiredMsg", c.get("jr:requiredMsg"))),
            "constraint": _relative_refs(_str_value(bind.get("constraint"))),
            "constraint_message": self.texts(bind.get("jr:constraintMsg", c.get("jr:constraintMsg"))),
            "relevant": _relative_refs(_str_value(bind.get("relevant"))),
            "calculation": _str_value(bind.get("calculate")),
            "default": _str_value(c.get("default")),
            "appearance": _str_value((c.get("control") or {}).get("appearance")),
            "name": name if code != name else None,
            "xls_type": xls_type,
            "parameters": parameters,
            "choice_filter": _str_value(c.get("choice_filter")),
            "extra": extra,
        }
        self.kap(c, fields)
        if fields["type"] == "single_choice":
            names = [ch.name for ch in self.lists.get(choice_list, ())]
            fields["type"] = _select_one_type(names, fields["appearance"], fields["kap_domain"])
        try:
            return ItemSpec(**fields)
        except ValueError as exc:  # pragma: no cover - the mapping above keeps to the rules
            self.problem(c, "type", str(exc))
            return None

    def kap(self, c: dict[str, Any], fields: dict[str, Any]) -> None:
        """The KAP columns (pyxform passes them through untouched), checked."""
        item_type = fields["type"]
        domain = _str_value(c.get("kap_domain"))
        if domain is not None:
            if domain.lower() in KAP_DOMAINS:
                domain = domain.lower()
                if item_type in METADATA_TYPES or item_type == "note":
                    self.problem(c, "kap_domain", f"A {item_type} item cannot have a kap_domain.")
            else:
                self.problem(c, "kap_domain",
                             f"kap_domain '{domain}' is not one of {', '.join(sorted(KAP_DOMAINS))}.")
                domain = None
        fields["kap_domain"] = domain
        channel = _str_value(c.get("kap_channel"))
        fields["kap_channel"] = channel
        if channel is not None and domain != "exposure":
            self.problem(c, "kap_channel", "kap_channel is only for exposure items (kap_domain exposure).")
        names = {ch.name for ch in self.lists.get(fields["choice_list"] or "", ())}
        for column in ("kap_correct", "kap_desired"):
            text = _str_value(c.get(column))
            fields[column] = tuple(text.split()) if text else ()
            if text and item_type not in CHOICE_TYPES:
                self.problem(c, column, f"{column} needs a select question (it names choices).")
            for choice in fields[column]:
                if item_type in CHOICE_TYPES and choice not in names:
                    self.problem(c, column, f"'{choice}' is not a choice of list '{fields['choice_list']}'.")
        for column in ("kap_reverse", "personal"):
            text = _str_value(c.get(column))
            value = _YES_NO.get(text.lower()) if text else False
            if value is None:
                self.problem(c, column, f"'{text}' is not yes or no.")
                value = False
            fields[column] = value
        if fields["kap_reverse"]:
            names_list = [ch.name for ch in self.lists.get(fields["choice_list"] or "", ())]
            kind = _select_one_type(names_list, fields["appearance"], domain) if item_type == "single_choice" else item_type
            if kind not in LIKERT_TYPES:
                self.problem(c, "kap_reverse", "kap_reverse is only for Likert items (4 or 5 choices, "
                             "appearance likert or kap_domain attitude).")


_RE_RELATIVE = re.compile(r"\.\./([A-Za-z_][A-Za-z0-9_.-]*)")


def _relative_refs(text: str | None) -> str | None:
    """pyxform writes or_other's relevant as ``selected(../q, 'other')``: back to ``${q}``."""
    if text in _BINDING_CONVERSIONS:  # pyxform writes a bare yes/TRUE/no as true()/false()
        return _BINDING_CONVERSIONS[text]
    if text is None or "../" not in text:
        return text
    return _RE_RELATIVE.sub(lambda m: "${" + m.group(1) + "}", text)


_PYXFORM_ROW = re.compile(r"\[row\s*:\s*(\d+)\]")


def _pyxform_problems(exc: BaseException) -> list[XLSFormProblem]:
    """What pyxform says is wrong, by sheet, row and column where its message tells them."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    row_match = _PYXFORM_ROW.search(message)
    row = int(row_match.group(1)) if row_match else None
    text = _PYXFORM_ROW.sub("", message).strip(" .:") + "."
    low = message.lower()
    sheet = SURVEY
    for name in (CHOICES, SETTINGS, "external_choices", "entities"):
        if f"sheet: '{name}'" in low or f"on the {name} sheet" in low or f"in the {name} sheet" in low \
                or f"'{name}' sheet" in low:
            sheet = name
            break
    column = None
    col_match = re.search(r"column '([^']+)'|column header: (\S+)|the '([^']+)' value is invalid", message,
                          re.IGNORECASE)
    if col_match:
        column = (col_match.group(1) or col_match.group(2) or col_match.group(3)).rstrip(".")
    elif "list name" in low:
        column = "type"
    return [XLSFormProblem(sheet, row, column, text)]


def _with_column(problem: XLSFormProblem, rows: list[dict[str, Any]]) -> XLSFormProblem:
    """The problem with its column, found in the row pyxform names when its message does not say it."""
    if problem.sheet == SURVEY and problem.row is None and (m := re.search(r"question type '([^']+)'", problem.message)):
        for number, row in enumerate(rows, start=2):  # pyxform names the type, not the row
            if str(row.get("type") or "").strip() == m.group(1):
                return dataclasses.replace(problem, row=number, column="type")
    if problem.column or problem.sheet != SURVEY or problem.row is None or not 2 <= problem.row < len(rows) + 2:
        return problem
    row = rows[problem.row - 2]
    wanted = [f"${{{m}}}" for m in re.findall(r"\$\{([^}]*)\}", problem.message)]
    wanted += re.findall(r"named '([^']+)'", problem.message)
    for header, value in row.items():
        if header == _ROW_KEY or not isinstance(value, str):
            continue
        if any(w in value for w in wanted):
            return dataclasses.replace(problem, column=str(header))
    low = problem.message.lower()
    for header in ("calculation", "name", "label", "type"):
        if header in low and header in row:
            return dataclasses.replace(problem, column=header)
    return problem


def _file_type(data: Any, problems: list[XLSFormProblem]) -> str | None:
    def fail(message: str) -> None:
        problems.append(XLSFormProblem(None, None, None, message))

    if not isinstance(data, bytes | bytearray | memoryview):
        fail("Expected the bytes of an .xlsx or .xls file.")
        return None
    data = bytes(data)
    if not data:
        fail("The file is empty.")
        return None
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return ".xls"
    if not zipfile.is_zipfile(io.BytesIO(data)):
        fail("This is not an .xlsx workbook (XLSForms must be uploaded as .xlsx or .xls).")
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except Exception:  # noqa: BLE001
        unzipped = 0
    if unzipped > _MAX_UNZIPPED:
        fail("The workbook is too large to be a questionnaire.")
        return None
    return ".xlsx"


def _settings(rows: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (rows[0] if rows else {}).items():
        text = _str_value(value)
        if text is None or key is None:
            continue
        norm = "_".join(str(key).split()).lower()
        out[_SETTINGS_ALIASES.get(norm, norm)] = text
    return out


def _read(data: Any, title: str | None, problems: list[XLSFormProblem]) -> InstrumentSpec | None:
    file_type = _file_type(data, problems)
    if file_type is None:
        return None
    from pyxform.builder import create_survey_element_from_dict  # noqa: PLC0415
    from pyxform.errors import PyXFormError  # noqa: PLC0415
    from pyxform.xls2json import workbook_to_json  # noqa: PLC0415
    from pyxform.xls2json_backends import get_xlsform  # noqa: PLC0415

    pyxform_warnings: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                workbook = get_xlsform(xlsform=bytes(data), file_type=file_type)
            except PyXFormError as exc:
                if "not recognized as a supported type" not in str(exc):
                    raise
                problems.append(XLSFormProblem(None, None, None, "This is not an XLSForm workbook."))
                return None
            except Exception as exc:  # noqa: BLE001 - not a workbook pyxform can open
                problems.append(XLSFormProblem(
                    None, None, None, f"The workbook could not be read ({type(exc).__name__}: {exc})."))
                return None
            if len(workbook.survey) > _MAX_ROWS:
                problems.append(XLSFormProblem(SURVEY, None, None, f"More than {_MAX_ROWS} rows: not a form."))
                return None
            for number, row in enumerate(workbook.survey, start=2):  # pyxform's own row numbers
                row[_ROW_KEY] = str(number)
            for header in workbook.survey_header or []:
                header[_ROW_KEY] = None
            settings_rows = list(workbook.settings or [])
            external_rows = list(workbook.external_choices or [])
            pyxform_data = workbook_to_json(
                workbook_dict=workbook, form_name=None,
                fallback_form_name=workbook.fallback_form_name, default_language=None,
                warnings=pyxform_warnings,
            )  # fmt: skip
            survey = create_survey_element_from_dict(copy.deepcopy(pyxform_data))
            survey.to_xml(validate=False, warnings=pyxform_warnings)
    except Exception as exc:  # noqa: BLE001 - pyxform refuses the form: say why, store nothing
        found = _pyxform_problems(exc)
        rows = getattr(locals().get("workbook"), "survey", None) or []
        problems.extend(_with_column(p, rows) for p in found)
        return None

    settings = _settings(settings_rows)
    default_setting = settings.pop("default_language", None)
    plain_lang = _lang_code(default_setting) if default_setting else "en"
    settings.pop("flat", None)  # pyxform has already put the groups' relevants on their items
    walker = _Walker(plain_lang, {}, default_setting or "default")
    if default_setting:
        walker.language_names.setdefault(plain_lang, default_setting)
    for list_name, choices in (pyxform_data.get("choices") or {}).items():
        built = []
        for ch in choices:
            choice_name = _str_value(ch.get("name")) or ""
            labels = walker.texts(ch.get("label"))  # none: labelled with its name, below
            extra: dict[str, str] = {}
            for kind, value in (ch.get("media") or {}).items():
                walker.translated_columns(f"media::{kind}", value, extra)
            for key, value in ch.items():
                if key not in _CHOICE_KEYS and not key.startswith("_") and (text := _str_value(value)) is not None:
                    extra[key] = text
            built.append(ChoiceSpec(choice_name, labels, extra))
        walker.lists[str(list_name)] = tuple(built)
    walker.walk(pyxform_data.get("children") or [], (), None)
    problems.extend(walker.problems)
    if not any(s.items for s in walker.sections) and not problems:
        problems.append(XLSFormProblem(SURVEY, None, None, "The survey sheet has no questions."))
    if problems:
        return None

    form_title = settings.pop("form_title", None)
    form_id = settings.pop("form_id", None)
    version = settings.pop("version", None)
    form_title = title or form_title or form_id or "Untitled survey"
    if form_id is None:
        form_id = re.sub(r"[^A-Za-z0-9_]+", "_", form_title).strip("_").lower() or "survey"
    languages = tuple(walker.languages)
    if default_setting or plain_lang in languages or not languages:
        default_language = plain_lang
    else:  # only "label::X" columns and no setting: the first language is the default
        default_language = languages[0]
    sections, lists = tuple(walker.sections), walker.lists
    lists = {n: tuple(c if c.labels else dataclasses.replace(c, labels={default_language: c.name}) for c in ch)
             for n, ch in lists.items()}
    external = _external_choices(external_rows)
    names = dict(walker.language_names)
    for code in (*languages, default_language):
        names.setdefault(code, f"{LANGUAGE_NAMES.get(code, code)} ({code})")
    used = set(languages) | {default_language}
    return InstrumentSpec(
        title=form_title, form_id=form_id, version=version, default_language=default_language,
        languages=languages, sections=sections, choice_lists=dict(lists), settings=settings,
        language_names={k: v for k, v in names.items() if k in used}, external_choices=external,
    )  # fmt: skip


def _external_choices(rows: list[dict[str, Any]]) -> dict[str, tuple[ChoiceSpec, ...]]:
    """The external_choices sheet (select_one_external), kept as written to be written back."""
    out: dict[str, list[ChoiceSpec]] = {}
    for row in rows:
        cells = {str(k): t for k, v in row.items() if k and (t := _str_value(v)) is not None}
        keyed = {"_".join(k.split()).lower(): k for k in cells}
        list_name = cells.pop(keyed.get("list_name", ""), None)
        name = cells.pop(keyed.get("name", ""), None)
        if list_name is None or name is None:
            continue
        label_key = keyed.get("label")
        labels = {"": cells.pop(label_key)} if label_key in cells else {}
        out.setdefault(list_name, []).append(ChoiceSpec(name, labels, cells))
    return {k: tuple(v) for k, v in out.items()}


def read_xlsform(data: bytes, *, title: str | None = None) -> InstrumentSpec:
    """Read an ``.xlsx`` (or ``.xls``) XLSForm into a spec.

    ``title``, when given, replaces the form's own ``form_title``. Raises
    :class:`XLSFormError` listing every problem; no other exception escapes.
    """
    problems: list[XLSFormProblem] = []
    try:
        spec = _read(data, title, problems)
    except Exception as exc:  # noqa: BLE001 - a bug here must still read as a refusal
        problems.append(XLSFormProblem(None, None, None,
                                       f"The form could not be read ({type(exc).__name__}: {exc})."))
        spec = None
    if spec is None:
        if not problems:  # pragma: no cover - defensive
            problems.append(XLSFormProblem(None, None, None, "The form could not be read."))
        raise XLSFormError(_ordered(problems))
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
    extra_headers: dict[str, None] = {}  # other columns, in the order first met

    def with_extra(row: dict[str, str | None], extra: dict[str, str]) -> dict[str, str | None]:
        for header, value in extra.items():
            if header == "type":
                continue
            if header not in row or row[header] is None:
                row[header] = value
                if header not in _OWN_HEADERS:
                    extra_headers.setdefault(header)
        return row

    open_groups: list[GroupSpec] = []
    for section in spec.sections:
        path = list(section.path)
        common = 0
        while common < len(open_groups) and common < len(path) and open_groups[common] == path[common]:
            common += 1  # a section after a subgroup goes on in the group around it
        for group in reversed(open_groups[common:]):
            rows.append({"type": _end_type(group)})
        del open_groups[common:]
        for group in path[common:]:
            rows.append(with_extra({
                "type": _begin_type(group), "name": group.name, **texts("label", group.labels),
                "relevant": group.relevant, "appearance": group.appearance,
            }, group.extra))  # fmt: skip
            open_groups.append(group)
        for it in section.items:
            row: dict[str, str | None] = {
                "type": _xls_type(it),
                "name": it.xls_name,
                "required": "yes" if it.required else it.extra.get("required"),
                "constraint": it.constraint,
                "relevant": it.relevant,
                "calculation": it.calculation,
                "default": it.default,
                "appearance": appearances[it.code],
                "parameters": it.parameters,
                "choice_filter": it.choice_filter,
                "kap_domain": it.kap_domain,
                "kap_correct": " ".join(it.kap_correct) or None,
                "kap_reverse": "yes" if it.kap_reverse else None,
                "kap_desired": " ".join(it.kap_desired) or None,
                "kap_channel": it.kap_channel,
                "personal": "yes" if it.personal else None,
            }
            for field, attr in _TEXT_COLUMNS:
                row.update(texts(field, getattr(it, attr)))
            rows.append(with_extra(row, it.extra))
    for group in reversed(open_groups):
        rows.append({"type": _end_type(group)})

    def translated(field: str) -> list[str]:
        headers = [f"{field}::{tokens[code]}" for code in languages]
        return headers if field == "label" or any(r.get(h) for r in rows for h in headers) else []

    def plain(*fields: str) -> list[str]:
        return [f for f in fields if any(r.get(f) for r in rows)]

    headers = [
        "type", "name", *translated("label"), *translated("hint"), *plain("required"),
        *translated("required_message"), *plain("constraint"), *translated("constraint_message"),
        *plain("relevant", "calculation", "default", "appearance", "parameters", "choice_filter",
               "kap_domain", "kap_correct", "kap_reverse", "kap_desired", "kap_channel", "personal"),
        *extra_headers,
    ]  # fmt: skip

    wb = openpyxl.Workbook()
    survey = wb.active
    survey.title = SURVEY
    _put_rows(survey, [headers, *([r.get(h) for h in headers] for r in rows)])

    choice_extra = list(dict.fromkeys(k for options in spec.choice_lists.values() for o in options for k in o.extra))
    choice_rows: list[list[str | None]] = [
        ["list_name", "name", *(f"label::{tokens[c]}" for c in languages), *choice_extra]
    ]
    for list_name, options in spec.choice_lists.items():
        for option in options:
            choice_rows.append([list_name, option.name, *(option.labels.get(c) for c in languages),
                                *(option.extra.get(k) for k in choice_extra)])
    _put_rows(wb.create_sheet(CHOICES), choice_rows)
    if spec.external_choices:
        columns = list(dict.fromkeys(k for ch in spec.external_choices.values() for c in ch for k in c.extra))
        ext_rows: list[list[str | None]] = [["list_name", "name", "label", *columns]]
        for list_name, options in spec.external_choices.items():
            for option in options:
                ext_rows.append([list_name, option.name, option.labels.get(""),
                                 *(option.extra.get(k) for k in columns)])
        _put_rows(wb.create_sheet("external_choices"), ext_rows)

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


_OWN_HEADERS = {"type", "name", "required", "constraint", "relevant", "calculation", "default",
                "appearance", "parameters", "choice_filter", *_KAP_COLUMNS}


def _begin_type(group: GroupSpec) -> str:
    if "type" in group.extra:
        return group.extra["type"]
    return "begin repeat" if group.repeat else "begin group"


def _end_type(group: GroupSpec) -> str:
    if "type" in group.extra:
        return "end loop"
    return "end repeat" if group.repeat else "end group"


def _xls_type(it: ItemSpec) -> str:
    if it.xls_type:
        return it.xls_type
    if it.type == "rank":
        return f"rank {it.choice_list}"
    if it.type == "multiple_choice":
        return f"select_multiple {it.choice_list}"
    if it.type in CHOICE_TYPES:
        return f"select_one {it.choice_list}"
    return it.type
