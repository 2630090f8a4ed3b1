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

__all__ = ["CODE_PATTERN", "DEFAULT_SEGMENTS", "HAITI_DEPARTMENTS", "DefaultSegment", "SegmentKind", "check_code", "segment_label"]

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


def segment_label(code: str, names: Mapping[str, str]) -> str:
    """The name of segment ``code`` in ``names``; an unknown (deleted) code reads as words."""
    return names.get(code) or code.replace("_", " ").capitalize()
