"""The KAP-shift report (page, API) and the sample-size calculator."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import col, select

from audiences.service import segment_names
from surveys.analysis_service import BREAKDOWN_FIELDS, AnalysisRequestError, get_report
from surveys import service as survey_service
from surveys.models import Survey, Wave, WaveUpdate
from surveys.stats.power import minimum_detectable_change, sample_size_two_proportions

from ..accounts.models import User
from ..accounts.permissions import allowed
from ..charts import plotly_css, report_figures
from ..deps import Allow, SessionDep, client_ip
from ..render import flash, redirect, render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["analysis"])
routers = [router, api]

Correction = Literal["holm", "bh"]
#: R's survey.lonely.psu options (surveys.stats.design.LONELY_PSU_OPTIONS)
LonelyPsu = Literal["adjust", "average", "remove", "certainty", "fail"]
LONELY_CHOICES = (("adjust", "Overall mean (conservative, default)"), ("average", "Average of the other strata"),
                  ("remove", "Leave out"), ("certainty", "Treat as fully sampled"), ("fail", "Do not estimate"))
_LONELY_HELP = ("How a stratum with a single cluster is treated (R survey.lonely.psu): adjust (default, "
                "conservative), average, remove, certainty or fail")


def _report_or_http(session, **kwargs) -> dict:
    try:
        report = get_report(session=session, **kwargs)
    except AnalysisRequestError as err:
        raise HTTPException(404 if err.field == "survey_id" else 422, f"{err.field}: {err.message}") from None
    session.commit()  # scores and the cached report are kept for next time
    return report


@api.get("/surveys/{survey_id}/analysis", summary="KAP shift between two waves")
def api_analysis(
    session: SessionDep, survey_id: int, user: Annotated[User, Allow("analysis.view")],
    baseline: Annotated[str, Query(description="Name of the baseline wave", max_length=40)],
    endline: Annotated[str, Query(description="Name of the endline wave", max_length=40)],
    by: Annotated[str | None, Query(description="segment, region, sex, age_group, arm, stratum, or a background item", max_length=80)] = None,
    correction: Correction = "holm",
    language: Annotated[str, Query(max_length=10)] = "en",
    lonely_psu: Annotated[LonelyPsu, Query(description=_LONELY_HELP)] = "adjust",
) -> dict:
    """The report described in the README ("Analysis"): items, domains, groups, did, exposure."""
    return _report_or_http(session, survey_id=survey_id, baseline=baseline, endline=endline, by=by or None,
                           correction=correction, language=language, lonely_psu=lonely_psu)


def _surveys_with_waves(session) -> list[tuple[Survey, list[Wave]]]:
    surveys = session.exec(select(Survey).order_by(col(Survey.title))).all()
    waves = session.exec(select(Wave).order_by(col(Wave.id))).all()
    return [(s, [w for w in waves if w.survey_id == s.id]) for s in surveys]


@router.get("/analysis")
def analysis_home(request: Request, session: SessionDep, user: Annotated[User, Allow("analysis.view")]) -> Response:
    return render(request, "analysis/index.html", {"surveys": _surveys_with_waves(session)})


@router.get("/analysis/{survey_id}")
def analysis_page(
    request: Request, session: SessionDep, survey_id: int, user: Annotated[User, Allow("analysis.view")],
    baseline: Annotated[str, Query(max_length=40)] = "", endline: Annotated[str, Query(max_length=40)] = "",
    by: Annotated[str, Query(max_length=80)] = "", correction: Correction = "holm",
    language: Annotated[str, Query(max_length=10)] = "en", lonely_psu: LonelyPsu = "adjust",
) -> Response:
    survey = session.get(Survey, survey_id)
    if survey is None:
        raise HTTPException(404, f"There is no survey {survey_id}.")
    waves = session.exec(select(Wave).where(Wave.survey_id == survey_id).order_by(col(Wave.id))).all()
    names = [w.name for w in waves]
    baseline = baseline or (names[0] if names else "")
    endline = endline or (names[-1] if len(names) > 1 else "")
    report, error = None, None
    if baseline and endline:
        try:
            report = get_report(session=session, survey_id=survey_id, baseline=baseline, endline=endline, by=by or None,
                                correction=correction, language=language, lonely_psu=lonely_psu)
            session.commit()
        except AnalysisRequestError as err:
            session.rollback()
            error = err.message
    else:
        error = "This survey needs two waves to compare."
    ctx = {"survey": survey, "waves": waves, "report": report, "error": error, "breakdowns": BREAKDOWN_FIELDS,
           "figures": report_figures(report, segment_names(session=session)) if report else {}, "plotly_style_ids": plotly_css()[1],
           "lonely_choices": LONELY_CHOICES,
           "params": {"baseline": baseline, "endline": endline, "by": by, "correction": correction, "language": language,
                      "lonely_psu": lonely_psu}}
    return render(request, "analysis/report.html", ctx, block="report", status_code=422 if error and report is None and baseline and endline else 200)


# --- sample size -------------------------------------------------------------------------


class PowerRequest(BaseModel):
    p1: float = Field(gt=0, lt=1, description="Baseline proportion, e.g. 0.40")
    p2: float | None = Field(default=None, gt=0, lt=1, description="Proportion to detect at endline; omit to get the minimum detectable change for n")
    n: int | None = Field(default=None, ge=2, le=10_000_000, description="Respondents per wave, for the minimum detectable change")
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    power: float = Field(default=0.80, gt=0.5, lt=1)
    sided: Literal[1, 2] = 2
    design_effect: float = Field(default=1.0, ge=1, le=50)
    nonresponse: float = Field(default=0.0, ge=0, lt=0.9)
    method: Literal["fanta", "fleiss", "fleiss_cc"] = "fanta"


def compute_power(req: PowerRequest) -> dict:
    if req.p2 is not None:
        if req.p2 == req.p1:
            raise ValueError("p2 must differ from p1")
        r = sample_size_two_proportions(req.p1, req.p2, alpha=req.alpha, power=req.power, sided=req.sided,
                                        design_effect=req.design_effect, nonresponse=req.nonresponse, method=req.method)
        return {"kind": "sample_size", **dataclasses.asdict(r)}
    if req.n is None:
        raise ValueError("give p2 (for a sample size) or n (for a minimum detectable change)")
    r = minimum_detectable_change(req.n, req.p1, alpha=req.alpha, power=req.power, sided=req.sided,
                                  design_effect=req.design_effect, method=req.method)
    return {"kind": "detectable_change", **dataclasses.asdict(r)}


@api.post("/power", summary="Sample size per wave, or minimum detectable change")
def api_power(body: PowerRequest, user: Annotated[User, Allow("analysis.view")]) -> dict:
    try:
        return compute_power(body)
    except ValueError as err:
        raise HTTPException(422, str(err)) from None


@router.get("/power")
def power_page(request: Request, session: SessionDep, user: Annotated[User, Allow("analysis.view")],
               p1: float | None = None, p2: float | None = None, n: int | None = None, alpha: float = 0.05,
               power: float = 0.80, sided: int = 2, design_effect: float = 2.0, nonresponse: float = 0.1,
               method: str = "fanta") -> Response:
    form = {"p1": p1, "p2": p2, "n": n, "alpha": alpha, "power": power, "sided": sided,
            "design_effect": design_effect, "nonresponse": nonresponse, "method": method}
    result, error = None, None
    if p1 is not None:
        try:
            result = compute_power(PowerRequest(**{k: v for k, v in form.items() if v is not None}))
        except (ValueError, TypeError) as err:
            error = str(err).split("\n")[0] if "validation error" not in str(err) else _first_error(err)
    waves = ([(sv, w) for sv, ws in _surveys_with_waves(session) for w in ws]
             if result and result["kind"] == "sample_size" and allowed(user.role, "surveys.design") else [])
    return render(request, "analysis/power.html", {"form": form, "result": result, "error": error, "waves": waves},
                  block="result")


@router.post("/power/wave-target")
def power_wave_target(request: Request, session: SessionDep, user: Annotated[User, Allow("surveys.design")],
                      wave_id: Annotated[int, Form(ge=1, le=2**31 - 1)], target_sample: Annotated[int, Form(ge=1, le=10_000_000)],
                      ) -> Response:
    """Make the calculator's result a wave's target sample; on to the wave's fieldwork progress."""
    wave = session.get(Wave, wave_id)
    if wave is None:
        raise HTTPException(404, f"There is no wave {wave_id}.")
    survey_service.update_wave(session=session, wave=wave, wave_update=WaveUpdate(target_sample=target_sample),
                               actor=user, ip=client_ip(request))
    session.commit()
    return flash(redirect(request, f"/surveys/{wave.survey_id}/waves/{wave.id}/progress"),
                 f"{target_sample:,} interviews is now the target of wave {wave.name}.", request)


def _first_error(err: Exception) -> str:
    errors = getattr(err, "errors", lambda: [])()
    if errors:
        e = errors[0]
        return f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
    return str(err)
