"""The audience segments every programme starts with, and pure helpers over segment codes.

Codes are stable identifiers stored in the database, in content targets, survey answers and
imports; names are for people. The defaults are seeded as rows by the migration
``f1_campaign`` and can then be edited like any other segment.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["CODE_PATTERN", "DEFAULT_SEGMENTS", "DEFAULT_SEGMENT_NAMES", "HAITI_DEPARTMENTS", "DefaultSegment", "SegmentKind",
           "check_code", "segment_label", "translated_names"]

#: Haiti's ten departments: the regions of campaigns, contacts, channels' coverage and survey frames.
HAITI_DEPARTMENTS = (
    "Artibonite", "Centre", "Grand'Anse", "Nippes", "Nord", "Nord-Est", "Nord-Ouest", "Ouest", "Sud", "Sud-Est",
)
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


class SegmentKind(str, enum.Enum):
    judiciary = "judiciary"
    prosecution = "prosecution"
    law_enforcement = "law_enforcement"
    border = "border"
    social_services = "social_services"
    media = "media"
    tourism = "tourism"
    community = "community"
    youth = "youth"
    general_public = "general_public"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


@dataclass(frozen=True, slots=True)
class DefaultSegment:
    code: str
    name: str
    kind: SegmentKind
    languages: tuple[str, ...]
    description: str = ""


DEFAULT_SEGMENTS: tuple[DefaultSegment, ...] = (
    DefaultSegment("judges", "Judges", SegmentKind.judiciary, ("fr", "ht"),
                   "Judges of the courts of first instance and appeal, and justices of the peace."),
    DefaultSegment("prosecutors", "Prosecutors", SegmentKind.prosecution, ("fr", "ht"),
                   "Commissaires du gouvernement and their deputies."),
    DefaultSegment("lawyers", "Lawyers", SegmentKind.judiciary, ("fr", "ht"), "Members of the bar associations."),
    DefaultSegment("police", "Police (PNH, BPM)", SegmentKind.law_enforcement, ("ht", "fr"),
                   "Haitian National Police, including the Brigade for the Protection of Minors."),
    DefaultSegment("border_officials", "Border and migration officials", SegmentKind.border, ("ht", "fr", "es"),
                   "Immigration (DIE), customs and border police at the crossings with the Dominican Republic."),
    DefaultSegment("social_workers", "Social workers (IBESR)", SegmentKind.social_services, ("ht", "fr"),
                   "Social workers of IBESR and partner organisations."),
    DefaultSegment("media", "Journalists and media", SegmentKind.media, ("ht", "fr"), "Reporters, editors and hosts."),
    DefaultSegment("tourism", "Tourism sector", SegmentKind.tourism, ("fr", "en", "ht"),
                   "Hotel, transport and tour staff."),
    DefaultSegment("vulnerable_groups", "Vulnerable groups (restavèk children, returnees, displaced people)",
                   SegmentKind.community, ("ht",), "Reached through community organisations and radio."),
    DefaultSegment("general_public", "General public", SegmentKind.general_public, ("ht", "fr"), ""),
)


def check_code(code: str) -> str | None:
    """Why ``code`` cannot be a segment code, or None when it can."""
    if not CODE_PATTERN.match(code or ""):
        return ("Use 2 to 40 lower-case letters, digits or underscores, starting with a letter "
                "(for example judges or border_officials).")
    return None


#: The default segments' names in the interview languages besides English (the rows hold the English
#: name): the data-entry form shows them in the language of the interview.
DEFAULT_SEGMENT_NAMES: dict[str, dict[str, str]] = {
    "judges": {"fr": "Juges", "ht": "Jij", "es": "Jueces"},
    "prosecutors": {"fr": "Procureurs (commissaires du gouvernement)", "ht": "Komisè gouvènman", "es": "Fiscales"},
    "lawyers": {"fr": "Avocats", "ht": "Avoka", "es": "Abogados"},
    "police": {"fr": "Police (PNH, BPM)", "ht": "Polis (PNH, BPM)", "es": "Policía (PNH, BPM)"},
    "border_officials": {"fr": "Agents des frontières et de la migration", "ht": "Ofisye fwontyè ak migrasyon",
                         "es": "Funcionarios de frontera y migración"},
    "social_workers": {"fr": "Travailleurs sociaux (IBESR)", "ht": "Travayè sosyal (IBESR)",
                       "es": "Trabajadores sociales (IBESR)"},
    "media": {"fr": "Journalistes et médias", "ht": "Jounalis ak medya", "es": "Periodistas y medios"},
    "tourism": {"fr": "Secteur du tourisme", "ht": "Sektè touris", "es": "Sector turístico"},
    "vulnerable_groups": {"fr": "Groupes vulnérables (enfants restavèk, rapatriés, personnes déplacées)",
                          "ht": "Gwoup vilnerab (timoun restavèk, moun yo depòte, moun ki deplase)",
                          "es": "Grupos vulnerables (niños restavèk, retornados, desplazados)"},
    "general_public": {"fr": "Grand public", "ht": "Piblik jeneral", "es": "Público general"},
}
_DEFAULT_ENGLISH = {seg.code: seg.name for seg in DEFAULT_SEGMENTS}


def translated_names(code: str, name: str) -> dict[str, str]:
    """A segment's name by language: ``en`` is the row's name; a default segment whose name was not
    edited has its translations too (an edited or new one reads the same in every language)."""
    names = {"en": name}
    if _DEFAULT_ENGLISH.get(code) == name:
        names.update(DEFAULT_SEGMENT_NAMES.get(code, {}))
    return names


def segment_label(code: str, names: Mapping[str, str]) -> str:
    """The name of segment ``code`` in ``names``; an unknown (deleted) code reads as words."""
    return names.get(code) or code.replace("_", " ").capitalize()
