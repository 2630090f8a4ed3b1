"""What Konbit cannot fully do with an instrument: the "limits" listed on its survey page.

Every form pyxform accepts is imported (see :mod:`surveys.xlsform`); what Konbit cannot do
with some of its questions (a photo in a statistical test, a cascading select on the web
form) is said here instead of refusing the form. Pure: a spec in, a list of
:class:`Limit` out, in form order of first mention.
"""

from __future__ import annotations

from dataclasses import dataclass

from surveys import expressions
from surveys.spec import FILE_TYPES, GEO_TYPES, METADATA_TYPES, InstrumentSpec, ItemSpec

__all__ = ["Limit", "WEB_WIDGET_TYPES", "instrument_limits"]

#: Types the web form (/collect) has a widget of its own for; the others are a text box there.
WEB_WIDGET_TYPES = frozenset({
    "single_choice", "multiple_choice", "likert4", "likert5", "yes_no_dk", "integer", "decimal",
    "text", "date", "note", "time", "datetime", "range", "geopoint",
})  # fmt: skip

_KIND = {
    **{t: "files" for t in FILE_TYPES},
    **{t: "places" for t in GEO_TYPES},
    "time": "times", "datetime": "date-times", "barcode": "barcodes", "range": "ranges",
    "rank": "rankings", "acknowledge": "acknowledgements",
}  # fmt: skip


_PREFIXED = {"media", "bind", "body", "instance"}


# One thing Konbit cannot do with a form: a short title, what it means, the item codes concerned.
@dataclass(frozen=True, slots=True)
class Limit:
    topic: str
    message: str
    codes: tuple[str, ...] = ()


def _expression_trouble(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    try:
        expressions.parse(text)
    except expressions.ExpressionError as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - anything else is as bad
        return f"{type(err).__name__}: {err}"
    return None


def instrument_limits(spec: InstrumentSpec) -> list[Limit]:
    """Everything Konbit imports from the form but cannot fully use, one :class:`Limit` each."""
    out: list[Limit] = []
    by_type: dict[str, list[str]] = {}
    web_text: list[str] = []
    unevaluated: list[str] = []
    conditional: list[str] = []
    filtered: list[str] = []
    from_file: list[str] = []
    other: list[str] = []
    kept_columns: dict[str, None] = {}
    repeats: dict[str, list[str]] = {}
    nested: set[str] = set()

    def look(it: ItemSpec) -> None:
        if it.type in _KIND:
            by_type.setdefault(_KIND[it.type], []).append(it.code)
        if it.type not in WEB_WIDGET_TYPES and it.type not in METADATA_TYPES and it.type != "calculate":
            web_text.append(it.code)
        for key in ("relevant", "constraint", "calculation"):
            trouble = _expression_trouble(getattr(it, key))
            if trouble:
                unevaluated.append(f"{it.code} ({key}: {trouble})")
        if "required" in it.extra:
            conditional.append(it.code)
        trouble = _expression_trouble(it.choice_filter)
        if trouble:
            filtered.append(f"{it.code} (choice_filter: {trouble})")
        if it.type in ("select_one_from_file", "select_multiple_from_file") or (
                it.xls_type or "").startswith("select_one_external"):
            from_file.append(f"{it.code} ({(it.xls_type or '').split(' ', 1)[-1]})")
        elif it.type == "other":
            other.append(f"{it.code} ({it.xls_type})")
        for header in it.extra:
            if header != "required":
                parts = header.split("::")
                kept_columns.setdefault("::".join(parts[:2]) if parts[0] in _PREFIXED else parts[0])

    for section in spec.sections:
        for trouble in filter(None, (_expression_trouble(r) for r in section.relevants)):
            unevaluated.append(f"group {section.name} (relevant: {trouble})")
        if section.in_repeat:
            repeat_groups = [g.name for g in section.path if g.repeat]
            if len(repeat_groups) > 1:
                nested.add(repeat_groups[1])
            name = next((g.name for g in reversed(section.path) if g.repeat or "type" in g.extra), section.name)
            repeats.setdefault(name, []).extend(it.code for it in section.items)
        for it in section.items:
            look(it)

    for kind, codes in by_type.items():
        what = {
            "files": "Konbit keeps the file name the phone sends; the file itself is not analysed",
            "places": "exported as latitude, longitude, altitude and accuracy columns; not analysed",
        }.get(kind, "collected and exported; not used in KAP scoring or the statistics")
        out.append(Limit(f"Answers that are {kind}", what + ".", tuple(codes)))
    if repeats:
        for name, codes in repeats.items():
            message = ("Konbit cannot collect a repeat inside a repeat yet." if name in nested else
                       "Asked once per repetition; exported as a table of its own (one row per repetition) "
                       "and kept out of KAP scoring and the statistics.")
            out.append(Limit(f"Repeat {name}", message, tuple(codes)))
    if web_text:
        out.append(Limit("Asked as a text box on the web form",
                         "The web form has no widget for these types yet; enumerators type the answer.",
                         tuple(web_text)))  # fmt: skip
    if filtered:
        out.append(Limit("Cascading selects Konbit cannot evaluate",
                         "The web form shows every choice of these and answers are not checked against the "
                         "filter; ODK Collect still filters them.", tuple(filtered)))  # fmt: skip
    if from_file:
        out.append(Limit("Choices from a file",
                         "Konbit does not have the file: answers are taken as text, not checked.",
                         tuple(from_file)))  # fmt: skip
    if other:
        out.append(Limit("Other question types", "Kept and exported as text.", tuple(other)))
    if unevaluated:
        out.append(Limit("Expressions Konbit cannot evaluate",
                         "Konbit treats them as true (relevant, constraint) or leaves the value empty "
                         "(calculation); ODK Collect still evaluates them.", tuple(unevaluated)))  # fmt: skip
    if conditional:
        out.append(Limit("Conditional required",
                         "Konbit does not enforce 'required' given as an expression.", tuple(conditional)))
    if kept_columns:
        out.append(Limit("Columns kept but not used by Konbit",
                         "Written back in the XLSForm export, ignored by the web form.", tuple(kept_columns)))
    if spec.external_choices:
        out.append(Limit("External choices", "The external_choices sheet is kept for the export only.",
                         tuple(spec.external_choices)))
    return out
