"""Training sessions on the day: invitations, attendance, rates.

A training placement (:attr:`~campaign.models.Timing.sessions`) has :class:`TrainingSession`
rows; each invitation is a :class:`TrainingAttendance` row (its id is the invitation id printed
on the sign-in sheet), whose ``attended`` is None until it is recorded. Invitees come from the
placement's segments (:mod:`campaign.audience`: not opted out of trainings, not in a comparison
area); a walk-in is a contact who came without an invitation: a row added on the day with
``invited_at == recorded_at`` and ``attended`` True.

Rates: *attendance* is invitees present / invitees (walk-ins apart), *fill* is everyone present
(walk-ins too) / capacity. Services: keyword-only, take a Session, never commit; refusals are
:class:`~campaign.service.PlanError` (422, by field or line) or
:class:`~campaign.service.PlanConflict` (409, e.g. capacity).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal
from sqlmodel import Session, col, select

from audiences.models import AudienceSegment
from content.models import Channel, ContentVariant, Message
from surveys.imports import ImportFileError, open_table_rows
from surveys.models import Wave
from web.accounts.models import User, utcnow
from web.accounts.service import record_audit

from .confirmations import sync_attendance
from . import audience
from .contacts import normalise_email, normalise_phone
from .models import (
    Campaign,
    ChannelConfig,
    ChannelKind,
    Contact,
    Placement,
    PlacementStatus,
    Timing,
    TrainingAttendance,
    TrainingSession,
)
from .service import PlanConflict, PlanError, placement_segments

__all__ = [
    "OUTSIDE", "Rates", "add_walk_in", "attendance_open", "invitations_open", "SessionInfo", "SheetReport", "TrainingSummary", "apply_sheet", "campaign_summary",
    "check_sheet", "eligible_query", "slug", "get_training", "invitations", "invite", "is_walk_in", "list_sessions",
    "materials", "rates", "set_attendance", "session_waves", "uninvite",
]

OUTSIDE = "(outside the segments)"  # walk-ins and invitees no segment holds any more
MAX_SHEET_ROWS = 5000
MAX_REPORTED = 200


# --- Reading ------------------------------------------------------------------------------


@dataclass
class Counts:
    invited: int = 0  # invitations (walk-ins apart)
    present: int = 0  # invitees recorded present
    absent: int = 0  # invitees recorded absent
    walk_ins: int = 0  # came without an invitation

    @property
    def unrecorded(self) -> int:
        return self.invited - self.present - self.absent

    @property
    def attended(self) -> int:
        """Everyone present, walk-ins too."""
        return self.present + self.walk_ins


@dataclass
class SessionInfo:
    training: TrainingSession
    placement: Placement
    campaign: Campaign
    channel: ChannelConfig
    counts: Counts

    @property
    def past(self) -> bool:
        return self.training.starts_local <= _now_local(self.campaign)

    @property
    def seats_left(self) -> int | None:
        cap = self.training.capacity
        return None if cap is None else max(0, cap - self.counts.invited)


def _now_local(campaign: Campaign, now: datetime | None = None) -> datetime:
    return (now or utcnow()).astimezone(ZoneInfo(campaign.timezone)).replace(tzinfo=None)


def is_walk_in(row: TrainingAttendance) -> bool:
    return row.recorded_at is not None and row.invited_at == row.recorded_at and bool(row.attended)


def _counts(session: Session, session_ids: Sequence[int]) -> dict[int, Counts]:
    out: dict[int, Counts] = {sid: Counts() for sid in session_ids}
    if not session_ids:
        return out
    rows = session.exec(select(TrainingAttendance).where(col(TrainingAttendance.session_id).in_(session_ids)))
    for r in rows:
        c = out[r.session_id]
        if is_walk_in(r):
            c.walk_ins += 1
            continue
        c.invited += 1
        if r.attended is True:
            c.present += 1
        elif r.attended is False:
            c.absent += 1
    return out


def list_sessions(*, session: Session, campaign_id: int | None = None, when: str = "all", facilitator: str = "",
                  venue: str = "", now: datetime | None = None) -> list[SessionInfo]:
    """Sessions of training placements (cancelled ones left out), soonest first; ``when``: all, upcoming, past.

    ``facilitator`` and ``venue`` match part of the name, without regard to case.
    """
    if when not in ("all", "upcoming", "past"):
        raise PlanError({"when": "Use all, upcoming or past."})
    query = (select(TrainingSession, Placement, Campaign, ChannelConfig)
             .join(Placement, Placement.id == TrainingSession.placement_id)
             .join(Campaign, Campaign.id == Placement.campaign_id)
             .join(ChannelConfig, ChannelConfig.id == Placement.channel_id)
             .where(Placement.status != PlacementStatus.cancelled, Placement.timing == Timing.sessions))
    if campaign_id:
        query = query.where(Placement.campaign_id == campaign_id)
    for column, text in ((TrainingSession.facilitator, facilitator), (TrainingSession.venue, venue)):
        text = " ".join((text or "").split()).lower()[:120]
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(column).like(f"%{escaped}%", escape="\\"))
    rows = session.exec(query.order_by(TrainingSession.starts_local, TrainingSession.id)).all()
    counts = _counts(session, [t.id for t, _, _, _ in rows])
    out = [SessionInfo(t, p, c, ch, counts[t.id]) for t, p, c, ch in rows]
    if when != "all":
        out = [s for s in out if (s.training.starts_local <= _now_local(s.campaign, now)) == (when == "past")]
        if when == "past":
            out.reverse()  # the latest first
    return out


def get_training(*, session: Session, campaign: Campaign, session_id: int) -> SessionInfo | None:
    row = session.exec(select(TrainingSession, Placement, ChannelConfig)
                       .join(Placement, Placement.id == TrainingSession.placement_id)
                       .join(ChannelConfig, ChannelConfig.id == Placement.channel_id)
                       .where(TrainingSession.id == session_id, Placement.campaign_id == campaign.id)).first()
    if row is None:
        return None
    t, p, ch = row
    return SessionInfo(t, p, campaign, ch, _counts(session, [t.id])[t.id])


@dataclass
class Material:
    message: Message
    variant: ContentVariant
    preferred: bool  # in the placement's language


def materials(*, session: Session, placement: Placement) -> list[Material]:
    """The approved briefing variants the placement teaches from, its language first."""
    message = session.get(Message, placement.message_id)
    variants = session.exec(select(ContentVariant).where(ContentVariant.version_id == placement.version_id,
                                                         ContentVariant.channel == Channel.briefing)
                            .order_by(ContentVariant.language)).all()
    out = [Material(message, v, v.language == placement.language) for v in variants]
    return sorted(out, key=lambda m: not m.preferred)


def session_waves(*, session: Session, training: TrainingSession) -> dict[str, Wave | None]:
    return {"pre": session.get(Wave, training.pre_wave_id) if training.pre_wave_id else None,
            "post": session.get(Wave, training.post_wave_id) if training.post_wave_id else None}


# --- Invitations --------------------------------------------------------------------------


def eligible_query(*, campaign: Campaign, segments: list[AudienceSegment]):
    """SELECT contact id, first segment id of who the placement may invite (its segments' members)."""
    return audience.recipients_query(campaign=campaign, segments=segments, kind=ChannelKind.training)


def _segment_of(segments: list[AudienceSegment]):
    """A column: the id of the first of ``segments`` a contact belongs to (None: none)."""
    if not segments:
        return literal(None)
    return case(*[(audience.member_clause(s), literal(s.id)) for s in segments], else_=literal(None))


def invitations(*, session: Session, training: TrainingSession, segments: list[AudienceSegment]
                ) -> list[tuple[TrainingAttendance, Contact, str]]:
    """Every invitation with its contact and the code of its segment (:data:`OUTSIDE` for none), by name."""
    codes = {s.id: s.code for s in segments}
    rows = session.exec(select(TrainingAttendance, Contact, _segment_of(segments))
                        .join(Contact, Contact.id == TrainingAttendance.contact_id)
                        .where(TrainingAttendance.session_id == training.id)
                        .order_by(func.lower(Contact.name), Contact.id)).all()
    return [(a, c, codes.get(sid, OUTSIDE)) for a, c, sid in rows]


@dataclass
class InviteResult:
    added: int = 0
    already: int = 0
    left_out: int = 0  # not invited for want of seats (up_to_capacity)


def _invited_count(session: Session, training: TrainingSession) -> int:
    rows = session.exec(select(TrainingAttendance).where(TrainingAttendance.session_id == training.id)).all()
    return sum(1 for r in rows if not is_walk_in(r))


def invite(*, session: Session, info: SessionInfo, contact_ids: Sequence[int] = (), segment: str | None = None,
           everyone: bool = False, up_to_capacity: bool = False, actor: User | None, ip: str = "",
           now: datetime | None = None) -> InviteResult:
    """Invite ``contact_ids``, or ``everyone`` eligible (in ``segment`` only, when given).

    Only members of the placement's segments can be invited. Capacity holds: asking for more
    people than the seats left refuses everything (:class:`PlanConflict`, saying how many seats
    are left), unless ``up_to_capacity``, which invites the first ones (by contact id) and says
    how many were left out. Inviting someone twice changes nothing.
    """
    training, campaign = info.training, info.campaign
    if info.placement.status == PlacementStatus.cancelled:
        raise PlanConflict("This training placement is cancelled: its sessions take no invitations.")
    if not invitations_open(info, now):
        raise PlanConflict(f"The session of {training.starts_local:%d %b %Y %H:%M} has started or is over: "
                           "invitations are closed (add those who came as walk-ins with the sign-in sheet).")
    segments = placement_segments(session=session, placement=info.placement)
    if segment:
        chosen = [s for s in segments if s.code == segment]
        if not chosen:
            raise PlanError({"segment": f"{segment[:40]} is not one of this training's segments "
                                        f"({', '.join(s.code for s in segments) or 'none'})."})
        segments = chosen
    eligible = session.exec(select(eligible_query(campaign=campaign, segments=segments).order_by(None)
                                   .subquery().c.id)).all()
    eligible_set = set(eligible)
    if everyone:
        wanted = sorted(eligible_set)
    else:
        wanted = list(dict.fromkeys(int(i) for i in contact_ids))
        if not wanted:
            raise PlanError({"contact_ids": "Choose at least one contact to invite."})
        outside = [i for i in wanted if i not in eligible_set]
        if outside:
            raise PlanError({"contact_ids": f"Contact(s) {', '.join(map(str, outside[:10]))} are not in this training's "
                                            "segments (or opted out of trainings, or in a comparison area)."})
    existing = {r.contact_id for r in session.exec(select(TrainingAttendance)
                                                    .where(TrainingAttendance.session_id == training.id))}
    new = [i for i in wanted if i not in existing]
    result = InviteResult(already=len(wanted) - len(new))
    if training.capacity is not None:
        left = max(0, training.capacity - _invited_count(session, training))
        if len(new) > left:
            if not up_to_capacity:
                raise PlanConflict(
                    f"This session has {training.capacity} seats and {training.capacity - left} are taken: "
                    f"{left} left, so {len(new)} more cannot be invited. Nothing was invited: choose at most {left}, "
                    "invite up to the capacity, or raise the capacity in the placement.")
            result.left_out = len(new) - left
            new = new[:left]
    moment = now or utcnow()
    session.add_all([TrainingAttendance(session_id=training.id, contact_id=i, invited_at=moment) for i in new])
    session.flush()
    result.added = len(new)
    if new:
        record_audit(session=session, actor=actor, action="training.invite", entity_type="campaign_training_session",
                     entity_id=training.id, summary=f"Invited {len(new)} to the session of {training.starts_local:%d %b %Y}",
                     details={"added": len(new), "left_out": result.left_out}, ip=ip)
    return result


def uninvite(*, session: Session, info: SessionInfo, contact_id: int, actor: User | None, ip: str = "",
             now: datetime | None = None) -> None:
    """Withdraw an invitation, until the session starts (afterwards, record the person absent)."""
    if not invitations_open(info, now):
        raise PlanConflict("The session has started or is over: record the person absent instead of withdrawing "
                           "the invitation.")
    row = session.exec(select(TrainingAttendance).where(TrainingAttendance.session_id == info.training.id,
                                                       TrainingAttendance.contact_id == contact_id)).first()
    if row is None:
        raise PlanError({"contact_id": f"Contact {contact_id} is not invited to this session."})
    if row.attended is True:
        raise PlanConflict("This person is recorded present: mark them absent first if that was a mistake.")
    session.delete(row)
    session.flush()
    record_audit(session=session, actor=actor, action="training.uninvite", entity_type="campaign_training_session",
                 entity_id=info.training.id, summary=f"Withdrew an invitation to the session of "
                                                     f"{info.training.starts_local:%d %b %Y}", ip=ip)


# --- Attendance ---------------------------------------------------------------------------


def invitations_open(info: SessionInfo, now: datetime | None = None) -> bool:
    """Until the session starts."""
    return info.training.starts_local > _now_local(info.campaign, now)


def attendance_open(info: SessionInfo, now: datetime | None = None) -> bool:
    """From the session's day on (in the campaign's zone)."""
    return _now_local(info.campaign, now).date() >= info.training.starts_local.date()


def _check_started(info: SessionInfo, now: datetime | None) -> None:
    start = info.training.starts_local
    if not attendance_open(info, now):
        raise PlanConflict(f"The session is on {start:%d %b %Y}: attendance can be recorded from that day.")


def set_attendance(*, session: Session, info: SessionInfo, marks: Mapping[int, bool | None], actor: User | None,
                   ip: str = "", now: datetime | None = None) -> int:
    """Record present (True), absent (False) or not recorded (None) per invited contact; returns changes.

    Every contact must be invited, or nothing is stored. Recording the same again changes nothing.
    """
    _check_started(info, now)
    rows = {r.contact_id: r for r in session.exec(select(TrainingAttendance)
                                                  .where(TrainingAttendance.session_id == info.training.id))}
    unknown = [cid for cid in marks if cid not in rows]
    if unknown:
        raise PlanError({"contact_id": f"Contact(s) {', '.join(map(str, unknown[:10]))} are not invited to this session."})
    moment = now or utcnow()
    changed = 0
    for cid, value in marks.items():
        row = rows[cid]
        if row.attended is value:
            continue
        if is_walk_in(row) and value is not True:
            session.delete(row)  # a walk-in who did not come after all was never there
        else:
            row.attended, row.recorded_at, row.recorded_by_id = value, moment if value is not None else None, (
                actor.id if actor and value is not None else None)
            session.add(row)
        changed += 1
    session.flush()
    if changed:
        sync_attendance(session=session, training=info.training, now=moment)  # attendance is the training's delivery
        record_audit(session=session, actor=actor, action="training.attendance", entity_type="campaign_training_session",
                     entity_id=info.training.id, summary=f"Recorded attendance at the session of "
                                                         f"{info.training.starts_local:%d %b %Y}",
                     details={"changed": changed}, ip=ip)
    return changed


def add_walk_in(*, session: Session, info: SessionInfo, phone: str = "", email: str = "", actor: User | None,
                ip: str = "", now: datetime | None = None) -> TrainingAttendance:
    """Record present someone who came: an invitee is marked present; a contact not invited is added
    as a walk-in. They must be in the contacts already (found by phone, else e-mail)."""
    _check_started(info, now)
    contact = None
    if phone.strip():
        e164, problem = normalise_phone(phone, info.campaign.country)
        if problem:
            raise PlanError({"phone": problem})
        contact = session.exec(select(Contact).where(Contact.phone == e164)).first()
        if contact is None:
            raise PlanError({"phone": f"No contact has the number {e164}: add them to the contacts first."})
    elif email.strip():
        clean, problem = normalise_email(email)
        if problem:
            raise PlanError({"email": problem})
        contact = session.exec(select(Contact).where(Contact.email == clean)).first()
        if contact is None:
            raise PlanError({"email": f"No contact has the e-mail {clean}: add them to the contacts first."})
    else:
        raise PlanError({"phone": "Give the phone number or the e-mail of the person who came."})
    row = session.exec(select(TrainingAttendance).where(TrainingAttendance.session_id == info.training.id,
                                                       TrainingAttendance.contact_id == contact.id)).first()
    if row is not None:
        set_attendance(session=session, info=info, marks={contact.id: True}, actor=actor, ip=ip, now=now)
        return row
    moment = now or utcnow()
    row = TrainingAttendance(session_id=info.training.id, contact_id=contact.id, invited_at=moment, attended=True,
                             recorded_at=moment, recorded_by_id=actor.id if actor else None)
    session.add(row)
    session.flush()
    sync_attendance(session=session, training=info.training)
    record_audit(session=session, actor=actor, action="training.walk_in", entity_type="campaign_training_session",
                 entity_id=info.training.id, summary=f"Added a walk-in to the session of {info.training.starts_local:%d %b %Y}",
                 ip=ip)
    return row


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).lower().replace("_", " ").split())


#: Sign-in sheet headers -> what they mean (compared without accents, case or underscores).
SHEET_COLUMNS: Mapping[str, str] = {
    "invitation id": "invitation", "invitation": "invitation", "invitation no": "invitation", "envitasyon": "invitation",
    "phone": "phone", "telephone": "phone", "telefon": "phone", "tel": "phone", "mobile": "phone", "phone number": "phone",
    "email": "email", "e-mail": "email", "courriel": "email", "imel": "email", "mail": "email",
    "attended": "attended", "present": "attended", "presence": "attended", "prezan": "attended", "signature": "signature",
    "signed": "signature", "siyati": "signature",
}
YES = {"yes", "y", "oui", "o", "wi", "si", "true", "1", "x", "present", "prezan", "p"}
NO = {"no", "n", "non", "false", "0", "absent", "absan", "a"}


@dataclass
class SheetRow:
    line: int
    contact_id: int
    attended: bool | None
    walk_in: bool = False


@dataclass
class SheetReport:
    """What uploading a sign-in sheet would do; ``problems`` (line, column, message) refuse it all."""

    columns: dict[str, str] = field(default_factory=dict)
    rows: list[SheetRow] = field(default_factory=list)
    problems: list[tuple[int, str, str]] = field(default_factory=list)
    lines: int = 0
    mark_absent: bool = False  # invitees not on the sheet and not recorded yet are marked absent
    absent_others: int = 0  # how many that is
    changes: int = 0  # set by apply_sheet
    warnings: list[str] = field(default_factory=list)

    @property
    def present(self) -> int:
        return sum(1 for r in self.rows if r.attended)

    @property
    def walk_ins(self) -> int:
        return sum(1 for r in self.rows if r.walk_in)


def _cell(values: list[Any], index: int | None) -> str:
    if index is None or index >= len(values):
        return ""
    text = str(values[index] if values[index] is not None else "").strip()
    return text[1:].strip() if text.startswith("'") else text  # a quote our own exports put before +509...


def check_sheet(*, session: Session, info: SessionInfo, source: Any, filename: str = "",
                absent_others: bool = False) -> SheetReport:
    """Read a sign-in sheet (CSV or XLSX) and say, line by line, what storing it would do. Writes nothing.

    Rows are matched by the invitation id column, else the phone, else the e-mail. An
    ``attended`` column says yes or no per row (empty: not recorded); without one, every row is
    someone present (a signature column, if any, must then be filled). A contact present but
    not invited is a walk-in. Raises :class:`ImportFileError` when the file cannot be read.
    """
    training, campaign = info.training, info.campaign
    rows_iter, close = open_table_rows(source, filename)
    report = SheetReport(mark_absent=absent_others)
    try:
        iterator = iter(rows_iter)
        header = next(iterator, None)
        if not header or not any(str(h).strip() for h in header):
            raise ImportFileError(["The file is empty: its first row must name the columns "
                                   "(invitation_id, phone or email, attended)."])
        plan: dict[str, int] = {}
        labels: dict[str, str] = {}
        for index, raw in enumerate(header):
            head = str(raw).strip().lstrip("\ufeff")
            target = SHEET_COLUMNS.get(_fold(head)) if head else None
            if target is None:
                continue
            if target in plan:
                raise ImportFileError([f"Two columns mean {target}: {labels[target]!r} and {head!r}. Keep one."])
            plan[target], labels[target] = index, head
            report.columns[head] = target
        if not {"invitation", "phone", "email"} & set(plan):
            raise ImportFileError(["The sheet needs an invitation_id, phone or email column to know who is who "
                                   f"(found: {', '.join(str(h) for h in header if str(h).strip()) or 'nothing'})."])
        invited = {r.id: r for r in session.exec(select(TrainingAttendance)
                                                 .where(TrainingAttendance.session_id == training.id))}
        by_contact = {r.contact_id: r for r in invited.values()}
        parsed: list[tuple[int, str, str, str, bool | None]] = []  # line, invitation, phone, email, attended
        for line, values in enumerate(iterator, start=2):
            values = list(values)
            if not any(str(v).strip() for v in values if v is not None):
                continue
            report.lines += 1
            if report.lines > MAX_SHEET_ROWS:
                raise ImportFileError([f"The sheet has more than {MAX_SHEET_ROWS:,} rows: is it the right file?"])
            attended: bool | None = True
            if "attended" in plan:
                text = _fold(_cell(values, plan["attended"]))
                if text == "":
                    attended = None
                elif text in YES:
                    attended = True
                elif text in NO:
                    attended = False
                else:
                    report.problems.append((line, labels["attended"], f"'{text[:20]}' is not yes or no (or x, present, absent)."))
                    continue
            elif "signature" in plan and not _cell(values, plan["signature"]):
                attended = None  # a printed row nobody signed
            parsed.append((line, _cell(values, plan.get("invitation")), _cell(values, plan.get("phone")),
                           _cell(values, plan.get("email")), attended))
        phones, emails = {}, {}
        for line, _, phone, email, _ in parsed:
            if phone:
                e164, problem = normalise_phone(phone, campaign.country)
                if problem:
                    report.problems.append((line, labels["phone"], problem))
                phones[(line, phone)] = e164
            if email:
                clean, problem = normalise_email(email)
                if problem:
                    report.problems.append((line, labels["email"], problem))
                emails[(line, email)] = clean
        wanted_phones = {v for v in phones.values() if v}
        wanted_emails = {v for v in emails.values() if v}
        contacts_by_phone = {c.phone: c for c in session.exec(select(Contact).where(col(Contact.phone).in_(wanted_phones)))} \
            if wanted_phones else {}
        contacts_by_email = {c.email: c for c in session.exec(select(Contact).where(col(Contact.email).in_(wanted_emails)))} \
            if wanted_emails else {}
        bad_lines = {p[0] for p in report.problems}
        seen: dict[int, tuple[int, bool | None]] = {}
        for line, invitation, phone, email, attended in parsed:
            if line in bad_lines:
                continue
            contact_id: int | None = None
            if invitation:
                digits = invitation.removesuffix(".0")
                row = invited.get(int(digits)) if digits.isdigit() and len(digits) < 10 else None
                if row is None:
                    report.problems.append((line, labels["invitation"], f"'{invitation[:20]}' is not an invitation to this session."))
                    continue
                contact_id = row.contact_id
            elif phone and phones.get((line, phone)):
                contact = contacts_by_phone.get(phones[(line, phone)])
                if contact is None:
                    report.problems.append((line, labels["phone"], f"No contact has the number {phones[(line, phone)]}: "
                                                                   "add them to the contacts first."))
                    continue
                contact_id = contact.id
            elif email and emails.get((line, email)):
                contact = contacts_by_email.get(emails[(line, email)])
                if contact is None:
                    report.problems.append((line, labels["email"], f"No contact has the e-mail {emails[(line, email)]}: "
                                                                   "add them to the contacts first."))
                    continue
                contact_id = contact.id
            else:
                column = ", ".join(labels[k] for k in ("invitation", "phone", "email") if k in labels)
                report.problems.append((line, column, "Empty: give the invitation id, the phone or the e-mail."))
                continue
            if contact_id in seen:
                first_line, first_value = seen[contact_id]
                if first_value != attended:
                    report.problems.append((line, labels.get("attended", "attended"),
                                            f"The same person as on line {first_line}, with another answer."))
                continue
            seen[contact_id] = (line, attended)
            walk_in = contact_id not in by_contact
            if walk_in and attended is not True:
                continue  # not invited and not (said to be) there: nothing to record
            report.rows.append(SheetRow(line, contact_id, attended, walk_in))
        if absent_others:
            listed = {r.contact_id for r in report.rows} | set(seen)
            report.absent_others = sum(1 for cid, r in by_contact.items() if cid not in listed and r.attended is None)
        capacity = training.capacity
        if capacity is not None:
            present = sum(1 for r in by_contact.values() if r.attended and r.contact_id not in seen) + report.present
            if present > capacity:
                report.warnings.append(f"{present} people present for {capacity} seats.")
    finally:
        close()
    report.problems.sort()
    return report


def apply_sheet(*, session: Session, info: SessionInfo, report: SheetReport, actor: User | None, ip: str = "", now: datetime | None = None) -> SheetReport:
    """Store a checked sheet: all its rows or none. Storing the same sheet again changes nothing."""
    if report.problems:
        raise PlanError({f"line {line}": f"{column}: {message}" for line, column, message in report.problems[:MAX_REPORTED]})
    _check_started(info, now)
    moment = now or utcnow()
    existing = {r.contact_id: r for r in session.exec(select(TrainingAttendance)
                                                      .where(TrainingAttendance.session_id == info.training.id))}
    changes = 0
    listed = set()
    for item in report.rows:
        listed.add(item.contact_id)
        row = existing.get(item.contact_id)
        if row is None:
            row = TrainingAttendance(session_id=info.training.id, contact_id=item.contact_id, invited_at=moment,
                                     attended=True, recorded_at=moment, recorded_by_id=actor.id if actor else None)
            session.add(row)
            existing[item.contact_id] = row
            changes += 1
            continue
        if row.attended is item.attended or item.attended is None:
            continue
        row.attended, row.recorded_at, row.recorded_by_id = item.attended, moment, actor.id if actor else None
        session.add(row)
        changes += 1
    if report.mark_absent:
        for cid, row in existing.items():
            if cid in listed or row.attended is not None:
                continue
            row.attended, row.recorded_at, row.recorded_by_id = False, moment, actor.id if actor else None
            session.add(row)
            changes += 1
    session.flush()
    report.changes = changes
    if changes:
        sync_attendance(session=session, training=info.training, now=moment)
        record_audit(session=session, actor=actor, action="training.sign_in_sheet", entity_type="campaign_training_session",
                     entity_id=info.training.id, summary=f"Stored the sign-in sheet of the session of "
                                                         f"{info.training.starts_local:%d %b %Y}",
                     details={"rows": len(report.rows), "changes": changes, "walk_ins": report.walk_ins}, ip=ip)
    return report


# --- Rates --------------------------------------------------------------------------------


@dataclass
class SegmentRate:
    code: str
    name: str
    invited: int = 0
    present: int = 0
    walk_ins: int = 0

    @property
    def rate(self) -> float | None:
        return self.present / self.invited if self.invited else None


@dataclass
class Rates:
    counts: Counts
    capacity: int | None
    by_segment: list[SegmentRate]

    @property
    def attendance_rate(self) -> float | None:
        """Invitees present / invitees."""
        return self.counts.present / self.counts.invited if self.counts.invited else None

    @property
    def recorded_rate(self) -> float | None:
        """Invitees present / invitees whose attendance is recorded."""
        recorded = self.counts.present + self.counts.absent
        return self.counts.present / recorded if recorded else None

    @property
    def fill_rate(self) -> float | None:
        """Everyone present (walk-ins too) / capacity."""
        return self.counts.attended / self.capacity if self.capacity else None

    @property
    def invited_of_capacity(self) -> float | None:
        return self.counts.invited / self.capacity if self.capacity else None


def _add_rows(table: dict[str, SegmentRate], rows: Iterable[tuple[TrainingAttendance, Contact, str]],
              names: Mapping[str, str]) -> None:
    for a, _, code in rows:
        item = table.setdefault(code, SegmentRate(code, names.get(code, code)))
        if is_walk_in(a):
            item.walk_ins += 1
        else:
            item.invited += 1
            item.present += a.attended is True


def rates(*, session: Session, info: SessionInfo) -> Rates:
    segments = placement_segments(session=session, placement=info.placement)
    names = {s.code: s.name for s in segments} | {OUTSIDE: "Outside the segments"}
    table = {s.code: SegmentRate(s.code, s.name) for s in segments}
    _add_rows(table, invitations(session=session, training=info.training, segments=segments), names)
    by_segment = [v for k, v in table.items() if k != OUTSIDE or v.invited or v.walk_ins]
    return Rates(info.counts, info.training.capacity, by_segment)


@dataclass
class TrainingSummary:
    sessions: list[tuple[SessionInfo, Rates]]
    totals: Rates
    by_segment: list[SegmentRate]


def campaign_summary(*, session: Session, campaign: Campaign) -> TrainingSummary:
    """Every session of the campaign with its rates, the totals, and the rates per segment across sessions."""
    infos = list_sessions(session=session, campaign_id=campaign.id)
    per = [(i, rates(session=session, info=i)) for i in infos]
    total = Counts()
    capacity: int | None = 0
    table: dict[str, SegmentRate] = {}
    for info, r in per:
        for name in ("invited", "present", "absent", "walk_ins"):
            setattr(total, name, getattr(total, name) + getattr(info.counts, name))
        capacity = None if capacity is None or info.training.capacity is None else capacity + info.training.capacity
        for s in r.by_segment:
            item = table.setdefault(s.code, SegmentRate(s.code, s.name))
            item.invited += s.invited
            item.present += s.present
            item.walk_ins += s.walk_ins
    return TrainingSummary(per, Rates(total, capacity or None, list(table.values())), list(table.values()))


def slug(text: str) -> str:
    """A file-name part from a venue or a date."""
    return re.sub(r"[^a-z0-9]+", "-", _fold(text)).strip("-")[:60] or "session"


