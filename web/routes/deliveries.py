"""Delivery reports: what went out, where and to whom, and the failures to send again.

Pages under ``/campaigns/{id}/deliveries`` (live progress by HTMX polling while a send runs) and
the JSON API under ``/api/v1/deliveries``. Contacts' names, phones and e-mails appear only for
roles allowed to see contacts; every other role reads counts and contact ids.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from audiences.models import AudienceSegment
from campaign import reports
from campaign.models import MAX_ID, Campaign, ChannelConfig, DeliveryStatus, Placement

from ..accounts.models import User
from ..accounts.permissions import allowed
from ..deps import Allow, OptionalIdQuery, SessionDep, client_ip
from ..exports_safe import safe_row
from ..render import flash, redirect, render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/deliveries", tags=["deliveries"])
routers = [router, api]

PAGE = 50


def _campaign(session: Session, campaign_id: int) -> Campaign:
    row = session.get(Campaign, campaign_id) if 0 < campaign_id <= MAX_ID else None
    if row is None:
        raise HTTPException(404, f"There is no campaign {campaign_id}.")
    return row


def _segment_id(session: Session, code: str) -> int | None:
    if not code:
        return None
    row = session.exec(select(AudienceSegment).where(AudienceSegment.code == code)).first()
    if row is None:
        raise HTTPException(404, f"There is no segment {code!r}.")
    return row.id


def _filters(session: Session, campaign_id: int | None, placement: int | None, channel: int | None, segment: str,
             status: str, since: date | None, until: date | None) -> reports.DeliveryFilter:
    if since and until and until < since:
        raise HTTPException(422, "until: the last day comes before the first (since).")
    try:
        chosen = DeliveryStatus(status) if status else None
    except ValueError:
        raise HTTPException(422, f"status: one of {', '.join(reports.STATUSES)}.") from None
    return reports.DeliveryFilter(campaign_id=campaign_id, placement_id=placement, channel_id=channel,
                                  segment_id=_segment_id(session, segment), status=chosen, since=since, until=until)


def _csv(rows: Iterator[list]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff".encode()  # Excel reads UTF-8 (Kreyòl, French) only with the byte-order mark
    for n, row in enumerate(rows, 1):
        writer.writerow(safe_row(row))
        if n % 1000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _csv_response(session: Session, user: User, filters: reports.DeliveryFilter, name: str) -> Response:
    personal = allowed(user.role, "campaign.contacts")
    rows = reports.log_rows(session=session, filters=filters, personal=personal)
    return StreamingResponse(_csv(rows), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- Pages --------------------------------------------------------------------------------


def _page_context(request: Request, session: Session, user: User, campaign: Campaign, filters: reports.DeliveryFilter,
                  params: dict, page: int) -> dict:
    report = reports.delivery_report(session=session, filters=filters)
    total, rows = reports.failures(session=session, filters=filters, limit=PAGE, offset=(page - 1) * PAGE)
    query = "&".join(f"{k}={v}" for k, v in params.items() if v not in (None, ""))
    return {"campaign": campaign, "report": report, "failures": rows, "failures_total": total, "page": page,
            "pages": max(1, -(-total // PAGE)), "params": params, "query": query,
            "placements": session.exec(select(Placement).where(Placement.campaign_id == campaign.id)).all(),
            "channels": (channels := session.exec(select(ChannelConfig)).all()),
            "channel_names": {c.id: c.name for c in channels},
            "segments": session.exec(select(AudienceSegment).order_by(AudienceSegment.name)).all(),
            "statuses": reports.STATUSES, "see_contacts": allowed(user.role, "campaign.contacts"),
            "can_retry": allowed(user.role, "campaign.deliver")}


@router.get("/campaigns/{campaign_id:int}/deliveries")
def deliveries_page(request: Request, campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                    placement: OptionalIdQuery = None, channel: OptionalIdQuery = None,
                    segment: Annotated[str, Query(max_length=40)] = "",
                    since: Annotated[str, Query(max_length=10)] = "", until: Annotated[str, Query(max_length=10)] = "",
                    page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    campaign = _campaign(session, campaign_id)
    first, last = _day(since, "since"), _day(until, "until")
    filters = _filters(session, campaign.id, placement, channel, segment, "", first, last)
    params = {"placement": placement or "", "channel": channel or "", "segment": segment, "since": since, "until": until}
    return render(request, "deliveries/report.html", _page_context(request, session, user, campaign, filters, params, page),
                  block="report")


def _day(text: str, name: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise HTTPException(422, f"{name}: a date as YYYY-MM-DD, not {text[:20]!r}.") from None


@router.get("/campaigns/{campaign_id:int}/deliveries/progress")
def deliveries_progress(request: Request, campaign_id: int, session: SessionDep,
                        user: Annotated[User, Allow("campaign.view")]) -> Response:
    campaign = _campaign(session, campaign_id)
    report = reports.delivery_report(session=session, filters=reports.DeliveryFilter(campaign_id=campaign.id))
    return render(request, "deliveries/_progress_partial.html", {"campaign": campaign, "report": report}, block=None)


@router.get("/campaigns/{campaign_id:int}/deliveries.csv")
def deliveries_csv(campaign_id: int, session: SessionDep, user: Annotated[User, Allow("campaign.view")],
                   placement: OptionalIdQuery = None, channel: OptionalIdQuery = None,
                   segment: Annotated[str, Query(max_length=40)] = "", status: Annotated[str, Query(max_length=20)] = "",
                   since: Annotated[str, Query(max_length=10)] = "", until: Annotated[str, Query(max_length=10)] = "") -> Response:
    campaign = _campaign(session, campaign_id)
    filters = _filters(session, campaign.id, placement, channel, segment, status, _day(since, "since"), _day(until, "until"))
    return _csv_response(session, user, filters, f"deliveries-campaign-{campaign.id}.csv")


@router.post("/campaigns/{campaign_id:int}/deliveries/retry")
async def deliveries_retry(request: Request, campaign_id: int, session: SessionDep,
                           user: Annotated[User, Allow("campaign.deliver")]) -> Response:
    campaign = _campaign(session, campaign_id)
    form = await request.form()
    ids: list[int] | None = None
    if form.get("scope") != "all":
        raw = form.getlist("ids")
        try:
            ids = [int(v) for v in raw]
        except ValueError:
            return flash(redirect(request, f"/campaigns/{campaign.id}/deliveries"), "Not done: ids must be numbers.", request)
        if not ids or any(not 0 < i <= MAX_ID for i in ids):
            return flash(redirect(request, f"/campaigns/{campaign.id}/deliveries"),
                         "Not done: tick the failed deliveries to send again, or choose all of them.", request)
    def _id(name: str) -> int | None:
        value = str(form.get(name) or "")
        return int(value) if value.isdigit() and 0 < int(value) <= MAX_ID else None

    filters = _filters(session, campaign.id, _id("placement"), _id("channel"), str(form.get("segment") or "")[:40], "",
                       _day(str(form.get("since") or "")[:10], "since"), _day(str(form.get("until") or "")[:10], "until"))
    n = reports.retry(session=session, ids=ids, filters=filters, actor=user, ip=client_ip(request))
    session.commit()
    message = f"{n:,} failed deliveries are back in the queue." if n else "Nothing to retry: no failed delivery was chosen."
    return flash(redirect(request, f"/campaigns/{campaign.id}/deliveries"), message, request)


# --- API ----------------------------------------------------------------------------------


class DeliveryPublic(BaseModel):
    id: int
    uid: str
    campaign_id: int
    placement_id: int
    channel_id: int
    segment_id: int | None
    contact_id: int | None
    recipient_key: str
    language: str
    status: DeliveryStatus
    reason: str
    attempts: int
    gateway_message_id: str
    due_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


class CountsPublic(BaseModel):
    key: str
    label: str
    counts: dict[str, int]
    unique_contacts: int | None = Field(default=None, description="Distinct contacts sent or delivered a message")
    messages_per_contact: float | None = Field(default=None, description="Messages sent or delivered per contact reached")


def _counts(key: str, label: str, counts: dict[str, int], reach: reports.Reach | None) -> CountsPublic:
    reach = reach or reports.Reach()
    return CountsPublic(key=key, label=label, counts=counts, unique_contacts=reach.contacts,
                        messages_per_contact=round(reach.per_contact, 3))


class RadioPublic(BaseModel):
    channel_id: int
    station: str
    planned: int
    aired: int
    missed: int
    unconfirmed: int
    estimated_listeners: int
    frequency: float


class TrainingPublic(BaseModel):
    session_id: int
    placement: str
    starts_local: datetime
    invited: int
    attended: int
    absent: int
    unrecorded: int
    attendance_rate: float | None


class SummaryPublic(BaseModel):
    total: int
    by_status: dict[str, int]
    in_flight: int
    awaiting_confirmation: int
    unique_contacts: int
    messages_per_contact: float
    by_day: list[CountsPublic]
    by_channel: list[CountsPublic]
    by_segment: list[CountsPublic]
    by_placement: list[CountsPublic]
    reasons: list[CountsPublic]
    radio: list[RadioPublic]
    trainings: list[TrainingPublic]


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_id: int = Field(ge=1, le=MAX_ID)
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(default=None, max_length=reports.MAX_RETRY,
                                                                      description="Omit to retry every failed delivery of the campaign")


class RetryOut(BaseModel):
    retried: int


def _summary(report: reports.DeliveryReport) -> SummaryPublic:
    return SummaryPublic(
        total=report.total, by_status=report.by_status, in_flight=report.in_flight, awaiting_confirmation=report.awaiting,
        unique_contacts=report.unique_contacts,
        messages_per_contact=round(report.messages_per_contact, 3),
        by_day=[_counts(d.isoformat(), d.isoformat(), c, report.reach_by_day.get(d)) for d, c in report.by_day],
        by_channel=[_counts(str(ch.id), ch.name, c, report.reach_by_channel.get(ch.id)) for ch, c in report.by_channel],
        by_segment=[_counts(code, name, c, report.reach_by_segment.get(code)) for code, name, c, _ in report.by_segment],
        by_placement=[_counts(str(p.id), p.name or f"placement {p.id}", c, report.reach_by_placement.get(p.id))
                      for p, c in report.by_placement],
        reasons=[CountsPublic(key=status, label=reason or "(no reason)", counts={status: n}) for status, reason, n in report.reasons],
        radio=[RadioPublic(channel_id=r.channel.id, station=r.channel.name, planned=r.planned, aired=r.aired, missed=r.missed,
                           unconfirmed=r.unconfirmed, estimated_listeners=r.listeners, frequency=round(r.frequency, 3))
               for r in report.radio],
        trainings=[TrainingPublic(session_id=t.session.id, placement=t.placement_name, starts_local=t.session.starts_local,
                                  invited=t.invited, attended=t.attended, absent=t.absent, unrecorded=t.unrecorded,
                                  attendance_rate=t.rate) for t in report.trainings])


IdQuery = Annotated[int, Query(ge=1, le=MAX_ID)]


@api.get("", response_model=list[DeliveryPublic], summary="The delivery log, newest first (no personal data)")
def api_deliveries(session: SessionDep, user: Annotated[User, Allow("campaign.view")], campaign_id: IdQuery,
                   placement_id: OptionalIdQuery = None, channel_id: OptionalIdQuery = None,
                   segment: Annotated[str, Query(max_length=40)] = "", status: Annotated[str, Query(max_length=20)] = "",
                   since: date | None = None, until: date | None = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                   ) -> list[DeliveryPublic]:
    _campaign(session, campaign_id)
    filters = _filters(session, campaign_id, placement_id, channel_id, segment, status, since, until)
    statuses = [filters.status] if filters.status else list(DeliveryStatus)
    _, rows = reports.failures(session=session, filters=filters, limit=limit, offset=offset, statuses=statuses)
    return [DeliveryPublic.model_validate(d, from_attributes=True) for d, _ in rows]


@api.get("/summary", response_model=SummaryPublic, summary="Counts by status, day, channel, segment and placement; radio and trainings")
def api_summary(session: SessionDep, user: Annotated[User, Allow("campaign.view")], campaign_id: IdQuery,
                placement_id: OptionalIdQuery = None, channel_id: OptionalIdQuery = None,
                segment: Annotated[str, Query(max_length=40)] = "", since: date | None = None,
                until: date | None = None) -> SummaryPublic:
    _campaign(session, campaign_id)
    filters = _filters(session, campaign_id, placement_id, channel_id, segment, "", since, until)
    return _summary(reports.delivery_report(session=session, filters=filters))


@api.get("/export.csv", summary="The delivery log as CSV (contacts' details only for roles that see contacts)",
         response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
def api_export(session: SessionDep, user: Annotated[User, Allow("campaign.view")], campaign_id: IdQuery,
               placement_id: OptionalIdQuery = None, channel_id: OptionalIdQuery = None,
               segment: Annotated[str, Query(max_length=40)] = "", status: Annotated[str, Query(max_length=20)] = "",
               since: date | None = None, until: date | None = None) -> Response:
    _campaign(session, campaign_id)
    filters = _filters(session, campaign_id, placement_id, channel_id, segment, status, since, until)
    return _csv_response(session, user, filters, f"deliveries-campaign-{campaign_id}.csv")


@api.post("/retry", response_model=RetryOut, summary="Send failed deliveries again (the ids given, or all of the campaign's)")
def api_retry(request: Request, session: SessionDep, user: Annotated[User, Allow("campaign.deliver")],
              body: Annotated[RetryIn, Body()]) -> RetryOut:
    _campaign(session, body.campaign_id)
    n = reports.retry(session=session, ids=body.ids, filters=reports.DeliveryFilter(campaign_id=body.campaign_id),
                      actor=user, ip=client_ip(request))
    session.commit()
    return RetryOut(retried=n)
