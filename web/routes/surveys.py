"""Surveys: instruments and their versions, waves, settings, submissions, review and conflicts.

Pages (``/surveys``, ``/review``, ``/submissions/{id}``) and the JSON API under ``/api/v1/``.
Handlers are thin: they parse, call :mod:`surveys.service`, commit, and answer. The
enumerator's data-entry form is in :mod:`web.routes.collect`; imports and exports in
:mod:`web.routes.survey_data`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session, col, select

from surveys import rules, service
from surveys.models import (
    AnalysisScope,
    ConflictPublic,
    InstrumentVersion,
    InstrumentVersionPublic,
    ReviewRequest,
    Submission,
    SubmissionConflict,
    SubmissionCorrection,
    SubmissionIn,
    SubmissionPublic,
    SubmissionStatus,
    Survey,
    SurveyCreate,
    SurveyPublic,
    SurveyUpdate,
    Wave,
    WaveCreate,
    WaveDesign,
    WaveKind,
    WavePublic,
    WaveUpdate,
)
from surveys.limits import instrument_limits
from surveys.spec import CHOICE_TYPES
from surveys.xlsform import XLSFormError

from ..accounts.models import Role, User
from ..accounts.permissions import allowed
from ..deps import Allow, SessionDep, client_ip
from ..render import flash, redirect, render
from .frames import frame_choices

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["surveys"])
routers = [router, api]

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_XLSFORM_BYTES = 10 * 1024 * 1024
STATUS_LABELS = {
    SubmissionStatus.received: ("Received", ""),
    SubmissionStatus.has_issues: ("Has issues", "warn"),
    SubmissionStatus.approved: ("Approved", "ok"),
    SubmissionStatus.rejected: ("Rejected", "err"),
}
TYPE_LABELS = {
    "single_choice": "single choice", "multiple_choice": "multiple choice", "likert4": "Likert (4)",
    "likert5": "Likert (5)", "yes_no_dk": "yes / no / don't know", "datetime": "date and time",
    "select_one_from_file": "single choice from a file", "select_multiple_from_file": "multiple choice from a file",
    "other": "other (kept as text)",
}

# --- shared helpers -------------------------------------------------------------------------


def _survey(session: Session, survey_id: int) -> Survey:
    survey = service.get_survey(session=session, survey_id=survey_id)
    if survey is None:
        raise HTTPException(404, f"There is no survey {survey_id}.")
    return survey


def _version(session: Session, survey: Survey, number: int) -> InstrumentVersion:
    version = service.get_version(session=session, survey=survey, version=number)
    if version is None:
        raise HTTPException(404, f"Survey {survey.id} has no version {number}.")
    return version


def _wave(session: Session, survey: Survey, wave_id: int) -> Wave:
    wave = session.get(Wave, wave_id)
    if wave is None or wave.survey_id != survey.id:
        raise HTTPException(404, f"Survey {survey.id} has no wave {wave_id}.")
    return wave


def _submission(session: Session, submission_id: int, user: User) -> Submission:
    sub = service.get_submission(session=session, submission_id=submission_id, viewer=user)
    if sub is None:
        raise HTTPException(404, f"There is no submission {submission_id} that you may see.")
    return sub


def _conflict(session: Session, conflict_id: int) -> SubmissionConflict:
    conflict = session.get(SubmissionConflict, conflict_id)
    if conflict is None:
        raise HTTPException(404, f"There is no conflict {conflict_id}.")
    return conflict


def _problems_json(err: XLSFormError) -> list[dict[str, Any]]:
    return [{"sheet": p.sheet, "row": p.row, "column": p.column, "message": p.message} for p in err.errors]


def _error_response(err: Exception) -> JSONResponse:
    """The JSON answer to a refused request: a sentence in ``detail``, the particulars in ``errors``."""
    if isinstance(err, XLSFormError):
        return JSONResponse({"detail": f"{len(err.errors)} problem(s) in the XLSForm; nothing was imported.",
                             "errors": _problems_json(err)}, status_code=422)
    if isinstance(err, service.SubmissionConflictError):
        return JSONResponse({"detail": err.message, "conflict_id": err.conflict.id, "uuid": err.existing.uuid,
                             "submission_id": err.existing.id}, status_code=409)
    if isinstance(err, service.SubmissionInvalid):
        return JSONResponse({"detail": err.message,
                             "errors": [{"item": p.code, "message": p.message} for p in err.problems]}, status_code=422)
    if isinstance(err, service.SpecInvalid):
        return JSONResponse({"detail": err.message, "errors": [{"message": p} for p in err.problems]}, status_code=422)
    if isinstance(err, service.SurveyError):
        return JSONResponse({"detail": err.message}, status_code=err.status_code)
    if isinstance(err, ValidationError):
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in err.errors()]
        return JSONResponse({"detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors), "errors": errors},
                            status_code=422)
    raise err


def _validation_messages(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors())


async def _upload(request: Request) -> tuple[bytes | None, dict[str, str], Any]:
    """(xlsx bytes, other form fields, None) for multipart; (None, {}, parsed JSON) otherwise."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "Send the XLSForm as the multipart field 'file'.")
        data = await upload.read(MAX_XLSFORM_BYTES + 1)
        if len(data) > MAX_XLSFORM_BYTES:
            raise HTTPException(413, "The XLSForm is larger than 10 MB.")
        return data, fields, None
    body = await request.body()
    try:
        return None, {}, json.loads(body or b"null")
    except ValueError:
        raise HTTPException(422, "The body is neither an XLSForm upload (multipart/form-data) nor JSON.") from None


def _upload_openapi(json_model: type[BaseModel], extra_fields: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "The XLSForm (.xlsx or .xls)."}, **extra_fields}}},
        "application/json": {"schema": json_model.model_json_schema()},
    }}}


def _version_public(version: InstrumentVersion, counts: dict[int, int], with_spec: bool = False) -> InstrumentVersionPublic:
    n = counts.get(version.id, 0)
    return InstrumentVersionPublic(
        id=version.id, survey_id=version.survey_id, version=version.version, title=version.title, note=version.note,
        created_at=version.created_at, submissions=n, locked=n > 0, spec=version.spec if with_spec else None)


# A survey with its versions, waves and submission counts.
class SurveyDetail(SurveyPublic):
    versions: list[InstrumentVersionPublic]
    waves: list[WavePublic]
    submissions: dict[str, int] = Field(description="Submissions by status (an enumerator's own only).")


def _survey_detail(session: Session, survey: Survey, viewer: User) -> SurveyDetail:
    counts = service.submission_counts_by_version(session=session, survey=survey)
    by_status: dict[str, int] = {}
    for (_, status), n in service.status_counts(session=session, survey=survey, viewer=viewer).items():
        by_status[status.value] = by_status.get(status.value, 0) + n
    return SurveyDetail(
        **SurveyPublic.model_validate(survey).model_dump(),
        versions=[_version_public(v, counts) for v in service.list_versions(session=session, survey=survey)],
        waves=[WavePublic.model_validate(w) for w in service.list_waves(session=session, survey=survey)],
        submissions=by_status,
    )


# =============================================================================================
# JSON API
# =============================================================================================


@api.get("/surveys", response_model=list[SurveyPublic], summary="List surveys")
def api_surveys(session: SessionDep, user: Annotated[User, Allow("surveys.view")]) -> list[Survey]:
    return service.list_surveys(session=session)


@api.post(
    "/surveys", status_code=201, response_model=SurveyDetail, summary="Create a survey from an XLSForm or a JSON spec",
    openapi_extra=_upload_openapi(SurveyCreate, {"title": {"type": "string"}, "description": {"type": "string"}}),
)
async def api_create_survey(request: Request, session: SessionDep, user: Annotated[User, Allow("surveys.design")]) -> Any:
    """Create a survey and its instrument version 1.

    Either upload an XLSForm as ``multipart/form-data`` (field ``file``, optional ``title``
    and ``description``), or send JSON ``{"title", "description", "spec"}`` with ``spec`` in
    the layout of ``surveys.spec.spec_to_dict``. A refused form answers 422 with every
    problem in ``errors`` (``sheet``, ``row``, ``column``, ``message`` for an XLSForm) and
    nothing is stored.
    """
    data, fields, body = await _upload(request)
    try:
        if data is not None:
            survey = service.create_survey_from_xlsform(
                session=session, data=data, actor=user, title=fields.get("title", "").strip() or None,
                description=fields.get("description", ""), ip=client_ip(request))
        else:
            create = SurveyCreate.model_validate(body)
            survey = service.create_survey_from_dict(session=session, spec_dict=create.spec, actor=user,
                                                     title=create.title, description=create.description,
                                                     ip=client_ip(request))
    except (XLSFormError, service.SurveyError, ValidationError) as err:
        session.rollback()
        return _error_response(err)
    session.commit()
    return _survey_detail(session, survey, user)


@api.get("/surveys/{survey_id}", response_model=SurveyDetail, summary="One survey with its versions and waves")
def api_survey(session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.view")]) -> SurveyDetail:
    return _survey_detail(session, _survey(session, survey_id), user)


@api.patch("/surveys/{survey_id}", response_model=SurveyPublic, summary="Change a survey's title or settings")
def api_update_survey(request: Request, session: SessionDep, survey_id: int, body: SurveyUpdate,
                      user: Annotated[User, Allow("surveys.design")]) -> Any:
    """Settings: ``analysis_scope`` (``approved``: analyses count approved submissions only;
    ``non_rejected``: everything not rejected), ``dont_know_threshold`` (0-1) and
    ``min_seconds_per_answer`` for the quality flags."""
    survey = _survey(session, survey_id)
    service.update_survey(session=session, survey=survey, survey_update=body, actor=user, ip=client_ip(request))
    session.commit()
    return survey


@api.delete("/surveys/{survey_id}", status_code=204, summary="Delete a survey that has no submissions")
def api_delete_survey(request: Request, session: SessionDep, survey_id: int,
                      user: Annotated[User, Allow("surveys.design")]) -> Response:
    survey = _survey(session, survey_id)
    try:
        service.delete_survey(session=session, survey=survey, actor=user, ip=client_ip(request))
    except service.SurveyError as err:
        session.rollback()
        return _error_response(err)
    session.commit()
    return Response(status_code=204)


@api.get("/surveys/{survey_id}/versions", response_model=list[InstrumentVersionPublic],
         summary="Instrument versions of a survey")
def api_versions(session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.view")]) -> Any:
    survey = _survey(session, survey_id)
    counts = service.submission_counts_by_version(session=session, survey=survey)
    return [_version_public(v, counts) for v in service.list_versions(session=session, survey=survey)]


@api.post(
    "/surveys/{survey_id}/versions", status_code=201, response_model=InstrumentVersionPublic,
    summary="Add an instrument version (XLSForm or JSON spec)",
    openapi_extra=_upload_openapi(SurveyCreate, {"note": {"type": "string"}}),
)
async def api_add_version(request: Request, session: SessionDep, survey_id: int,
                          user: Annotated[User, Allow("surveys.design")]) -> Any:
    """A new version numbered one more than the latest; earlier versions never change and
    their submissions keep them. Multipart ``file`` (+ ``note``) or JSON ``{"spec", "note"}``."""
    survey = _survey(session, survey_id)
    data, fields, body = await _upload(request)
    try:
        if data is not None:
            version = service.add_version_from_xlsform(session=session, survey=survey, data=data, actor=user,
                                                       note=fields.get("note", ""), ip=client_ip(request))
        else:
            if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
                raise service.SpecInvalid(["send JSON {\"spec\": {...}, \"note\": \"...\"}"])
            version = service.add_version_from_dict(session=session, survey=survey, spec_dict=body["spec"], actor=user,
                                                    note=str(body.get("note", "")), ip=client_ip(request))
    except (XLSFormError, service.SurveyError) as err:
        session.rollback()
        return _error_response(err)
    session.commit()
    return _version_public(version, {})


@api.get("/surveys/{survey_id}/versions/{number}", response_model=InstrumentVersionPublic,
         summary="One instrument version with its spec")
def api_version(session: SessionDep, survey_id: int, number: int, user: Annotated[User, Allow("surveys.view")]) -> Any:
    survey = _survey(session, survey_id)
    version = _version(session, survey, number)
    return _version_public(version, service.submission_counts_by_version(session=session, survey=survey), with_spec=True)


@api.get("/surveys/{survey_id}/versions/{number}/xlsform", summary="Download a version as an XLSForm",
         response_class=Response, responses={200: {"content": {XLSX_TYPE: {}}}})
def api_version_xlsform(session: SessionDep, survey_id: int, number: int,
                        user: Annotated[User, Allow("surveys.view")]) -> Response:
    return _xlsform_response(_version(session, _survey(session, survey_id), number))


def _xlsform_response(version: InstrumentVersion) -> Response:
    spec = service.version_spec(version)
    filename = f"{spec.form_id or 'survey'}-v{version.version}.xlsx"
    return Response(service.version_xlsform(version), media_type=XLSX_TYPE,
                    headers={"Content-Disposition": f"attachment; filename=\"{quote(filename)}\""})


@api.get("/surveys/{survey_id}/waves", response_model=list[WavePublic], summary="Waves of a survey")
def api_waves(session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.view")]) -> list[Wave]:
    return service.list_waves(session=session, survey=_survey(session, survey_id))


@api.post("/surveys/{survey_id}/waves", status_code=201, response_model=WavePublic, summary="Add a wave")
def api_create_wave(request: Request, session: SessionDep, survey_id: int, body: WaveCreate,
                    user: Annotated[User, Allow("surveys.design")]) -> Any:
    """``kind``: baseline, midline, endline, pre, post; ``design``: independent or panel."""
    survey = _survey(session, survey_id)
    try:
        wave = service.create_wave(session=session, survey=survey, wave_create=body, actor=user, ip=client_ip(request))
    except service.SurveyError as err:
        session.rollback()
        return JSONResponse({"detail": err.message}, status_code=409)
    session.commit()
    return wave


@api.patch("/surveys/{survey_id}/waves/{wave_id}", response_model=WavePublic, summary="Change a wave (open/close it...)")
def api_update_wave(request: Request, session: SessionDep, survey_id: int, wave_id: int, body: WaveUpdate,
                    user: Annotated[User, Allow("surveys.design")]) -> Any:
    wave = _wave(session, _survey(session, survey_id), wave_id)
    try:
        service.update_wave(session=session, wave=wave, wave_update=body, actor=user, ip=client_ip(request))
    except service.SurveyError as err:
        session.rollback()
        return _error_response(err)
    session.commit()
    return wave


@api.delete("/surveys/{survey_id}/waves/{wave_id}", status_code=204, summary="Delete a wave that has no submissions")
def api_delete_wave(request: Request, session: SessionDep, survey_id: int, wave_id: int,
                    user: Annotated[User, Allow("surveys.design")]) -> Response:
    wave = _wave(session, _survey(session, survey_id), wave_id)
    try:
        service.delete_wave(session=session, wave=wave, actor=user, ip=client_ip(request))
    except service.SurveyError as err:
        session.rollback()
        return _error_response(err)
    session.commit()
    return Response(status_code=204)


@api.post(
    "/surveys/{survey_id}/submissions", status_code=201, response_model=SubmissionPublic,
    summary="Send one interview (idempotent by uuid)",
    responses={200: {"description": "Already received with the same content: the stored submission.",
                     "model": SubmissionPublic},
               409: {"description": "The uuid exists with different content: refused and kept aside."},
               422: {"description": "Invalid: each problem names the item code and why."}},
)
def api_submit(request: Request, session: SessionDep, survey_id: int, body: SubmissionIn,
               user: Annotated[User, Allow("surveys.collect")]) -> Any:
    """Store one interview, whole or not at all.

    Body (``SubmissionIn``)::

        {"uuid": "0b6c...",            # made by the client when the interview starts
         "wave": "baseline",           # wave name or id (required)
         "version": 2,                 # instrument version collected with (default: latest)
         "answers": {"consent": "yes", "age": 34, "k_signs": ["job_offer", "debt"], ...},
         "started_at": "2026-11-02T14:15:00Z", "ended_at": "2026-11-02T14:30:00Z",
         "language": "ht", "segment": "general_public", "region": "Ouest", "cluster": "Cité Soleil",
         "stratum": "urban", "weight": 1.5, "respondent_code": "", "arm": "intervention",
         "sex": "female", "age_group": "25-34"}

    Answers: a choice name for single choice, Likert and yes/no/don't know; a list of
    choice names (or a space-separated string) for multiple choice; numbers; dates as
    ``YYYY-MM-DD``; text. Answers to items that skip logic makes irrelevant are dropped.

    201: stored. 200: the same uuid with the same content was already stored (a resend):
    nothing new. 409: the uuid exists with different content; the resend was kept aside
    for a supervisor. 422: invalid, ``errors`` lists ``{"item", "message"}``.
    """
    found = service.get_survey_wave(session=session, survey_id=survey_id, wave=body.wave) if body.wave else None
    if found is None:
        survey = _survey(session, survey_id)
        if body.wave is None or body.wave == "":
            return _error_response(service.SubmissionInvalid([rules.AnswerProblem("wave", "is required (name or id)")]))
        wave = service.get_wave(session=session, survey=survey, wave=body.wave)
        if wave is None:
            return _error_response(service.SubmissionInvalid(
                [rules.AnswerProblem("wave", f"survey {survey.id} has no wave {body.wave!r}")]))
    else:
        survey, wave = found
    source = "web" if request.state._state.get("auth") and request.state.auth.via == "cookie" else "api"
    try:
        submission, created = service.submit(session=session, survey=survey, wave=wave, payload=body, enumerator=user,
                                             source=source, ip=client_ip(request))
    except service.SubmissionConflictError as err:
        session.commit()  # keep the conflict for a supervisor
        return _error_response(err)
    except service.SurveyError as err:
        session.rollback()
        return _error_response(err)
    session.commit()
    public = service.submission_public(session=session, submissions=[submission], viewer=user, detail=True, waves=[wave],
                                       users=[user])[0]
    return JSONResponse(public.model_dump(mode="json"), status_code=201 if created else 200,
                        headers={"Location": f"/api/v1/submissions/{submission.id}"})


# A page of submissions.
class SubmissionList(BaseModel):
    items: list[SubmissionPublic]
    total: int
    offset: int
    limit: int


def _filters(session: Session, survey: Survey | None, wave: str | None, status: str | None, enumerator: int | None,
             flag: str | None, source: str | None, q: str) -> service.SubmissionFilter:
    wave_id = None
    if wave not in (None, ""):
        if survey is None:
            if not str(wave).isdigit():
                raise HTTPException(422, "Filter waves by id, or choose a survey first.")
            wave_id = int(wave)
        else:
            found = service.get_wave(session=session, survey=survey, wave=wave)
            if found is None:
                raise HTTPException(404, f"Survey {survey.id} has no wave {wave!r}.")
            wave_id = found.id
    try:
        status_value = SubmissionStatus(status) if status else None
    except ValueError:
        raise HTTPException(422, f"status must be one of {', '.join(s.value for s in SubmissionStatus)}.") from None
    if flag and flag != "any" and flag not in rules.FLAG_LABELS:
        raise HTTPException(422, f"flag must be 'any' or one of {', '.join(rules.FLAG_LABELS)}.")
    return service.SubmissionFilter(survey_id=survey.id if survey else None, wave_id=wave_id, status=status_value,
                                    enumerator_id=enumerator, flag=flag or None, source=source or None, q=q)


@api.get("/surveys/{survey_id}/submissions", response_model=SubmissionList, summary="List submissions")
def api_submissions(
    session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.view")],
    wave: str | None = None, status: str | None = None, enumerator: int | None = None, flag: str | None = None,
    source: str | None = None, q: str = "",
    offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SubmissionList:
    """Newest first. Filters: ``wave`` (name or id), ``status``, ``enumerator`` (user id),
    ``flag`` (a flag code or ``any``), ``source``, ``q`` (uuid or respondent code prefix).
    Enumerators only ever see their own submissions."""
    survey = _survey(session, survey_id)
    filters = _filters(session, survey, wave, status, enumerator, flag, source, q)
    page = service.list_submissions(session=session, viewer=user, filters=filters, offset=offset, limit=limit)
    return SubmissionList(items=service.submission_public(session=session, submissions=page.items, viewer=user),
                          total=page.total, offset=page.offset, limit=page.limit)


@api.get("/submissions/conflicts", response_model=list[ConflictPublic], summary="Resends kept aside (conflicts)")
def api_conflicts(session: SessionDep, user: Annotated[User, Allow("surveys.review")],
                  survey_id: int | None = None, include_resolved: bool = False) -> list[SubmissionConflict]:
    return service.list_conflicts(session=session, survey_id=survey_id, include_resolved=include_resolved)


class ConflictResolution(BaseModel):
    note: str = Field(default="", max_length=1000)


@api.post("/submissions/conflicts/{conflict_id}/resolve", response_model=ConflictPublic, summary="Mark a conflict resolved")
def api_resolve_conflict(request: Request, session: SessionDep, conflict_id: int, body: ConflictResolution,
                         user: Annotated[User, Allow("surveys.review")]) -> Any:
    conflict = _conflict(session, conflict_id)
    service.resolve_conflict(session=session, conflict=conflict, actor=user, note=body.note, ip=client_ip(request))
    session.commit()
    return conflict


@api.post("/submissions/conflicts/{conflict_id}/accept", response_model=SubmissionPublic,
          summary="Accept a resend kept aside: it replaces the stored submission",
          responses={409: {"description": "The stored submission no longer exists."},
                     422: {"description": "The resend's answers do not pass the instrument's checks."}})
def api_accept_conflict(request: Request, session: SessionDep, conflict_id: int, body: ConflictResolution,
                        user: Annotated[User, Allow("surveys.review")]) -> Any:
    """The stored submission keeps its earlier state as a revision and takes the resend's answers,
    times and design fields; it goes back to ``received`` and the conflict is marked resolved."""
    conflict = _conflict(session, conflict_id)
    try:
        submission = service.accept_conflict(session=session, conflict=conflict, actor=user, note=body.note,
                                             ip=client_ip(request))
    except service.SurveyError as err:
        session.rollback()
        return _error_response(err)
    session.commit()
    return service.submission_public(session=session, submissions=[submission], viewer=user, detail=True)[0]


# The outcome of a bulk review.
class ReviewResult(BaseModel):
    changed: int
    items: list[SubmissionPublic]


@api.post("/submissions/review", response_model=ReviewResult, summary="Approve, reject or send back submissions")
def api_review(request: Request, session: SessionDep, body: ReviewRequest,
               user: Annotated[User, Allow("surveys.review")]) -> Any:
    """Bulk review: ``{"ids": [...], "status": "approved" | "has_issues" | "rejected", "comment": "..."}``.
    A comment is required to send back (has_issues) or reject. All ids must exist, or nothing changes (404)."""
    subs = session.exec(select(Submission).where(col(Submission.id).in_(body.ids))).all()
    missing = sorted(set(body.ids) - {s.id for s in subs})
    if missing:
        raise HTTPException(404, f"No submission with id {', '.join(map(str, missing))}; nothing was changed.")
    try:
        changed = service.review_submissions(session=session, submissions=subs, status=body.status,
                                             comment=body.comment, actor=user, ip=client_ip(request),
                                             override_reason=body.override_reason)
    except service.SurveyError as err:
        session.rollback()
        return _error_response(err)
    session.commit()
    return ReviewResult(changed=len(changed), items=service.submission_public(session=session, submissions=subs, viewer=user))


# A revision kept in a submission's history.
class RevisionPublic(BaseModel):
    revision: int
    answers: dict[str, Any]
    design: dict[str, Any]
    changed_by_id: int | None
    changed_at: Any
    note: str


# A submission with its history.
class SubmissionDetail(SubmissionPublic):
    revisions: list[RevisionPublic]


@api.get("/submissions/{submission_id}", response_model=SubmissionDetail, summary="One submission with its history")
def api_submission(session: SessionDep, submission_id: int, user: Annotated[User, Allow("surveys.view")]) -> Any:
    """Enumerators see only their own (others answer 404)."""
    sub = _submission(session, submission_id, user)
    public = service.submission_public(session=session, submissions=[sub], viewer=user, detail=True)[0]
    visible = service.answers_filter(session=session, submission=sub, viewer=user, detail=True)
    revisions = [RevisionPublic.model_validate({**r.model_dump(), "answers": visible(r.answers)})
                 for r in service.list_revisions(session=session, submission=sub)]
    return SubmissionDetail(**public.model_dump(), revisions=revisions)


@api.patch("/submissions/{submission_id}", response_model=SubmissionPublic, summary="Correct one of your submissions")
def api_correct(request: Request, session: SessionDep, submission_id: int, body: SubmissionCorrection,
                user: Annotated[User, Allow("surveys.collect")]) -> Any:
    """Its enumerator resends the complete corrected ``answers`` (and any design field to change,
    with a ``note``) while the submission is received or sent back (has_issues). The earlier
    state is kept in its history and the status goes back to received."""
    sub = _submission(session, submission_id, user)
    try:
        service.correct_submission(session=session, submission=sub, correction=body, actor=user, ip=client_ip(request))
    except service.SurveyError as err:
        session.rollback()
        return _error_response(err)
    session.commit()
    return service.submission_public(session=session, submissions=[sub], viewer=user, detail=True)[0]


# =============================================================================================
# Pages
# =============================================================================================


def _lang(spec, lang: str) -> str:
    return lang if lang in spec.languages or lang == spec.default_language else spec.default_language


@router.get("/surveys")
def surveys_page(request: Request, session: SessionDep, user: Annotated[User, Allow("surveys.view")]) -> Response:
    return render(request, "surveys/list.html", _surveys_context(session, user, problems=None, form={}))


def _surveys_context(session: Session, user: User, problems: Any, form: dict) -> dict[str, Any]:
    surveys = service.list_surveys(session=session)
    rows = []
    for s in surveys:
        counts = service.status_counts(session=session, survey=s, viewer=user)
        rows.append((s, service.latest_version(session=session, survey=s), len(service.list_waves(session=session, survey=s)),
                     sum(counts.values())))
    return {"rows": rows, "problems": problems, "form": form}


@router.post("/surveys")
def surveys_create(
    request: Request, session: SessionDep, user: Annotated[User, Allow("surveys.design")],
    file: Annotated[UploadFile | None, File()] = None,
    title: Annotated[str, Form(max_length=200)] = "", description: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    form = {"title": title, "description": description}
    problems: list[Any] = []
    data = file.file.read(MAX_XLSFORM_BYTES + 1) if file is not None and file.filename else b""
    if not data:
        problems = ["Choose an XLSForm file (.xlsx or .xls) to upload."]
    elif len(data) > MAX_XLSFORM_BYTES:
        problems = ["The file is larger than 10 MB."]
    else:
        try:
            survey = service.create_survey_from_xlsform(session=session, data=data, actor=user,
                                                        title=title.strip() or None, description=description.strip(),
                                                        ip=client_ip(request))
        except XLSFormError as err:
            problems = err.errors
        else:
            session.commit()
            return flash(redirect(request, f"/surveys/{survey.id}"), f"Survey {survey.title} created.", request)
    session.rollback()
    return render(request, "surveys/list.html", _surveys_context(session, user, problems, form), status_code=422,
                  block="create_form")


def _survey_context(session: Session, survey: Survey, user: User, **extra: Any) -> dict[str, Any]:
    counts = service.submission_counts_by_version(session=session, survey=survey)
    versions = service.list_versions(session=session, survey=survey)
    status = service.status_counts(session=session, survey=survey, viewer=user)
    waves = service.list_waves(session=session, survey=survey)
    wave_counts = {w.id: {s: status.get((w.id, s), 0) for s in SubmissionStatus} for w in waves}
    context = {
        "survey": survey, "versions": [(v, counts.get(v.id, 0)) for v in reversed(versions)], "waves": waves,
        "wave_counts": wave_counts, "statuses": STATUS_LABELS, "kinds": list(WaveKind), "designs": list(WaveDesign),
        "scopes": list(AnalysisScope), "can_design": allowed(user.role, "surveys.design"),
        "sees_all": service.can_see_all(user), "conflicts": len(service.list_conflicts(session=session, survey_id=survey.id))
        if allowed(user.role, "surveys.review") else 0,
        "settings_error": None, "version_problems": None, "wave_error": None, "wave_form": {},
        "limits": instrument_limits(service.version_spec(versions[-1])) if versions else [],
    }
    context.update(extra)
    return context


@router.get("/surveys/{survey_id}")
def survey_page(request: Request, session: SessionDep, survey_id: int,
                user: Annotated[User, Allow("surveys.view")]) -> Response:
    return render(request, "surveys/detail.html", _survey_context(session, _survey(session, survey_id), user))


@router.post("/surveys/{survey_id}/settings")
def survey_settings(
    request: Request, session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.design")],
    title: Annotated[str, Form(max_length=400)] = "", description: Annotated[str, Form(max_length=8000)] = "",
    analysis_scope: Annotated[str, Form(max_length=40)] = "", dont_know_threshold: Annotated[str, Form(max_length=20)] = "",
    min_seconds_per_answer: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    survey = _survey(session, survey_id)
    raw = {"title": title.strip() or None, "description": description, "analysis_scope": analysis_scope or None,
           "dont_know_threshold": dont_know_threshold.strip() or None,
           "min_seconds_per_answer": min_seconds_per_answer.strip() or None}
    if raw["dont_know_threshold"] and raw["dont_know_threshold"].endswith("%"):
        try:
            raw["dont_know_threshold"] = str(float(raw["dont_know_threshold"][:-1]) / 100)
        except ValueError:
            pass
    try:
        update = SurveyUpdate.model_validate(raw)
    except ValidationError as exc:
        return render(request, "surveys/detail.html",
                      _survey_context(session, survey, user, settings_error=_validation_messages(exc)),
                      status_code=422, block="settings")
    service.update_survey(session=session, survey=survey, survey_update=update, actor=user, ip=client_ip(request))
    session.commit()
    return flash(redirect(request, f"/surveys/{survey.id}"), "Settings saved.", request)


@router.post("/surveys/{survey_id}/versions")
def survey_add_version(
    request: Request, session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.design")],
    file: Annotated[UploadFile | None, File()] = None, note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    survey = _survey(session, survey_id)
    data = file.file.read(MAX_XLSFORM_BYTES + 1) if file is not None and file.filename else b""
    problems: list[Any]
    if not data:
        problems = ["Choose an XLSForm file (.xlsx or .xls) to upload."]
    elif len(data) > MAX_XLSFORM_BYTES:
        problems = ["The file is larger than 10 MB."]
    else:
        try:
            version = service.add_version_from_xlsform(session=session, survey=survey, data=data, actor=user,
                                                       note=note.strip(), ip=client_ip(request))
        except XLSFormError as err:
            problems = err.errors
        else:
            session.commit()
            return flash(redirect(request, f"/surveys/{survey.id}/versions/{version.version}"),
                         f"Version {version.version} added.", request)
    session.rollback()
    return render(request, "surveys/detail.html", _survey_context(session, survey, user, version_problems=problems),
                  status_code=422, block="new_version")


@router.get("/surveys/{survey_id}/versions/{number}")
def version_page(request: Request, session: SessionDep, survey_id: int, number: int,
                 user: Annotated[User, Allow("surveys.view")], lang: str = "") -> Response:
    survey = _survey(session, survey_id)
    version = _version(session, survey, number)
    spec = service.version_spec(version)
    counts = service.submission_counts_by_version(session=session, survey=survey)
    lang = _lang(spec, lang)
    return render(request, "surveys/version.html", {
        "survey": survey, "version": version, "spec": spec, "lang": lang, "submissions": counts.get(version.id, 0),
        "label": rules.label, "type_labels": TYPE_LABELS, "choice_types": CHOICE_TYPES,
        "latest": service.latest_version(session=session, survey=survey).version,
        "limits": instrument_limits(spec), "section_relevant": rules.section_relevant,
    })


@router.get("/surveys/{survey_id}/versions/{number}/xlsform")
def version_xlsform(session: SessionDep, survey_id: int, number: int,
                    user: Annotated[User, Allow("surveys.view")]) -> Response:
    return _xlsform_response(_version(session, _survey(session, survey_id), number))


def _wave_form(name: str, kind: str, design: str, starts_on: str, ends_on: str, is_open: str | None, notes: str,
               target_sample: str = "") -> dict:
    return {"name": name.strip(), "kind": kind, "design": design or "independent", "starts_on": starts_on or None,
            "ends_on": ends_on or None, "is_open": is_open in ("on", "true", "1", "yes"), "notes": notes.strip(),
            "target_sample": target_sample.strip().replace(",", "") or None}


@router.post("/surveys/{survey_id}/waves")
def wave_create(
    request: Request, session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.design")],
    name: Annotated[str, Form(max_length=80)] = "", kind: Annotated[str, Form(max_length=20)] = "",
    design: Annotated[str, Form(max_length=20)] = "", starts_on: Annotated[str, Form(max_length=20)] = "",
    ends_on: Annotated[str, Form(max_length=20)] = "", is_open: Annotated[str | None, Form(max_length=10)] = None,
    notes: Annotated[str, Form(max_length=4000)] = "", target_sample: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    survey = _survey(session, survey_id)
    form = _wave_form(name, kind, design, starts_on, ends_on, is_open, notes, target_sample)
    try:
        wave = service.create_wave(session=session, survey=survey, wave_create=WaveCreate.model_validate(form),
                                   actor=user, ip=client_ip(request))
    except ValidationError as exc:
        error = _validation_messages(exc)
    except service.SurveyError as err:
        error = err.message
    else:
        session.commit()
        return flash(redirect(request, f"/surveys/{survey.id}"), f"Wave {wave.name} added.", request)
    session.rollback()
    return render(request, "surveys/detail.html", _survey_context(session, survey, user, wave_error=error, wave_form=form),
                  status_code=422, block="new_wave")


@router.post("/surveys/{survey_id}/waves/{wave_id}")
def wave_update(
    request: Request, session: SessionDep, survey_id: int, wave_id: int, user: Annotated[User, Allow("surveys.design")],
    name: Annotated[str, Form(max_length=80)] = "", kind: Annotated[str, Form(max_length=20)] = "",
    design: Annotated[str, Form(max_length=20)] = "", starts_on: Annotated[str, Form(max_length=20)] = "",
    ends_on: Annotated[str, Form(max_length=20)] = "", is_open: Annotated[str | None, Form(max_length=10)] = None,
    notes: Annotated[str, Form(max_length=4000)] = "", target_sample: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    survey = _survey(session, survey_id)
    wave = _wave(session, survey, wave_id)
    form = _wave_form(name or wave.name, kind or wave.kind.value, design or wave.design.value, starts_on, ends_on,
                      is_open, notes, target_sample)
    error = None
    try:
        service.update_wave(session=session, wave=wave, wave_update=WaveUpdate.model_validate(form), actor=user,
                            ip=client_ip(request))
        session.commit()
    except ValidationError as exc:
        error = _validation_messages(exc)
    except service.SurveyError as err:
        error = err.message
    if error:
        session.rollback()
        session.refresh(wave)
    status = service.status_counts(session=session, survey=survey, viewer=user)
    return render(request, "surveys/_wave_row_partial.html", {
        "survey": survey, "w": wave, "counts": {s: status.get((wave.id, s), 0) for s in SubmissionStatus},
        "statuses": STATUS_LABELS, "kinds": list(WaveKind), "designs": list(WaveDesign), "can_design": True,
        "row_error": error, "row_note": None if error else f"Wave {wave.name} saved.",
    }, status_code=422 if error else 200, block=None)


@router.post("/surveys/{survey_id}/waves/{wave_id}/delete")
def wave_delete(request: Request, session: SessionDep, survey_id: int, wave_id: int,
                user: Annotated[User, Allow("surveys.design")]) -> Response:
    survey = _survey(session, survey_id)
    wave = _wave(session, survey, wave_id)
    try:
        service.delete_wave(session=session, wave=wave, actor=user, ip=client_ip(request))
    except service.SurveyError as err:
        session.rollback()
        return flash(redirect(request, f"/surveys/{survey.id}"), err.message, request)
    session.commit()
    return flash(redirect(request, f"/surveys/{survey.id}"), f"Wave {wave.name} deleted.", request)


@router.post("/surveys/{survey_id}/delete")
def survey_delete(request: Request, session: SessionDep, survey_id: int,
                  user: Annotated[User, Allow("surveys.design")]) -> Response:
    survey = _survey(session, survey_id)
    try:
        service.delete_survey(session=session, survey=survey, actor=user, ip=client_ip(request))
    except service.SurveyError as err:
        session.rollback()
        return flash(redirect(request, f"/surveys/{survey.id}"), err.message, request)
    session.commit()
    return flash(redirect(request, "/surveys"), f"Survey {survey.title} deleted.", request)


# --- review ----------------------------------------------------------------------------------


def _int(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


@router.get("/review")
def review_page(
    request: Request, session: SessionDep, user: Annotated[User, Allow("surveys.review")],
    survey: str = "", wave: str = "", status: str = "", enumerator: str = "", flag: str = "", q: str = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    surveys = service.list_surveys(session=session)
    chosen = next((s for s in surveys if str(s.id) == survey), None)
    waves = service.list_waves(session=session, survey=chosen) if chosen else []
    wave_obj = next((w for w in waves if str(w.id) == wave), None)
    status_value = status if status in SubmissionStatus.__members__ else ""
    flag_value = flag if flag == "any" or flag in rules.FLAG_LABELS else ""
    filters = service.SubmissionFilter(
        survey_id=chosen.id if chosen else None, wave_id=wave_obj.id if wave_obj else None,
        status=SubmissionStatus(status_value) if status_value else None, enumerator_id=_int(enumerator),
        flag=flag_value or None, q=q.strip())
    per_page = 50
    result = service.list_submissions(session=session, viewer=user, filters=filters, offset=(page - 1) * per_page,
                                      limit=per_page)
    pages = max(1, -(-result.total // per_page))
    enumerators = session.exec(select(User).where(
        (User.role == Role.enumerator) | col(User.id).in_(select(Submission.enumerator_id).distinct()))
        .order_by(col(User.username))).all()
    params = {"survey": survey if chosen else "", "wave": wave if wave_obj else "", "status": status_value,
              "enumerator": enumerator, "flag": flag_value, "q": q}
    all_waves = {w.id: w for w in session.exec(select(Wave).where(
        col(Wave.id).in_({s.wave_id for s in result.items}))).all()} if result.items else {}
    titles = {s.id: s.title for s in surveys}
    names = {u.id: u.username for u in enumerators}
    return render(request, "review/list.html", {
        "result": result, "page": page, "pages": pages, "params": params, "qs": urlencode(params),
        "surveys": surveys, "waves": waves, "enumerators": enumerators, "statuses": STATUS_LABELS,
        "flag_labels": rules.FLAG_LABELS, "summary": service.flag_summary(session=session, viewer=user, filters=filters),
        "wave_of": all_waves, "titles": titles, "names": names,
        "conflicts": len(service.list_conflicts(session=session)),
    }, block="results" if request.headers.get("hx-target") == "results" else "content")


@router.post("/review")
def review_bulk(
    request: Request, session: SessionDep, user: Annotated[User, Allow("surveys.review")],
    ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI reads it, never mutated
    action: Annotated[str, Form(max_length=20)] = "", comment: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form(max_length=2000)] = "", override_reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    target = "/review" + (f"?{back}" if back and not back.startswith(("/", "http")) else "")
    if not ids:
        return flash(redirect(request, target), "Tick the submissions to review first.", request)
    if action not in ("approved", "has_issues", "rejected"):
        return flash(redirect(request, target), "Choose what to do with them: approve, send back or reject.", request)
    subs = session.exec(select(Submission).where(col(Submission.id).in_(ids))).all()
    try:
        changed = service.review_submissions(session=session, submissions=subs, status=action, comment=comment,
                                             actor=user, ip=client_ip(request), override_reason=override_reason)
    except service.SurveyError as err:
        session.rollback()
        return flash(redirect(request, target), err.message, request)
    session.commit()
    label = STATUS_LABELS[SubmissionStatus(action)][0].lower()
    return flash(redirect(request, target), f"{len(changed)} submission{'s' if len(changed) != 1 else ''} marked {label}.",
                 request)


@router.get("/review/conflicts")
def conflicts_page(request: Request, session: SessionDep, user: Annotated[User, Allow("surveys.review")],
                   resolved: str = "") -> Response:
    conflicts = service.list_conflicts(session=session, include_resolved=resolved == "1")
    stored = {s.uuid: s for s in session.exec(select(Submission).where(
        col(Submission.uuid).in_({c.uuid for c in conflicts})))} if conflicts else {}
    rows = []
    for c in conflicts:
        sub = stored.get(c.uuid)
        sent = c.payload.get("answers") or {}
        differs = sorted(k for k in set(sent) | set(sub.answers if sub else {})
                         if sub is None or _loose(sent.get(k)) != _loose(sub.answers.get(k)))
        design = [k for k in ("segment", "region", "cluster", "stratum", "weight", "respondent_code", "arm", "sex",
                              "age_group", "language") if sub is not None and c.payload.get(k) not in (None, getattr(sub, k))]
        rows.append((c, sub, differs, design))
    names = dict(session.exec(select(User.id, User.username)).all())
    titles = {s.id: s.title for s in service.list_surveys(session=session)}
    return render(request, "review/conflicts.html", {"rows": rows, "names": names, "titles": titles,
                                                     "resolved": resolved == "1"})


def _loose(value: Any) -> Any:
    if isinstance(value, str) and " " in value:
        return sorted(value.split())
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


@router.post("/review/conflicts/{conflict_id}/resolve")
def conflict_resolve(request: Request, session: SessionDep, conflict_id: int,
                     user: Annotated[User, Allow("surveys.review")],
                     note: Annotated[str, Form(max_length=1000)] = "") -> Response:
    conflict = _conflict(session, conflict_id)
    service.resolve_conflict(session=session, conflict=conflict, actor=user, note=note, ip=client_ip(request))
    session.commit()
    return flash(redirect(request, "/review/conflicts"), f"Conflict on {conflict.uuid} marked resolved.", request)


@router.post("/review/conflicts/{conflict_id}/accept")
def conflict_accept(request: Request, session: SessionDep, conflict_id: int,
                    user: Annotated[User, Allow("surveys.review")],
                    note: Annotated[str, Form(max_length=1000)] = "") -> Response:
    conflict = _conflict(session, conflict_id)
    try:
        submission = service.accept_conflict(session=session, conflict=conflict, actor=user, note=note,
                                             ip=client_ip(request))
    except service.SurveyError as err:
        session.rollback()
        problems = getattr(err, "problems", ())
        detail = "; ".join(str(p) for p in problems) if problems else err.message
        return flash(redirect(request, "/review/conflicts"), f"Not accepted: {detail}", request)
    session.commit()
    return flash(redirect(request, f"/submissions/{submission.id}"),
                 f"The resend replaced submission #{submission.id} (now revision {submission.revision}).", request)


# --- one submission ----------------------------------------------------------------------------


def _history(revisions: list, current: Submission) -> list[tuple[Any, list[str]]]:
    """Each revision with the item codes that differ from the state after it."""
    out = []
    for i, rev in enumerate(revisions):
        after = revisions[i + 1].answers if i + 1 < len(revisions) else current.answers
        changed = sorted(k for k in set(rev.answers) | set(after) if rev.answers.get(k) != after.get(k))
        out.append((rev, changed))
    return out


@router.get("/submissions/{submission_id}")
def submission_page(request: Request, session: SessionDep, submission_id: int,
                    user: Annotated[User, Allow("surveys.view")], lang: str = "") -> Response:
    sub = _submission(session, submission_id, user)
    survey = session.get(Survey, sub.survey_id)
    wave = session.get(Wave, sub.wave_id)
    version = session.get(InstrumentVersion, sub.instrument_version_id)
    spec = service.version_spec(version)
    lang = _lang(spec, lang or sub.language)
    revisions = service.list_revisions(session=session, submission=sub)
    names = dict(session.exec(select(User.id, User.username)).all())
    duration = (sub.ended_at - sub.started_at).total_seconds() if sub.started_at and sub.ended_at else None
    answers = service.answers_filter(session=session, submission=sub, viewer=user, detail=True)(sub.answers)
    hidden = sorted(k for k, v in (sub.answers or {}).items() if k not in answers and v not in (None, "", []))
    hidden += _hidden_in_repeats(sub.answers or {}, answers)
    return render(request, "review/submission.html", {
        "s": sub, "answers": answers, "hidden": hidden, "survey": survey, "wave": wave, "version": version, "spec": spec,
        "lang": lang,
        "label": rules.label, "display": rules.display_answer, "history": _history(revisions, sub), "names": names,
        "statuses": STATUS_LABELS, "flag_labels": rules.FLAG_LABELS, "duration": duration,
        "can_review": allowed(user.role, "surveys.review"), "can_correct": service.can_correct(sub, user),
        "answerable": rules.ANSWERABLE_TYPES, "repeats": _repeat_blocks(spec, answers),
        "frame_units": frame_choices(session, sub) if allowed(user.role, "surveys.review") else [],
    })


def _hidden_in_repeats(raw: dict[str, Any], shown: dict[str, Any]) -> list[str]:
    """``repeat/code`` of the answers inside repetitions that ``shown`` leaves out (personal data)."""
    out = set()
    for key, value in raw.items():
        if not isinstance(value, list) or not isinstance(shown.get(key), list):
            continue
        for before, after in zip(value, shown[key], strict=False):
            if isinstance(before, dict) and isinstance(after, dict):
                out.update(f"{key}/{code}" for code, v in before.items() if code not in after and v not in (None, "", []))
    return sorted(out)


def _repeat_blocks(spec: Any, answers: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """By the index of a repeat's first section: the repeat (name, group, its questions and its
    repetitions) shown there as one table; the repeat's other sections are left out (``None``)."""
    out: dict[int, dict[str, Any]] = {}
    first: dict[str, int] = {}
    for index, section in enumerate(spec.sections):
        groups = [g for g in section.path if g.repeat]
        if not groups:
            continue
        group = groups[0]
        if group.name in first:
            out[first[group.name]]["items"].extend(section.items)
            out[index] = None  # type: ignore[assignment]
            continue
        first[group.name] = index
        value = answers.get(group.name)
        repetitions = [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []
        out[index] = {"name": group.name, "group": group, "items": list(section.items), "repetitions": repetitions,
                      "nested": len(groups) > 1}
    return out


@router.post("/submissions/{submission_id}/review")
def submission_review(
    request: Request, session: SessionDep, submission_id: int, user: Annotated[User, Allow("surveys.review")],
    action: Annotated[str, Form(max_length=20)] = "", comment: Annotated[str, Form(max_length=2000)] = "",
    override_reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    sub = _submission(session, submission_id, user)
    if action not in ("approved", "has_issues", "rejected"):
        return flash(redirect(request, f"/submissions/{sub.id}"), "Choose approve, send back or reject.", request)
    try:
        service.review_submissions(session=session, submissions=[sub], status=action, comment=comment, actor=user,
                                   ip=client_ip(request), override_reason=override_reason)
    except service.SurveyError as err:
        session.rollback()
        return flash(redirect(request, f"/submissions/{sub.id}"), err.message, request)
    session.commit()
    return flash(redirect(request, f"/submissions/{sub.id}"),
                 f"Submission marked {STATUS_LABELS[SubmissionStatus(action)][0].lower()}.", request)
