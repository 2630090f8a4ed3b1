"""The audit log's lines named by their records' titles.

An audit summary is written once, when the thing happens; some name a record by its raw id or
uuid ("received → approved: 5f0c…"). The home page shows each event with what it touched
named as a person would: "Approved an interview of Enquête KAP · endline (cluster C-12)",
with a link to it. The names are looked up in one query per kind of record.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from campaign.models import Campaign, ChannelConfig, Placement, TrainingSession
from content.models import Message
from surveys.models import Submission, SubmissionConflict, Survey, Wave

from ..accounts.models import AuditEvent, User

__all__ = ["ActivityLine", "describe", "recent_activity"]

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)

_VERBS = {
    "submission.approved": "Approved", "submission.rejected": "Rejected", "submission.has_issues": "Sent back",
    "submission.received": "Reopened", "submission.create": "Received", "submission.correct": "Corrected",
    "submission.conflict": "Kept aside a differing resend of", "conflict.resolve": "Resolved a conflict on",
    "conflict.accept": "Accepted a resend of",
}


@dataclass(frozen=True)
class ActivityLine:
    at: object
    text: str
    href: str = ""


def _ints(values: Sequence[str]) -> list[int]:
    return [int(v) for v in values if str(v).isdigit()]


def recent_activity(*, session: Session, user: User, limit: int = 8) -> list[ActivityLine]:
    events = session.exec(select(AuditEvent).where(AuditEvent.actor_id == user.id)
                          .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit)).all()
    return describe(session=session, events=events)


def describe(*, session: Session, events: Sequence[AuditEvent]) -> list[ActivityLine]:
    """Each event as a line naming its record by title (never a bare uuid), with a link when there is a page."""
    ids: dict[str, list[str]] = defaultdict(list)
    for e in events:
        ids[e.entity_type].append(e.entity_id)
    submissions = {s.id: (s, title, wave) for s, title, wave in session.exec(
        select(Submission, Survey.title, Wave.name).join(Survey, Survey.id == Submission.survey_id)
        .join(Wave, Wave.id == Submission.wave_id).where(col(Submission.id).in_(_ints(ids["submission"]) or [0])))}
    conflicts = {c.id: (c, title) for c, title in session.exec(
        select(SubmissionConflict, Survey.title).join(Survey, Survey.id == SubmissionConflict.survey_id)
        .where(col(SubmissionConflict.id).in_(_ints(ids["submission_conflict"]) or [0])))}
    titles = {
        "survey": dict(session.exec(select(Survey.id, Survey.title).where(col(Survey.id).in_(_ints(ids["survey"]) or [0]))).all()),
        "content_message": dict(session.exec(select(Message.id, Message.title)
                                             .where(col(Message.id).in_(_ints(ids["content_message"]) or [0]))).all()),
        "campaign": dict(session.exec(select(Campaign.id, Campaign.name).where(col(Campaign.id).in_(_ints(ids["campaign"]) or [0]))).all()),
        "campaign_channel": dict(session.exec(select(ChannelConfig.id, ChannelConfig.name)
                                              .where(col(ChannelConfig.id).in_(_ints(ids["campaign_channel"]) or [0]))).all()),
    }
    placements = {p.id: p for p in session.exec(select(Placement).where(
        col(Placement.id).in_(_ints(ids["campaign_placement"]) or [0])))}
    trainings = dict(session.exec(select(TrainingSession.id, Placement.campaign_id)
                                  .join(Placement, Placement.id == TrainingSession.placement_id)
                                  .where(col(TrainingSession.id).in_(_ints(ids["campaign_training_session"]) or [0]))).all())
    out = []
    for e in events:
        key = int(e.entity_id) if str(e.entity_id).isdigit() else None
        text, href = e.summary or e.action, ""
        if e.entity_type == "submission" and key in submissions:
            s, title, wave = submissions[key]
            where = ", ".join(x for x in (s.cluster and f"cluster {s.cluster}", s.respondent_code) if x)
            verb = _VERBS.get(e.action, e.action.split(".")[-1].replace("_", " ").capitalize())
            text = f"{verb} an interview of {title} · {wave}" + (f" ({where})" if where else "") + f", received {s.received_at:%d %b}"
            href = f"/submissions/{s.id}"
        elif e.entity_type == "submission_conflict" and key in conflicts:
            c, title = conflicts[key]
            text = f"{_VERBS.get(e.action, 'Handled a conflict on')} an interview of {title}"
            href = "/review/conflicts"
        elif e.entity_type == "content_message" and key in titles["content_message"]:
            href = f"/content/{key}"
        elif e.entity_type == "survey" and key in titles["survey"]:
            href = f"/surveys/{key}"
        elif e.entity_type == "campaign" and key in titles["campaign"]:
            href = f"/campaigns/{key}"
        elif e.entity_type == "campaign_placement" and key in placements:
            href = f"/campaigns/{placements[key].campaign_id}/placements/{key}"
        elif e.entity_type == "campaign_training_session" and key in trainings:
            href = f"/campaigns/{trainings[key]}/trainings/{key}"
        out.append(ActivityLine(e.at, _UUID.sub("an interview", text), href))
    return out
