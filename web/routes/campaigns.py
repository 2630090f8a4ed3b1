"""Campaign planning: campaigns, segments, contacts, channels, placements, the calendar.

Pages under ``/campaigns`` and the JSON API under ``/api/v1/campaigns``. Handlers are thin:
they read the request, call :mod:`campaign.service` or :mod:`campaign.contacts`, commit and
render. A refused form is shown again with a message per field (status 422), nothing stored.
"""

from __future__ import annotations

import calendar as calendar_module
import json
import secrets
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, or_
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from audiences.models import AudienceSegment, SegmentIn, SegmentPublic
from audiences.segments import HAITI_DEPARTMENTS, SegmentKind
from audiences.service import list_segments
from campaign import audience, contacts as contacts_svc
from campaign import rules as campaign_rules
from campaign import service as svc
from campaign.models import (
    MAX_ID,
    Campaign,
    CampaignIn,
    CampaignStatus,
    ChannelConfig,
    ChannelKind,
    Contact,
    ContactOptOut,
    ContactSegment,
    Placement,
    PlacementStatus,
    Timing,
)
from campaign.secrets import mask
from campaign.targeting import RuleError, describe, parse_rule
from content import rules as content_rules
from content.models import Message, MessageStatus
from surveys.models import Survey, Wave

from ..accounts.models import User
from ..accounts.permissions import allowed
from ..deps import Allow, OptionalIdQuery, SessionDep, client_ip
from ..render import flash, redirect, render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])
routers = [router, api]

PAGE_SIZE = 50
IMPORT_STEP = 2000  # contacts stored per request of a confirmed import
COUNTRY_HELP = "Country (ISO 3166 alpha-2) of numbers written without a country code; default: the current campaign's."
LANGUAGES = [("ht", "Kreyòl ayisyen"), ("fr", "Français"), ("en", "English"), ("es", "Español")]
WEEKDAYS = list(enumerate(campaign_rules.WEEKDAYS))


# --- Helpers ------------------------------------------------------------------------------


async def _raw_form(request: Request) -> FormData:
    return await request.form()


def _fail(err: svc.PlanError) -> None:
    """A service refusal as the API's answer: 422 per field, 409 for state."""
    if isinstance(err, svc.PlanConflict):
        raise HTTPException(409, err.message) from None
    raise RequestValidationError([{"loc": ("body", name), "msg": text, "type": "value_error"}
                                  for name, text in err.errors.items()]) from None


def _pydantic_errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors():
        name = ".".join(str(p) for p in e["loc"]) or "form"
        out.setdefault(name, e["msg"].removeprefix("Value error, "))
    return out


def _campaign(session: Session, campaign_id: int) -> Campaign:
    row = session.get(Campaign, campaign_id) if 0 < campaign_id <= MAX_ID else None
    if row is None:
        raise HTTPException(404, f"There is no campaign {campaign_id}.")
    return row


def _placement(session: Session, campaign: Campaign, placement_id: int) -> Placement:
    row = session.get(Placement, placement_id) if 0 < placement_id <= MAX_ID else None
    if row is None or row.campaign_id != campaign.id:
        raise HTTPException(404, f"There is no placement {placement_id} in this campaign.")
    return row


def _channel(session: Session, channel_id: int) -> ChannelConfig:
    row = session.get(ChannelConfig, channel_id) if 0 < channel_id <= MAX_ID else None
    if row is None:
        raise HTTPException(404, f"There is no channel {channel_id}.")
    return row


def _segment(session: Session, code: str) -> AudienceSegment:
    row = session.exec(select(AudienceSegment).where(AudienceSegment.code == code[:40])).first()
    if row is None:
        raise HTTPException(404, f"There is no segment {code[:40]}.")
    return row


def _secret(request: Request) -> str:
    return request.app.state.settings.secret_key


def _lists(form: FormData, name: str) -> list[str]:
    values = [str(v) for v in form.getlist(name)]
    if len(values) == 1 and "," in values[0]:
        values = values[0].split(",")
    return [v.strip() for v in values if v.strip()]


def _common(session: Session) -> dict[str, Any]:
    return {"statuses": list(CampaignStatus), "kinds": list(ChannelKind), "segment_kinds": list(SegmentKind),
            "languages": LANGUAGES, "regions": HAITI_DEPARTMENTS, "weekdays": WEEKDAYS,
            "segments": list_segments(session=session), "language_name": content_rules.language_name}


# --- API schemas --------------------------------------------------------------------------


class CampaignPublic(BaseModel):
    id: int
    uid: str
    name: str
    objectives: str
    country: str
    regions: list[str]
    comparison_regions: list[str]
    timezone: str
    languages: list[str]
    start_date: date
    end_date: date
    status: CampaignStatus
    survey_id: int | None
    baseline_wave_id: int | None
    endline_wave_id: int | None
    activated_at: datetime | None


class ChannelPublic(BaseModel):
    id: int
    name: str
    kind: ChannelKind
    provider: str
    settings: dict[str, Any] = Field(description="Per the provider's fields: text, numbers and JSON objects.")
    secrets: dict[str, str] = Field(description="Names of the saved secrets, masked: values are never returned.")
    regions: list[str]
    audience_size: int | None
    rate_limit_per_minute: int | None
    quiet_start: time | None
    quiet_end: time | None
    send_days: list[int]
    frequency_cap_per_week: int | None
    sms_segment_limit: int | None
    active: bool


class PlacementPublic(BaseModel):
    id: int
    uid: str
    campaign_id: int
    name: str
    message_id: int
    version_id: int
    channel_id: int
    segments: list[str]
    status: PlacementStatus
    timing: Timing
    starts_local: datetime | None
    rrule: str
    times_of_day: list[str]
    relative_field: str
    offset_days: int
    at_time: time | None
    duration_seconds: int | None
    language: str
    occurrences: int


class CheckPublic(BaseModel):
    errors: dict[str, str]
    warnings: list[str]
    occurrences: int
    first: list[datetime] = Field(description="The first wall-clock times (at most 20), in the campaign's zone.")
    recipients: int
    languages: dict[str, str] = Field(description="Recipient language -> variant language sent.")


class PreviewPublic(BaseModel):
    placement_id: int | None
    channel: str
    occurrences: int
    audience_per_occurrence: list[tuple[datetime, int, str]]
    per_day: dict[date, int]
    recipients: int | None
    excluded: dict[str, int]
    radio_reach: float | None
    radio_frequency: float | None
    warnings: list[str]


class CampaignPreviewPublic(BaseModel):
    placements: list[PreviewPublic]
    per_day_channel: list[tuple[date, str, int]]
    over_rate: list[str]
    direct_recipients: int
    estimated_radio_reach: int


class ContactPublic(BaseModel):
    id: int
    uid: str
    name: str
    phone: str | None
    email: str | None
    language: str
    region: str
    segments: list[str]
    attributes: dict[str, Any]
    consent_at: datetime | None
    consent_method: str
    opted_out: list[ChannelKind]


class ContactIn(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field(default="", max_length=120)
    phone: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=254)
    language: str = Field(default="", max_length=35)
    region: str = Field(default="", max_length=80)
    segments: list[str] = Field(default_factory=list, max_length=20)
    attributes: dict[str, str] = Field(default_factory=dict)
    consent_at: datetime | None = None
    consent_method: str = Field(default="", max_length=80)


class ContactUpdate(BaseModel):
    """The whole of one contact as staff may set it (PUT): what is left out is cleared."""

    model_config = {"extra": "forbid"}

    name: str = Field(default="", max_length=120)
    phone: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=254)
    language: str = Field(default="", max_length=35)
    region: str = Field(default="", max_length=80)
    segments: list[str] = Field(default_factory=list, max_length=50, description="Codes of list segments.")
    attributes: dict[str, str] = Field(default_factory=dict, max_length=50)
    consent: bool = Field(default=False, description="Consent given; false withdraws a recorded one.")
    consent_method: str = Field(default="", max_length=80)
    opted_out: list[ChannelKind] = Field(default_factory=list, max_length=5)
    note: str = Field(default="", max_length=200, description="Why (kept in the audit trail).")
    country: str | None = Field(default=None, min_length=2, max_length=2, description=COUNTRY_HELP)


class ImportReportPublic(BaseModel):
    counts: dict[str, int]
    columns: dict[str, str]
    problems: list[dict[str, Any]]
    without_consent: int
    stored: dict[str, int] | None = Field(default=None, description="What was stored; null for a dry run.")


class CalendarEventPublic(BaseModel):
    campaign_id: int
    placement_id: int
    local_at: datetime
    title: str
    channel: str
    channel_kind: str
    language: str
    segments: list[str]
    status: str


class CountPublic(BaseModel):
    members: int
    rule: str


def _campaign_public(c: Campaign) -> CampaignPublic:
    return CampaignPublic(**c.model_dump(include=set(CampaignPublic.model_fields)))


def _channel_public(request: Request, c: ChannelConfig) -> ChannelPublic:
    data = c.model_dump(include=set(ChannelPublic.model_fields) - {"secrets"})
    return ChannelPublic(**data, secrets=mask(c.secrets_encrypted, secret_key=_secret(request)))


def _placement_public(session: Session, campaign: Campaign, p: Placement) -> PlacementPublic:
    from campaign import schedule  # noqa: PLC0415

    segs = svc.placement_segments(session=session, placement=p)
    n = len(schedule.occurrence_times(session=session, campaign=campaign, placement=p))
    return PlacementPublic(**p.model_dump(include=set(PlacementPublic.model_fields) - {"segments", "occurrences"}),
                           segments=[s.code for s in segs], occurrences=n)


def _check_public(check: svc.PlacementCheck) -> CheckPublic:
    return CheckPublic(errors=check.errors, warnings=check.warnings, occurrences=len(check.occurrences),
                       first=[o.local_at for o in check.occurrences[:20]], recipients=check.recipients,
                       languages=check.languages)


def _preview_public(pv: svc.Preview) -> PreviewPublic:
    return PreviewPublic(placement_id=pv.placement.id if pv.placement else None, channel=pv.channel.name,
                         occurrences=pv.total, audience_per_occurrence=[(o.local_at, o.audience, o.what) for o in pv.occurrences],
                         per_day=pv.per_day, recipients=pv.reach.recipients if pv.reach else None,
                         excluded=pv.reach.excluded if pv.reach else {},
                         radio_reach=round(pv.radio.reach) if pv.radio else None,
                         radio_frequency=round(pv.radio.frequency, 2) if pv.radio else None, warnings=pv.warnings)


def _contact_public(session: Session, c: Contact, codes: dict[int, str]) -> ContactPublic:
    segs = [codes[s] for s in session.exec(select(ContactSegment.segment_id).where(ContactSegment.contact_id == c.id)).all()
            if s in codes]
    outs = list(session.exec(select(ContactOptOut.channel_kind).where(ContactOptOut.contact_id == c.id)).all())
    return ContactPublic(id=c.id, uid=c.uid, name=c.name, phone=c.phone, email=c.email, language=c.language, region=c.region,
                         segments=segs, attributes=c.attributes or {}, consent_at=c.consent_at,
                         consent_method=c.consent_method, opted_out=outs)


# --- Campaigns: pages ---------------------------------------------------------------------


@router.get("/campaigns")
def campaigns_page(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> Response:
    rows = svc.list_campaigns(session=session)
    counts = dict(session.exec(select(Placement.campaign_id, func.count()).where(Placement.status != PlacementStatus.cancelled)
                               .group_by(Placement.campaign_id)).all())
    return render(request, "campaigns/list.html", {"campaigns": rows, "counts": counts, **_common(session)})


def _campaign_form_ctx(session: Session, form: dict[str, Any], errors: dict[str, str], campaign: Campaign | None) -> dict:
    surveys = session.exec(select(Survey).order_by(Survey.title)).all()
    waves = session.exec(select(Wave).order_by(Wave.survey_id, Wave.id)).all()
    return {"form": form, "errors": errors, "campaign": campaign, "surveys": surveys, "waves": waves, **_common(session)}


def _campaign_form_values(c: Campaign | None) -> dict[str, Any]:
    if c is None:
        today = date.today()
        return {"name": "", "objectives": "", "country": "HT", "regions": [], "comparison_regions": [],
                "timezone": "America/Port-au-Prince", "languages": ["ht", "fr"], "start_date": today.isoformat(),
                "end_date": (today + timedelta(days=90)).isoformat(), "survey_id": "", "baseline_wave_id": "",
                "endline_wave_id": ""}
    return {**c.model_dump(), "start_date": c.start_date.isoformat(), "end_date": c.end_date.isoformat()}


def _campaign_in(form: FormData) -> tuple[dict[str, Any], CampaignIn | None, dict[str, str]]:
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in
                              ("name", "objectives", "country", "timezone", "start_date", "end_date", "survey_id",
                               "baseline_wave_id", "endline_wave_id")}
    values["regions"], values["comparison_regions"] = _lists(form, "regions"), _lists(form, "comparison_regions")
    values["languages"] = _lists(form, "languages")
    data = {k: v for k, v in values.items() if v not in ("", None) or k in ("name",)}
    try:
        return values, CampaignIn(**data), {}
    except ValidationError as exc:
        return values, None, _pydantic_errors(exc)


@router.get("/campaigns/new")
def campaign_new(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.plan")]) -> Response:
    return render(request, "campaigns/form.html", _campaign_form_ctx(session, _campaign_form_values(None), {}, None))


@router.post("/campaigns/new")
def campaign_create(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                    form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    values, data, errors = _campaign_in(form)
    if data is not None:
        try:
            row = svc.create_campaign(session=session, data=data, actor=user, ip=client_ip(request))
            session.commit()
            return flash(redirect(request, f"/campaigns/{row.id}"), f"Campaign {row.name} created (draft).", request)
        except svc.PlanError as err:
            session.rollback()
            errors = err.errors
    return render(request, "campaigns/form.html", _campaign_form_ctx(session, values, errors, None), status_code=422)


@router.get("/campaigns/{campaign_id:int}/edit")
def campaign_edit(request: Request, campaign_id: int, session: SessionDep,
                  user: Annotated[User, Allow("campaign.plan")]) -> Response:
    c = _campaign(session, campaign_id)
    return render(request, "campaigns/form.html", _campaign_form_ctx(session, _campaign_form_values(c), {}, c))


@router.post("/campaigns/{campaign_id:int}/edit")
def campaign_update(request: Request, campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                    form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    c = _campaign(session, campaign_id)
    values, data, errors = _campaign_in(form)
    if data is not None:
        try:
            svc.update_campaign(session=session, campaign=c, data=data, actor=user, ip=client_ip(request))
            session.commit()
            return flash(redirect(request, f"/campaigns/{c.id}"), "Campaign saved.", request)
        except svc.PlanError as err:
            session.rollback()
            errors = err.errors
    return render(request, "campaigns/form.html", _campaign_form_ctx(session, values, errors, c), status_code=422)


@router.get("/campaigns/{campaign_id:int}")
def campaign_page(request: Request, campaign_id: int, session: SessionDep,
                  user: Annotated[User, Allow("campaign.view")]) -> Response:
    c = _campaign(session, campaign_id)
    preview = svc.campaign_preview(session=session, campaign=c)
    placements = session.exec(select(Placement, ChannelConfig, Message).join(ChannelConfig, ChannelConfig.id == Placement.channel_id)
                              .join(Message, Message.id == Placement.message_id)
                              .where(Placement.campaign_id == c.id).order_by(Placement.id)).all()
    previews = {pv.placement.id: pv for pv in preview.placements}
    segs = {p.id: svc.placement_segments(session=session, placement=p) for p, _, _ in placements}
    survey = session.get(Survey, c.survey_id) if c.survey_id else None
    waves = {w.id: w for w in session.exec(select(Wave).where(col(Wave.id).in_([c.baseline_wave_id or 0, c.endline_wave_id or 0])))}
    return render(request, "campaigns/detail.html", {
        "campaign": c, "preview": preview, "placements": placements, "previews": previews, "placement_segments": segs,
        "survey": survey, "waves": waves, "actions": svc.STATUS_ACTIONS, **_common(session)})


@router.post("/campaigns/{campaign_id:int}/status/{action}")
def campaign_status(request: Request, campaign_id: int, action: str, session: SessionDep,
                    user: Annotated[User, Allow("campaign.view")], replay: Annotated[bool, Form()] = False) -> Response:
    c = _campaign(session, campaign_id)
    try:
        svc.set_campaign_status(session=session, campaign=c, action=action, actor=user, ip=client_ip(request),
                                replay=replay)
        session.commit()
        message = f"Campaign {c.status.value}." + (" What the pause skipped is sent now." if replay and action == "resume" else "")
    except svc.PlanError as err:
        session.rollback()
        message = f"Not done: {err.message}"
    return flash(redirect(request, f"/campaigns/{c.id}"), message, request)


@router.get("/campaigns/{campaign_id:int}/timeline")
def campaign_timeline(request: Request, campaign_id: int, session: SessionDep,
                      user: Annotated[User, Allow("campaign.view")]) -> Response:
    c = _campaign(session, campaign_id)
    weeks, table = svc.segment_timeline(session=session, campaign=c)
    return render(request, "campaigns/timeline.html", {"campaign": c, "weeks": weeks, "table": table})


# --- Placements: pages --------------------------------------------------------------------


def _placement_form_values(p: Placement | None, codes: list[str] | None = None) -> dict[str, Any]:
    if p is None:
        return {"name": "", "message_id": "", "channel_id": "", "segments": [], "timing": "once", "starts_local": "",
                "rrule": "", "times_of_day": "", "relative_field": "consent_at", "offset_days": "0", "at_time": "09:00",
                "duration_seconds": "", "language": "", "social_platform": "", "sessions": [],
                "repeat_days": [], "repeat_until": ""}
    return {"name": p.name, "message_id": p.message_id, "channel_id": p.channel_id, "segments": codes or [],
            "timing": p.timing.value, "starts_local": p.starts_local.strftime("%Y-%m-%dT%H:%M") if p.starts_local else "",
            "rrule": p.rrule, "times_of_day": ", ".join(p.times_of_day), "relative_field": p.relative_field or "consent_at",
            "offset_days": p.offset_days, "at_time": p.at_time.strftime("%H:%M") if p.at_time else "09:00",
            "duration_seconds": p.duration_seconds or "", "language": p.language, "social_platform": p.social_platform,
            "sessions": [], "repeat_days": [], "repeat_until": ""}


def rrule_from_form(days: list[str], until: str, rrule: str) -> str:
    """The simple form's days and end date as an RRULE; an RRULE typed in full wins."""
    if rrule.strip():
        return rrule.strip()
    codes = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    chosen = [codes[int(d)] for d in days if d.isdigit() and int(d) < 7]
    if not chosen:
        return ""
    rule = f"FREQ=WEEKLY;BYDAY={','.join(chosen)}"
    if until:
        rule += f";UNTIL={until.replace('-', '')}T235959"
    return rule


def _sessions_from_form(form: FormData) -> list[dict[str, Any]]:
    out = []
    for i in range(50):
        start = str(form.get(f"session_{i}_starts_local") or "").strip()
        if not start:
            continue
        item = {"starts_local": start}
        for name in ("venue", "facilitator", "capacity", "duration_minutes", "pre_wave_id", "post_wave_id"):
            value = str(form.get(f"session_{i}_{name}") or "").strip()
            if value:
                item[name] = value
        out.append(item)
    return out


def _placement_in(form: FormData) -> tuple[dict[str, Any], svc.PlacementIn | None, dict[str, str]]:
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in
                              ("name", "message_id", "channel_id", "timing", "starts_local", "rrule", "times_of_day",
                               "relative_field", "offset_days", "at_time", "duration_seconds", "language",
                               "social_platform", "repeat_until")}
    values["segments"] = _lists(form, "segments")
    values["repeat_days"] = _lists(form, "repeat_days")
    values["sessions"] = _sessions_from_form(form)
    rule = rrule_from_form(values["repeat_days"], values["repeat_until"], values["rrule"])
    data: dict[str, Any] = {"name": values["name"], "segments": values["segments"], "timing": values["timing"] or "once",
                            "rrule": rule, "times_of_day": [t for t in values["times_of_day"].replace(";", ",").split(",") if t.strip()],
                            "language": values["language"], "social_platform": values["social_platform"],
                            "sessions": values["sessions"]}
    for key in ("message_id", "channel_id", "starts_local", "relative_field", "offset_days", "at_time", "duration_seconds"):
        if values[key]:
            data[key] = values[key]
    if data["timing"] != "relative":
        data.pop("relative_field", None)
        data.pop("at_time", None)
    try:
        return values, svc.PlacementIn(**data), {}
    except ValidationError as exc:
        return values, None, _pydantic_errors(exc)


def _placement_form_ctx(session: Session, c: Campaign, form: dict, errors: dict, check: svc.PlacementCheck | None,
                        placement: Placement | None) -> dict[str, Any]:
    messages = session.exec(select(Message).where(col(Message.approved_version_id).is_not(None),
                                                  Message.status != MessageStatus.retired).order_by(Message.title)).all()
    channels = session.exec(select(ChannelConfig).where(ChannelConfig.active == True).order_by(ChannelConfig.kind, ChannelConfig.name)).all()  # noqa: E712
    return {"campaign": c, "form": form, "errors": errors, "check": check, "placement": placement, "messages": messages,
            "channels": channels, "timings": list(Timing), **_common(session)}


@router.get("/campaigns/{campaign_id:int}/placements/new")
def placement_new(request: Request, campaign_id: int, session: SessionDep,
                  user: Annotated[User, Allow("campaign.plan")]) -> Response:
    c = _campaign(session, campaign_id)
    form = _placement_form_values(None)
    form["starts_local"] = datetime.combine(max(c.start_date, date.today()), time(7, 30)).strftime("%Y-%m-%dT%H:%M")
    return render(request, "campaigns/placement_form.html", _placement_form_ctx(session, c, form, {}, None, None))


@router.post("/campaigns/{campaign_id:int}/placements/check")
def placement_check_partial(request: Request, campaign_id: int, session: SessionDep,
                            user: Annotated[User, Allow("campaign.plan")],
                            form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    """The live check of the placement form (HTMX): errors, warnings, occurrences, recipients."""
    c = _campaign(session, campaign_id)
    _, data, errors = _placement_in(form)
    check = None
    if data is not None:
        placement_id = int(form.get("placement_id") or 0) or None
        check = svc.check_placement(session=session, campaign=c, data=data, placement_id=placement_id)
        errors = check.errors
    session.rollback()
    return render(request, "campaigns/_check_partial.html", {"check": check, "errors": errors, "campaign": c}, block=None)


@router.post("/campaigns/{campaign_id:int}/placements/new")
def placement_create(request: Request, campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                     form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    c = _campaign(session, campaign_id)
    values, data, errors = _placement_in(form)
    check = None
    if data is not None:
        try:
            row, check = svc.create_placement(session=session, campaign=c, data=data, actor=user, ip=client_ip(request))
            session.commit()
            return flash(redirect(request, f"/campaigns/{c.id}/placements/{row.id}"),
                         f"Placement saved: {len(check.occurrences)} time(s).", request)
        except svc.PlanError as err:
            session.rollback()
            errors = err.errors
            check = svc.check_placement(session=session, campaign=c, data=data) if not isinstance(err, svc.PlanConflict) else None
    return render(request, "campaigns/placement_form.html", _placement_form_ctx(session, c, values, errors, check, None),
                  status_code=422)


@router.get("/campaigns/{campaign_id:int}/placements/{placement_id:int}")
def placement_page(request: Request, campaign_id: int, placement_id: int, session: SessionDep,
                   user: Annotated[User, Allow("campaign.view")]) -> Response:
    c = _campaign(session, campaign_id)
    p = _placement(session, c, placement_id)
    preview = svc.preview_placement(session=session, campaign=c, placement=p)
    return render(request, "campaigns/placement.html", {
        "campaign": c, "placement": p, "preview": preview, "message": session.get(Message, p.message_id),
        "segments_of": svc.placement_segments(session=session, placement=p), **_common(session)})


@router.get("/campaigns/{campaign_id:int}/placements/{placement_id:int}/edit")
def placement_edit(request: Request, campaign_id: int, placement_id: int, session: SessionDep,
                   user: Annotated[User, Allow("campaign.plan")]) -> Response:
    c = _campaign(session, campaign_id)
    p = _placement(session, c, placement_id)
    form = _placement_form_values(p, [s.code for s in svc.placement_segments(session=session, placement=p)])
    form["sessions"] = [s.model_dump() for s in svc.PlacementIn.from_row(session, p).sessions]
    return render(request, "campaigns/placement_form.html", _placement_form_ctx(session, c, form, {}, None, p))


@router.post("/campaigns/{campaign_id:int}/placements/{placement_id:int}/edit")
def placement_update(request: Request, campaign_id: int, placement_id: int, session: SessionDep,
                     user: Annotated[User, Allow("campaign.plan")], form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    c = _campaign(session, campaign_id)
    p = _placement(session, c, placement_id)
    values, data, errors = _placement_in(form)
    check = None
    if data is not None:
        try:
            svc.update_placement(session=session, campaign=c, placement=p, data=data, actor=user, ip=client_ip(request))
            session.commit()
            return flash(redirect(request, f"/campaigns/{c.id}/placements/{p.id}"), "Placement saved.", request)
        except svc.PlanError as err:
            session.rollback()
            errors = err.errors
    return render(request, "campaigns/placement_form.html", _placement_form_ctx(session, c, values, errors, check, p),
                  status_code=422)


@router.post("/campaigns/{campaign_id:int}/placements/{placement_id:int}/status/{status}")
def placement_status(request: Request, campaign_id: int, placement_id: int, status: str, session: SessionDep,
                     user: Annotated[User, Allow("campaign.deliver")], replay: Annotated[bool, Form()] = False) -> Response:
    c = _campaign(session, campaign_id)
    p = _placement(session, c, placement_id)
    try:
        target = PlacementStatus(status)
    except ValueError:
        raise HTTPException(404, "Unknown status: use active, paused or cancelled.") from None
    try:
        svc.set_placement_status(session=session, placement=p, status=target, actor=user, ip=client_ip(request),
                                 replay=replay)
        session.commit()
        message = f"Placement {target.value}." + (" What the pause skipped is sent now." if replay else "")
    except svc.PlanError as err:
        session.rollback()
        message = f"Not done: {err.message}"
    return flash(redirect(request, f"/campaigns/{c.id}/placements/{p.id}"), message, request)


# --- Calendar -----------------------------------------------------------------------------


def _calendar_range(view: str, day: date) -> tuple[date, date]:
    if view == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if view == "list":
        return day, day + timedelta(days=30)
    first = day.replace(day=1)
    last = first.replace(day=calendar_module.monthrange(first.year, first.month)[1])
    return first, last


def _shift(view: str, day: date, step: int) -> date:
    if view == "week":
        return day + timedelta(days=7 * step)
    if view == "list":
        return day + timedelta(days=31 * step)
    month = day.month - 1 + step
    return date(day.year + month // 12, month % 12 + 1, 1)


@router.get("/campaigns/calendar")
def calendar_page(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                  view: Annotated[str, Query(pattern="^(month|week|list)$")] = "month",
                  day: Annotated[date | None, Query(alias="date")] = None,
                  campaign: OptionalIdQuery = None,
                  channel: OptionalIdQuery = None,
                  segment: Annotated[str, Query(max_length=40)] = "",
                  language: Annotated[str, Query(max_length=35)] = "",
                  message: OptionalIdQuery = None) -> Response:
    day = day or date.today()
    start, end = _calendar_range(view, day)
    events = svc.calendar_events(session=session, start=start, end=end, campaign_id=campaign, channel_id=channel,
                                 segment=segment or None, language=language or None, message_id=message)
    by_day: dict[date, list[svc.CalendarEvent]] = {}
    for e in events:
        by_day.setdefault(e.local_at.date(), []).append(e)
    weeks = calendar_module.Calendar().monthdatescalendar(day.year, day.month) if view == "month" else []
    filters = {"campaign": campaign or "", "channel": channel or "", "segment": segment, "language": language,
               "message": message or ""}
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(request, "campaigns/calendar.html", {
        "view": view, "day": day, "start": start, "end": end, "events": events, "by_day": by_day, "weeks": weeks,
        "prev": _shift(view, day, -1), "next": _shift(view, day, 1), "filters": filters, "query": query,
        "campaigns": svc.list_campaigns(session=session), "channels": session.exec(select(ChannelConfig)).all(),
        "messages": session.exec(select(Message).where(col(Message.approved_version_id).is_not(None))).all(),
        "today": date.today(), **_common(session)}, block="calendar")


# --- Segments -----------------------------------------------------------------------------


def _segment_counts(session: Session, segments: list[AudienceSegment]) -> dict[str, int]:
    out = {}
    for s in segments:
        try:
            out[s.code] = audience.count_members(session=session, segment=s)
        except RuleError:
            out[s.code] = 0
    return out


@router.get("/campaigns/segments")
def segments_page(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> Response:
    rows = list_segments(session=session, include_archived=True)
    rules_text = {s.code: describe(parse_rule(s.rule)) for s in rows if s.rule}
    return render(request, "campaigns/segments.html", {"rows": rows, "counts": _segment_counts(session, rows),
                                                       "rules_text": rules_text, **_common(session)})


def _rule_from_form(form: FormData) -> dict[str, Any] | None:
    conditions = []
    for i in range(20):
        field_ = str(form.get(f"rule_{i}_field") or "").strip()
        if not field_:
            continue
        if field_ == "attribute":
            field_ = "attributes." + str(form.get(f"rule_{i}_attribute") or "").strip().lower()
        conditions.append({"field": field_, "op": str(form.get(f"rule_{i}_op") or "eq"),
                           "value": str(form.get(f"rule_{i}_value") or "")})
    if not conditions:
        return None
    return {"match": str(form.get("rule_match") or "all"), "conditions": conditions}


def _segment_form(form: FormData) -> tuple[dict[str, Any], SegmentIn | None, dict[str, str]]:
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in ("code", "name", "description", "kind", "estimated_size")}
    values["regions"], values["languages"] = _lists(form, "regions"), _lists(form, "languages")
    values["rule"] = _rule_from_form(form) if form.get("segment_type") == "rule" else None
    values["segment_type"] = "rule" if values["rule"] or form.get("segment_type") == "rule" else "list"
    data = {k: values[k] for k in ("code", "name", "description", "regions", "languages", "rule")}
    if values["kind"]:
        data["kind"] = values["kind"]
    if values["estimated_size"]:
        data["estimated_size"] = values["estimated_size"]
    if values["segment_type"] == "rule" and not values["rule"]:
        return values, None, {"rule": "Give at least one condition, or make it a list segment."}
    try:
        return values, SegmentIn(**data), {}
    except ValidationError as exc:
        return values, None, _pydantic_errors(exc)


def _segment_ctx(session: Session, form: dict, errors: dict, segment: AudienceSegment | None) -> dict[str, Any]:
    attributes = sorted(_attribute_names(session))
    return {"form": form, "errors": errors, "segment": segment, "ops": list(parse_ops()), "attributes": attributes,
            **_common(session)}


def parse_ops() -> list[tuple[str, str]]:
    from campaign.targeting import OPS  # noqa: PLC0415

    return list(OPS.items())


def _attribute_names(session: Session) -> set[str]:
    names: set[str] = set()
    for attrs in session.exec(select(Contact.attributes).limit(2000)).all():
        if isinstance(attrs, dict):
            names |= set(attrs)
    return names


def _segment_values(s: AudienceSegment | None) -> dict[str, Any]:
    if s is None:
        return {"code": "", "name": "", "description": "", "kind": "general_public", "estimated_size": "", "regions": [],
                "languages": [], "rule": None, "segment_type": "list"}
    return {**s.model_dump(), "kind": s.kind.value, "estimated_size": s.estimated_size or "",
            "segment_type": "rule" if s.rule else "list"}


@router.get("/campaigns/segments/new")
def segment_new(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.plan")]) -> Response:
    return render(request, "campaigns/segment_form.html", _segment_ctx(session, _segment_values(None), {}, None))


@router.post("/campaigns/segments/new")
def segment_create(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                   form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    values, data, errors = _segment_form(form)
    if data is not None:
        try:
            row = svc.save_segment(session=session, data=data, actor=user, ip=client_ip(request))
            session.commit()
            return flash(redirect(request, "/campaigns/segments"), f"Segment {row.name} saved.", request)
        except svc.PlanError as err:
            session.rollback()
            errors = err.errors
    return render(request, "campaigns/segment_form.html", _segment_ctx(session, values, errors, None), status_code=422)


@router.post("/campaigns/segments/count")
def segment_count_partial(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                          form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    """The live member count while a rule is edited (HTMX)."""
    rule = _rule_from_form(form)
    ctx: dict[str, Any] = {"count": None, "error": None, "text": ""}
    if rule is None:
        ctx["error"] = "Add a condition to see who it matches."
    else:
        try:
            parsed = parse_rule(rule)
            ctx["count"] = audience.count_members(session=session, rule=parsed)
            ctx["text"] = describe(parsed)
        except RuleError as err:
            ctx["error"] = " ".join(err.errors.values())
    return render(request, "campaigns/_count_partial.html", ctx, block=None)


@router.get("/campaigns/segments/{code}/edit")
def segment_edit(request: Request, code: str, session: SessionDep, user: Annotated[User, Allow("campaign.plan")]) -> Response:
    s = _segment(session, code)
    return render(request, "campaigns/segment_form.html", _segment_ctx(session, _segment_values(s), {}, s))


@router.post("/campaigns/segments/{code}/edit")
def segment_update(request: Request, code: str, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                   form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    s = _segment(session, code)
    values, data, errors = _segment_form(form)
    if data is not None:
        try:
            svc.save_segment(session=session, data=data, actor=user, segment=s, ip=client_ip(request))
            session.commit()
            return flash(redirect(request, "/campaigns/segments"), f"Segment {s.name} saved.", request)
        except svc.PlanError as err:
            session.rollback()
            errors = err.errors
    return render(request, "campaigns/segment_form.html", _segment_ctx(session, values, errors, s), status_code=422)


# --- Channels -----------------------------------------------------------------------------


def _channel_values(c: ChannelConfig | None, kind: str = "sms") -> dict[str, Any]:
    if c is None:
        return {"name": "", "kind": kind, "provider": "", "settings": {}, "regions": [], "audience_size": "",
                "rate_limit_per_minute": "", "quiet_start": "", "quiet_end": "", "send_days": list(range(7)),
                "frequency_cap_per_week": "", "sms_segment_limit": "", "active": True}
    settings = {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)
                for k, v in (c.settings or {}).items()}  # as the form's text fields hold them
    return {**c.model_dump(), "settings": settings, "kind": c.kind.value, "quiet_start": c.quiet_start.strftime("%H:%M") if c.quiet_start else "",
            "quiet_end": c.quiet_end.strftime("%H:%M") if c.quiet_end else "", "audience_size": c.audience_size or "",
            "rate_limit_per_minute": c.rate_limit_per_minute or "", "frequency_cap_per_week": c.frequency_cap_per_week or "",
            "sms_segment_limit": c.sms_segment_limit or ""}


def _channel_form(form: FormData) -> tuple[dict[str, Any], svc.ChannelIn | None, dict[str, str]]:
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in
                              ("name", "kind", "provider", "audience_size", "rate_limit_per_minute", "quiet_start",
                               "quiet_end", "frequency_cap_per_week", "sms_segment_limit")}
    values["regions"] = _lists(form, "regions")
    values["send_days"] = [int(d) for d in form.getlist("send_days") if str(d).isdigit()]
    values["active"] = form.get("active") == "on" or form.get("active") == "true"
    values["settings"] = {k[9:]: str(v).strip() for k, v in form.multi_items() if k.startswith("settings_") and str(v).strip()}
    secrets_ = {k[7:]: str(v) for k, v in form.multi_items() if k.startswith("secret_") and str(v)}
    data = {k: v for k, v in values.items() if v not in ("", None)}
    data["send_days"], data["active"], data["secrets"] = values["send_days"], values["active"], secrets_
    try:
        return values, svc.ChannelIn(**data), {}
    except ValidationError as exc:
        return values, None, _pydantic_errors(exc)


def _channel_ctx(request: Request, session: Session, form: dict, errors: dict, channel: ChannelConfig | None) -> dict:
    try:
        kind = ChannelKind(form.get("kind") or "sms")
    except ValueError:
        kind = ChannelKind.sms
    form["kind"] = kind.value
    return {"form": form, "errors": errors, "channel": channel, "kind_providers": svc.PROVIDERS[kind],
            "saved_secrets": mask(channel.secrets_encrypted, secret_key=_secret(request)) if channel else {},
            **_common(session)}


@router.get("/campaigns/channels")
def channels_page(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> Response:
    rows = session.exec(select(ChannelConfig).order_by(ChannelConfig.kind, ChannelConfig.name)).all()
    return render(request, "campaigns/channels.html", {"rows": rows, **_common(session)})


@router.get("/campaigns/channels/new")
def channel_new(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.channels")],
                kind: Annotated[ChannelKind, Query()] = ChannelKind.sms) -> Response:
    return render(request, "campaigns/channel_form.html", _channel_ctx(request, session, _channel_values(None, kind.value), {}, None))


@router.post("/campaigns/channels/new")
def channel_create(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.channels")],
                   form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    values, data, errors = _channel_form(form)
    if data is not None:
        try:
            row = svc.save_channel(session=session, data=data, actor=user, secret_key=_secret(request), ip=client_ip(request))
            session.commit()
            return flash(redirect(request, "/campaigns/channels"), f"Channel {row.name} saved.", request)
        except svc.PlanError as err:
            session.rollback()
            errors = err.errors
    return render(request, "campaigns/channel_form.html", _channel_ctx(request, session, values, errors, None), status_code=422)


@router.get("/campaigns/channels/{channel_id:int}/edit")
def channel_edit(request: Request, channel_id: int, session: SessionDep,
                 user: Annotated[User, Allow("campaign.channels")]) -> Response:
    c = _channel(session, channel_id)
    return render(request, "campaigns/channel_form.html", _channel_ctx(request, session, _channel_values(c), {}, c))


@router.post("/campaigns/channels/{channel_id:int}/edit")
def channel_update(request: Request, channel_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.channels")],
                   form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    c = _channel(session, channel_id)
    values, data, errors = _channel_form(form)
    if data is not None:
        try:
            svc.save_channel(session=session, data=data, actor=user, secret_key=_secret(request), channel=c, ip=client_ip(request))
            session.commit()
            return flash(redirect(request, "/campaigns/channels"), f"Channel {c.name} saved.", request)
        except svc.PlanError as err:
            session.rollback()
            errors = err.errors
    return render(request, "campaigns/channel_form.html", _channel_ctx(request, session, values, errors, c), status_code=422)


# --- Contacts -----------------------------------------------------------------------------


def _contacts_query(q: str, segment: str, session: Session):
    query = select(Contact)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(or_(func.lower(Contact.name).like(like), col(Contact.phone).like(f"%{q}%"),
                                func.lower(func.coalesce(Contact.email, "")).like(like), func.lower(Contact.region).like(like)))
    if segment:
        seg = session.exec(select(AudienceSegment).where(AudienceSegment.code == segment)).first()
        if seg is not None:
            query = query.where(audience.member_clause(seg))
    return query


@router.get("/campaigns/contacts")
def contacts_page(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.contacts")],
                  q: Annotated[str, Query(max_length=100)] = "", segment: Annotated[str, Query(max_length=40)] = "",
                  page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    query = _contacts_query(q.strip(), segment, session)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(Contact.id).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    outs = {(o.contact_id, o.channel_kind.value) for o in session.exec(
        select(ContactOptOut).where(col(ContactOptOut.contact_id).in_([r.id for r in rows])))} if rows else set()
    return render(request, "campaigns/contacts.html", {
        "rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "q": q, "segment": segment,
        "outs": outs, **_common(session)}, block="results")


@router.get("/campaigns/contacts.csv")
def contacts_csv(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.contacts")],
                 q: Annotated[str, Query(max_length=100)] = "", segment: Annotated[str, Query(max_length=40)] = "") -> Response:
    """The contacts (the page's filters), in the import's columns so the file can go back in; audited."""
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    from ..accounts.service import record_audit  # noqa: PLC0415
    from ..exports_safe import safe_row  # noqa: PLC0415

    rows = session.exec(_contacts_query(q.strip(), segment, session).order_by(Contact.id)).all()
    ids = [r.id for r in rows]
    codes = {s.id: s.code for s in list_segments(session=session, include_archived=True)}
    memberships: dict[int, list[str]] = {}
    outs: dict[int, list[str]] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        for cs in session.exec(select(ContactSegment).where(col(ContactSegment.contact_id).in_(chunk))):
            memberships.setdefault(cs.contact_id, []).append(codes.get(cs.segment_id, ""))
        for o in session.exec(select(ContactOptOut).where(col(ContactOptOut.contact_id).in_(chunk))):
            outs.setdefault(o.contact_id, []).append(o.channel_kind.value)
    attrs = sorted({k for r in rows for k in (r.attributes or {})})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["name", "phone", "email", "language", "region", "segments", "consent_at", "consent_method",
                     "consent_recorded_by", "opted_out", *attrs])
    for r in rows:
        writer.writerow(safe_row([r.name, r.phone or "", r.email or "", r.language, r.region,
                                  ";".join(sorted(memberships.get(r.id, []))),
                                  r.consent_at.isoformat() if r.consent_at else "", r.consent_method, r.consent_recorded_by,
                                  ";".join(sorted(outs.get(r.id, []))), *[(r.attributes or {}).get(a, "") for a in attrs]]))
    record_audit(session=session, actor=user, action="contacts.export", entity_type="campaign_contact", entity_id="",
                 summary=f"Exported {len(rows):,} contacts", details={"q": q[:100], "segment": segment}, ip=client_ip(request))
    session.commit()
    return Response(("\ufeff" + buffer.getvalue()).encode(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="konbit-contacts.csv"'})


def _contact(session: Session, contact_id: int) -> Contact:
    row = session.get(Contact, contact_id) if 0 < contact_id <= MAX_ID else None
    if row is None:
        raise HTTPException(404, "There is no such contact.")
    return row


def _contact_values(session: Session, c: Contact) -> dict[str, Any]:
    return {"name": c.name, "phone": c.phone or "", "email": c.email or "", "language": c.language, "region": c.region,
            "segments": contacts_svc.contact_segments(session=session, contact=c),
            "attributes": "\n".join(f"{k}: {v}" for k, v in sorted((c.attributes or {}).items())),
            "consent": c.consent_at is not None, "consent_method": c.consent_method,
            "opted_out": sorted(k.value for k in contacts_svc.opted_out_kinds(session=session, contact=c)), "note": ""}


def _parse_attributes(text: str) -> tuple[dict[str, str], str | None]:
    """``profession: judge`` lines (or ``key=value``) as a dict; the first line that is neither, named."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":") if ":" in line else line.partition("=")
        if not sep or not key.strip():
            return out, f"Line {number} ('{line.strip()[:40]}') is not 'name: value'."
        out[key.strip()] = value.strip()
    return out, None


def _contact_page(request: Request, session: Session, user: User, c: Contact, values: dict[str, Any],
                  errors: dict[str, str], status_code: int = 200) -> Response:
    from ..accounts.service import record_audit  # noqa: PLC0415

    history = session.exec(select(ContactOptOut).where(ContactOptOut.contact_id == c.id)).all()
    if status_code == 200:  # reading one person's data is recorded, as exports are
        record_audit(session=session, actor=user, action="contact.view", entity_type="campaign_contact",
                     entity_id=c.id, summary=f"Opened contact {c.uid[:8]}", ip=client_ip(request))
        session.commit()
    return render(request, "campaigns/contact.html", {"contact": c, "values": values, "errors": errors, "outs": history,
                                                      **_common(session)}, status_code=status_code)


@router.get("/campaigns/contacts/{contact_id:int}")
def contact_page(request: Request, contact_id: int, session: SessionDep,
                 user: Annotated[User, Allow("campaign.contacts")]) -> Response:
    c = _contact(session, contact_id)
    return _contact_page(request, session, user, c, _contact_values(session, c), {})


@router.post("/campaigns/contacts/{contact_id:int}")
def contact_save(request: Request, contact_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.contacts")],
                 form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    c = _contact(session, contact_id)
    values = {name: str(form.get(name, ""))[:2000] for name in ("name", "phone", "email", "language", "region",
                                                                "attributes", "consent_method", "note")}
    values["segments"] = [str(v)[:40] for v in form.getlist("segments")][:50]
    values["opted_out"] = [str(v)[:20] for v in form.getlist("opted_out")][:10]
    values["consent"] = form.get("consent") == "yes"
    attributes, problem = _parse_attributes(values["attributes"])
    errors = {"attributes": problem} if problem else {}
    kinds = {k.value: k for k in ChannelKind}
    if not errors:
        try:
            contacts_svc.update_contact(session=session, contact=c, actor=user, country=svc.default_country(session=session),
                                        ip=client_ip(request), data=contacts_svc.ContactEdit(
                                            name=values["name"], phone=values["phone"], email=values["email"],
                                            language=values["language"], region=values["region"],
                                            segments=tuple(values["segments"]), attributes=attributes,
                                            consent=values["consent"], consent_method=values["consent_method"],
                                            opted_out=frozenset(kinds[v] for v in values["opted_out"] if v in kinds),
                                            note=values["note"]))
            session.commit()
            return flash(redirect(request, f"/campaigns/contacts/{c.id}"), "Contact saved.", request)
        except contacts_svc.ContactError as err:
            session.rollback()
            errors = err.errors
    return _contact_page(request, session, user, c, values, errors, status_code=422)


def _imports_dir(request: Request) -> Path:
    path = Path(request.app.state.settings.data_dir) / "contact-imports"
    path.mkdir(parents=True, exist_ok=True)
    # Checked files nobody confirmed are deleted after a day (they hold personal data).
    cutoff = datetime.now().timestamp() - 86400
    for old in path.glob("*.json"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    return path


def _pending(request: Request, token: str, user: User) -> tuple[Path, dict[str, Any]]:
    if not token.isalnum() or len(token) > 64:
        raise HTTPException(404, "There is no such import.")
    path = _imports_dir(request) / f"{token}.json"
    if not path.exists():
        raise HTTPException(404, "This import is no longer waiting: it was finished, or checked more than a day ago.")
    data = json.loads(path.read_text())
    if data.get("user_id") != user.id:
        raise HTTPException(404, "There is no such import.")
    return path, data


@router.get("/campaigns/contacts/import")
def contacts_import_page(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.contacts")]) -> Response:
    return render(request, "campaigns/import.html", {"report": None, "errors": {}, "token": None,
                                                     "country": svc.default_country(session=session), **_common(session)})


@router.post("/campaigns/contacts/import")
async def contacts_import_check(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.contacts")],
                                file: Annotated[UploadFile, File()], country: Annotated[str, Form(max_length=2)] = "",
                                default_segment: Annotated[str, Form(max_length=40)] = "") -> Response:
    raw = await file.read()
    errors: dict[str, str] = {}
    report = None
    token = None
    try:
        report = contacts_svc.check_import(session=session, source=raw, filename=file.filename or "",
                                           country=country.strip().upper() or svc.default_country(session=session),
                                           default_segments=[default_segment] if default_segment else [], actor=user)
    except contacts_svc.ImportFileError as err:
        errors["file"] = " ".join(err.problems)
    session.rollback()
    if report is not None and report.rows:
        token = secrets.token_hex(16)
        (_imports_dir(request) / f"{token}.json").write_text(json.dumps(
            {"user_id": user.id, "filename": file.filename, "rows": [asdict(r) for r in report.rows], "done": 0,
             "added": 0, "updated": 0}))
    return render(request, "campaigns/import.html", {"report": report, "errors": errors, "token": token,
                                                     "country": country or svc.default_country(session=session), **_common(session)},
                  status_code=422 if errors else 200)


@router.post("/campaigns/contacts/import/{token}/step")
def contacts_import_step(request: Request, token: str, session: SessionDep,
                         user: Annotated[User, Allow("campaign.contacts")]) -> Response:
    """Store the next slice of a confirmed import; the page asks again until it is done (HTMX)."""
    path, data = _pending(request, token, user)
    rows = data["rows"]
    start = data["done"]
    part = rows[start:start + IMPORT_STEP]
    counts = contacts_svc.apply_rows(session=session, rows=part, actor=user)
    if start + len(part) >= len(rows):
        from ..accounts.service import record_audit  # noqa: PLC0415

        record_audit(session=session, actor=user, action="contacts.import", entity_type="campaign_contact",
                     summary=f"Imported contacts from {data.get('filename') or 'a file'}",
                     details={"added": data["added"] + counts["added"], "updated": data["updated"] + counts["updated"],
                              "rows": len(rows)}, ip=client_ip(request))
    session.commit()
    data["done"] = start + len(part)
    data["added"] += counts["added"]
    data["updated"] += counts["updated"]
    finished = data["done"] >= len(rows)
    if finished:
        path.unlink(missing_ok=True)
    else:
        path.write_text(json.dumps(data))
    return render(request, "campaigns/_import_progress_partial.html",
                  {"token": token, "done": data["done"], "total": len(rows), "added": data["added"],
                   "updated": data["updated"], "finished": finished}, block=None)


# --- JSON API -----------------------------------------------------------------------------


@api.get("", response_model=list[CampaignPublic], summary="List campaigns")
def api_campaigns(session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> list[CampaignPublic]:
    return [_campaign_public(c) for c in svc.list_campaigns(session=session)]


@api.post("", response_model=CampaignPublic, status_code=201, summary="Create a campaign (draft)")
def api_campaign_create(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                        data: CampaignIn) -> CampaignPublic:
    try:
        row = svc.create_campaign(session=session, data=data, actor=user, ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    return _campaign_public(row)


@api.get("/calendar", response_model=list[CalendarEventPublic], summary="Occurrences of every placement in a date range")
def api_calendar(session: SessionDep, user: Annotated[User, Allow("campaign.view")], start: date, end: date,
                 campaign: OptionalIdQuery = None,
                 channel: OptionalIdQuery = None,
                 segment: Annotated[str, Query(max_length=40)] = "", language: Annotated[str, Query(max_length=35)] = "",
                 message: OptionalIdQuery = None) -> list[CalendarEventPublic]:
    if end < start or (end - start).days > 400:
        raise RequestValidationError([{"loc": ("query", "end"), "msg": "end must be on or after start, at most 400 days later",
                                       "type": "value_error"}])
    events = svc.calendar_events(session=session, start=start, end=end, campaign_id=campaign, channel_id=channel,
                                 segment=segment or None, language=language or None, message_id=message)
    return [CalendarEventPublic(**{k: v for k, v in asdict(e).items() if k in CalendarEventPublic.model_fields}) for e in events]


@api.get("/segments", response_model=list[SegmentPublic], summary="List audience segments")
def api_segments(session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> list[SegmentPublic]:
    return [SegmentPublic(**s.model_dump()) for s in list_segments(session=session, include_archived=True)]


@api.post("/segments", response_model=SegmentPublic, status_code=201, summary="Create a segment (a list, or a rule)")
def api_segment_create(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                       data: SegmentIn) -> SegmentPublic:
    try:
        row = svc.save_segment(session=session, data=data, actor=user, ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    return SegmentPublic(**row.model_dump())


@api.put("/segments/{code}", response_model=SegmentPublic, summary="Change a segment")
def api_segment_update(request: Request, code: str, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                       data: SegmentIn) -> SegmentPublic:
    row = _segment(session, code)
    try:
        svc.save_segment(session=session, data=data, actor=user, segment=row, ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    return SegmentPublic(**row.model_dump())


@api.post("/segments/count", response_model=CountPublic, summary="How many contacts a rule matches, without saving it")
def api_segment_count(session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                      rule: Annotated[dict[str, Any], Body()]) -> CountPublic:
    try:
        parsed = parse_rule(rule)
    except RuleError as err:
        raise RequestValidationError([{"loc": ("body", k), "msg": v, "type": "value_error"} for k, v in err.errors.items()]) from None
    return CountPublic(members=audience.count_members(session=session, rule=parsed), rule=describe(parsed))


@api.get("/channels", response_model=list[ChannelPublic], summary="List channels (secrets masked)")
def api_channels(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> list[ChannelPublic]:
    return [_channel_public(request, c) for c in session.exec(select(ChannelConfig).order_by(ChannelConfig.id))]


@api.post("/channels", response_model=ChannelPublic, status_code=201, summary="Configure a channel")
def api_channel_create(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.channels")],
                       data: svc.ChannelIn) -> ChannelPublic:
    try:
        row = svc.save_channel(session=session, data=data, actor=user, secret_key=_secret(request), ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    return _channel_public(request, row)


@api.put("/channels/{channel_id:int}", response_model=ChannelPublic, summary="Change a channel; empty secrets keep the saved ones")
def api_channel_update(request: Request, channel_id: int, session: SessionDep,
                       user: Annotated[User, Allow("campaign.channels")], data: svc.ChannelIn) -> ChannelPublic:
    row = _channel(session, channel_id)
    try:
        svc.save_channel(session=session, data=data, actor=user, secret_key=_secret(request), channel=row, ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    return _channel_public(request, row)


@api.get("/contacts", response_model=list[ContactPublic], summary="Contacts (personal data: planning roles only)")
def api_contacts(session: SessionDep, user: Annotated[User, Allow("campaign.contacts")],
                 q: Annotated[str, Query(max_length=100)] = "", segment: Annotated[str, Query(max_length=40)] = "",
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[ContactPublic]:
    codes = {s.id: s.code for s in list_segments(session=session, include_archived=True)}
    rows = session.exec(_contacts_query(q.strip(), segment, session).order_by(Contact.id).offset(offset).limit(limit)).all()
    return [_contact_public(session, c, codes) for c in rows]


@api.get("/contacts/{contact_id:int}", response_model=ContactPublic, summary="One contact (personal data: planning roles only)")
def api_contact(request: Request, contact_id: int, session: SessionDep,
                user: Annotated[User, Allow("campaign.contacts")]) -> ContactPublic:
    codes = {s.id: s.code for s in list_segments(session=session, include_archived=True)}
    return _contact_public(session, _contact(session, contact_id), codes)


@api.put("/contacts/{contact_id:int}", response_model=ContactPublic,
         summary="Change one contact: its fields, list segments, consent and opt-outs (the whole record)")
def api_contact_update(request: Request, contact_id: int, session: SessionDep,
                       user: Annotated[User, Allow("campaign.contacts")], data: ContactUpdate) -> ContactPublic:
    c = _contact(session, contact_id)
    try:
        contacts_svc.update_contact(session=session, contact=c, actor=user, ip=client_ip(request),
                                    country=(data.country or svc.default_country(session=session)).upper(),
                                    data=contacts_svc.ContactEdit(
                                        name=data.name, phone=data.phone, email=data.email, language=data.language,
                                        region=data.region, segments=tuple(data.segments), attributes=data.attributes,
                                        consent=data.consent, consent_method=data.consent_method,
                                        opted_out=frozenset(data.opted_out), note=data.note))
        session.commit()
    except contacts_svc.ContactError as err:
        session.rollback()
        raise RequestValidationError([{"loc": ("body", name), "msg": text, "type": "value_error"}
                                      for name, text in err.errors.items()]) from None
    codes = {s.id: s.code for s in list_segments(session=session, include_archived=True)}
    return _contact_public(session, c, codes)


@api.post("/contacts", response_model=ImportReportPublic, summary="Add or complete contacts (matched by phone, then e-mail)")
def api_contacts_add(session: SessionDep, user: Annotated[User, Allow("campaign.contacts")],
                     contacts: Annotated[list[ContactIn], Body(max_length=5000)],
                     country: Annotated[str | None, Query(min_length=2, max_length=2, description=COUNTRY_HELP)] = None,
                     dry_run: bool = False) -> ImportReportPublic:
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    attrs = sorted({k for c in contacts for k in c.attributes})
    writer.writerow(["name", "phone", "email", "language", "region", "segments", "consent_at", "consent_method", *attrs])
    for c in contacts:
        writer.writerow([c.name, c.phone, c.email, c.language, c.region, ";".join(c.segments),
                         c.consent_at.isoformat() if c.consent_at else "", c.consent_method,
                         *[c.attributes.get(a, "") for a in attrs]])
    return _api_import(session, user, buffer.getvalue().encode(), "api.csv", country, dry_run)


def _api_import(session: Session, user: User, raw: bytes, filename: str, country: str | None,
                dry_run: bool) -> ImportReportPublic:
    country = (country or "").upper() or svc.default_country(session=session)
    try:
        report = contacts_svc.check_import(session=session, source=raw, filename=filename, country=country, actor=user)
    except contacts_svc.ImportFileError as err:
        raise RequestValidationError([{"loc": ("body", "file"), "msg": " ".join(err.problems),
                                       "type": "value_error"}]) from None
    stored = None
    if not dry_run and not report.counts["error"]:
        stored = contacts_svc.apply_rows(session=session, rows=report.rows, actor=user)
        session.commit()
    elif not dry_run:
        session.rollback()
        raise RequestValidationError([{"loc": ("body", f"line {r.line}"), "msg": "; ".join(r.problems), "type": "value_error"}
                                      for r in report.problems]) from None
    return ImportReportPublic(counts=report.counts, columns=report.columns, without_consent=report.without_consent,
                              problems=[{"line": r.line, "problems": r.problems} for r in report.problems], stored=stored)


@api.post("/contacts/import", response_model=ImportReportPublic,
          summary="Import a CSV or XLSX of contacts: all rows or none (dry_run=true: the report only)")
async def api_contacts_import(session: SessionDep, user: Annotated[User, Allow("campaign.contacts")],
                              file: Annotated[UploadFile, File()],
                              country: Annotated[str | None, Query(min_length=2, max_length=2, description=COUNTRY_HELP)] = None,
                              dry_run: bool = False) -> ImportReportPublic:
    return _api_import(session, user, await file.read(), file.filename or "", country, dry_run)


@api.get("/{campaign_id:int}", response_model=CampaignPublic, summary="One campaign")
def api_campaign(campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> CampaignPublic:
    return _campaign_public(_campaign(session, campaign_id))


@api.put("/{campaign_id:int}", response_model=CampaignPublic, summary="Change a campaign")
def api_campaign_update(request: Request, campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                        data: CampaignIn) -> CampaignPublic:
    row = _campaign(session, campaign_id)
    try:
        svc.update_campaign(session=session, campaign=row, data=data, actor=user, ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    return _campaign_public(row)


@api.post("/{campaign_id:int}/status/{action}", response_model=CampaignPublic,
          summary="activate (leads), pause, resume (replay=true: send now what the pause skipped) or finish a campaign")
def api_campaign_status(request: Request, campaign_id: int, action: str, session: SessionDep,
                        user: Annotated[User, Allow("campaign.view")], replay: Annotated[bool, Query()] = False) -> CampaignPublic:
    row = _campaign(session, campaign_id)
    try:
        svc.set_campaign_status(session=session, campaign=row, action=action, actor=user, ip=client_ip(request),
                                replay=replay)
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        if isinstance(err, svc.PlanConflict) and "role" in err.message or "Only a programme lead" in err.message:
            raise HTTPException(403, err.message) from None
        _fail(err)
    return _campaign_public(row)


@api.get("/{campaign_id:int}/preview", response_model=CampaignPreviewPublic, summary="What the campaign will produce")
def api_campaign_preview(campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> CampaignPreviewPublic:
    row = _campaign(session, campaign_id)
    pv = svc.campaign_preview(session=session, campaign=row)
    return CampaignPreviewPublic(placements=[_preview_public(p) for p in pv.placements],
                                 per_day_channel=[(d, pv.channels[c].name, n) for (d, c), n in sorted(pv.per_day_channel.items())],
                                 over_rate=pv.over_rate, direct_recipients=pv.direct_recipients,
                                 estimated_radio_reach=pv.listeners)


@api.get("/{campaign_id:int}/placements", response_model=list[PlacementPublic], summary="A campaign's placements")
def api_placements(campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> list[PlacementPublic]:
    c = _campaign(session, campaign_id)
    return [_placement_public(session, c, p) for p in session.exec(select(Placement).where(Placement.campaign_id == c.id)
                                                                    .order_by(Placement.id))]


@api.post("/{campaign_id:int}/placements/check", response_model=CheckPublic, summary="Check a placement without saving it")
def api_placement_check(campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                        data: svc.PlacementIn) -> CheckPublic:
    c = _campaign(session, campaign_id)
    check = svc.check_placement(session=session, campaign=c, data=data)
    session.rollback()
    return _check_public(check)


@api.post("/{campaign_id:int}/placements", response_model=PlacementPublic, status_code=201, summary="Plan a placement")
def api_placement_create(request: Request, campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.plan")],
                         data: svc.PlacementIn) -> PlacementPublic:
    c = _campaign(session, campaign_id)
    try:
        row, _ = svc.create_placement(session=session, campaign=c, data=data, actor=user, ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    return _placement_public(session, c, row)


@api.get("/{campaign_id:int}/placements/{placement_id:int}", response_model=PlacementPublic, summary="One placement")
def api_placement(campaign_id: int, placement_id: int, session: SessionDep,
                  user: Annotated[User, Allow("campaign.view")]) -> PlacementPublic:
    c = _campaign(session, campaign_id)
    return _placement_public(session, c, _placement(session, c, placement_id))


@api.put("/{campaign_id:int}/placements/{placement_id:int}", response_model=PlacementPublic, summary="Change a placement")
def api_placement_update(request: Request, campaign_id: int, placement_id: int, session: SessionDep,
                         user: Annotated[User, Allow("campaign.plan")], data: svc.PlacementIn) -> PlacementPublic:
    c = _campaign(session, campaign_id)
    p = _placement(session, c, placement_id)
    try:
        svc.update_placement(session=session, campaign=c, placement=p, data=data, actor=user, ip=client_ip(request))
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    return _placement_public(session, c, p)


@api.post("/{campaign_id:int}/placements/{placement_id:int}/status/{status}", response_model=PlacementPublic,
          summary="Pause, resume (active; replay=true: send now what the pause skipped) or cancel a placement")
def api_placement_status(request: Request, campaign_id: int, placement_id: int, status: PlacementStatus, session: SessionDep,
                         user: Annotated[User, Allow("campaign.deliver")],
                         replay: Annotated[bool, Query()] = False) -> PlacementPublic:
    c = _campaign(session, campaign_id)
    p = _placement(session, c, placement_id)
    try:
        svc.set_placement_status(session=session, placement=p, status=status, actor=user, ip=client_ip(request),
                                 replay=replay)
        session.commit()
    except svc.PlanError as err:
        session.rollback()
        _fail(err)
    return _placement_public(session, c, p)


@api.get("/{campaign_id:int}/placements/{placement_id:int}/preview", response_model=PreviewPublic, summary="A placement's preview")
def api_placement_preview(campaign_id: int, placement_id: int, session: SessionDep,
                          user: Annotated[User, Allow("campaign.view")]) -> PreviewPublic:
    c = _campaign(session, campaign_id)
    return _preview_public(svc.preview_placement(session=session, campaign=c, placement=_placement(session, c, placement_id)))
