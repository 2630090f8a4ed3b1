"""Segment queries: keyword-only, take a Session, never commit."""

from __future__ import annotations

from sqlmodel import Session, select

from .models import AudienceSegment

__all__ = ["ensure_default_segments", "get_segment", "list_segments", "segment_names"]


def list_segments(*, session: Session, include_archived: bool = False) -> list[AudienceSegment]:
    query = select(AudienceSegment).order_by(AudienceSegment.position, AudienceSegment.id)
    if not include_archived:
        query = query.where(AudienceSegment.archived == False)  # noqa: E712 - SQL
    return list(session.exec(query))


def segment_names(*, session: Session, include_archived: bool = True) -> dict[str, str]:
    """Code -> name of every segment, in display order (archived ones too: old content names them)."""
    return {s.code: s.name for s in list_segments(session=session, include_archived=include_archived)}


def get_segment(*, session: Session, code: str) -> AudienceSegment | None:
    return session.exec(select(AudienceSegment).where(AudienceSegment.code == code)).first()


def ensure_default_segments(*, session: Session) -> int:
    """Add the default segments that are missing (by code); the number added. Edited rows are kept."""
    from .segments import DEFAULT_SEGMENTS  # noqa: PLC0415

    existing = set(session.exec(select(AudienceSegment.code)).all())
    added = 0
    for position, seg in enumerate(DEFAULT_SEGMENTS):
        if seg.code in existing:
            continue
        session.add(AudienceSegment(code=seg.code, name=seg.name, kind=seg.kind, languages=list(seg.languages),
                                    description=seg.description, position=position))
        added += 1
    session.flush()
    return added
