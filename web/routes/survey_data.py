"""Survey data in and out: imports of KoboToolbox / ODK Central exports, Kobo's REST Service
push, and exports to CSV, XLSX, SPSS and Stata.

Pages::

    GET  /surveys/{id}/import                      upload form and recent imports
    POST /surveys/{id}/import                      upload -> the import's page
    GET  /surveys/{id}/import/{job}                mapping form, progress bar, preview or result
    GET  /surveys/{id}/import/{job}/progress       the page's status block (polled by HTMX while running)
    POST /surveys/{id}/import/{job}/mapping        change the wave or the column mapping, check again
    POST /surveys/{id}/import/{job}/confirm        import the good rows, leave the bad ones out
    POST /surveys/{id}/import/{job}/resume         restart an interrupted import (stored rows are skipped)
    POST /surveys/{id}/import/{job}/cancel
    GET  /surveys/{id}/import/{job}/problems.csv   every problem, row by row
    GET  /surveys/{id}/export                      export form
    GET  /surveys/{id}/export/download             the file, without personal fields
    GET  /surveys/{id}/export/personal             the file with personal fields (admins)

API (``/api/v1/surveys/{id}/...``): ``imports`` (POST a file; GET a job; POST .../confirm),
``export`` and ``export/personal``, and ``kobo``, the endpoint a KoboToolbox REST Service
posts each submission to. Handlers are thin: :mod:`surveys.import_jobs` and
:mod:`surveys.exports` do the work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from surveys import exports, import_jobs, service
from surveys.import_jobs import ImportJob, JobError
from surveys.imports import MAPPABLE_FIELDS, ImportFileError, parse_mapping
from surveys.models import Survey

from ..accounts.models import User
from ..accounts.permissions import allowed
from ..accounts.service import record_audit
from ..deps import Allow, SessionDep, client_ip
from ..render import flash, redirect, render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/surveys", tags=["survey data"])
routers = [router, api]

FIELD_HELP = {
    "uuid": "Submission id (_uuid, meta/instanceID, KEY)", "submitted_at": "Received by the server (_submission_time)",
    "wave": "Wave (the wave chosen above wins)", "segment": "Audience segment", "region": "Region", "cluster": "Cluster",
    "stratum": "Stratum", "weight": "Sampling weight", "respondent_code": "Panel respondent code",
    "arm": "Arm (intervention or comparison)", "sex": "Sex", "age_group": "Age group", "enumerator": "Enumerator",
    "language": "Interview language", "start": "Interview start", "end": "Interview end",
}


# --- helpers ------------------------------------------------------------------------------------


def _survey(session: Session, survey_id: int) -> Survey:
    survey = service.get_survey(session=session, survey_id=survey_id)
    if survey is None:
        raise HTTPException(404, f"There is no survey {survey_id}.")
    return survey


def _data_dir(request: Request):
    return request.app.state.settings.data_dir


def _job(request: Request, survey: Survey, job_id: str, user: User) -> ImportJob:
    try:
        return import_jobs.load_job(_data_dir(request), job_id, survey_id=survey.id, user=user)
    except JobError as err:
        raise HTTPException(err.status_code, err.message) from None


def _start(request: Request, job: ImportJob, user: User) -> None:
    if job.state in ("checking", "importing"):
        import_jobs.start_job(request.app.state.engine, _data_dir(request), job, actor_id=user.id)


def _mapping_from_lines(text: str) -> dict[str, str]:
    lines = [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]
    return parse_mapping(lines)


def _job_context(request: Request, session: Session, survey: Survey, job: ImportJob, **extra: Any) -> dict[str, Any]:
    waves = service.list_waves(session=session, survey=survey)
    report = job.import_report() if job.report else None
    return {
        "survey": survey, "job": job, "report": report, "waves": waves, "fields": MAPPABLE_FIELDS,
        "field_help": FIELD_HELP, "item_mapping": {k: v for k, v in job.mapping.items() if k not in MAPPABLE_FIELDS},
        "lines": import_jobs.report_lines(report) if report else [], "error": None, **extra,
    }


def _job_response(request: Request, session: Session, survey: Survey, job: ImportJob, *, block: str | None = "content",
                  status_code: int = 200, **extra: Any) -> Response:
    template = "survey_data/_import_job_partial.html" if block is None else "survey_data/import_job.html"
    return render(request, template, _job_context(request, session, survey, job, **extra), block=block,
                  status_code=status_code)


def _job_url(survey: Survey, job: ImportJob) -> str:
    return f"/surveys/{survey.id}/import/{job.id}"


# --- import pages ------------------------------------------------------------------------------------


@router.get("/surveys/{survey_id}/import")
def import_page(request: Request, session: SessionDep, survey_id: int,
                user: Annotated[User, Allow("surveys.import")]) -> Response:
    survey = _survey(session, survey_id)
    return render(request, "survey_data/import.html", {
        "survey": survey, "waves": service.list_waves(session=session, survey=survey), "error": None,
        "form": {"wave": "", "mapping": ""},
        "jobs": import_jobs.list_jobs(_data_dir(request), survey_id=survey.id, user=user),
    })


@router.post("/surveys/{survey_id}/import")
def import_upload(
    request: Request, session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.import")],
    file: Annotated[UploadFile | None, File()] = None, wave: Annotated[str, Form(max_length=40)] = "",
    mapping: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    survey = _survey(session, survey_id)
    error = None
    job = None
    try:
        if file is None or not file.filename:
            raise JobError("Choose the file to import.")
        job = import_jobs.create_job(_data_dir(request), session=session, survey=survey, user=user, filename=file.filename,
                                     upload=file.file, wave=wave.strip() or None, mapping=_mapping_from_lines(mapping))
    except JobError as err:
        error = err.message
    except ValueError as err:  # a malformed NAME=COLUMN
        error = f"Column mapping: {err}"
    if job is None:
        return render(request, "survey_data/import.html", {
            "survey": survey, "waves": service.list_waves(session=session, survey=survey), "error": error,
            "form": {"wave": wave, "mapping": mapping},
            "jobs": import_jobs.list_jobs(_data_dir(request), survey_id=survey.id, user=user),
        }, status_code=400)
    _start(request, job, user)
    return redirect(request, _job_url(survey, job))


@router.get("/surveys/{survey_id}/import/{job_id}")
def import_job_page(request: Request, session: SessionDep, survey_id: int, job_id: str,
                    user: Annotated[User, Allow("surveys.import")]) -> Response:
    survey = _survey(session, survey_id)
    return _job_response(request, session, survey, _job(request, survey, job_id, user))


@router.get("/surveys/{survey_id}/import/{job_id}/progress")
def import_job_progress(request: Request, session: SessionDep, survey_id: int, job_id: str,
                        user: Annotated[User, Allow("surveys.import")]) -> Response:
    survey = _survey(session, survey_id)
    return _job_response(request, session, survey, _job(request, survey, job_id, user), block=None)


# The mapping form: a wave, one file column (or "" for automatic) per design field, and item lines.
class MappingForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    wave: str = Field(default="", max_length=40)
    items: str = Field(default="", max_length=4000)
    map_uuid: str = Field(default="", max_length=300)
    map_submitted_at: str = Field(default="", max_length=300)
    map_wave: str = Field(default="", max_length=300)
    map_segment: str = Field(default="", max_length=300)
    map_region: str = Field(default="", max_length=300)
    map_cluster: str = Field(default="", max_length=300)
    map_stratum: str = Field(default="", max_length=300)
    map_weight: str = Field(default="", max_length=300)
    map_respondent_code: str = Field(default="", max_length=300)
    map_arm: str = Field(default="", max_length=300)
    map_sex: str = Field(default="", max_length=300)
    map_age_group: str = Field(default="", max_length=300)
    map_enumerator: str = Field(default="", max_length=300)
    map_language: str = Field(default="", max_length=300)
    map_start: str = Field(default="", max_length=300)
    map_end: str = Field(default="", max_length=300)

    def mapping(self) -> dict[str, str]:
        mapping = {name: getattr(self, f"map_{name}").strip() for name in MAPPABLE_FIELDS}
        mapping = {name: column for name, column in mapping.items() if column}
        mapping.update(_mapping_from_lines(self.items))
        return mapping


@router.post("/surveys/{survey_id}/import/{job_id}/mapping")
def import_job_mapping(request: Request, session: SessionDep, survey_id: int, job_id: str,
                       user: Annotated[User, Allow("surveys.import")], form: Annotated[MappingForm, Form()]) -> Response:
    survey = _survey(session, survey_id)
    job = _job(request, survey, job_id, user)
    try:
        import_jobs.replan(_data_dir(request), job, session=session, survey=survey, wave=form.wave.strip(),
                           mapping=form.mapping())
    except ValueError as err:
        message = err.message if isinstance(err, JobError) else f"Column mapping: {err}"
        return _job_response(request, session, survey, job, status_code=400, error=message)
    _start(request, job, user)
    return redirect(request, _job_url(survey, job))


def _job_step(request: Request, session: Session, survey_id: int, job_id: str, user: User, step) -> Response:
    """Move an import job on (``import_jobs.confirm_job`` or ``resume_job``) and start its worker."""
    survey = _survey(session, survey_id)
    job = _job(request, survey, job_id, user)
    try:
        step(_data_dir(request), job)
    except JobError as err:
        return _job_response(request, session, survey, job, status_code=err.status_code, error=err.message)
    _start(request, job, user)
    return redirect(request, _job_url(survey, job))


@router.post("/surveys/{survey_id}/import/{job_id}/confirm")
def import_job_confirm(request: Request, session: SessionDep, survey_id: int, job_id: str,
                       user: Annotated[User, Allow("surveys.import")]) -> Response:
    return _job_step(request, session, survey_id, job_id, user, import_jobs.confirm_job)


@router.post("/surveys/{survey_id}/import/{job_id}/resume")
def import_job_resume(request: Request, session: SessionDep, survey_id: int, job_id: str,
                      user: Annotated[User, Allow("surveys.import")]) -> Response:
    return _job_step(request, session, survey_id, job_id, user, import_jobs.resume_job)


@router.post("/surveys/{survey_id}/import/{job_id}/cancel")
def import_job_cancel(request: Request, session: SessionDep, survey_id: int, job_id: str,
                      user: Annotated[User, Allow("surveys.import")]) -> Response:
    survey = _survey(session, survey_id)
    job = _job(request, survey, job_id, user)
    try:
        import_jobs.cancel_job(_data_dir(request), job)
    except JobError as err:
        return _job_response(request, session, survey, job, status_code=err.status_code, error=err.message)
    return flash(redirect(request, f"/surveys/{survey.id}/import"), f"Import of {job.filename} cancelled; nothing was imported.",
                 request)


@router.get("/surveys/{survey_id}/import/{job_id}/problems.csv")
def import_job_problems(request: Request, session: SessionDep, survey_id: int, job_id: str,
                        user: Annotated[User, Allow("surveys.import")]) -> Response:
    survey = _survey(session, survey_id)
    job = _job(request, survey, job_id, user)
    path = import_jobs.problems_csv_path(_data_dir(request), job)
    if not path.exists():
        raise HTTPException(404, "This import has no list of problems yet.")
    stem = job.filename.rsplit(".", 1)[0][:60] or "import"
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"{stem}-problems.csv")


# --- exports -----------------------------------------------------------------------------------


def _export_options(session: Session, survey: Survey, *, format: str, labels: bool, split: bool | None,
                    language: str | None, wave: list[str], scope: str | None, personal: bool) -> exports.ExportOptions:
    wave_ids = []
    for name in wave:
        if not name:
            continue
        found = service.get_wave(session=session, survey=survey, wave=name)
        if found is None:
            raise HTTPException(400, f"This survey has no wave {name!r}.")
        wave_ids.append(found.id)
    if split is None:
        split = format in ("sav", "dta")  # SPSS and Stata want numbers: one 0/1 variable per choice
    try:
        return exports.ExportOptions(format=format, labels=labels, split_multiple=split, language=language or None,  # type: ignore[arg-type]
                                     include_personal=personal, wave_ids=tuple(wave_ids), scope=scope or None)  # type: ignore[arg-type]
    except ValueError as err:
        raise HTTPException(400, str(err)) from None


def _export_response(request: Request, session: Session, survey: Survey, user: User,
                     options: exports.ExportOptions, table: str = "") -> Response:
    specs = exports.load_specs(session=session, survey=survey)
    columns = exports.export_columns(specs, options)
    tables = exports.repeat_tables(specs, options)
    if table:  # one repeat's table, as a CSV of its own
        chosen = next((t for t in tables if t.name == table), None)
        if chosen is None:
            raise HTTPException(400, f"This survey has no repeat group {table!r}.")
        if options.format != "csv":
            raise HTTPException(400, "A repeat's table is downloaded as CSV; the Excel export has every repeat as a sheet.")
    filename = exports.export_filename(survey, options, table=table)
    record_audit(session=session, actor=user, action="survey.export_personal" if options.include_personal else "survey.export",
                 entity_type="survey", entity_id=survey.id,
                 summary=f"Exported {survey.title!r} as {options.format}" + (" with personal fields" if options.include_personal else ""),
                 details={"format": options.format, "labels": options.labels, "split": options.split_multiple,
                          "waves": list(options.wave_ids), "scope": options.scope or "", "personal": options.include_personal},
                 ip=client_ip(request))
    session.commit()
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
    if options.format == "csv":
        engine = request.app.state.engine
        survey_id = survey.id

        def stream() -> Iterator[bytes]:
            # Its own session: the request's is closed before the body is sent.
            with Session(engine) as own:
                own_survey = own.get(Survey, survey_id)
                rows = exports.iter_export_rows(session=own, survey=own_survey, options=options)  # type: ignore[arg-type]
                if table:
                    yield from exports.write_csv(exports.repeat_export_rows(rows, chosen), chosen.columns,
                                                 labels=options.labels)
                else:
                    yield from exports.write_csv(rows, columns, labels=options.labels)

        return StreamingResponse(stream(), media_type=exports.MEDIA_TYPES["csv"], headers=headers)
    rows = exports.iter_export_rows(session=session, survey=survey, options=options)
    out = exports.write_export(rows, columns, options, title=survey.title, repeats=tables)

    def chunks() -> Iterator[bytes]:
        with out:
            while chunk := out.read(1 << 20):
                yield chunk

    return StreamingResponse(chunks(), media_type=exports.MEDIA_TYPES[options.format], headers=headers)


ExportFormat = Annotated[str, Query(pattern="^(csv|xlsx|sav|dta)$", description="csv, xlsx, sav (SPSS) or dta (Stata)")]
Labels = Annotated[bool, Query(description="CSV/XLSX: choice labels instead of choice names")]
Split = Annotated[bool | None, Query(description="One 0/1 column per choice of a select_multiple (default: yes for sav/dta)")]
Language = Annotated[str | None, Query(max_length=35, description="Language of the labels (default: the form's)")]
Waves = Annotated[list[str], Query(description="Wave names or ids (default: all)")]
Scope = Annotated[str | None, Query(pattern="^(all|non_rejected|approved)$",
                                    description="Which submissions (default: the survey's analysis scope)")]
Table = Annotated[str, Query(max_length=200, description="CSV: the table of this repeat group instead of the interviews")]


@router.get("/surveys/{survey_id}/export")
def export_page(request: Request, session: SessionDep, survey_id: int,
                user: Annotated[User, Allow("surveys.export")]) -> Response:
    survey = _survey(session, survey_id)
    specs = exports.load_specs(session=session, survey=survey)
    personal = [it for it in specs[0].items() if it.personal] if specs else []
    return render(request, "survey_data/export.html", {
        "survey": survey, "waves": service.list_waves(session=session, survey=survey),
        "languages": specs[0].languages if specs else (), "default_language": specs[0].default_language if specs else "",
        "personal_items": personal, "may_export_personal": allowed(user.role, "surveys.export_personal"),
        "scope": survey.analysis_scope.value,
        "repeat_tables": exports.repeat_tables(specs, exports.ExportOptions()) if specs else [],
    })


@router.get("/surveys/{survey_id}/export/download")
def export_download(request: Request, session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.export")],
                    format: ExportFormat = "csv", labels: Labels = False, split: Split = None, language: Language = None,
                    wave: Waves = [], scope: Scope = None, table: Table = "") -> Response:  # noqa: B006 - FastAPI copies defaults
    survey = _survey(session, survey_id)
    options = _export_options(session, survey, format=format, labels=labels, split=split, language=language, wave=wave,
                              scope=scope, personal=False)
    return _export_response(request, session, survey, user, options, table)


@router.get("/surveys/{survey_id}/export/personal")
def export_download_personal(request: Request, session: SessionDep, survey_id: int,
                             user: Annotated[User, Allow("surveys.export_personal")], format: ExportFormat = "csv",
                             labels: Labels = False, split: Split = None, language: Language = None, wave: Waves = [],
                             scope: Scope = None, table: Table = "") -> Response:  # noqa: B006
    survey = _survey(session, survey_id)
    options = _export_options(session, survey, format=format, labels=labels, split=split, language=language, wave=wave,
                              scope=scope, personal=True)
    return _export_response(request, session, survey, user, options, table)


# --- API ------------------------------------------------------------------------------------------


def _job_json(survey: Survey, job: ImportJob, status_code: int = 200) -> JSONResponse:
    data = job.public()
    base = f"/api/v1/surveys/{survey.id}/imports/{job.id}"
    data["links"] = {"self": base, "confirm": f"{base}/confirm", "page": _job_url(survey, job)}
    return JSONResponse(data, status_code=status_code)


@api.post("/{survey_id}/imports", status_code=202, summary="Import a CSV or XLSX export from KoboToolbox or ODK Central",
          responses={202: {"description": "The import job; follow it with GET until its state is done, checked or failed."}})
def api_import(
    request: Request, session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.import")],
    file: Annotated[UploadFile, File(description="The export (.csv or .xlsx), XML names as headers")],
    wave: Annotated[str, Form(max_length=40, description="Wave of every row (else the file's wave column)")] = "",
    map: Annotated[list[str], Form(description="NAME=COLUMN, repeated: design field or item code -> file column")] = [],  # noqa: A002, B006
    accept_bad_rows: Annotated[bool, Form(description="Import the good rows even if some rows are bad")] = False,
) -> Response:
    """The file is checked in the background. When every row is good it is imported straight
    away; otherwise the job stops in state ``checked`` with the problems, until
    ``POST .../confirm`` (or ``accept_bad_rows=true`` up front). Importing the same rows again
    creates nothing."""
    survey = _survey(session, survey_id)
    try:
        mapping = parse_mapping(map)
        job = import_jobs.create_job(_data_dir(request), session=session, survey=survey, user=user,
                                     filename=file.filename or "upload.csv", upload=file.file, wave=wave.strip() or None,
                                     mapping=mapping, confirmed=accept_bad_rows)
    except JobError as err:
        raise HTTPException(err.status_code, err.message) from None
    except ValueError as err:
        raise HTTPException(400, f"map: {err}") from None
    if job.state == "mapping":
        return JSONResponse({"detail": "The file's columns cannot be used: " + " ".join(job.file_problems),
                             "problems": job.file_problems, "header": job.header, "job": job.id}, status_code=422)
    _start(request, job, user)
    return _job_json(survey, job, 202)


@api.get("/{survey_id}/imports/{job_id}", summary="An import job: state, progress, counts and problems")
def api_import_job(request: Request, session: SessionDep, survey_id: int, job_id: str,
                   user: Annotated[User, Allow("surveys.import")]) -> Response:
    survey = _survey(session, survey_id)
    return _job_json(survey, _job(request, survey, job_id, user))


@api.post("/{survey_id}/imports/{job_id}/confirm", status_code=202, summary="Import the good rows of a checked job")
def api_import_confirm(request: Request, session: SessionDep, survey_id: int, job_id: str,
                       user: Annotated[User, Allow("surveys.import")]) -> Response:
    survey = _survey(session, survey_id)
    job = _job(request, survey, job_id, user)
    try:
        import_jobs.confirm_job(_data_dir(request), job)
    except JobError as err:
        raise HTTPException(err.status_code, err.message) from None
    _start(request, job, user)
    return _job_json(survey, job, 202)


@api.get("/{survey_id}/export", summary="Export responses (CSV, XLSX, SPSS .sav, Stata .dta), without personal fields",
         response_class=Response)
def api_export(request: Request, session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.export")],
               format: ExportFormat = "csv", labels: Labels = False, split: Split = None, language: Language = None,
               wave: Waves = [], scope: Scope = None, table: Table = "") -> Response:  # noqa: B006
    return export_download(request, session, survey_id, user, format, labels, split, language, wave, scope, table)


@api.get("/{survey_id}/export/personal", summary="Export responses with the fields marked personal (admins)",
         response_class=Response)
def api_export_personal(request: Request, session: SessionDep, survey_id: int,
                        user: Annotated[User, Allow("surveys.export_personal")], format: ExportFormat = "csv",
                        labels: Labels = False, split: Split = None, language: Language = None, wave: Waves = [],
                        scope: Scope = None, table: Table = "") -> Response:  # noqa: B006
    return export_download_personal(request, session, survey_id, user, format, labels, split, language, wave, scope,
                                    table)


@api.post("/{survey_id}/kobo", summary="Receive a submission from a KoboToolbox REST Service",
          responses={200: {"description": "Already received (same id, same content)"}, 201: {"description": "Stored"},
                     409: {"description": "Same id, different content: kept aside for a supervisor"},
                     422: {"description": "The submission cannot be stored; every problem is named"}})
def api_kobo(request: Request, session: SessionDep, survey_id: int, user: Annotated[User, Allow("surveys.import")],
             payload: Annotated[dict[str, Any], Body(description="One submission, as Kobo sends it")],
             wave: Annotated[str | None, Query(max_length=40, description="Wave (else the form's wave field)")] = None,
             ) -> Response:
    """Point the REST Service at ``/api/v1/surveys/{id}/kobo?wave=baseline`` with the header
    ``Authorization: Bearer <token>``. The JSON is read like a row of Kobo's CSV export
    (group paths, ``_uuid`` / ``meta/instanceID``); sending it again changes nothing."""
    survey = _survey(session, survey_id)
    try:
        submission, created = import_jobs.receive_kobo(session=session, survey=survey, payload=payload, wave=wave,
                                                       actor=user, ip=client_ip(request))
    except ImportFileError as err:
        session.rollback()
        return JSONResponse({"detail": " ".join(err.problems), "problems": err.problems}, status_code=422)
    except service.SubmissionConflictError as err:
        session.commit()  # keep the conflict for a supervisor
        return JSONResponse({"detail": err.message, "conflict_id": err.conflict.id}, status_code=409)
    except service.SubmissionInvalid as err:
        session.rollback()
        return JSONResponse({"detail": err.message, "problems": [{"item": p.code, "message": p.message} for p in err.problems]},
                            status_code=422)
    session.commit()
    body = {"id": submission.id, "uuid": submission.uuid, "created": created, "flags": submission.flags}
    return JSONResponse(body, status_code=201 if created else 200)

