"""Run sheets of radio stations, their confirmations, and iCalendar feeds.

Pages under ``/campaigns/...`` and the API under ``/api/v1/campaigns/...``: a station's printable
weekly run sheet and its CSV, the page where staff record what the station says aired (radio
buttons, or the run-sheet CSV sent back with an ``aired`` column: all rows or none), and
``.ics`` feeds per channel and per training facilitator. Handlers are thin: they call
:mod:`campaign.runsheet` and :mod:`campaign.calendars`, commit and render.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, File, HTTPException, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.datastructures import FormData

from campaign import calendars, runsheet
from campaign.models import MAX_ID, ChannelConfig, ChannelKind
from content import rules as content_rules

from ..accounts.models import User, utcnow
from ..accounts.permissions import allowed
from ..deps import Allow, SessionDep, client_ip
from ..render import flash, redirect, render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])
routers = [router, api]


# --- Helpers ------------------------------------------------------------------------------


def _channel(session: Session, channel_id: int) -> ChannelConfig:
    row = session.get(ChannelConfig, channel_id) if 0 < channel_id <= MAX_ID else None
    if row is None:
        raise HTTPException(404, f"There is no channel {channel_id}.")
    return row


def _station(session: Session, channel_id: int) -> ChannelConfig:
    row = _channel(session, channel_id)
    if row.kind != ChannelKind.radio:
        raise HTTPException(404, f"{row.name} is not a radio station: run sheets are for radio stations.")
    return row


def _monday(week: str) -> date:
    try:
        return runsheet.parse_week(week)
    except ValueError as err:
        raise RequestValidationError([{"loc": ("query", "week"), "msg": str(err), "type": "value_error"}]) from None


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _ics(name: str, items: list[calendars.CalendarItem]) -> Response:
    body = calendars.build_ics(name, items)
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{calendars.ics_filename(name)}.ics"',
        "Cache-Control": "private, max-age=300"})


def _csv(station: ChannelConfig, monday: date, airings: list[runsheet.Airing]) -> Response:
    name = f"run-sheet-{calendars.ics_filename(station.name)}-{runsheet.week_label(monday)}.csv"
    return Response(runsheet.runsheet_csv(airings).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _sheet_ctx(session: Session, station: ChannelConfig, monday: date) -> dict:
    airings = runsheet.week_airings(session=session, channel=station, monday=monday)
    days: dict[date, list[runsheet.Airing]] = {}
    for a in airings:
        days.setdefault(a.local_at.date(), []).append(a)
    scripts: dict[tuple[str, str, str], int] = {}
    for a in airings:
        if a.script:
            scripts.setdefault((a.spot, a.language, a.script), len(scripts) + 1)
    now = utcnow()
    return {"language_name": content_rules.language_name, "station": station, "monday": monday,
            "sunday": monday + timedelta(days=6), "week": runsheet.week_label(monday),
            "prev": runsheet.week_label(monday - timedelta(days=7)), "next": runsheet.week_label(monday + timedelta(days=7)),
            "airings": airings, "days": days, "scripts": scripts, "now": now, "past": {a.ref for a in airings if a.due_at <= now},
            "counts": {s: sum(a.status == s for a in airings) for s in ("aired", "missed")}}


def _record(request: Request, session: Session, user: User, station: ChannelConfig, monday: date,
            decisions: dict[str, runsheet.Decision], airings: list[runsheet.Airing], source: str) -> runsheet.ConfirmResult:
    result = runsheet.confirm_airings(session=session, channel=station, monday=monday, decisions=decisions, airings=airings,
                                      actor=user, source=source, ip=client_ip(request))
    session.commit()
    return result


def _summary(result: runsheet.ConfirmResult) -> str:
    if not result.aired + result.missed:
        return "Nothing to record: no airing was marked aired or missed."
    return (f"Recorded {result.aired} aired and {result.missed} missed; {result.changed} changed, "
            f"{result.unchanged} already recorded.")


async def _raw_form(request: Request) -> FormData:
    return await request.form()


# --- Run sheets: pages --------------------------------------------------------------------


@router.get("/campaigns/stations/{channel_id:int}/runsheet")
def runsheet_page(request: Request, channel_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                  week: Annotated[str, Query(max_length=20)] = "") -> Response:
    station = _station(session, channel_id)
    return render(request, "campaigns/runsheet.html", _sheet_ctx(session, station, _monday(week)))


@router.get("/campaigns/stations/{channel_id:int}/runsheet.csv")
def runsheet_csv(channel_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                 week: Annotated[str, Query(max_length=20)] = "") -> Response:
    station = _station(session, channel_id)
    monday = _monday(week)
    return _csv(station, monday, runsheet.week_airings(session=session, channel=station, monday=monday))


@router.get("/campaigns/stations/{channel_id:int}/confirm")
def confirm_page(request: Request, channel_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.deliver")],
                 week: Annotated[str, Query(max_length=20)] = "") -> Response:
    station = _station(session, channel_id)
    return render(request, "campaigns/confirm.html", {**_sheet_ctx(session, station, _monday(week)), "problems": []})


@router.post("/campaigns/stations/{channel_id:int}/confirm")
def confirm_form(request: Request, channel_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.deliver")],
                 form: Annotated[FormData, Depends(_raw_form)]) -> Response:
    """The radio buttons of the confirmation page: ``aired_<ref>`` = aired or missed, ``note_<ref>`` optional."""
    station = _station(session, channel_id)
    monday = _monday(str(form.get("week") or ""))
    airings = runsheet.week_airings(session=session, channel=station, monday=monday)
    entries = []
    for key, value in form.multi_items():
        if key.startswith("aired_") and str(value):
            ref = key[6:]
            entries.append((0, ref, str(value), str(form.get(f"note_{ref}") or ""), f"airing {ref[:40]}", f"airing {ref[:40]}"))
    try:
        decisions = runsheet.check_decisions(entries, airings, now=utcnow(), station=station.name, monday=monday)
    except runsheet.ConfirmError as err:
        session.rollback()
        return render(request, "campaigns/confirm.html", {**_sheet_ctx(session, station, monday), "problems": err.problems},
                      status_code=422)
    result = _record(request, session, user, station, monday, decisions, airings, "form")
    return flash(redirect(request, f"/campaigns/stations/{station.id}/confirm?week={runsheet.week_label(monday)}"),
                 _summary(result), request)


@router.post("/campaigns/stations/{channel_id:int}/confirm/upload")
async def confirm_upload(request: Request, channel_id: int, session: SessionDep,
                         user: Annotated[User, Allow("campaign.deliver")], file: Annotated[UploadFile, File()],
                         week: Annotated[str, Query(max_length=20)] = "") -> Response:
    station = _station(session, channel_id)
    form = await request.form()
    monday = _monday(str(form.get("week") or week))
    airings = runsheet.week_airings(session=session, channel=station, monday=monday)
    raw = await file.read(runsheet.MAX_UPLOAD_BYTES + 1)
    try:
        decisions = runsheet.read_confirmations(raw, airings, now=utcnow(), station=station.name, monday=monday)
    except runsheet.ConfirmError as err:
        session.rollback()
        return render(request, "campaigns/confirm.html", {**_sheet_ctx(session, station, monday), "problems": err.problems,
                                                          "filename": file.filename or ""}, status_code=422)
    result = _record(request, session, user, station, monday, decisions, airings, f"upload {file.filename or ''}".strip())
    return flash(redirect(request, f"/campaigns/stations/{station.id}/confirm?week={runsheet.week_label(monday)}"),
                 f"{file.filename or 'The file'}: {_summary(result)}", request)


# --- Calendar feeds: pages ----------------------------------------------------------------


@router.get("/campaigns/feeds")
def feeds_page(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> Response:
    """Every calendar feed and run sheet: one per channel, per radio station, per facilitator."""
    from sqlmodel import select  # noqa: PLC0415

    channels = session.exec(select(ChannelConfig).order_by(ChannelConfig.kind, ChannelConfig.name)).all()
    names = calendars.facilitators(session=session)
    links = {}
    if allowed(user.role, "campaign.plan"):  # who may hand a link out: planners, not every reader
        links = {"channels": {c.id: channel_feed_url(request, c) for c in channels},
                 "facilitators": {n: facilitator_feed_url(request, n) for n in names}}
    return render(request, "campaigns/feeds.html", {"channels": channels, "facilitators": names, "links": links,
                                                    "base_url": _base_url(request), "week": runsheet.week_label(_monday(""))})



@router.get("/campaigns/channels/{channel_id:int}/calendar.ics")
def channel_ics(request: Request, channel_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> Response:
    channel = _channel(session, channel_id)
    return _ics(f"Konbit: {channel.name}", calendars.channel_items(session=session, channel=channel, base_url=_base_url(request)))


@router.get("/campaigns/facilitators/calendar.ics")
def facilitator_ics(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                    name: Annotated[str, Query(min_length=1, max_length=120)]) -> Response:
    items = calendars.facilitator_items(session=session, name=name, base_url=_base_url(request))
    if not items and " ".join(name.split()).casefold() not in {f.casefold() for f in calendars.facilitators(session=session)}:
        raise HTTPException(404, "No training session names this facilitator.")
    return _ics(f"Konbit trainings: {' '.join(name.split())}", items)


# --- Subscription links -------------------------------------------------------------------
# A calendar program (Google Calendar, Outlook, a phone) subscribes to an address and cannot log
# in: the address carries an HMAC of what it shows, made with the app's secret. It reads nothing
# but that one feed (times, titles, scripts, venues: no contact's data). Resetting a channel's
# link (its feed_version) makes the old address answer 404.


def _feed_token(request: Request, kind: str, key: str, version: int = 0) -> str:
    secret = request.app.state.settings.secret_key.encode()
    digest = hmac.new(secret, f"konbit-ics-feed:{kind}:{key}:{version}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def _feed_version(channel: ChannelConfig) -> int:
    try:
        return int((channel.settings or {}).get("feed_version", 0))
    except (TypeError, ValueError):
        return 0


def channel_feed_url(request: Request, channel: ChannelConfig) -> str:
    token = _feed_token(request, "channel", str(channel.id), _feed_version(channel))
    return f"{_base_url(request)}/feeds/{token}/channels/{channel.id}.ics"


def facilitator_feed_url(request: Request, name: str) -> str:
    key = " ".join(name.split()).casefold()
    from urllib.parse import quote  # noqa: PLC0415

    return f"{_base_url(request)}/feeds/{_feed_token(request, 'facilitator', key)}/facilitator.ics?name={quote(name)}"


def _no_feed() -> HTTPException:
    return HTTPException(404, "There is no calendar at this address (the link may have been reset).")


@router.get("/feeds/{token}/channels/{channel_id:int}.ics")
def public_channel_ics(request: Request, token: Annotated[str, Path(max_length=64)], channel_id: int,
                       session: SessionDep) -> Response:
    channel = session.get(ChannelConfig, channel_id) if 0 < channel_id <= MAX_ID else None
    if channel is None or not hmac.compare_digest(
            token, _feed_token(request, "channel", str(channel.id), _feed_version(channel))):
        raise _no_feed()
    return _ics(f"Konbit: {channel.name}", calendars.channel_items(session=session, channel=channel, base_url=_base_url(request)))


@router.get("/feeds/{token}/facilitator.ics")
def public_facilitator_ics(request: Request, token: Annotated[str, Path(max_length=64)], session: SessionDep,
                           name: Annotated[str, Query(min_length=1, max_length=120)]) -> Response:
    if not hmac.compare_digest(token, _feed_token(request, "facilitator", " ".join(name.split()).casefold())):
        raise _no_feed()
    items = calendars.facilitator_items(session=session, name=name, base_url=_base_url(request))
    return _ics(f"Konbit trainings: {' '.join(name.split())}", items)


@router.post("/campaigns/channels/{channel_id:int}/feed/reset")
def reset_channel_feed(request: Request, channel_id: int, session: SessionDep,
                       user: Annotated[User, Allow("campaign.channels")]) -> Response:
    channel = _channel(session, channel_id)
    channel.settings = {**(channel.settings or {}), "feed_version": _feed_version(channel) + 1}
    channel.updated_at = utcnow()
    session.add(channel)
    from ..accounts.service import record_audit  # noqa: PLC0415

    record_audit(session=session, actor=user, action="channel.feed_reset", entity_type="campaign_channel",
                 entity_id=channel.id, summary=f"Reset the calendar subscription link of {channel.name}", ip=client_ip(request))
    session.commit()
    return flash(redirect(request, "/campaigns/feeds"), f"{channel.name}: the old subscription link no longer works; "
                 "give the new one to those who should see it.", request)


# --- API ----------------------------------------------------------------------------------


class AiringPublic(BaseModel):
    airing: str = Field(description="The airing's reference: <placement id>-<YYYYMMDDTHHMM> (planned local time).")
    placement_id: int
    campaign_id: int
    campaign: str
    local_at: datetime
    timezone: str
    daypart: str
    spot: str
    language: str
    duration_seconds: int | None
    script: str
    audio_files: list[str]
    status: str
    reason: str
    confirmed_at: datetime | None
    confirmed_by: str


class RunSheetPublic(BaseModel):
    station_id: int
    station: str
    week: str
    monday: date
    airings: list[AiringPublic]


class ConfirmationIn(BaseModel):
    model_config = {"extra": "forbid"}

    airing: str = Field(max_length=40)
    aired: str = Field(max_length=20, description="yes/no, oui/non, wi/non, 1/0; blank: not confirmed")
    note: str = Field(default="", max_length=300)


class ConfirmResultPublic(BaseModel):
    week: str
    aired: int
    missed: int
    changed: int
    unchanged: int


def _api_problems(err: runsheet.ConfirmError) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", f"line {p.line}" if p.line else "airings", p.column),
                                    "msg": str(p), "type": "value_error"} for p in err.problems])


def _result_public(monday: date, r: runsheet.ConfirmResult) -> ConfirmResultPublic:
    return ConfirmResultPublic(week=runsheet.week_label(monday), aired=r.aired, missed=r.missed, changed=r.changed,
                               unchanged=r.unchanged)


@api.get("/stations/{channel_id:int}/runsheet", response_model=RunSheetPublic, summary="A radio station's run sheet for one week")
def api_runsheet(channel_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                 week: Annotated[str, Query(max_length=20, description="2026-W15, or a date of the week")] = "") -> RunSheetPublic:
    station = _station(session, channel_id)
    monday = _monday(week)
    airings = runsheet.week_airings(session=session, channel=station, monday=monday)
    return RunSheetPublic(station_id=station.id, station=station.name, week=runsheet.week_label(monday), monday=monday,
                          airings=[AiringPublic(airing=a.ref, placement_id=a.placement_id, campaign_id=a.campaign_id,
                                                campaign=a.campaign, local_at=a.local_at, timezone=a.timezone, daypart=a.daypart,
                                                spot=a.spot, language=a.language, duration_seconds=a.duration_seconds,
                                                script=a.script, audio_files=[n for _, n in a.audio], status=a.status,
                                                reason=a.reason, confirmed_at=a.confirmed_at, confirmed_by=a.confirmed_by)
                                   for a in airings])


@api.get("/stations/{channel_id:int}/runsheet.csv", summary="A radio station's run sheet as CSV (formula-safe cells)",
         response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def api_runsheet_csv(channel_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                     week: Annotated[str, Query(max_length=20)] = "") -> Response:
    return runsheet_csv(channel_id, session, user, week)


@api.post("/stations/{channel_id:int}/confirmations", response_model=ConfirmResultPublic,
          summary="Record airings as aired or missed: all or none")
def api_confirm(request: Request, channel_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.deliver")],
                confirmations: Annotated[list[ConfirmationIn], Body(max_length=runsheet.MAX_ROWS)],
                week: Annotated[str, Query(max_length=20)] = "") -> ConfirmResultPublic:
    station = _station(session, channel_id)
    monday = _monday(week)
    airings = runsheet.week_airings(session=session, channel=station, monday=monday)
    entries = [(i + 1, c.airing, c.aired, c.note, "airing", "aired") for i, c in enumerate(confirmations)]
    try:
        decisions = runsheet.check_decisions(entries, airings, now=utcnow(), station=station.name, monday=monday)
    except runsheet.ConfirmError as err:
        session.rollback()
        raise _api_problems(err) from None
    return _result_public(monday, _record(request, session, user, station, monday, decisions, airings, "api"))


@api.post("/stations/{channel_id:int}/confirmations/upload", response_model=ConfirmResultPublic,
          summary="Upload the run-sheet CSV with its 'aired' column filled in: all rows or none")
async def api_confirm_upload(request: Request, channel_id: int, session: SessionDep,
                             user: Annotated[User, Allow("campaign.deliver")], file: Annotated[UploadFile, File()],
                             week: Annotated[str, Query(max_length=20)] = "") -> ConfirmResultPublic:
    station = _station(session, channel_id)
    monday = _monday(week)
    airings = runsheet.week_airings(session=session, channel=station, monday=monday)
    raw = await file.read(runsheet.MAX_UPLOAD_BYTES + 1)
    try:
        decisions = runsheet.read_confirmations(raw, airings, now=utcnow(), station=station.name, monday=monday)
    except runsheet.ConfirmError as err:
        session.rollback()
        raise _api_problems(err) from None
    return _result_public(monday, _record(request, session, user, station, monday, decisions, airings,
                                          f"api upload {file.filename or ''}".strip()))


@api.get("/channels/{channel_id:int}/calendar.ics", summary="A channel's times as an iCalendar feed",
         response_class=Response, responses={200: {"content": {"text/calendar": {}}}})
def api_channel_ics(request: Request, channel_id: int, session: SessionDep,
                    user: Annotated[User, Allow("campaign.view")]) -> Response:
    return channel_ics(request, channel_id, session, user)


@api.get("/facilitators/calendar.ics", summary="A training facilitator's sessions as an iCalendar feed",
         response_class=Response, responses={200: {"content": {"text/calendar": {}}}})
def api_facilitator_ics(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                        name: Annotated[str, Query(min_length=1, max_length=120)]) -> Response:
    return facilitator_ics(request, session, user, name)


@api.get("/facilitators", response_model=list[str], summary="Facilitators named on training sessions")
def api_facilitators(session: SessionDep, user: Annotated[User, Allow("campaign.view")]) -> list[str]:
    return calendars.facilitators(session=session)

