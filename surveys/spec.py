"""Instrument specifications: what a KAP questionnaire asks, independent of storage.

An :class:`InstrumentSpec` is what :func:`surveys.xlsform.read_xlsform` builds from an
XLSForm and what :func:`surveys.xlsform.write_xlsform` turns back into one. It is plain
data: frozen dataclasses, no database, no I/O. :func:`spec_to_dict` and
:func:`spec_from_dict` give a JSON-safe form of it for storage.

The dict fields (labels, choice lists, settings) are ordinary dicts so that specs compare
and serialise simply; treat them as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

__all__ = [
    "CHOICE_TYPES",
    "EXTRA_QUESTION_TYPES",
    "FILE_TYPES",
    "GEO_TYPES",
    "ITEM_TYPES",
    "KAP_DOMAINS",
    "LIKERT_TYPES",
    "LIST_TYPES",
    "METADATA_TYPES",
    "QUESTION_TYPES",
    "SPEC_FORMAT",
    "ChoiceSpec",
    "GroupSpec",
    "InstrumentSpec",
    "ItemSpec",
    "SectionSpec",
    "spec_from_dict",
    "spec_to_dict",
]

#: Item types that take their answers from a choice list.
CHOICE_TYPES = frozenset({"single_choice", "multiple_choice", "likert4", "likert5", "yes_no_dk"})
LIKERT_TYPES = frozenset({"likert4", "likert5"})
#: Answers that are places: ``"lat lon alt accuracy"`` (geotrace / geoshape: points joined by ``;``).
GEO_TYPES = frozenset({"geopoint", "geotrace", "geoshape"})
#: Answers that are files the phone attaches (Konbit keeps the file name).
FILE_TYPES = frozenset({"image", "audio", "video", "file"})
#: Item types of XLSForms that KAP scoring and the statistics do not use, but that Konbit imports,
#: collects (as text when no better widget exists) and exports. ``rank`` names a choice list;
#: ``select_one_from_file`` / ``select_multiple_from_file`` name their file in ``xls_type``;
#: ``other`` is any further pyxform type, kept verbatim in ``xls_type``.
EXTRA_QUESTION_TYPES = GEO_TYPES | FILE_TYPES | {
    "time", "datetime", "barcode", "range", "rank", "acknowledge",
    "select_one_from_file", "select_multiple_from_file", "other",
}  # fmt: skip
#: Item types the respondent answers (or reads, for ``note``).
QUESTION_TYPES = CHOICE_TYPES | {"integer", "decimal", "text", "date", "note"} | EXTRA_QUESTION_TYPES
#: Values the data-collection app records by itself.
METADATA_TYPES = frozenset({
    "start", "end", "today", "username", "deviceid", "phonenumber", "simserial", "subscriberid",
    "email", "audit", "hidden", "start-geopoint", "background-audio", "background-geopoint",
})  # fmt: skip
#: Types that take a choice list: the choice types and ``rank``.
LIST_TYPES = CHOICE_TYPES | {"rank"}
ITEM_TYPES = QUESTION_TYPES | {"calculate"} | METADATA_TYPES
KAP_DOMAINS = frozenset({"knowledge", "attitude", "practice", "exposure", "background"})

#: Version of the dict layout written by :func:`spec_to_dict`.
SPEC_FORMAT = 1


# One answer option of a choice list.
@dataclass(frozen=True, slots=True)
class ChoiceSpec:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)  # other columns (choice_filter's, media::image)


# One question, note, calculation or metadata field.
@dataclass(frozen=True, slots=True)
class ItemSpec:
    code: str
    type: str
    labels: dict[str, str] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)
    choice_list: str | None = None
    required: bool = False
    required_message: dict[str, str] = field(default_factory=dict)
    constraint: str | None = None
    constraint_message: dict[str, str] = field(default_factory=dict)
    relevant: str | None = None
    calculation: str | None = None
    default: str | None = None
    appearance: str | None = None
    kap_domain: str | None = None
    kap_correct: tuple[str, ...] = ()
    kap_reverse: bool = False
    kap_desired: tuple[str, ...] = ()
    kap_channel: str | None = None
    personal: bool = False
    # What an XLSForm holds beyond Konbit's own model, kept to be written back:
    name: str | None = None  # the XLSForm name when ``code`` differs (a name used in two groups)
    xls_type: str | None = None  # the XLSForm type when ``type`` alone cannot say it
    parameters: str | None = None  # "start=1 end=10 step=1"
    choice_filter: str | None = None  # cascading selects: an expression over the choices' columns
    extra: dict[str, str] = field(default_factory=dict)  # other columns by header (bind::*, media::image...)

    def __post_init__(self) -> None:
        if self.type not in ITEM_TYPES:
            raise ValueError(f"Item {self.code!r}: unknown type {self.type!r}")
        if self.kap_domain is not None and self.kap_domain not in KAP_DOMAINS:
            raise ValueError(f"Item {self.code!r}: unknown kap_domain {self.kap_domain!r}")
        if (self.type in LIST_TYPES) != (self.choice_list is not None):
            raise ValueError(
                f"Item {self.code!r}: a choice list is needed by, and only by, choice types"
            )

    @property
    def xls_name(self) -> str:
        """The name the XLSForm gives this item."""
        return self.name or self.code


# An XLSForm group or repeat that encloses a section (nested groups).
@dataclass(frozen=True, slots=True)
class GroupSpec:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    relevant: str | None = None
    appearance: str | None = None
    repeat: bool = False
    extra: dict[str, str] = field(default_factory=dict)  # other columns of its begin row


# A group of items shown together; ``name == ""`` marks an implicit section
# (items that the XLSForm puts outside any group). ``parents`` are the groups around it,
# outermost first; sections that follow each other and share a parent sit in one group.
# A ``repeat`` section (or one inside a repeat parent) is asked once per repetition.
@dataclass(frozen=True, slots=True)
class SectionSpec:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    relevant: str | None = None
    items: tuple[ItemSpec, ...] = ()
    appearance: str | None = None
    parents: tuple[GroupSpec, ...] = ()
    repeat: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def implicit(self) -> bool:
        return self.name == ""

    @property
    def group(self) -> GroupSpec | None:
        """The section's own group (None for an implicit section)."""
        if self.implicit:
            return None
        return GroupSpec(self.name, self.labels, self.relevant, self.appearance, self.repeat, self.extra)

    @property
    def path(self) -> tuple[GroupSpec, ...]:
        """Every group the items are in, outermost first."""
        own = self.group
        return self.parents + ((own,) if own is not None else ())

    @property
    def in_repeat(self) -> bool:
        return self.repeat or any(g.repeat for g in self.parents)

    @property
    def relevants(self) -> tuple[str, ...]:
        """Every relevant that applies to the section's items: its parents' then its own."""
        return tuple(r for r in (*(g.relevant for g in self.parents), self.relevant) if r)


# A whole questionnaire. ``languages`` are codes ("ht", "fr", "en");
# ``language_names`` keeps how the XLSForm named them ("Kreyol (ht)") for export.
@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    title: str
    form_id: str
    version: str | None
    default_language: str
    languages: tuple[str, ...]
    sections: tuple[SectionSpec, ...]
    choice_lists: dict[str, tuple[ChoiceSpec, ...]] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    language_names: dict[str, str] = field(default_factory=dict)
    # the external_choices sheet of a form with select_one_external, kept to be written back
    # (labels keyed by "": that sheet's label column)
    external_choices: dict[str, tuple[ChoiceSpec, ...]] = field(default_factory=dict)

    def items(self) -> Iterator[ItemSpec]:
        """Every item, in form order."""
        for section in self.sections:
            yield from section.items

    def item(self, code: str) -> ItemSpec:
        for it in self.items():
            if it.code == code:
                return it
        raise KeyError(code)


# --- JSON round trip -------------------------------------------------------------------


def _item_to_dict(it: ItemSpec) -> dict[str, Any]:
    return {
        "code": it.code,
        "type": it.type,
        "labels": dict(it.labels),
        "hints": dict(it.hints),
        "choice_list": it.choice_list,
        "required": it.required,
        "required_message": dict(it.required_message),
        "constraint": it.constraint,
        "constraint_message": dict(it.constraint_message),
        "relevant": it.relevant,
        "calculation": it.calculation,
        "default": it.default,
        "appearance": it.appearance,
        "kap_domain": it.kap_domain,
        "kap_correct": list(it.kap_correct),
        "kap_reverse": it.kap_reverse,
        "kap_desired": list(it.kap_desired),
        "kap_channel": it.kap_channel,
        "personal": it.personal,
        # written only when set, so that the dicts of earlier specs do not change
        **{k: v for k, v in (
            ("name", it.name), ("xls_type", it.xls_type), ("parameters", it.parameters),
            ("choice_filter", it.choice_filter),
        ) if v is not None},  # fmt: skip
        **({"extra": dict(it.extra)} if it.extra else {}),
    }


def _group_to_dict(g: GroupSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": g.name, "labels": dict(g.labels), "relevant": g.relevant,
                           "appearance": g.appearance}  # fmt: skip
    if g.repeat:
        out["repeat"] = True
    if g.extra:
        out["extra"] = dict(g.extra)
    return out


def _section_to_dict(s: SectionSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": s.name,
        "labels": dict(s.labels),
        "relevant": s.relevant,
        "appearance": s.appearance,
        "items": [_item_to_dict(it) for it in s.items],
    }
    if s.parents:
        out["parents"] = [_group_to_dict(g) for g in s.parents]
    if s.repeat:
        out["repeat"] = True
    if s.extra:
        out["extra"] = dict(s.extra)
    return out


def spec_to_dict(spec: InstrumentSpec) -> dict[str, Any]:
    """A JSON-serialisable dict holding everything in ``spec``."""
    out = {
        "format": SPEC_FORMAT,
        "title": spec.title,
        "form_id": spec.form_id,
        "version": spec.version,
        "default_language": spec.default_language,
        "languages": list(spec.languages),
        "language_names": dict(spec.language_names),
        "settings": dict(spec.settings),
        "sections": [_section_to_dict(s) for s in spec.sections],
        "choice_lists": {
            name: [{"name": c.name, "labels": dict(c.labels), **({"extra": dict(c.extra)} if c.extra else {})}
                   for c in choices]
            for name, choices in spec.choice_lists.items()
        },
    }
    if spec.external_choices:
        out["external_choices"] = {
            name: [{"name": c.name, "labels": dict(c.labels), "extra": dict(c.extra)} for c in choices]
            for name, choices in spec.external_choices.items()
        }
    return out


def _str_dict(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{what} must be an object of strings")
    return dict(value)


def _opt_str(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{what} must be a string or null")


def _str(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"{what} must be a string")


def _str_tuple(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return tuple(value)


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list")
    return value


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"{what} must be true or false")


def _item_from_dict(d: Any) -> ItemSpec:
    if not isinstance(d, dict):
        raise ValueError("an item must be an object")
    code = _str(d.get("code"), "item code")
    w = f"item {code!r}"
    return ItemSpec(
        code=code,
        type=_str(d.get("type"), f"{w} type"),
        labels=_str_dict(d.get("labels"), f"{w} labels"),
        hints=_str_dict(d.get("hints"), f"{w} hints"),
        choice_list=_opt_str(d.get("choice_list"), f"{w} choice_list"),
        required=_bool(d.get("required", False), f"{w} required"),
        required_message=_str_dict(d.get("required_message"), f"{w} required_message"),
        constraint=_opt_str(d.get("constraint"), f"{w} constraint"),
        constraint_message=_str_dict(d.get("constraint_message"), f"{w} constraint_message"),
        relevant=_opt_str(d.get("relevant"), f"{w} relevant"),
        calculation=_opt_str(d.get("calculation"), f"{w} calculation"),
        default=_opt_str(d.get("default"), f"{w} default"),
        appearance=_opt_str(d.get("appearance"), f"{w} appearance"),
        kap_domain=_opt_str(d.get("kap_domain"), f"{w} kap_domain"),
        kap_correct=_str_tuple(d.get("kap_correct"), f"{w} kap_correct"),
        kap_reverse=_bool(d.get("kap_reverse", False), f"{w} kap_reverse"),
        kap_desired=_str_tuple(d.get("kap_desired"), f"{w} kap_desired"),
        kap_channel=_opt_str(d.get("kap_channel"), f"{w} kap_channel"),
        personal=_bool(d.get("personal", False), f"{w} personal"),
        name=_opt_str(d.get("name"), f"{w} name"),
        xls_type=_opt_str(d.get("xls_type"), f"{w} xls_type"),
        parameters=_opt_str(d.get("parameters"), f"{w} parameters"),
        choice_filter=_opt_str(d.get("choice_filter"), f"{w} choice_filter"),
        extra=_str_dict(d.get("extra"), f"{w} extra"),
    )


def _group_from_dict(d: Any) -> GroupSpec:
    if not isinstance(d, dict):
        raise ValueError("a group must be an object")
    return GroupSpec(
        name=_str(d.get("name", ""), "group name"),
        labels=_str_dict(d.get("labels"), "group labels"),
        relevant=_opt_str(d.get("relevant"), "group relevant"),
        appearance=_opt_str(d.get("appearance"), "group appearance"),
        repeat=_bool(d.get("repeat", False), "group repeat"),
        extra=_str_dict(d.get("extra"), "group extra"),
    )


def spec_from_dict(data: Any) -> InstrumentSpec:
    """Rebuild a spec from :func:`spec_to_dict` output; ``ValueError`` if malformed."""
    if not isinstance(data, dict):
        raise ValueError("a spec must be an object")
    fmt = data.get("format", SPEC_FORMAT)
    if fmt != SPEC_FORMAT:
        raise ValueError(f"unsupported spec format {fmt!r}")
    sections = data.get("sections", [])
    if not isinstance(sections, list):
        raise ValueError("sections must be a list")
    built_sections = []
    for s in sections:
        if not isinstance(s, dict):
            raise ValueError("a section must be an object")
        items = s.get("items", [])
        if not isinstance(items, list):
            raise ValueError("section items must be a list")
        built_sections.append(
            SectionSpec(
                name=_str(s.get("name", ""), "section name"),
                labels=_str_dict(s.get("labels"), "section labels"),
                relevant=_opt_str(s.get("relevant"), "section relevant"),
                items=tuple(_item_from_dict(it) for it in items),
                appearance=_opt_str(s.get("appearance"), "section appearance"),
                parents=tuple(_group_from_dict(g) for g in _list(s.get("parents"), "section parents")),
                repeat=_bool(s.get("repeat", False), "section repeat"),
                extra=_str_dict(s.get("extra"), "section extra"),
            )
        )
    choice_lists = _choice_lists(data.get("choice_lists", {}), "choice_lists")
    external = _choice_lists(data.get("external_choices") or {}, "external_choices")
    return InstrumentSpec(
        title=_str(data.get("title"), "title"),
        form_id=_str(data.get("form_id"), "form_id"),
        version=_opt_str(data.get("version"), "version"),
        default_language=_str(data.get("default_language", "en"), "default_language"),
        languages=_str_tuple(data.get("languages"), "languages"),
        sections=tuple(built_sections),
        choice_lists=choice_lists,
        settings=_str_dict(data.get("settings"), "settings"),
        language_names=_str_dict(data.get("language_names"), "language_names"),
        external_choices=external,
    )


def _choice_lists(lists: Any, what: str) -> dict[str, tuple[ChoiceSpec, ...]]:
    if not isinstance(lists, dict):
        raise ValueError(f"{what} must be an object")
    choice_lists: dict[str, tuple[ChoiceSpec, ...]] = {}
    for name, choices in lists.items():
        if not isinstance(choices, list):
            raise ValueError(f"choice list {name!r} must be a list")
        built = []
        for c in choices:
            if not isinstance(c, dict):
                raise ValueError(f"a choice of {name!r} must be an object")
            built.append(
                ChoiceSpec(
                    name=_str(c.get("name"), f"choice name in {name!r}"),
                    labels=_str_dict(c.get("labels"), f"choice labels in {name!r}"),
                    extra=_str_dict(c.get("extra"), f"choice columns in {name!r}"),
                )
            )
        choice_lists[name] = tuple(built)
    return choice_lists

