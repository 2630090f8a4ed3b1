"""Sampling frames of waves: the wave's frame page (typed or imported from CSV/XLSX, all or none,
with a row-by-row report), its API, and a supervisor's correction of a submission's stratum and
cluster. See :mod:`surveys.frame_service` for what a frame does to submissions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from surveys import frame_service, service
from surveys.frame import MAX_UNITS, FrameTable, parse_table, parse_text
from surveys.imports import ImportFileError, open_table_rows
from surveys.models import SamplingUnit, SamplingUnitIn, Submission, Survey, Wave

from ..accounts.models import User
from ..accounts.permissions import allowed
from ..deps import Allow, SessionDep, client_ip
from ..render import flash, redirect, render

__all__ = ["routers"]

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["surveys"])
routers = [router, api]

MAX_FRAME_BYTES = 2 * 1024 * 1024


def _survey_wave(session: Session, survey_id: int, wave_id: int) -> tuple[Survey, Wave]:
    survey = service.get_survey(session=session, survey_id=survey_id)
    wave = session.get(Wave, wave_id)
    if survey is None or wave is None or wave.survey_id != survey.id:
        raise HTTPException(404, f"Survey {survey_id} has no wave {wave_id}.")
    return survey, wave


def _context(session: Session, survey: Survey, wave: Wave, user: User, **extra: Any) -> dict[str, Any]:
    units = frame_service.list_units(session=session, wave=wave)
    context = {
        "survey": survey, "wave": wave, "units": units, "strata": len({u.stratum for u in units}),
        "can_edit": allowed(user.role, "surveys.review"), "table": None, "typed": None,
        "text": "\n".join(", ".join([u.stratum, u.cluster] + ([f"{u.weight:g}"] if u.weight is not None else []))
                          for u in units),
        "max_units": MAX_UNITS,
    }
    context.update(extra)
    return context


@router.get("/surveys/{survey_id}/waves/{wave_id}/frame")
def frame_page(request: Request, session: SessionDep, survey_id: int, wave_id: int,
               user: Annotated[User, Allow("surveys.view")]) -> Response:
    survey, wave = _survey_wave(session, survey_id, wave_id)
    return render(request, "surveys/frame.html", _context(session, survey, wave, user))


def _save(request: Request, session: Session, survey: Survey, wave: Wave, user: User, table: FrameTable,
          how: str, **extra: Any) -> Response:
    if not table.ok:
        session.rollback()
        return render(request, "surveys/frame.html", _context(session, survey, wave, user, table=table, **extra),
                      status_code=422, block="frame_forms")
    changed = frame_service.replace_frame(session=session, wave=wave, units=table.units, actor=user,
                                          ip=client_ip(request), how=how)
    session.commit()
    note = (f"Sampling frame saved: {len(table.units)} units." if table.units else "Sampling frame removed.")
    if changed:
        note += f" {changed} submission{'s' if changed != 1 else ''} re-checked against it."
    return flash(redirect(request, f"/surveys/{survey.id}/waves/{wave.id}/frame"), note, request)


@router.post("/surveys/{survey_id}/waves/{wave_id}/frame")
def frame_edit(request: Request, session: SessionDep, survey_id: int, wave_id: int,
               user: Annotated[User, Allow("surveys.review")],
               units: Annotated[str, Form(max_length=400_000)] = "") -> Response:
    """The frame typed in the text box, one unit a line: ``stratum, cluster[, weight]``; empty removes it."""
    survey, wave = _survey_wave(session, survey_id, wave_id)
    table = parse_text(units) if units.strip() else FrameTable()
    return _save(request, session, survey, wave, user, table, "edited", typed=units)


def read_frame_file(data: bytes, filename: str) -> FrameTable:
    """A CSV or XLSX frame file as a checked table (problems about the file itself included)."""
    try:
        rows, close = open_table_rows(data, filename)
        try:
            return parse_table(list(rows))
        finally:
            close()
    except ImportFileError as err:
        return FrameTable(problems=list(err.problems))


@router.post("/surveys/{survey_id}/waves/{wave_id}/frame/import")
def frame_import(request: Request, session: SessionDep, survey_id: int, wave_id: int,
                 user: Annotated[User, Allow("surveys.review")],
                 file: Annotated[UploadFile | None, File()] = None) -> Response:
    """A frame file (CSV or XLSX: stratum, cluster, weight) replaces the frame, all or none."""
    survey, wave = _survey_wave(session, survey_id, wave_id)
    data = file.file.read(MAX_FRAME_BYTES + 1) if file is not None and file.filename else b""
    if not data:
        table = FrameTable(problems=["Choose a CSV or XLSX file with the columns stratum, cluster and weight."])
    elif len(data) > MAX_FRAME_BYTES:
        table = FrameTable(problems=["The file is larger than 2 MB."])
    else:
        table = read_frame_file(data, file.filename or "")
    return _save(request, session, survey, wave, user, table, f"imported from {(file.filename if file else '')[:80]!r}")


# --- API ------------------------------------------------------------------------------------------


# A wave's whole sampling frame.
class FrameBody(BaseModel):
    units: list[SamplingUnitIn] = Field(max_length=MAX_UNITS, description="Every unit of the frame; [] removes it.")


# A frame as saved, with how many submissions it re-flagged.
class FramePublic(BaseModel):
    wave_id: int
    units: list[SamplingUnitIn]
    reflagged: int = 0


@api.get("/surveys/{survey_id}/waves/{wave_id}/frame", response_model=FramePublic, summary="A wave's sampling frame")
def api_frame(session: SessionDep, survey_id: int, wave_id: int,
              user: Annotated[User, Allow("surveys.view")]) -> FramePublic:
    _, wave = _survey_wave(session, survey_id, wave_id)
    return FramePublic(wave_id=wave.id, units=[SamplingUnitIn.model_validate(u)
                                               for u in frame_service.list_units(session=session, wave=wave)])


@api.put("/surveys/{survey_id}/waves/{wave_id}/frame", response_model=FramePublic,
         summary="Replace a wave's sampling frame (all or none)",
         responses={422: {"description": "A unit is invalid or repeated; nothing was saved."}})
def api_put_frame(request: Request, session: SessionDep, survey_id: int, wave_id: int, body: FrameBody,
                  user: Annotated[User, Allow("surveys.review")]) -> Any:
    _, wave = _survey_wave(session, survey_id, wave_id)
    rows = [["stratum", "cluster", "weight"]] + [[u.stratum, u.cluster, "" if u.weight is None else repr(u.weight)]
                                                 for u in body.units]
    table = parse_table(rows) if body.units else FrameTable()
    if not table.ok:
        errors = [{"field": f"units.{r.line - 2}", "message": r.problem, "type": "frame"} for r in table.rows if r.problem]
        return JSONResponse({"detail": "; ".join(table.problems) + " Nothing was saved.",
                             "errors": errors or [{"field": "units", "message": p, "type": "frame"}
                                                  for p in table.problems]}, status_code=422)
    units = table.units  # trimmed as a file's cells are
    changed = frame_service.replace_frame(session=session, wave=wave, units=units, actor=user, ip=client_ip(request),
                                          how="replaced through the API")
    session.commit()
    return FramePublic(wave_id=wave.id, units=[SamplingUnitIn(stratum=u.stratum, cluster=u.cluster, weight=u.weight)
                                               for u in units], reflagged=changed)


# --- a supervisor puts a submission's design values right -----------------------------------------


@router.post("/submissions/{submission_id}/design")
def submission_design(request: Request, session: SessionDep, submission_id: int,
                      user: Annotated[User, Allow("surveys.review")],
                      unit: Annotated[str, Form(max_length=20)] = "") -> Response:
    """``unit`` is the id of a unit of the wave's frame, as the page's select offers it."""
    sub = service.get_submission(session=session, submission_id=submission_id, viewer=user)
    if sub is None:
        raise HTTPException(404, f"There is no submission {submission_id} that you may see.")
    chosen = session.get(SamplingUnit, int(unit)) if unit.isascii() and unit.isdigit() and len(unit) < 19 else None
    if chosen is None or chosen.wave_id != sub.wave_id:
        return flash(redirect(request, f"/submissions/{submission_id}"),
                     "Choose a stratum and cluster of the wave's sampling frame.", request)
    try:
        frame_service.correct_design(session=session, submission=sub, stratum=chosen.stratum, cluster=chosen.cluster,
                                     actor=user, ip=client_ip(request))
    except service.SurveyError as err:
        session.rollback()
        return flash(redirect(request, f"/submissions/{submission_id}"), err.message, request)
    session.commit()
    return flash(redirect(request, f"/submissions/{submission_id}"),
                 f"Stratum and cluster set to {sub.stratum or '—'} / {sub.cluster or '—'}: "
                 "the interview counts in the analysis again.", request)


def frame_choices(session: Session, submission: Submission) -> list[tuple[int, str]]:
    """(unit id, label) of the units a supervisor may choose for a submission."""
    units = frame_service.list_units(session=session, wave=session.get(Wave, submission.wave_id))
    return [(u.id, " / ".join(p for p in (u.stratum, u.cluster) if p)) for u in units]
