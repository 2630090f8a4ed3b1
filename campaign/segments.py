"""Audience segments that content targets, campaigns reach and surveys break down by.

Codes are stable identifiers stored in the database and in imports; labels are for people.
"""

from __future__ import annotations

__all__ = ["AUDIENCE_SEGMENTS", "segment_label"]

AUDIENCE_SEGMENTS: dict[str, str] = {
    "judges": "Judges",
    "prosecutors": "Prosecutors",
    "lawyers": "Lawyers",
    "police": "Police (PNH, BPM)",
    "border_officials": "Border and migration officials",
    "social_workers": "Social workers (IBESR)",
    "media": "Journalists and media",
    "tourism": "Tourism sector",
    "vulnerable_groups": "Vulnerable groups (restavèk children, returnees, displaced people)",
    "general_public": "General public",
}


def segment_label(code: str) -> str:
    return AUDIENCE_SEGMENTS.get(code, code.replace("_", " ").capitalize())
