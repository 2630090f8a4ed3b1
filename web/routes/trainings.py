"""Training sessions: the session list, a session's page, invitations, attendance, sign-in sheets, rates.

Pages under ``/campaigns/trainings`` and ``/campaigns/{id}/trainings``, the JSON API under
``/api/v1/campaigns/.../trainings``. Contacts' names, phones and e-mails are personal data: only
roles with ``campaign.contacts`` see them (invitations, sheets); ``campaign.view`` roles (leads)
see counts and rates. Attendance is ``campaign.deliver``. Handlers are thin: they call
:mod:`campaign.trainings`, commit and render.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from campaign import service as svc
from campaign import trainings as tr
from campaign.models import MAX_ID, Campaign, Contact, TrainingAttendance
from content.rules import language_name

from ..accounts.models import User
from ..deps import Allow, SessionDep, client_ip
from ..exports_safe import safe_cell
from ..render import flash, redirect, render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/campaigns", tags=["trainings"])
routers = [router, api]

PAGE_SIZE = 50
When = Literal["all", "upcoming", "past"]


# --- Helpers ------------------------------------------------------------------------------


async def _raw_form(request: Request) -> FormData:
    return await request.form()


def _campaign(session: Session, campaign_id: int) -> Campaign:
    row = session.get(Campaign, campaign_id) if 0 < campaign_id <= MAX_ID else None
    if row is None:
        raise HTTPException(404, f"There is no campaign {campaign_id}.")
    return row


def _contact_id(contact_id: int) -> int:
    if not 0 < contact_id <= MAX_ID:
        raise HTTPException(404, f"There is no contact {contact_id}.")
    return contact_id


def _info(session: Session, campaign_id: int, session_id: int) -> tr.SessionInfo:
    campaign = _campaign(session, campaign_id)
    info = tr.get_training(session=session, campaign=campaign, session_id=session_id) if 0 < session_id <= MAX_ID else None
    if info is None:
        raise HTTPException(404, f"There is no training session {session_id} in this campaign.")
    return info


def _fail(err: svc.PlanError) -> None:
    if isinstance(err, svc.PlanConflict):
        raise HTTPException(409, err.message) from None
    raise RequestValidationError([{"loc": ("body", name), "msg": text, "type": "value_error"}
                                  for name, text in err.errors.items()]) from None


def _url(info: tr.SessionInfo, tail: str = "") -> str:
    return f"/campaigns/{info.campaign.id}/trainings/{info.training.id}{tail}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _open(info: tr.SessionInfo) -> dict[str, bool]:
    return {"attendance_open": tr.attendance_open(info), "invitations_open": tr.invitations_open(info)}


def _ctx(**values: Any) -> dict[str, Any]:
    return {"percent": _percent, "language_name": language_name, **values}


# --- API schemas --------------------------------------------------------------------------


class SegmentRatePublic(BaseModel):
    code: str
    name: str
    invited: int
    present: int
    walk_ins: int
    attendance_rate: float | None = Field(description="Invitees of the segment present / invited.")


class RatesPublic(BaseModel):
    invited: int = Field(description="Invitations (walk-ins apart).")
    present: int = Field(description="Invitees recorded present.")
    absent: int
    unrecorded: int
    walk_ins: int = Field(description="Contacts who came without an invitation.")
    capacity: int | None
    attendance_rate: float | None = Field(description="present / invited.")
    recorded_rate: float | None = Field(description="present / (present + absent).")
    fill_rate: float | None = Field(description="(present + walk-ins) / capacity.")
    invited_of_capacity: float | None = Field(description="invited / capacity.")
    by_segment: list[SegmentRatePublic]


class SessionPublic(BaseModel):
    id: int
    campaign_id: int
    placement_id: int
    placement_name: str
    starts_local: datetime = Field(description="Wall-clock time in the campaign's zone.")
    timezone: str
    duration_minutes: int
    venue: str
    facilitator: str
    capacity: int | None
    seats_left: int | None
    pre_wave_id: int | None
    post_wave_id: int | None
    notes: str
    past: bool
    invited: int
    present: int
    absent: int
    walk_ins: int


class MaterialPublic(BaseModel):
    message_id: int
    variant_id: int
    title: str
    language: str
    url: str = Field(description="The printable briefing page.")


class WavePublic(BaseModel):
    id: int
    survey_id: int
    name: str
    kind: str


class SessionDetailPublic(SessionPublic):
    materials: list[MaterialPublic]
    pre_wave: WavePublic | None
    post_wave: WavePublic | None
    rates: RatesPublic


class InvitationPublic(BaseModel):
    id: int = Field(description="The invitation id, printed on the sign-in sheet.")
    contact_id: int
    name: str
    phone: str | None
    email: str | None
    segment: str
    invited_at: datetime
    attended: bool | None
    recorded_at: datetime | None
    walk_in: bool


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list, max_length=5000)
    all: bool = Field(default=False, description="Everyone eligible not yet invited (in `segment` when given).")
    segment: str | None = Field(default=None, max_length=40)
    up_to_capacity: bool = Field(default=False, description="Invite the first ones up to the capacity instead of refusing.")


class InviteResultPublic(BaseModel):
    added: int
    already: int
    left_out: int
    invited: int
    capacity: int | None


class MarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: int = Field(ge=1, le=MAX_ID)
    attended: bool | None


class AttendanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    marks: list[MarkIn] = Field(min_length=1, max_length=5000)


class AttendanceResultPublic(BaseModel):
    changed: int
    rates: RatesPublic


class SheetProblemPublic(BaseModel):
    line: int
    column: str
    message: str


class SheetReportPublic(BaseModel):
    columns: dict[str, str]
    lines: int
    present: int
    walk_ins: int
    absent_others: int
    warnings: list[str]
    changes: int | None = Field(description="What was stored; null for a dry run.")
    rates: RatesPublic | None


class SummaryPublic(BaseModel):
    campaign_id: int
    sessions: list[SessionPublic]
    totals: RatesPublic
    by_segment: list[SegmentRatePublic]


def _segment_public(s: tr.SegmentRate) -> SegmentRatePublic:
    return SegmentRatePublic(code=s.code, name=s.name, invited=s.invited, present=s.present, walk_ins=s.walk_ins,
                             attendance_rate=s.rate)


def _rates_public(r: tr.Rates) -> RatesPublic:
    c = r.counts
    return RatesPublic(invited=c.invited, present=c.present, absent=c.absent, unrecorded=c.unrecorded, walk_ins=c.walk_ins,
                       capacity=r.capacity, attendance_rate=r.attendance_rate, recorded_rate=r.recorded_rate,
                       fill_rate=r.fill_rate, invited_of_capacity=r.invited_of_capacity,
                       by_segment=[_segment_public(s) for s in r.by_segment])


def _session_public(i: tr.SessionInfo) -> SessionPublic:
    t = i.training
    return SessionPublic(id=t.id, campaign_id=i.campaign.id, placement_id=i.placement.id,
                         placement_name=i.placement.name, starts_local=t.starts_local, timezone=i.campaign.timezone,
                         duration_minutes=t.duration_minutes, venue=t.venue, facilitator=t.facilitator, capacity=t.capacity,
                         seats_left=i.seats_left, pre_wave_id=t.pre_wave_id, post_wave_id=t.post_wave_id, notes=t.notes,
                         past=i.past, invited=i.counts.invited, present=i.counts.present, absent=i.counts.absent,
                         walk_ins=i.counts.walk_ins)


def _wave_public(w) -> WavePublic | None:
    return WavePublic(id=w.id, survey_id=w.survey_id, name=w.name, kind=w.kind.value) if w is not None else None


def _invitations(session: Session, info: tr.SessionInfo) -> list[tuple[TrainingAttendance, Contact, str]]:
    segments = svc.placement_segments(session=session, placement=info.placement)
    return tr.invitations(session=session, training=info.training, segments=segments)


# --- Pages: lists -------------------------------------------------------------------------


@router.get("/campaigns/trainings")
def trainings_page(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                   campaign: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None, when: When = "upcoming",
                   facilitator: Annotated[str, Query(max_length=120)] = "",
                   venue: Annotated[str, Query(max_length=200)] = "") -> Response:
    rows = tr.list_sessions(session=session, campaign_id=campaign, when=when, facilitator=facilitator, venue=venue)
    campaigns = svc.list_campaigns(session=session)
    return render(request, "trainings/list.html", _ctx(
        rows=rows, campaigns=campaigns, campaign=campaign, when=when, facilitator=facilitator, venue=venue), block="results")


@router.get("/campaigns/{campaign_id:int}/trainings")
def summary_page(request: Request, campaign_id: int, session: SessionDep,
                 user: Annotated[User, Allow("campaign.view")]) -> Response:
    c = _campaign(session, campaign_id)
    return render(request, "trainings/summary.html", _ctx(campaign=c, summary=tr.campaign_summary(session=session, campaign=c)))


# --- Pages: one session -------------------------------------------------------------------


def _session_ctx(session: Session, user: User, info: tr.SessionInfo, **extra: Any) -> dict[str, Any]:
    from ..accounts.permissions import allowed  # noqa: PLC0415

    waves = tr.session_waves(session=session, training=info.training)
    return _ctx(info=info, campaign=info.campaign, training=info.training, placement=info.placement,
                materials=tr.materials(session=session, placement=info.placement), waves=waves,
                rates=tr.rates(session=session, info=info),
                rows=_invitations(session, info) if allowed(user.role, "campaign.contacts") else None,
                **_open(info), **extra)


@router.get("/campaigns/{campaign_id:int}/trainings/{session_id:int}")
def session_page(request: Request, campaign_id: int, session_id: int, session: SessionDep,
                 user: Annotated[User, Allow("campaign.view")]) -> Response:
    info = _info(session, campaign_id, session_id)
    return render(request, "trainings/session.html", _session_ctx(session, user, info))


@router.get("/campaigns/{campaign_id:int}/trainings/{session_id:int}/invitations")
def invitations_page(request: Request, campaign_id: int, session_id: int, session: SessionDep,
                     user: Annotated[User, Allow("campaign.contacts")], q: Annotated[str, Query(max_length=100)] = "",
                     segment: Annotated[str, Query(max_length=40)] = "",
                     page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    info = _info(session, campaign_id, session_id)
    segments = svc.placement_segments(session=session, placement=info.placement)
    chosen = [s for s in segments if s.code == segment] or segments
    eligible = tr.eligible_query(campaign=info.campaign, segments=chosen).order_by(None).subquery()
    invited = select(TrainingAttendance.contact_id).where(TrainingAttendance.session_id == info.training.id)
    query = (select(Contact, eligible.c.segment_id).join(eligible, eligible.c.id == Contact.id)
             .where(col(Contact.id).not_in(invited)))
    text = q.strip()
    if text:
        like = f"%{text.lower().replace('%', '').replace('_', '')}%"
        query = query.where(or_(func.lower(Contact.name).like(like), col(Contact.phone).like(like),
                                func.lower(func.coalesce(Contact.email, "")).like(like)))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(func.lower(Contact.name), Contact.id).offset((page - 1) * PAGE_SIZE)
                        .limit(PAGE_SIZE)).all()
    codes = {s.id: s for s in segments}
    return render(request, "trainings/invitations.html", _ctx(
        info=info, campaign=info.campaign, training=info.training, segments=segments, segment=segment, q=q, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), total=total, candidates=[(c, codes.get(sid)) for c, sid in rows],
        invited=_invitations(session, info), **_open(info)), block="results")


@router.post("/campaigns/{campaign_id:int}/trainings/{session_id:int}/invitations")
def invite_form(request: Request, campaign_id: int, session_id: int, session: SessionDep,
                user: Annotated[User, Allow("campaign.contacts")], form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    info = _info(session, campaign_id, session_id)
    ids = [int(v) for v in form.getlist("contact_id") if str(v).isdigit() and 0 < int(v) <= MAX_ID]
    everyone = form.get("all") in ("1", "on", "true")
    try:
        result = tr.invite(session=session, info=info, contact_ids=ids, everyone=everyone,
                           segment=str(form.get("segment") or "") or None, up_to_capacity=form.get("fill") in ("1", "on", "true"),
                           actor=user, ip=client_ip(request))
        session.commit()
        message = f"{result.added} invited."
        if result.already:
            message += f" {result.already} already were."
        if result.left_out:
            message += f" {result.left_out} left out: the session is full ({info.training.capacity} seats)."
        if not result.added and not result.already and everyone:
            message = "Nobody is left to invite from these segments."
    except svc.PlanError as err:
        session.rollback()
        message = f"Not done: {err.message}"
    return flash(redirect(request, _url(info, "/invitations")), message, request)


@router.post("/campaigns/{campaign_id:int}/trainings/{session_id:int}/invitations/{contact_id:int}/delete")
def uninvite_form(request: Request, campaign_id: int, session_id: int, contact_id: int, session: SessionDep,
                  user: Annotated[User, Allow("campaign.contacts")]) -> Response:
    info = _info(session, campaign_id, session_id)
    contact_id = _contact_id(contact_id)
    try:
        tr.uninvite(session=session, info=info, contact_id=contact_id, actor=user, ip=client_ip(request))
        session.commit()
        message = "Invitation withdrawn."
    except svc.PlanError as err:
        session.rollback()
        message = f"Not done: {err.message}"
    return flash(redirect(request, _url(info, "/invitations")), message, request)


@router.get("/campaigns/{campaign_id:int}/trainings/{session_id:int}/sheet")
def sheet_page(request: Request, campaign_id: int, session_id: int, session: SessionDep,
               user: Annotated[User, Allow("campaign.contacts")]) -> Response:
    """The printable invitation list and sign-in sheet."""
    info = _info(session, campaign_id, session_id)
    return render(request, "trainings/sheet.html", _ctx(info=info, campaign=info.campaign, training=info.training,
                                                        placement=info.placement, rows=_invitations(session, info)))


@router.get("/campaigns/{campaign_id:int}/trainings/{session_id:int}/sheet.csv")
def sheet_csv(request: Request, campaign_id: int, session_id: int, session: SessionDep,
              user: Annotated[User, Allow("campaign.contacts")]) -> Response:
    """The sign-in sheet as CSV (UTF-8): fill the attended column and upload it back."""
    info = _info(session, campaign_id, session_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["invitation_id", "name", "phone", "email", "segment", "attended", "signature"])
    for a, c, code in _invitations(session, info):
        attended = "" if a.attended is None else ("yes" if a.attended else "no")
        writer.writerow([safe_cell(v) for v in (a.id, c.name, c.phone or "", c.email or "", code, attended, "")])
    name = f"sign-in-{info.training.starts_local:%Y-%m-%d}-{tr.slug(info.training.venue)}.csv"
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


# --- Pages: attendance --------------------------------------------------------------------


@router.post("/campaigns/{campaign_id:int}/trainings/{session_id:int}/attendance")
def attendance_form(request: Request, campaign_id: int, session_id: int, session: SessionDep,
                    user: Annotated[User, Allow("campaign.deliver")], form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    """The whole list at once (without JavaScript): ticked present, the others listed absent."""
    info = _info(session, campaign_id, session_id)
    listed = {int(v) for v in form.getlist("listed") if str(v).isdigit() and 0 < int(v) <= MAX_ID}
    present = {int(v) for v in form.getlist("present") if str(v).isdigit() and 0 < int(v) <= MAX_ID}
    try:
        changed = tr.set_attendance(session=session, info=info, marks={cid: cid in present for cid in listed | present},
                                    actor=user, ip=client_ip(request))
        session.commit()
        message = f"Attendance saved: {changed} change(s)."
    except svc.PlanError as err:
        session.rollback()
        message = f"Not done: {err.message}"
    return flash(redirect(request, _url(info)), message, request)


@router.post("/campaigns/{campaign_id:int}/trainings/{session_id:int}/attendance/{contact_id:int}")
def attendance_row(request: Request, campaign_id: int, session_id: int, contact_id: int, session: SessionDep,
                   user: Annotated[User, Allow("campaign.deliver")], form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    """One checkbox (HTMX): ticked is present, unticked absent. Answers the row again."""
    info = _info(session, campaign_id, session_id)
    contact_id = _contact_id(contact_id)
    if not any(r[1].id == contact_id for r in _invitations(session, info)):
        raise HTTPException(404, "This person is not invited to this session.")
    error = None
    try:
        tr.set_attendance(session=session, info=info, marks={contact_id: form.get("attended") in ("on", "1", "true")},
                          actor=user, ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        error = err.message
    row = next(r for r in _invitations(session, info) if r[1].id == contact_id)
    return render(request, "trainings/_attendance_row_partial.html",
                  _ctx(info=info, campaign=info.campaign, row=row, error=error, **_open(info)), block=None,
                  status_code=409 if error else 200)


@router.post("/campaigns/{campaign_id:int}/trainings/{session_id:int}/walk-ins")
def walk_in_form(request: Request, campaign_id: int, session_id: int, session: SessionDep,
                 user: Annotated[User, Allow("campaign.deliver")], phone: Annotated[str, Form(max_length=40)] = "",
                 email: Annotated[str, Form(max_length=254)] = "") -> Response:
    """Someone came who is in the contacts: present, added as a walk-in if not invited."""
    info = _info(session, campaign_id, session_id)
    try:
        row = tr.add_walk_in(session=session, info=info, phone=phone, email=email, actor=user, ip=client_ip(request))
        contact = session.get(Contact, row.contact_id)
        session.commit()
        message = f"{contact.name or contact.phone or contact.email} recorded present" + (
            " (walk-in)." if tr.is_walk_in(row) else ".")
    except svc.PlanError as err:
        session.rollback()
        message = f"Not done: {err.message}"
    return flash(redirect(request, _url(info) + "#invitees-h"), message, request)


@router.post("/campaigns/{campaign_id:int}/trainings/{session_id:int}/attendance/sheet")
async def attendance_sheet(request: Request, campaign_id: int, session_id: int, session: SessionDep,
                           user: Annotated[User, Allow("campaign.deliver")], file: Annotated[UploadFile, File()],
                           absent_others: Annotated[str, Form(max_length=10)] = "") -> Response:
    """An uploaded sign-in sheet: all its rows or none, with a report line by line."""
    info = _info(session, campaign_id, session_id)
    raw = await file.read()
    report, error = None, None
    try:
        report = tr.check_sheet(session=session, info=info, source=raw, filename=file.filename or "",
                                absent_others=absent_others in ("on", "1", "true"))
        if not report.problems:
            tr.apply_sheet(session=session, info=info, report=report, actor=user, ip=client_ip(request))
            session.commit()
        else:
            session.rollback()
    except tr.ImportFileError as err:
        session.rollback()
        error = " ".join(err.problems)
    except svc.PlanError as err:
        session.rollback()
        error = err.message
    info = _info(session, campaign_id, session_id)
    failed = error is not None or (report is not None and bool(report.problems))
    return render(request, "trainings/upload.html", _ctx(info=info, campaign=info.campaign, training=info.training,
                                                         report=report, error=error, filename=file.filename or "",
                                                         rates=tr.rates(session=session, info=info)),
                  status_code=422 if failed else 200)


# --- JSON API -----------------------------------------------------------------------------


@api.get("/trainings", response_model=list[SessionPublic], summary="Training sessions of every campaign")
def api_sessions(session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                 campaign: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None, when: When = "all",
                 facilitator: Annotated[str, Query(max_length=120)] = "",
                 venue: Annotated[str, Query(max_length=200)] = "") -> list[SessionPublic]:
    rows = tr.list_sessions(session=session, campaign_id=campaign, when=when, facilitator=facilitator, venue=venue)
    return [_session_public(i) for i in rows]


@api.get("/{campaign_id:int}/trainings", response_model=list[SessionPublic], summary="A campaign's training sessions")
def api_campaign_sessions(campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                          when: When = "all") -> list[SessionPublic]:
    c = _campaign(session, campaign_id)
    return [_session_public(i) for i in tr.list_sessions(session=session, campaign_id=c.id, when=when)]


@api.get("/{campaign_id:int}/trainings/summary", response_model=SummaryPublic,
         summary="Attendance of a campaign's trainings: per session, in total, per segment")
def api_summary(campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> SummaryPublic:
    c = _campaign(session, campaign_id)
    s = tr.campaign_summary(session=session, campaign=c)
    return SummaryPublic(campaign_id=c.id, sessions=[_session_public(i) for i, _ in s.sessions], totals=_rates_public(s.totals),
                         by_segment=[_segment_public(x) for x in s.by_segment])


@api.get("/{campaign_id:int}/trainings/{session_id:int}", response_model=SessionDetailPublic,
         summary="One training session: venue, facilitator, materials, survey waves, rates")
def api_session(campaign_id: int, session_id: int, session: SessionDep,
                user: Annotated[User, Allow("campaign.view")]) -> SessionDetailPublic:
    info = _info(session, campaign_id, session_id)
    waves = tr.session_waves(session=session, training=info.training)
    mats = [MaterialPublic(message_id=m.message.id, variant_id=m.variant.id, title=m.message.title, language=m.variant.language,
                           url=f"/content/{m.message.id}/print/{m.variant.id}")
            for m in tr.materials(session=session, placement=info.placement)]
    return SessionDetailPublic(**_session_public(info).model_dump(), materials=mats, pre_wave=_wave_public(waves["pre"]),
                               post_wave=_wave_public(waves["post"]), rates=_rates_public(tr.rates(session=session, info=info)))


@api.get("/{campaign_id:int}/trainings/{session_id:int}/rates", response_model=RatesPublic,
         summary="Attendance rate of a session, against invitations and capacity, per segment")
def api_rates(campaign_id: int, session_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> RatesPublic:
    info = _info(session, campaign_id, session_id)
    return _rates_public(tr.rates(session=session, info=info))


def _invitation_public(a: TrainingAttendance, c: Contact, code: str) -> InvitationPublic:
    return InvitationPublic(id=a.id, contact_id=c.id, name=c.name, phone=c.phone, email=c.email, segment=code,
                            invited_at=a.invited_at, attended=a.attended, recorded_at=a.recorded_at, walk_in=tr.is_walk_in(a))


@api.get("/{campaign_id:int}/trainings/{session_id:int}/invitations", response_model=list[InvitationPublic],
         summary="A session's invitations with attendance (personal data: planning roles only)")
def api_invitations(campaign_id: int, session_id: int, session: SessionDep,
                    user: Annotated[User, Allow("campaign.contacts")]) -> list[InvitationPublic]:
    info = _info(session, campaign_id, session_id)
    return [_invitation_public(a, c, code) for a, c, code in _invitations(session, info)]


@api.post("/{campaign_id:int}/trainings/{session_id:int}/invitations", response_model=InviteResultPublic,
          summary="Invite contacts of the placement's segments, within capacity (409 beyond it, nothing invited)")
def api_invite(request: Request, campaign_id: int, session_id: int, session: SessionDep,
               user: Annotated[User, Allow("campaign.contacts")], data: InviteIn) -> InviteResultPublic:
    info = _info(session, campaign_id, session_id)
    try:
        result = tr.invite(session=session, info=info, contact_ids=data.contact_ids, everyone=data.all, segment=data.segment,
                           up_to_capacity=data.up_to_capacity, actor=user, ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    info = _info(session, campaign_id, session_id)
    return InviteResultPublic(added=result.added, already=result.already, left_out=result.left_out,
                              invited=info.counts.invited, capacity=info.training.capacity)


@api.delete("/{campaign_id:int}/trainings/{session_id:int}/invitations/{contact_id:int}", status_code=204,
            summary="Withdraw an invitation (not once the person is recorded present)")
def api_uninvite(request: Request, campaign_id: int, session_id: int, contact_id: int, session: SessionDep,
                 user: Annotated[User, Allow("campaign.contacts")]) -> Response:
    info = _info(session, campaign_id, session_id)
    contact_id = _contact_id(contact_id)
    try:
        tr.uninvite(session=session, info=info, contact_id=contact_id, actor=user, ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        if not isinstance(err, svc.PlanConflict):
            raise HTTPException(404, err.message) from None
        _fail(err)
    return Response(status_code=204)


@api.put("/{campaign_id:int}/trainings/{session_id:int}/attendance", response_model=AttendanceResultPublic,
         summary="Record attendance: present (true), absent (false) or not recorded (null) per invited contact")
def api_attendance(request: Request, campaign_id: int, session_id: int, session: SessionDep,
                   user: Annotated[User, Allow("campaign.deliver")], data: AttendanceIn) -> AttendanceResultPublic:
    info = _info(session, campaign_id, session_id)
    marks: dict[int, bool | None] = {}
    for index, m in enumerate(data.marks):
        if m.contact_id in marks and marks[m.contact_id] is not m.attended:
            raise RequestValidationError([{"loc": ("body", "marks", index), "msg": f"contact {m.contact_id} is given twice "
                                           "with different answers", "type": "value_error"}])
        marks[m.contact_id] = m.attended
    try:
        changed = tr.set_attendance(session=session, info=info, marks=marks, actor=user, ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    info = _info(session, campaign_id, session_id)
    return AttendanceResultPublic(changed=changed, rates=_rates_public(tr.rates(session=session, info=info)))


class WalkInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=254)


@api.post("/{campaign_id:int}/trainings/{session_id:int}/walk-ins", response_model=InvitationPublic,
          summary="Record present someone in the contacts who came (a walk-in if not invited)")
def api_walk_in(request: Request, campaign_id: int, session_id: int, session: SessionDep,
                user: Annotated[User, Allow("campaign.deliver")], data: WalkInIn) -> InvitationPublic:
    info = _info(session, campaign_id, session_id)
    try:
        row = tr.add_walk_in(session=session, info=info, phone=data.phone, email=data.email, actor=user,
                             ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    return next(_invitation_public(a, c, code) for a, c, code in _invitations(session, info) if a.id == row.id)


@api.post("/{campaign_id:int}/trainings/{session_id:int}/attendance/sheet", response_model=SheetReportPublic,
          summary="Upload a sign-in sheet (CSV or XLSX): all rows or none; dry_run=true gives the report only")
async def api_attendance_sheet(request: Request, campaign_id: int, session_id: int, session: SessionDep,
                               user: Annotated[User, Allow("campaign.deliver")], file: Annotated[UploadFile, File()],
                               absent_others: bool = False, dry_run: bool = False) -> SheetReportPublic:
    info = _info(session, campaign_id, session_id)
    raw = await file.read()
    try:
        report = tr.check_sheet(session=session, info=info, source=raw, filename=file.filename or "",
                                absent_others=absent_others)
    except tr.ImportFileError as err:
        session.rollback()
        raise RequestValidationError([{"loc": ("body", "file"), "msg": " ".join(err.problems), "type": "value_error"}]) from None
    if report.problems:
        session.rollback()
        raise RequestValidationError([{"loc": ("body", f"line {line}, column {column}"), "msg": message, "type": "value_error"}
                                      for line, column, message in report.problems[:tr.MAX_REPORTED]])
    changes = None
    if not dry_run:
        try:
            tr.apply_sheet(session=session, info=info, report=report, actor=user, ip=client_ip(request))
            session.commit()
        except svc.PlanError as err:
            session.rollback()
            _fail(err)
        changes = report.changes
    else:
        session.rollback()
    info = _info(session, campaign_id, session_id)
    return SheetReportPublic(columns=report.columns, lines=report.lines, present=report.present, walk_ins=report.walk_ins,
                             absent_others=report.absent_others, warnings=report.warnings, changes=changes,
                             rates=_rates_public(tr.rates(session=session, info=info)) if not dry_run else None)

