"""The campaign dashboard (page, JSON API), its reports (HTML, XLSX, CSV) and fieldwork progress."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from campaign.models import Campaign
from surveys.models import Survey as SurveyRow
from surveys.models import Wave as WaveRow

from ..accounts.models import User, utcnow
from ..charts import plotly_js_text
from ..dashboards.campaign import DashboardError, DashboardFilters, dashboard_data, filter_choices
from ..dashboards.export import csv_table, html_report, report_filename, report_tables, xlsx_report
from ..dashboards.fieldwork import TargetInputs, fieldwork_charts, fieldwork_progress
from ..dashboards.figures import dashboard_charts, for_page
from ..deps import Allow, SessionDep
from ..render import render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["dashboards"])
routers = [router, api]

MAX_ID = 2**31 - 1
Wave = Annotated[str, Query(max_length=40, description="A wave's name (default: the campaign's baseline, endline)")]
Segment = Annotated[str, Query(max_length=40, description="A segment's code: delivery to it and its survey answers")]
Region = Annotated[str, Query(max_length=80, description="A region: its survey answers")]
By = Annotated[Literal["segment", "region", "sex", "age_group"], Query(description="The KAP breakdown")]
Focus = Annotated[str, Query(max_length=80, description="The domain or item code of the forest plot")]
Correction = Literal["holm", "bh"]


@dataclass(frozen=True)
class DashboardQuery:
    """What every dashboard address takes: the filters, and the forest plot's domain or item."""

    filters: DashboardFilters
    focus: str

    def params(self) -> dict[str, str]:
        return {**asdict(self.filters), "focus": self.focus}


def _dashboard_query(
    baseline: Wave = "", endline: Wave = "", segment: Segment = "", region: Region = "", by: By = "segment",
    focus: Focus = "knowledge", correction: Correction = "holm",
) -> DashboardQuery:
    return DashboardQuery(DashboardFilters(baseline=baseline, endline=endline, segment=segment, region=region, by=by,
                                           correction=correction), focus)


QueryDep = Annotated[DashboardQuery, Depends(_dashboard_query)]


def _campaign(session: Session, campaign_id: int) -> Campaign:
    row = session.get(Campaign, campaign_id) if 0 < campaign_id <= MAX_ID else None
    if row is None:
        raise HTTPException(404, f"There is no campaign {campaign_id}.")
    return row


def _data(session: Session, campaign: Campaign, filters: DashboardFilters) -> tuple[dict | None, str | None]:
    try:
        data = dashboard_data(session=session, campaign=campaign, filters=filters)
    except DashboardError as err:
        session.rollback()
        return None, err.message
    session.commit()  # the analysis' scores and cached report are kept for next time
    return data, None


@router.get("/campaigns/{campaign_id:int}/dashboard")
def dashboard_page(
    request: Request, session: SessionDep, campaign_id: int, user: Annotated[User, Allow("campaign.dashboard")],
    query: QueryDep,
) -> Response:
    campaign = _campaign(session, campaign_id)
    data, error = _data(session, campaign, query.filters)
    charts = for_page(dashboard_charts(data, forest_code=query.focus)) if data else {}
    params = query.params()
    if data:
        params |= {"baseline": data["filters"]["baseline"], "endline": data["filters"]["endline"]}
    return render(request, "dashboards/campaign.html", {
        "campaign": campaign, "data": data, "error": error, "charts": charts, "choices": filter_choices(session=session, campaign=campaign),
        "params": params,
    }, block="dashboard", status_code=422 if error else 200)


@api.get("/campaigns/{campaign_id:int}/dashboard", summary="A campaign's delivery and KAP shift, with its charts")
def api_dashboard(
    session: SessionDep, campaign_id: int, user: Annotated[User, Allow("campaign.dashboard")],
    query: QueryDep,
    charts: Annotated[bool, Query(description="Include the plotly figures and their tables")] = False,
) -> dict:
    """Delivery (counts by status, channel, segment, day; radio airings; trainings), the KAP shift
    (domains, items with the messages aimed at them, groups, exposure) and, with ``charts=true``,
    each chart's plotly figure, title and data table."""
    data, error = _data(session, _campaign(session, campaign_id), query.filters)
    if error:
        raise HTTPException(422, error)
    if charts:
        data["charts"] = dashboard_charts(data, forest_code=query.focus)
    return data


def _filters_text(data: dict) -> str:
    f, kap = data["filters"], data.get("kap") or {}
    parts = [f"{f['baseline']} → {f['endline']}"] if f.get("baseline") and f.get("endline") else []
    if kap.get("subset"):
        parts.append(kap["subset"]["label"])
    elif f.get("region"):
        parts.append(f["region"])
    parts.append(f"broken down by {f['by'].replace('_', ' ')}")
    return ", ".join(parts)


def _report_inputs(session: Session, campaign_id: int, query: DashboardQuery) -> tuple[dict, dict]:
    data, error = _data(session, _campaign(session, campaign_id), query.filters)
    if error:
        raise HTTPException(422, error)
    return data, dashboard_charts(data, forest_code=query.focus)


def _download(body: bytes | str, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


@router.get("/campaigns/{campaign_id:int}/report.html")
def report_html(
    session: SessionDep, campaign_id: int, user: Annotated[User, Allow("campaign.dashboard")],
    query: QueryDep,
) -> Response:
    """One HTML file that opens offline: plotly.js, styles and figures inside (downloaded, not shown here)."""
    data, charts = _report_inputs(session, campaign_id, query)
    now = utcnow()
    body = html_report(data=data, charts=for_page(charts), plotly_js=plotly_js_text(), generated_at=now,
                       filters_text=_filters_text(data))
    return _download(body, "text/html; charset=utf-8", report_filename(data, "html", now))


@router.get("/campaigns/{campaign_id:int}/report.xlsx")
def report_xlsx(
    session: SessionDep, campaign_id: int, user: Annotated[User, Allow("campaign.dashboard")],
    query: QueryDep,
) -> Response:
    data, charts = _report_inputs(session, campaign_id, query)
    now = utcnow()
    body = xlsx_report(data=data, charts=charts, generated_at=now, filters_text=_filters_text(data))
    return _download(body, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     report_filename(data, "xlsx", now))


@router.get("/campaigns/{campaign_id:int}/report.csv")
def report_csv(
    session: SessionDep, campaign_id: int, user: Annotated[User, Allow("campaign.dashboard")],
    query: QueryDep,
    table: Annotated[str, Query(max_length=40, description="Which table (summary, kap_shift, radio, items_messages…)")] = "summary",
) -> Response:
    data, charts = _report_inputs(session, campaign_id, query)
    body = csv_table(data=data, charts=charts, table=table)
    if body is None:
        names = ", ".join(t["name"] for t in report_tables(data, charts))
        raise HTTPException(404, f"This report has no table {table!r}; it has: {names}.")
    return _download(body.encode("utf-8"), "text/csv; charset=utf-8", report_filename(data, f"{table}.csv", utcnow()))


# --- fieldwork progress ----------------------------------------------------------------------


@router.get("/surveys/{survey_id}/waves/{wave_id}/progress")
def fieldwork_page(
    request: Request, session: SessionDep, survey_id: int, wave_id: int, user: Annotated[User, Allow("surveys.progress")],
    target: Annotated[str, Query(max_length=9, description="Target interviews, as set (blank: the wave's, else from the power calculation)")] = "",
    p1: Annotated[float, Query(gt=0, lt=1)] = 0.5, p2: Annotated[float, Query(gt=0, lt=1)] = 0.6,
    design_effect: Annotated[float, Query(ge=1, le=50)] = 2.0, nonresponse: Annotated[float, Query(ge=0, lt=0.9)] = 0.1,
) -> Response:
    survey = session.get(SurveyRow, survey_id) if 0 < survey_id <= MAX_ID else None
    wave = session.get(WaveRow, wave_id) if 0 < wave_id <= MAX_ID else None
    if survey is None or wave is None or wave.survey_id != survey.id:
        raise HTTPException(404, f"There is no wave {wave_id} in survey {survey_id}.")
    target = target.strip()
    if target and not (target.isdigit() and 0 < int(target) <= 10_000_000):
        raise HTTPException(422, "target: give a whole number of interviews from 1 to 10,000,000, or leave it blank.")
    target = int(target) if target else None  # type: ignore[assignment]
    form = {"target": target, "p1": p1, "p2": p2, "design_effect": design_effect, "nonresponse": nonresponse}
    if p1 == p2 and not target and not wave.target_sample:
        return render(request, "dashboards/fieldwork.html", {"survey": survey, "wave": wave, "progress": None, "charts": {},
                                                             "form": form, "error": "p2 must differ from p1."},
                      block="progress", status_code=422)
    progress = fieldwork_progress(session=session, survey=survey, wave=wave, inputs=TargetInputs(
        n=target, p1=p1, p2=p2, design_effect=design_effect, nonresponse=nonresponse))
    return render(request, "dashboards/fieldwork.html", {
        "survey": survey, "wave": wave, "progress": progress, "charts": for_page(fieldwork_charts(progress)), "form": form,
        "error": None}, block="progress")
