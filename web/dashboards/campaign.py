"""A campaign's dashboard: what it delivered and what changed, as one plain dict.

The delivery side comes from :func:`campaign.reports.delivery_report` (grouped counts of the
outbox, airings, attendance) and more grouped queries: reached messages per channel and local
day, messages and distinct contacts reached per local week (overall, per channel, per segment),
and per message; the KAP side from :func:`surveys.analysis_service.get_report` between the
campaign's baseline and endline waves. Nothing here reads submissions or deliveries row by row,
so the cost does not grow with respondents or recipients.

The dict is what the page, the JSON API, the figures (:mod:`.figures`) and the reports
(:mod:`.export`) all read: plain values only (``json.dumps`` takes it as it is).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import distinct, func
from sqlmodel import Session, col, select

from audiences.models import AudienceSegment
from audiences.segments import segment_label
from audiences.service import segment_names
from campaign.models import Campaign, ChannelConfig, Delivery, DeliveryStatus, Placement
from campaign.reports import REACHED, DeliveryFilter, delivery_report, local_period
from content.models import Message, MessageSurveyItem
from surveys.analysis_service import AnalysisRequestError, get_report
from surveys.models import Submission, Survey, Wave

__all__ = ["BREAKDOWNS", "DashboardFilters", "DashboardError", "dashboard_data", "filter_choices"]

#: What the KAP chart may be broken down by.
BREAKDOWNS = ("segment", "region", "sex", "age_group")
ALPHA = 0.05


class DashboardError(Exception):
    """A filter that cannot be applied (an unknown wave, a breakdown not allowed): the field and why."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class DashboardFilters:
    """The page's filters: waves by name, a segment code, a region, the KAP chart's breakdown."""

    baseline: str = ""
    endline: str = ""
    segment: str = ""
    region: str = ""
    by: str = "segment"
    correction: str = "holm"


def _iso(value: Any) -> str:
    """A day from SQL (a date, or ``YYYY-MM-DD`` text on SQLite) as ISO text."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)[:10]


def filter_choices(*, session: Session, campaign: Campaign) -> dict[str, Any]:
    """The waves, segments and regions the filters offer."""
    waves = session.exec(select(Wave.name).where(Wave.survey_id == campaign.survey_id).order_by(col(Wave.id))).all() \
        if campaign.survey_id else []
    regions = sorted(set(campaign.regions or []) | set(campaign.comparison_regions or []))
    if campaign.survey_id:
        regions = sorted(set(regions) | {r for r in session.exec(
            select(distinct(Submission.region)).where(Submission.survey_id == campaign.survey_id)).all() if r})
    segments = segment_names(session=session, include_archived=False)
    return {"waves": list(waves), "segments": [{"code": c, "name": n} for c, n in segments.items()], "regions": regions,
            "breakdowns": list(BREAKDOWNS)}


def _default_waves(session: Session, campaign: Campaign) -> tuple[str, str]:
    names = {w.id: w.name for w in session.exec(select(Wave).where(Wave.survey_id == campaign.survey_id)).all()}
    baseline = names.get(campaign.baseline_wave_id or 0) or (min(names.items())[1] if names else "")
    endline = names.get(campaign.endline_wave_id or 0) or (max(names.items())[1] if len(names) > 1 else "")
    return baseline, endline


def _counts(counts: dict[str, int]) -> dict[str, int]:
    reached = sum(counts.get(s.value, 0) for s in REACHED)
    return {"total": sum(counts.values()), "reached": reached, "failed": counts.get("failed", 0),
            "skipped": counts.get("skipped", 0), "by_status": dict(counts)}


def _delivery(session: Session, campaign: Campaign, segment_id: int | None) -> dict[str, Any]:
    tz = ZoneInfo(campaign.timezone)
    report = delivery_report(session=session, filters=DeliveryFilter(campaign_id=campaign.id, segment_id=segment_id))
    where = [Delivery.campaign_id == campaign.id, col(Delivery.status).in_(REACHED)]
    if segment_id is not None:
        where.append(Delivery.segment_id == segment_id)
    uniques = dict(session.exec(select(Delivery.channel_id, func.count(distinct(Delivery.contact_id)))
                                .where(*where).group_by(Delivery.channel_id)).all())
    lo, hi = session.exec(select(func.min(Delivery.due_at), func.max(Delivery.due_at)).where(*where)).one()
    day = local_period(session, Delivery.due_at, tz, lo=lo, hi=hi).label("day")
    week = local_period(session, Delivery.due_at, tz, lo=lo, hi=hi, week=True).label("week")
    per_day: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for channel_id, local, n in session.exec(select(Delivery.channel_id, day, func.count()).where(*where)
                                             .group_by(Delivery.channel_id, day).order_by(Delivery.channel_id, day)):
        per_day[channel_id].append({"day": _iso(local), "reached": n})
    # Messages (rows) and distinct contacts reached per local week, overall, per channel, per segment.
    reached_contacts = (func.count(), func.count(distinct(Delivery.contact_id)))
    by_week = [{"week": _iso(w), "reached": n, "unique_contacts": u} for w, n, u in session.exec(
        select(week, *reached_contacts).where(*where).group_by(week).order_by(week))]
    channel_weeks: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for key, w, n, u in session.exec(select(Delivery.channel_id, week, *reached_contacts).where(*where)
                                     .group_by(Delivery.channel_id, week).order_by(Delivery.channel_id, week)):
        channel_weeks[key].append({"week": _iso(w), "reached": n, "unique_contacts": u})
    segment_weeks: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for key, w, n, u in session.exec(select(Delivery.segment_id, week, *reached_contacts).where(*where)
                                     .group_by(Delivery.segment_id, week).order_by(Delivery.segment_id, week)):
        segment_weeks[key].append({"week": _iso(w), "reached": n, "unique_contacts": u})
    segment_ids = {code: sid for code, sid in session.exec(select(AudienceSegment.code, AudienceSegment.id))}
    channels = [{"id": ch.id, "name": ch.name, "kind": ch.kind.value, **_counts(counts),
                 "unique_contacts": uniques.get(ch.id, 0), "by_day": per_day.get(ch.id, []),
                 "by_week": channel_weeks.get(ch.id, [])}
                for ch, counts in report.by_channel]
    return {
        "total": report.total, "by_status": report.by_status, "unique_contacts": report.unique_contacts,
        "reached_messages": report.reached_messages, "messages_per_contact": round(report.messages_per_contact, 2),
        "in_flight": report.in_flight, "awaiting": report.awaiting,
        "by_day": [{"day": d.isoformat(), **_counts(c)} for d, c in report.by_day],
        "by_week": by_week,
        "channels": channels,
        "segments": [{"code": code, "name": name, **_counts(counts), "unique_contacts": unique,
                      "by_week": segment_weeks.get(segment_ids.get(code) if code else None, [])}
                     for code, name, counts, unique in report.by_segment],
        "radio": [{"station": r.channel.name, "planned": r.planned, "aired": r.aired, "missed": r.missed,
                   "unconfirmed": r.unconfirmed, "listeners": r.listeners, "frequency": round(r.frequency, 2)}
                  for r in report.radio],
        "trainings": [{"day": t.session.starts_local.date().isoformat(), "name": t.placement_name,
                       "venue": t.session.venue, "invited": t.invited, "attended": t.attended, "absent": t.absent,
                       "unrecorded": t.unrecorded, "rate": t.rate} for t in report.trainings],
        "reasons": [{"status": s, "reason": r, "count": n} for s, r, n in report.reasons],
        "notes": _segment_notes(report) if segment_id is not None else [],
    }


def _segment_notes(report) -> list[str]:
    """What a segment filter cannot split: airings and sessions reach an audience, not one segment's contacts."""
    notes = []
    if report.radio:
        notes.append("Radio airings are those of the placements aimed at this segment, counted in full: a station's "
                     "estimated listeners cannot be split by segment, so they include everyone who hears the station.")
    if report.trainings:
        notes.append("Trainings are the sessions of placements aimed at this segment, with all their participants.")
    return notes


def _messages_by_item(session: Session, campaign: Campaign, segment_id: int | None) -> dict[str, list[dict[str, Any]]]:
    """Survey item code -> the messages that aim at it, with how often each went out in this campaign."""
    if not campaign.survey_id:
        return {}
    where = [Delivery.campaign_id == campaign.id, col(Delivery.status).in_(REACHED)]
    if segment_id is not None:
        where.append(Delivery.segment_id == segment_id)
    sent = dict(session.exec(select(Placement.message_id, func.count()).join(Delivery, Delivery.placement_id == Placement.id)
                             .where(*where).group_by(Placement.message_id)).all())
    placed = set(session.exec(select(Placement.message_id).where(Placement.campaign_id == campaign.id)).all())
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for code, mid, title in session.exec(select(MessageSurveyItem.item_code, Message.id, Message.title)
                                         .join(Message, Message.id == MessageSurveyItem.message_id)
                                         .where(MessageSurveyItem.survey_id == campaign.survey_id)
                                         .order_by(col(Message.title))):
        out[code].append({"id": mid, "title": title, "sent": sent.get(mid, 0), "in_campaign": mid in placed})
    return dict(out)


def _significant(entry: dict[str, Any]) -> bool:
    p = entry.get("p_adjusted")
    return bool(entry.get("ok")) and p is not None and p < ALPHA


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("code", "domain", "measure", "ok", "reason", "label", "sentence", "difference", "diff_ci_low", "diff_ci_high",
            "p_value", "p_adjusted", "test", "effect_size", "effect_size_name")
    out = {k: entry.get(k) for k in keys}
    for wave in ("baseline", "endline"):
        w = entry.get(wave) or {}
        out[wave] = {k: w.get(k) for k in ("n", "estimate", "ci_low", "ci_high")}
    out["significant"] = _significant(entry)
    return out


def _knowledge_levels(report: dict[str, Any], subset: dict[str, Any] | None,
                      names: dict[str, str]) -> dict[str, Any] | None:
    """The report's knowledge levels, of the filtered group alone when the dashboard is filtered."""
    levels = report.get("knowledge_levels")
    if not levels:
        return None
    groups = [{**g, "label": segment_label(g["value"], names) if report.get("by") == "segment" else g["value"]}
              for g in levels.get("groups") or []]
    if subset is not None:
        own = next((g for g in (levels.get("groups") or []) if g["value"] == subset["value"]), None)
        return None if own is None else {"levels": levels["levels"], "baseline": own["baseline"],
                                         "endline": own["endline"], "change": own["change"], "groups": []}
    return {**levels, "groups": groups}


def _kap(session: Session, campaign: Campaign, filters: DashboardFilters, names: dict[str, str]) -> dict[str, Any]:
    if not campaign.survey_id:
        return {"ok": False, "reason": "This campaign has no evaluation survey: set one on the campaign's page."}
    baseline, endline = filters.baseline, filters.endline
    if not (baseline and endline):
        first, last = _default_waves(session, campaign)
        baseline, endline = baseline or first, endline or last
    if not (baseline and endline):
        return {"ok": False, "reason": "The evaluation survey needs a baseline and an endline wave to compare."}
    if filters.by not in BREAKDOWNS:
        raise DashboardError(f"Break down by one of {', '.join(BREAKDOWNS)}.", "by")
    try:
        report = get_report(session=session, survey_id=campaign.survey_id, baseline=baseline, endline=endline,
                            by=filters.by, correction=filters.correction)
        subset, grouped = None, report
        if filters.segment or filters.region:
            by, value = ("segment", filters.segment) if filters.segment else ("region", filters.region)
            grouped = report if filters.by == by else get_report(
                session=session, survey_id=campaign.survey_id, baseline=baseline, endline=endline, by=by,
                correction=filters.correction)
            subset = next((g for g in grouped.get("groups") or [] if g["value"] == value), None)
            if subset is None:
                label = segment_label(value, names) if by == "segment" else value
                return {"ok": False, "baseline": baseline, "endline": endline,
                        "reason": f"No interviews of {label} in both waves: nothing to compare."}
    except AnalysisRequestError as err:
        raise DashboardError(err.message, err.field) from None
    source = subset or report
    domains = [_entry(d) for d in source["domains"]]
    items = [_entry(i) for i in source["items"]]
    groups = []
    if subset is None:
        for g in report.get("groups") or []:
            groups.append({"by": g["by"], "value": g["value"],
                           "label": segment_label(g["value"], names) if g["by"] == "segment" else g["value"],
                           "n": g["n"], "domains": [_entry(d) for d in g["domains"]], "items": [_entry(i) for i in g["items"]]})
    sentences = [d["sentence"] for d in domains if d.get("sentence")]
    sentences += [i["sentence"] for i in sorted((i for i in items if i["significant"]),
                                                  key=lambda i: -abs(i["difference"] or 0))[:5] if i.get("sentence")]
    design = report.get("design") or {}
    survey = session.get(Survey, campaign.survey_id)
    return {
        "ok": True, "survey_id": campaign.survey_id, "survey": report.get("survey"), "baseline": baseline,
        "endline": endline, "by": filters.by, "correction": report.get("correction", filters.correction),
        "subset": ({"by": "segment", "value": filters.segment, "label": segment_label(filters.segment, names)}
                   if filters.segment else {"by": "region", "value": filters.region, "label": filters.region}
                   if filters.region else None),
        "respondents": (subset or {}).get("n") or design.get("respondents") or {},
        "design": {k: design.get(k) for k in ("type", "method", "clustered", "stratified", "weighted", "respondents")},
        "domains": domains, "items": items, "groups": groups, "sentences": sentences,
        "exposure": report.get("exposure") if subset is None else None,
        "knowledge_levels": _knowledge_levels(grouped, subset, names),
        "did": report.get("did") if subset is None else None,
        "waiting": report.get("waiting") or {}, "computed_at": report.get("computed_at"),
        "scope": survey.analysis_scope.value if survey else "",
        "excluded": _excluded(session, campaign.survey_id, (baseline, endline), survey),
        "tests": sorted({e.get("test") for e in report["domains"] + report["items"] if e.get("test")}),
    }


def _excluded(session: Session, survey_id: int, waves: tuple[str, str], survey: Survey | None) -> dict[str, int]:
    """Submissions of the two waves the analysis leaves out, by reason (status outside its scope)."""
    counts = dict(session.exec(select(Submission.status, func.count()).join(Wave, Wave.id == Submission.wave_id)
                               .where(Submission.survey_id == survey_id, col(Wave.name).in_(list(waves)))
                               .group_by(Submission.status)).all())
    counts = {getattr(k, "value", k): v for k, v in counts.items()}
    out = {"rejected": counts.get("rejected", 0)}
    if survey is not None and survey.analysis_scope.value == "approved":
        out["not yet approved"] = counts.get("received", 0) + counts.get("has_issues", 0)
    return out


def dashboard_data(*, session: Session, campaign: Campaign, filters: DashboardFilters = DashboardFilters()) -> dict[str, Any]:
    """Delivery and KAP shift of ``campaign`` under ``filters``, with each item's messages.

    Raises DashboardError for a filter that cannot apply. Computing the analysis may store its
    cache: the caller commits (or rolls back).
    """
    names = segment_names(session=session)
    segment_id = None
    if filters.segment:
        seg = session.exec(select(AudienceSegment).where(AudienceSegment.code == filters.segment)).first()
        if seg is None:
            raise DashboardError(f"There is no segment {filters.segment!r}.", "segment")
        segment_id = seg.id
    kap = _kap(session, campaign, filters, names)
    messages = _messages_by_item(session, campaign, segment_id)
    for item in kap.get("items", []):
        item["messages"] = messages.get(item["code"], [])
    survey = session.get(Survey, campaign.survey_id) if campaign.survey_id else None
    return {
        "campaign": {"id": campaign.id, "name": campaign.name, "status": campaign.status.value,
                     "start_date": campaign.start_date.isoformat(), "end_date": campaign.end_date.isoformat(),
                     "timezone": campaign.timezone, "regions": list(campaign.regions or []),
                     "objectives": campaign.objectives, "survey": survey.title if survey else None},
        "filters": {"baseline": kap.get("baseline", filters.baseline), "endline": kap.get("endline", filters.endline),
                    "segment": filters.segment, "region": filters.region, "by": filters.by,
                    "correction": filters.correction},
        "notes": (["Delivery is not recorded by region: the region filter applies to the survey only."]
                  if filters.region else []) + (
                  ["The survey side shows the segment; the region filter is not applied to it."]
                  if filters.segment and filters.region else []),
        "delivery": _delivery(session, campaign, segment_id),
        "kap": kap,
    }
