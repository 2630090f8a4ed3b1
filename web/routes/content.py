"""The content library: key messages, their variants per language and channel format,
versions and diffs, the review flow, variables, attachments, export and import.

Pages under ``/content`` and the JSON API under ``/api/v1/content``. The handlers are
thin: they read the request, call :mod:`content.service` or :mod:`content.transfer`,
commit, and render. A refused input re-renders its form with a message per field
(status 400) and stores nothing.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUploadFile

from audiences.segments import segment_label
from audiences.service import segment_names
from content import rules
from content import service as svc
from content.models import (
    Attachment,
    AttachmentPublic,
    Channel,
    ContentVariant,
    Message,
    MessageCreate,
    MessageDetail,
    MessagePublic,
    MessageStatus,
    MessageUpdate,
    MessageVersion,
    SurveyItemLinkIn,
    SurveyItemLinkPublic,
    TransitionIn,
    TransitionPublic,
    VariableIn,
    VariablePublic,
    VariantIn,
    VariantPublic,
    VersionPublic,
)
from content.storage import storage_for
from content.transfer import ImportError_, export_library, import_library

from ..accounts.models import User
from ..accounts.permissions import allowed
from ..accounts.service import record_audit
from ..deps import Allow, SessionDep, client_ip
from ..render import flash, redirect, render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/content", tags=["content"])
routers = [router, api]

# (action, URL part, permission, button label)
STEPS: list[tuple[str, str, str, str]] = [
    ("submit", "submit", "content.edit", "Submit for review"),
    ("withdraw", "withdraw", "content.edit", "Withdraw from review"),
    ("approve", "approve", "content.approve", "Approve"),
    ("send_back", "send-back", "content.approve", "Send back"),
    ("retire", "retire", "content.approve", "Retire"),
    ("restore", "restore", "content.approve", "Restore"),
]
DONE = {"submit": "submitted for review", "withdraw": "withdrawn from review", "approve": "approved",
        "send_back": "sent back to its authors", "retire": "retired", "restore": "restored"}


# --- Helpers ------------------------------------------------------------------------------


def _storage(request: Request):
    return storage_for(request.app.state.settings)


def _message(session: Session, message_id: int) -> Message:
    message = svc.get_message(session=session, message_id=message_id)
    if message is None:
        raise HTTPException(404, f"There is no message {message_id}.")
    return message


def _api_fail(err: Exception) -> None:
    """Turn a service error into the API's answer: 422 per field, 409 for state, 403 for roles."""
    if isinstance(err, svc.ContentForbidden):
        raise HTTPException(403, str(err)) from None
    if isinstance(err, svc.ContentConflict):
        raise HTTPException(409, err.message) from None
    if isinstance(err, svc.ContentError):
        raise RequestValidationError([{"loc": ("body", name), "msg": text, "type": "value_error"}
                                      for name, text in err.errors.items()]) from None
    raise err


def _language_options() -> list[tuple[str, str]]:
    return [(tag, rules.LANGUAGE_NAMES[tag]) for tag in rules.LANGUAGES_FIRST]


def _common(session: Session) -> dict[str, Any]:
    names = segment_names(session=session)
    return {
        "channels": [(c.value, c.label) for c in Channel],
        "channel_labels": {c.value: c.label for c in Channel},
        "statuses": list(MessageStatus),
        "segments": names,
        "segment_label": lambda code: segment_label(code, names),
        "languages": _language_options(),
        "language_names": rules.LANGUAGE_NAMES,
        "platforms": list(rules.SOCIAL_PLATFORM_LIMITS),
        "radio_targets": svc.RADIO_TARGETS,
        "action_labels": svc.ACTION_LABELS,
    }


def _attachment_url(attachment: Attachment) -> str:
    return f"/content/attachments/{attachment.id}"


def _attachment_public(attachment: Attachment) -> AttachmentPublic:
    return AttachmentPublic(id=attachment.id, filename=attachment.filename, file_type=attachment.file_type,
                            content_type=attachment.content_type, size=attachment.size, sha256=attachment.sha256,
                            url=f"/api/v1/content/attachments/{attachment.id}")


def _variant_public(view: svc.VariantView) -> VariantPublic:
    v = view.variant
    return VariantPublic(id=v.id, language=v.language, channel=v.channel, platform=v.platform, subject=v.subject,
                         body=v.body, target_seconds=v.target_seconds, alt_text=v.alt_text,
                         attachments=[_attachment_public(a) for a in view.attachments])


def _version_number(session: Session, version_id: int | None) -> int | None:
    version = session.get(MessageVersion, version_id) if version_id else None
    return version.number if version else None


def _message_public(session: Session, message: Message, cls=MessagePublic, **extra) -> Any:
    views = extra.pop("views", None)
    if views is None:
        views = svc.version_variants(session=session, version_id=message.current_version_id)
    languages = sorted({v.variant.language for v in views}, key=svc.language_order)
    channels = [c for c in rules.CHANNEL_KINDS if any(v.variant.channel.value == c for v in views)]
    return cls(id=message.id, uid=message.uid, title=message.title, objective=message.objective,
               themes=list(message.themes or []), segments=list(message.segments or []), status=message.status,
               current_version=_version_number(session, message.current_version_id),
               approved_version=_version_number(session, message.approved_version_id),
               languages=languages, channels=channels, created_at=message.created_at, updated_at=message.updated_at,
               **extra)


def _message_detail(session: Session, message: Message) -> MessageDetail:
    views = svc.version_variants(session=session, version_id=message.current_version_id)
    links = [SurveyItemLinkPublic(id=v.link.id, survey_id=v.link.survey_id, item_code=v.link.item_code)
             for v in svc.survey_links(session=session, message=message)]
    return _message_public(session, message, MessageDetail, views=views,
                           variants=[_variant_public(v) for v in views], survey_items=links)


def _version_public(session: Session, version: MessageVersion) -> VersionPublic:
    return VersionPublic(id=version.id, number=version.number, title=version.title, objective=version.objective,
                         themes=list(version.themes or []), segments=list(version.segments or []), note=version.note,
                         created_at=version.created_at, created_by=version.created_by_name,
                         variants=[_variant_public(v) for v in svc.version_variants(session=session, version_id=version.id)])


def _transition_public(t) -> TransitionPublic:
    return TransitionPublic(id=t.id, action=t.action, from_status=t.from_status, to_status=t.to_status,
                            version=t.version_number, comment=t.comment, actor=t.actor_name, at=t.at)


async def _raw_form(request: Request) -> FormData:
    """The parsed form (cached by Starlette), for the parts FastAPI's typing cannot express."""
    return await request.form()


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _analysis_for(session: Session, *, channel: str, language: str, body: str, subject: str = "", platform: str = "",
                  alt_text: str = "", target_seconds: int | None = None) -> svc.Analysis:
    return svc.analyse(channel=channel, language=language, body=body, subject=subject, platform=platform,
                       alt_text=alt_text, target_seconds=target_seconds, variables=svc.variable_set(session=session),
                       max_segments=svc.sms_max_segments(session=session))


# --- Pages: list, new, review queue, coverage -----------------------------------------------


@router.get("/content")
def content_list(
    request: Request, session: SessionDep, user: Annotated[User, Allow("content.view")],
    q: Annotated[str, Query(max_length=200)] = "", theme: Annotated[str, Query(max_length=60)] = "",
    language: Annotated[str, Query(max_length=35)] = "", channel: Annotated[str, Query(max_length=10)] = "",
    status: Annotated[str, Query(max_length=20)] = "", segment: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    rows = svc.list_messages(session=session, q=q, theme=theme, language=language, channel=channel, status=status,
                             segment=segment)
    pending = len(svc.list_messages(session=session, status="in_review")) if not status else None
    filters = {"q": q, "theme": theme, "language": language, "channel": channel, "status": status, "segment": segment}
    return render(request, "content/list.html", {
        **_common(session), "rows": rows, "filters": filters, "themes": svc.all_themes(session=session),
        "pending": pending,
    }, block="results")


@router.get("/content/new")
def content_new(request: Request, session: SessionDep, user: Annotated[User, Allow("content.edit")]) -> Response:
    return render(request, "content/edit.html", {**_common(session), "message": None, "errors": {},
                                                 "form": {"title": "", "objective": "", "themes": "", "segments": []}})


def _details_form(title: str, objective: str, themes: str, segments: list[str]) -> dict[str, Any]:
    return {"title": title, "objective": objective, "themes": themes, "segments": segments}


@router.post("/content")
def content_create(
    request: Request, session: SessionDep, user: Annotated[User, Allow("content.edit")],
    title: Annotated[str, Form(max_length=400)] = "", objective: Annotated[str, Form(max_length=10_000)] = "",
    themes: Annotated[str, Form(max_length=2000)] = "", segments: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    try:
        message = svc.create_message(session=session, data=MessageCreate.model_construct(
            title=title, objective=objective, themes=[themes], segments=segments, variants=[]),
            actor=user, ip=client_ip(request))
    except svc.ContentError as err:
        session.rollback()
        return render(request, "content/edit.html", {**_common(session), "message": None, "errors": err.errors,
                                                     "form": _details_form(title, objective, themes, segments)},
                      status_code=400)
    session.commit()
    return flash(redirect(request, f"/content/{message.id}"), "Message created. Now add its variants.", request)


@router.get("/content/review")
def content_review(request: Request, session: SessionDep, user: Annotated[User, Allow("content.approve")]) -> Response:
    return render(request, "content/review.html", {**_common(session), "items": svc.review_queue(session=session)})


@router.get("/content/coverage")
def content_coverage(request: Request, session: SessionDep, user: Annotated[User, Allow("content.view")]) -> Response:
    rows = []
    for row in svc.list_messages(session=session):
        if row.message.status == MessageStatus.retired:
            continue
        rows.append((row, svc.coverage(session=session, message=row.message)))
    rows.sort(key=lambda pair: (-sum(len(g.missing) for g in pair[1]), pair[0].message.title.lower()))
    return render(request, "content/coverage.html", {**_common(session), "rows": rows, "needs": svc.SEGMENT_NEEDS})


# --- Variables and settings -------------------------------------------------------------------


def _variables_page(request: Request, session: Session, *, errors: dict | None = None, form: dict | None = None,
                    status_code: int = 200) -> Response:
    return render(request, "content/variables.html", {
        **_common(session), "variables": svc.list_variables(session=session), "errors": errors or {},
        "form": form or {"name": "", "sample": "", "longest": "", "description": ""},
        "sms_max_segments": svc.sms_max_segments(session=session),
    }, status_code=status_code)


@router.get("/content/variables")
def content_variables(request: Request, session: SessionDep, user: Annotated[User, Allow("content.view")]) -> Response:
    return _variables_page(request, session)


@router.post("/content/variables")
def content_variable_save(
    request: Request, session: SessionDep, user: Annotated[User, Allow("content.edit")],
    name: Annotated[str, Form(max_length=100)] = "", sample: Annotated[str, Form(max_length=400)] = "",
    longest: Annotated[str, Form(max_length=400)] = "", description: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    form = {"name": name, "sample": sample, "longest": longest, "description": description}
    try:
        svc.save_variable(session=session, data=VariableIn.model_construct(**form), actor=user, ip=client_ip(request))
    except svc.ContentError as err:
        session.rollback()
        return _variables_page(request, session, errors=err.errors, form=form, status_code=400)
    session.commit()
    return flash(redirect(request, "/content/variables"), f"Variable {name.strip()} saved.", request)


@router.post("/content/variables/delete")
def content_variable_delete(request: Request, session: SessionDep, user: Annotated[User, Allow("content.edit")],
                            name: Annotated[str, Form(max_length=100)] = "") -> Response:
    try:
        svc.delete_variable(session=session, name=name.strip(), actor=user, ip=client_ip(request))
    except svc.ContentError as err:
        session.rollback()
        return _variables_page(request, session, errors=err.errors, status_code=400)
    session.commit()
    standard = name.strip() in rules.STANDARD_VARIABLES
    return flash(redirect(request, "/content/variables"),
                 f"Variable {name.strip()} {'reset to its default values' if standard else 'removed'}.", request)


@router.post("/content/settings")
def content_settings(request: Request, session: SessionDep, user: Annotated[User, Allow("content.edit")],
                     sms_max_segments: Annotated[str, Form(max_length=10)] = "") -> Response:
    try:
        value = _int_or_none(sms_max_segments)
        svc.set_sms_max_segments(session=session, value=value if value is not None else -1, actor=user,
                                 ip=client_ip(request))
    except svc.ContentError as err:
        session.rollback()
        return _variables_page(request, session, errors=err.errors, status_code=400)
    session.commit()
    return flash(redirect(request, "/content/variables"), f"SMS segment limit set to {value}.", request)


# --- The live counter ---------------------------------------------------------------------------


@router.post("/content/counter")
def content_counter(
    request: Request, session: SessionDep, user: Annotated[User, Allow("content.edit")],
    channel: Annotated[str, Form(max_length=10)] = "sms", language: Annotated[str, Form(max_length=35)] = "ht",
    platform: Annotated[str, Form(max_length=20)] = "", body: Annotated[str, Form(max_length=200_000)] = "",
    subject: Annotated[str, Form(max_length=400)] = "", alt_text: Annotated[str, Form(max_length=2000)] = "",
    target_seconds: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """The server's count of a variant being typed: a fragment for the editor (HTMX)."""
    if channel not in Channel.__members__:
        channel = "sms"
    try:
        language = rules.validate_language_tag(language)
    except ValueError:
        language = "ht"
    try:
        platform = svc.canonical_platform(platform) if channel == "social" and platform else ""
    except ValueError:
        platform = ""
    analysis = _analysis_for(session, channel=channel, language=language, body=body, subject=subject,
                             platform=platform, alt_text=alt_text, target_seconds=_int_or_none(target_seconds))
    return render(request, "content/_counter_partial.html", {"a": analysis, "platform": platform}, block=None)


# --- Export and import --------------------------------------------------------------------------


@router.get("/content/transfer")
def content_transfer(request: Request, session: SessionDep, user: Annotated[User, Allow("content.transfer")]) -> Response:
    return render(request, "content/transfer.html", {**_common(session), "report": None, "errors": {}})


def _export_response(request: Request, session: Session, user: User) -> Response:
    doc = export_library(session=session, storage=_storage(request))
    record_audit(session=session, actor=user, action="content.export", entity_type="content_library",
                 summary=f"Exported the content library ({len(doc['messages'])} messages)", ip=client_ip(request))
    session.commit()
    name = f"konbit-content-library-{date.today().isoformat()}.json"
    return JSONResponse(doc, headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.get("/content/export.json")
def content_export(request: Request, session: SessionDep, user: Annotated[User, Allow("content.transfer")]) -> Response:
    return _export_response(request, session, user)


@router.post("/content/import")
def content_import(
    request: Request, session: SessionDep, user: Annotated[User, Allow("content.transfer")],
    library: Annotated[UploadFile | None, File()] = None, dry_run: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    def refuse(errors: dict[str, str]) -> Response:
        session.rollback()
        return render(request, "content/transfer.html", {**_common(session), "report": None, "errors": errors},
                      status_code=400)

    if library is None or not library.filename:
        return refuse({"library": "Choose the JSON file of a library export."})
    raw = library.file.read()
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return refuse({"library": "The file is not text in UTF-8: is it really a library export (.json)?"})
    except json.JSONDecodeError as exc:
        return refuse({"library": f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."})
    try:
        report = import_library(session=session, storage=_storage(request), data=data, actor=user,
                                ip=client_ip(request), dry_run=bool(dry_run))
    except svc.ContentError as err:
        return refuse(err.errors)
    if report.dry_run:
        session.rollback()
    else:
        session.commit()
    return render(request, "content/transfer.html", {**_common(session), "report": report, "errors": {}})


# --- Attachments ------------------------------------------------------------------------------


INLINE_TYPES = {"png", "jpg", "webp", "gif", "mp3", "ogg", "wav", "m4a", "pdf"}


def _attachment_response(request: Request, session: Session, attachment_id: int, download: bool) -> Response:
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        raise HTTPException(404, f"There is no attachment {attachment_id}.")
    path = _storage(request).path(attachment.storage_name)
    if not path.is_file():
        raise HTTPException(404, f"The file {attachment.filename} is missing from the storage; ask an administrator.")
    disposition = "attachment" if download or attachment.file_type not in INLINE_TYPES else "inline"
    return FileResponse(path, media_type=rules.FILE_TYPES[attachment.file_type].mime_types[0],
                        filename=attachment.filename, content_disposition_type=disposition,
                        headers={"Cache-Control": "private, max-age=3600"})


@router.get("/content/attachments/{attachment_id}")
def content_attachment(request: Request, session: SessionDep, attachment_id: int,
                       user: Annotated[User, Allow("content.view")], download: bool = False) -> Response:
    return _attachment_response(request, session, attachment_id, download)


# --- One message -----------------------------------------------------------------------------


def _message_page(request: Request, session: Session, message: Message, user: User, *, version_number: int | None = None,
                  errors: dict | None = None, status_code: int = 200, block: str = "content") -> Response:
    current = session.get(MessageVersion, message.current_version_id) if message.current_version_id else None
    approved = session.get(MessageVersion, message.approved_version_id) if message.approved_version_id else None
    shown = current
    if version_number is not None:
        shown = svc.get_version(session=session, message=message, number=version_number)
        if shown is None:
            raise HTTPException(404, f"This message has no version {version_number}.")
    views = svc.version_variants(session=session, version_id=shown.id if shown else None)
    variables = svc.variable_set(session=session)
    max_segments = svc.sms_max_segments(session=session)
    analyses = {view.variant.id: svc.check_variant(view.draft, variables=variables, max_segments=max_segments,
                                                   attachments=view.attachments) for view in views}
    problems = (svc.blocking_problems(session=session, version_id=current.id if current else None)
                if message.status == MessageStatus.draft and shown is current else [])
    preview_languages = sorted({v.variant.language for v in views}, key=svc.language_order)
    return render(request, "content/message.html", {
        **_common(session), "message": message, "current": current, "approved": approved, "shown": shown,
        "views": views, "analyses": analyses, "problems": problems, "errors": errors or {},
        "gaps": svc.coverage(session=session, message=message, version_id=shown.id if shown else None),
        "links": svc.survey_links(session=session, message=message),
        "survey_choices": svc.survey_item_choices(session=session) if allowed(user.role, "content.edit") else [],
        "steps": STEPS, "transitions": svc.TRANSITIONS, "variables": svc.list_variables(session=session),
        "preview_languages": preview_languages, "attachment_url": _attachment_url,
        "last_step": next(iter(svc.list_transitions(session=session, message=message)), None),
    }, status_code=status_code, block=block)


@router.get("/content/{message_id}")
def content_message(request: Request, session: SessionDep, message_id: int,
                    user: Annotated[User, Allow("content.view")],
                    version: Annotated[int | None, Query(ge=1)] = None) -> Response:
    return _message_page(request, session, _message(session, message_id), user, version_number=version)


@router.get("/content/{message_id}/edit")
def content_edit(request: Request, session: SessionDep, message_id: int,
                 user: Annotated[User, Allow("content.edit")]) -> Response:
    message = _message(session, message_id)
    form = _details_form(message.title, message.objective, ", ".join(message.themes or []), list(message.segments or []))
    return render(request, "content/edit.html", {
        **_common(session), "message": message, "errors": {}, "form": form,
        "base_version": _version_number(session, message.current_version_id),
    })


@router.post("/content/{message_id}")
def content_update(
    request: Request, session: SessionDep, message_id: int, user: Annotated[User, Allow("content.edit")],
    title: Annotated[str, Form(max_length=400)] = "", objective: Annotated[str, Form(max_length=10_000)] = "",
    themes: Annotated[str, Form(max_length=2000)] = "", segments: Annotated[list[str], Form()] = [],  # noqa: B006
    base_version: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    message = _message(session, message_id)
    try:
        version = svc.update_message(session=session, message=message, data=MessageUpdate.model_construct(
            title=title, objective=objective, themes=[themes], segments=segments,
            base_version=_int_or_none(base_version)), actor=user, ip=client_ip(request))
    except svc.ContentError as err:
        session.rollback()
        return render(request, "content/edit.html", {
            **_common(session), "message": message, "errors": err.errors,
            "form": _details_form(title, objective, themes, segments), "base_version": base_version,
        }, status_code=409 if isinstance(err, svc.ContentConflict) else 400)
    session.commit()
    text = f"Saved as version {version.number}." if version else "Nothing changed."
    return flash(redirect(request, f"/content/{message.id}"), text, request)


# --- Variant editor ---------------------------------------------------------------------------


def _variant_page(request: Request, session: Session, message: Message, *, form: dict[str, Any],
                  existing: svc.VariantView | None, errors: dict | None = None, status_code: int = 200,
                  notes: list[str] | None = None) -> Response:
    channel = form["channel"]
    analysis = _analysis_for(session, channel=channel, language=form["language"], body=form["body"],
                             subject=form["subject"], platform=form["platform"], alt_text=form["alt_text"],
                             target_seconds=_int_or_none(str(form["target_seconds"] or "")))
    try:
        rate = rules.speaking_rate(form["language"])
    except ValueError:
        rate = None
    accepted = rules.ATTACHMENT_KINDS[channel]
    return render(request, "content/variant.html", {
        **_common(session), "message": message, "form": form, "existing": existing, "errors": errors or {},
        "a": analysis, "rate": rate, "notes": notes or [],
        "social_limit": rules.SOCIAL_PLATFORM_LIMITS.get(form["platform"]) if channel == "social" else None,
        "accept": ",".join("." + ext for k in accepted for ext in rules.FILE_TYPES[k].extensions),
        "accepted_labels": ", ".join(f"{rules.FILE_TYPES[k].label} (up to {rules.FILE_TYPES[k].max_bytes // 2**20} MB)"
                                     for k in accepted),
        "variables": svc.list_variables(session=session), "max_segments": svc.sms_max_segments(session=session),
        "longest_json": json.dumps({v.name: v.longest for v in svc.list_variables(session=session)}, ensure_ascii=False),
        "base_version": _version_number(session, message.current_version_id), "attachment_url": _attachment_url,
        "channel_label": Channel(channel).label,
    }, status_code=status_code)


def _variant_key(language: str, channel: str, platform: str) -> tuple[str, str, str]:
    """Canonical (language, channel, platform) from the query or form, or 400 naming the field."""
    errors = {}
    try:
        language = rules.validate_language_tag(language)
    except ValueError as exc:
        errors["language"] = str(exc)
    if channel not in Channel.__members__:
        errors["channel"] = "Choose a channel format: " + ", ".join(c.value for c in Channel) + "."
    if channel == "social":
        try:
            platform = svc.canonical_platform(platform)
        except ValueError as exc:
            errors["platform"] = str(exc)
    else:
        platform = ""
    if errors:
        raise HTTPException(400, "; ".join(f"{k}: {v}" for k, v in errors.items()))
    return language, channel, platform


@router.get("/content/{message_id}/variant")
def content_variant(
    request: Request, session: SessionDep, message_id: int, user: Annotated[User, Allow("content.edit")],
    language: Annotated[str, Query(max_length=35)] = "", channel: Annotated[str, Query(max_length=10)] = "",
    platform: Annotated[str, Query(max_length=20)] = "", other_language: Annotated[str, Query(max_length=35)] = "",
) -> Response:
    message = _message(session, message_id)
    if message.status == MessageStatus.retired:
        raise HTTPException(409, "This message is retired; restore it before editing.")
    language, channel, platform = _variant_key(other_language.strip() or language, channel, platform)
    views = svc.version_variants(session=session, version_id=message.current_version_id)
    existing = svc.find_variant(views, language, channel, platform)
    v = existing.variant if existing else None
    form = {"language": language, "channel": channel, "platform": platform, "subject": v.subject if v else "",
            "body": v.body if v else "", "alt_text": v.alt_text if v else "",
            "target_seconds": (v.target_seconds if v else 30) if channel == "radio" else ""}
    return _variant_page(request, session, message, form=form, existing=existing)


@router.post("/content/{message_id}/variant")
def content_variant_save(
    request: Request, session: SessionDep, message_id: int, user: Annotated[User, Allow("content.edit")],
    language: Annotated[str, Form(max_length=35)] = "", channel: Annotated[str, Form(max_length=10)] = "",
    platform: Annotated[str, Form(max_length=20)] = "", subject: Annotated[str, Form(max_length=400)] = "",
    body: Annotated[str, Form(max_length=200_000)] = "", alt_text: Annotated[str, Form(max_length=2000)] = "",
    target_seconds: Annotated[str, Form(max_length=5)] = "", base_version: Annotated[str, Form(max_length=10)] = "",
    remove_attachment: Annotated[list[str], Form()] = [],  # noqa: B006
    form_data: Annotated[FormData, Depends(_raw_form)] = None,  # type: ignore[assignment]
) -> Response:
    # Read from the raw form: an empty file input arrives as a part without a file.
    files = [f for f in form_data.getlist("files") if isinstance(f, StarletteUploadFile)]
    message = _message(session, message_id)
    language, channel, platform = _variant_key(language, channel, platform)
    form = {"language": language, "channel": channel, "platform": platform, "subject": subject, "body": body,
            "alt_text": alt_text, "target_seconds": target_seconds}
    views = svc.version_variants(session=session, version_id=message.current_version_id)
    existing = svc.find_variant(views, language, channel, platform)
    removed = {_int_or_none(x) for x in remove_attachment}
    kept = [a for a in (existing.attachments if existing else []) if a.id not in removed]
    uploads = [f for f in files if f.filename]
    errors: dict[str, str] = {}
    checked: list[tuple[UploadFile, str]] = []
    limit = svc.max_upload_bytes(channel)
    for upload in uploads:
        upload.file.seek(0, 2)
        size = upload.file.tell()
        upload.file.seek(0)
        head = upload.file.read(rules.HEAD_BYTES_NEEDED)
        upload.file.seek(0)
        try:
            file_type = svc.check_upload(filename=upload.filename or "", content_type=upload.content_type, size=size,
                                         head=head, channel=channel, field_name="files")
        except svc.ContentError as err:
            errors["files"] = " ".join(filter(None, [errors.get("files"), err.errors["files"]]))
            continue
        if size > limit:  # pragma: no cover - check_upload refuses first
            errors["files"] = f"{upload.filename} is too large."
            continue
        checked.append((upload, file_type))
    if channel in ("radio", "social") and checked:
        kept = []  # a new audio file or image replaces the old one
        checked = checked[-1:]
    # Check the text and the attachment set before storing anything.
    planned = kept + [Attachment(storage_name="", sha256="", filename=u.filename or "", file_type=t, content_type="",
                                 size=0) for u, t in checked]
    try:
        draft = svc.normalise_variant(VariantIn.model_construct(
            language=language, channel=Channel(channel), platform=platform, subject=subject, body=body,
            alt_text=alt_text, target_seconds=_int_or_none(target_seconds), attachment_ids=[]))
        analysis = svc.check_variant(draft, variables=svc.variable_set(session=session),
                                     max_segments=svc.sms_max_segments(session=session), attachments=planned)
        errors.update(analysis.errors)
    except svc.ContentError as err:
        errors.update(err.errors)
    if errors:
        notes = ["The files you chose were not saved: choose them again."] if uploads else []
        return _variant_page(request, session, message, form=form, existing=existing, errors=errors, status_code=400,
                             notes=notes)
    try:
        stored = [svc.store_attachment(session=session, storage=_storage(request), filename=u.filename or "",
                                       content_type=u.content_type, data=u.file.read(), channel=channel, actor=user,
                                       ip=client_ip(request), field_name="files") for u, _ in checked]
        draft = svc.VariantDraft(draft.language, draft.channel, draft.platform, draft.subject, draft.body,
                                 draft.target_seconds, draft.alt_text, tuple(a.id for a in kept + stored))
        version, analysis = svc.save_variant(session=session, message=message, data=draft, actor=user,
                                             ip=client_ip(request), base_version=_int_or_none(base_version))
        session.commit()
    except svc.ContentError as err:
        session.rollback()
        return _variant_page(request, session, message, form=form, existing=existing, errors=err.errors,
                             status_code=409 if isinstance(err, svc.ContentConflict) else 400,
                             notes=["The files you chose were not saved: choose them again."] if uploads else [])
    except IntegrityError:
        session.rollback()
        return _variant_page(request, session, message, form=form, existing=existing, status_code=409,
                             errors={"form": "Someone saved this message at the same moment; reload and try again."})
    if version is None:
        text = "Nothing changed."
    else:
        text = f"{draft.label} saved as version {version.number}."
        if analysis.blocking:
            text += " It cannot be submitted yet: " + " ".join(analysis.blocking)
    return flash(redirect(request, f"/content/{message.id}#variant-{draft.language}-{draft.channel}-{draft.platform}"),
                 text, request)


@router.post("/content/{message_id}/variant/delete")
def content_variant_delete(
    request: Request, session: SessionDep, message_id: int, user: Annotated[User, Allow("content.edit")],
    language: Annotated[str, Form(max_length=35)] = "", channel: Annotated[str, Form(max_length=10)] = "",
    platform: Annotated[str, Form(max_length=20)] = "", base_version: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    message = _message(session, message_id)
    try:
        version = svc.delete_variant(session=session, message=message, language=language, channel=channel,
                                     platform=platform, actor=user, ip=client_ip(request),
                                     base_version=_int_or_none(base_version))
    except svc.ContentError as err:
        session.rollback()
        return flash(redirect(request, f"/content/{message.id}"), err.message, request)
    session.commit()
    return flash(redirect(request, f"/content/{message.id}"), f"Variant removed; saved as version {version.number}.",
                 request)


# --- Preview, history, print --------------------------------------------------------------------


@router.get("/content/{message_id}/preview")
def content_preview(request: Request, session: SessionDep, message_id: int,
                    user: Annotated[User, Allow("content.view")]) -> Response:
    """Every variant of one language rendered for a sample recipient (values from the query)."""
    message = _message(session, message_id)
    params = request.query_params
    which = params.get("version", "current")
    version_id = message.approved_version_id if which == "approved" else message.current_version_id
    views = svc.version_variants(session=session, version_id=version_id)
    language = params.get("language") or (views[0].variant.language if views else "ht")
    channel = params.get("channel", "")
    variables = svc.variable_set(session=session)
    values = {name: params.get(name, variables.samples.get(name, ""))[:200] for name in variables.names}
    items = []
    for view in views:
        if view.variant.language != language or (channel and view.variant.channel.value != channel):
            continue
        try:
            rendered, error = svc.render_variant(view.variant, values, variables=variables), None
        except ValueError as exc:
            rendered, error = None, str(exc)
        sms = rules.sms_info(rendered.text) if rendered and view.variant.channel == Channel.sms else None
        items.append({"view": view, "rendered": rendered, "error": error, "sms": sms})
    return render(request, "content/_preview_partial.html", {
        "message": message, "items": items, "language": language, "channel": channel, "values": values,
        "attachment_url": _attachment_url, "language_names": rules.LANGUAGE_NAMES, "which": which,
    }, block=None)


@router.get("/content/{message_id}/history")
def content_history(request: Request, session: SessionDep, message_id: int,
                    user: Annotated[User, Allow("content.view")],
                    a: Annotated[int | None, Query(ge=1)] = None, b: Annotated[int | None, Query(ge=1)] = None) -> Response:
    message = _message(session, message_id)
    versions = svc.list_versions(session=session, message=message)
    diff = None
    if versions:
        newest = versions[0].number
        b = b or newest
        a = a if a is not None else max(1, b - 1)
        new = svc.get_version(session=session, message=message, number=b)
        old = svc.get_version(session=session, message=message, number=a) if a != b else None
        if new is None or (a != b and old is None):
            raise HTTPException(404, "This message has no such version.")
        diff = svc.diff_versions(session=session, old=old, new=new) if a != b else None
    return render(request, "content/history.html", {
        **_common(session), "message": message, "versions": versions,
        "transitions": svc.list_transitions(session=session, message=message), "diff": diff, "a": a, "b": b,
        "approved_number": _version_number(session, message.approved_version_id),
    }, block="diff")


@router.get("/content/{message_id}/print/{variant_id}")
def content_print(request: Request, session: SessionDep, message_id: int, variant_id: int,
                  user: Annotated[User, Allow("content.view")]) -> Response:
    """A briefing (or any variant) as a clean printable page, rendered with the sample values."""
    message = _message(session, message_id)
    variant = session.get(ContentVariant, variant_id)
    version = session.get(MessageVersion, variant.version_id) if variant else None
    if variant is None or version is None or version.message_id != message.id:
        raise HTTPException(404, "This message has no such variant.")
    view = next(v for v in svc.version_variants(session=session, version_id=version.id) if v.variant.id == variant.id)
    variables = svc.variable_set(session=session)
    try:
        rendered = svc.render_variant(variant, {}, variables=variables)
    except ValueError as exc:
        raise HTTPException(409, f"This variant cannot be rendered: {exc}") from None
    return render(request, "content/print.html", {
        "message": message, "version": version, "view": view, "rendered": rendered,
        "approved": message.approved_version_id == version.id, "attachment_url": _attachment_url,
        "language_names": rules.LANGUAGE_NAMES,
    })


# --- Review flow ---------------------------------------------------------------------------------


def _step_route(action: str, slug: str, permission: str) -> None:
    # The permission is a closure variable: a default value, not a (string) annotation, can see it.
    @router.post(f"/content/{{message_id}}/{slug}", name=f"content_{action}")
    def step(request: Request, session: SessionDep, message_id: int, user: User = Allow(permission),
             comment: Annotated[str, Form(max_length=4000)] = "", version: Annotated[str, Form(max_length=10)] = "",
             back: Annotated[str, Form(max_length=200)] = "",
             override_reason: Annotated[str, Form(max_length=500)] = "") -> Response:
        message = _message(session, message_id)
        target = back if back.startswith("/content") and "//" not in back else f"/content/{message.id}"
        try:
            svc.transition(session=session, message=message, action=action, actor=user, comment=comment,
                           version=_int_or_none(version), ip=client_ip(request), override_reason=override_reason)
        except svc.ContentForbidden as err:
            raise HTTPException(403, str(err)) from None
        except svc.ContentError as err:
            session.rollback()
            return flash(redirect(request, target), err.message, request)
        session.commit()
        return flash(redirect(request, target), f"'{message.title}' {DONE[action]}.", request)


for _action, _slug, _permission, _label in STEPS:
    _step_route(_action, _slug, _permission)


# --- Survey item links, deletion -----------------------------------------------------------------


@router.post("/content/{message_id}/links")
def content_link(request: Request, session: SessionDep, message_id: int, user: Annotated[User, Allow("content.edit")],
                 item: Annotated[str, Form(max_length=200)] = "") -> Response:
    message = _message(session, message_id)
    survey_part, _, code = item.partition(":")
    survey_id = _int_or_none(survey_part)
    try:
        if survey_id is None or not code:
            raise svc.ContentError({"item_code": "Choose a survey item."})
        svc.link_survey_item(session=session, message=message, survey_id=survey_id, item_code=code, actor=user,
                             ip=client_ip(request))
    except svc.ContentError as err:
        session.rollback()
        return flash(redirect(request, f"/content/{message.id}#links"), err.message, request)
    session.commit()
    return flash(redirect(request, f"/content/{message.id}#links"), f"Linked to survey item {code}.", request)


@router.post("/content/{message_id}/links/{link_id}/delete")
def content_unlink(request: Request, session: SessionDep, message_id: int, link_id: int,
                   user: Annotated[User, Allow("content.edit")]) -> Response:
    message = _message(session, message_id)
    try:
        svc.unlink_survey_item(session=session, message=message, link_id=link_id, actor=user, ip=client_ip(request))
    except svc.ContentError as err:
        session.rollback()
        return flash(redirect(request, f"/content/{message.id}#links"), err.message, request)
    session.commit()
    return flash(redirect(request, f"/content/{message.id}#links"), "Survey item link removed.", request)


@router.post("/content/{message_id}/delete")
def content_delete(request: Request, session: SessionDep, message_id: int,
                   user: Annotated[User, Allow("content.edit")]) -> Response:
    message = _message(session, message_id)
    title = message.title
    try:
        svc.delete_message(session=session, message=message, actor=user, ip=client_ip(request))
    except svc.ContentError as err:
        session.rollback()
        return flash(redirect(request, f"/content/{message.id}"), err.message, request)
    session.commit()
    return flash(redirect(request, "/content"), f"Draft '{title}' deleted.", request)


# === JSON API ===================================================================================


@api.get("/messages", response_model=list[MessagePublic], summary="List key messages (search and filters)")
def api_messages(
    session: SessionDep, user: Annotated[User, Allow("content.view")],
    q: Annotated[str, Query(max_length=200)] = "", theme: Annotated[str, Query(max_length=60)] = "",
    language: Annotated[str, Query(max_length=35)] = "", channel: Annotated[str, Query(max_length=10)] = "",
    status: Annotated[str, Query(max_length=20)] = "", segment: Annotated[str, Query(max_length=40)] = "",
) -> list[MessagePublic]:
    rows = svc.list_messages(session=session, q=q, theme=theme, language=language, channel=channel, status=status,
                             segment=segment)
    return [_message_public(session, r.message) for r in rows]


@api.post("/messages", response_model=MessageDetail, status_code=201, summary="Create a key message (version 1)")
def api_create(request: Request, session: SessionDep, body: MessageCreate,
               user: Annotated[User, Allow("content.edit")]) -> MessageDetail:
    try:
        message = svc.create_message(session=session, data=body, actor=user, ip=client_ip(request))
    except (svc.ContentError, svc.ContentForbidden) as err:
        _api_fail(err)
    session.commit()
    return _message_detail(session, message)


@api.get("/messages/{message_id}", response_model=MessageDetail, summary="One message with its latest variants")
def api_message(session: SessionDep, message_id: int, user: Annotated[User, Allow("content.view")]) -> MessageDetail:
    return _message_detail(session, _message(session, message_id))


@api.patch("/messages/{message_id}", response_model=MessageDetail,
           summary="Change a message's title, objective, themes or segments (a new version)")
def api_update(request: Request, session: SessionDep, message_id: int, body: MessageUpdate,
               user: Annotated[User, Allow("content.edit")]) -> MessageDetail:
    message = _message(session, message_id)
    try:
        svc.update_message(session=session, message=message, data=body, actor=user, ip=client_ip(request))
    except (svc.ContentError, svc.ContentForbidden) as err:
        _api_fail(err)
    session.commit()
    return _message_detail(session, message)


@api.delete("/messages/{message_id}", status_code=204, summary="Delete a draft that was never submitted")
def api_delete(request: Request, session: SessionDep, message_id: int,
               user: Annotated[User, Allow("content.edit")]) -> Response:
    message = _message(session, message_id)
    try:
        svc.delete_message(session=session, message=message, actor=user, ip=client_ip(request))
    except (svc.ContentError, svc.ContentForbidden) as err:
        _api_fail(err)
    session.commit()
    return Response(status_code=204)


@api.get("/messages/{message_id}/variants", response_model=list[VariantPublic], summary="The latest variants")
def api_variants(session: SessionDep, message_id: int, user: Annotated[User, Allow("content.view")]) -> list[VariantPublic]:
    message = _message(session, message_id)
    return [_variant_public(v) for v in svc.version_variants(session=session, version_id=message.current_version_id)]


class VariantSaved(BaseModel):
    version: int | None = Field(description="The new version, or null when nothing changed")
    variant: VariantPublic | None
    blocking: list[str] = Field(description="What stops this variant from being submitted (too many SMS segments...)")
    warnings: list[str]


@api.put("/messages/{message_id}/variants", response_model=VariantSaved,
         summary="Add or replace one variant (language x channel format x platform): a new version")
def api_save_variant(request: Request, session: SessionDep, message_id: int, body: VariantIn,
                     user: Annotated[User, Allow("content.edit")],
                     base_version: Annotated[int | None, Query(ge=1)] = None) -> VariantSaved:
    message = _message(session, message_id)
    try:
        version, analysis = svc.save_variant(session=session, message=message, data=body, actor=user,
                                             ip=client_ip(request), base_version=base_version)
    except (svc.ContentError, svc.ContentForbidden) as err:
        _api_fail(err)
    session.commit()
    views = svc.version_variants(session=session, version_id=message.current_version_id)
    draft = svc.normalise_variant(body)
    view = svc.find_variant(views, *draft.key)
    return VariantSaved(version=version.number if version else None, variant=_variant_public(view) if view else None,
                        blocking=analysis.blocking, warnings=analysis.warnings)


@api.delete("/messages/{message_id}/variants", response_model=VersionPublic, summary="Remove one variant: a new version")
def api_delete_variant(
    request: Request, session: SessionDep, message_id: int, user: Annotated[User, Allow("content.edit")],
    language: Annotated[str, Query(max_length=35)] = "", channel: Annotated[str, Query(max_length=10)] = "",
    platform: Annotated[str, Query(max_length=20)] = "", base_version: Annotated[int | None, Query(ge=1)] = None,
) -> VersionPublic:
    message = _message(session, message_id)
    try:
        version = svc.delete_variant(session=session, message=message, language=language, channel=channel,
                                     platform=platform, actor=user, ip=client_ip(request), base_version=base_version)
    except (svc.ContentError, svc.ContentForbidden) as err:
        _api_fail(err)
    session.commit()
    return _version_public(session, version)


@api.get("/messages/{message_id}/versions", response_model=list[VersionPublic], summary="Every version, newest first")
def api_versions(session: SessionDep, message_id: int, user: Annotated[User, Allow("content.view")]) -> list[VersionPublic]:
    message = _message(session, message_id)
    return [_version_public(session, v) for v in svc.list_versions(session=session, message=message)]


@api.get("/messages/{message_id}/versions/{number}", response_model=VersionPublic, summary="One version")
def api_version(session: SessionDep, message_id: int, number: int,
                user: Annotated[User, Allow("content.view")]) -> VersionPublic:
    message = _message(session, message_id)
    version = svc.get_version(session=session, message=message, number=number)
    if version is None:
        raise HTTPException(404, f"This message has no version {number}.")
    return _version_public(session, version)


class FieldChangeOut(BaseModel):
    field: str
    change: str
    old: Any = None
    new: Any = None
    html: str = ""


class VariantChangeOut(BaseModel):
    variant: str
    change: str
    fields: list[FieldChangeOut]


class VersionDiffOut(BaseModel):
    old: int | None
    new: int
    details: list[FieldChangeOut]
    variants: list[VariantChangeOut]


def _diff_out(diff: svc.VersionDiff) -> VersionDiffOut:
    def fields(views):
        return [FieldChangeOut(field=f.name, change=f.change, old=f.old, new=f.new, html=f.html) for f in views]

    return VersionDiffOut(old=diff.old_number, new=diff.new_number, details=fields(diff.details),
                          variants=[VariantChangeOut(variant=v.label, change=v.change, fields=fields(v.fields))
                                    for v in diff.variants])


@api.get("/messages/{message_id}/versions/{number}/diff", response_model=VersionDiffOut,
         summary="What changed in a version, against another (default: the one before)")
def api_version_diff(session: SessionDep, message_id: int, number: int, user: Annotated[User, Allow("content.view")],
                     against: Annotated[int | None, Query(ge=0)] = None) -> VersionDiffOut:
    message = _message(session, message_id)
    new = svc.get_version(session=session, message=message, number=number)
    against = number - 1 if against is None else against
    old = svc.get_version(session=session, message=message, number=against) if against >= 1 else None
    if new is None or (against >= 1 and old is None):
        raise HTTPException(404, "This message has no such version.")
    return _diff_out(svc.diff_versions(session=session, old=old, new=new))


@api.get("/messages/{message_id}/transitions", response_model=list[TransitionPublic],
         summary="The review steps of a message, newest first")
def api_transitions(session: SessionDep, message_id: int,
                    user: Annotated[User, Allow("content.view")]) -> list[TransitionPublic]:
    message = _message(session, message_id)
    return [_transition_public(t) for t in svc.list_transitions(session=session, message=message)]


def _api_step_route(action: str, slug: str, permission: str, label: str) -> None:
    @api.post(f"/messages/{{message_id}}/{slug}", response_model=MessageDetail, name=f"api_content_{action}",
              summary=f"{label} (the review flow)")
    def step(request: Request, session: SessionDep, message_id: int, user: User = Allow(permission),
             body: Annotated[TransitionIn | None, Body()] = None) -> MessageDetail:
        message = _message(session, message_id)
        body = body or TransitionIn()
        try:
            svc.transition(session=session, message=message, action=action, actor=user, comment=body.comment,
                           version=body.version, ip=client_ip(request), override_reason=body.override_reason)
        except (svc.ContentError, svc.ContentForbidden) as err:
            _api_fail(err)
        session.commit()
        return _message_detail(session, message)


for _action, _slug, _permission, _label in STEPS:
    _api_step_route(_action, _slug, _permission, _label)


class GapOut(BaseModel):
    segment: str
    label: str
    missing: list[tuple[str, str]]


@api.get("/messages/{message_id}/coverage", response_model=list[GapOut],
         summary="Languages and channel formats the message still lacks for its segments")
def api_coverage(session: SessionDep, message_id: int, user: Annotated[User, Allow("content.view")]) -> list[GapOut]:
    message = _message(session, message_id)
    return [GapOut(segment=g.segment, label=g.label, missing=g.missing)
            for g in svc.coverage(session=session, message=message)]


class PreviewIn(BaseModel):
    language: str = Field(max_length=35)
    channel: Channel | None = None
    platform: str = Field(default="", max_length=20)
    version: str = Field(default="current", pattern="^(current|approved)$")
    values: dict[str, str] = Field(default_factory=dict, max_length=50)


class PreviewOut(BaseModel):
    variant_id: int
    language: str
    channel: Channel
    platform: str
    subject: str
    text: str
    html: str


@api.post("/messages/{message_id}/preview", response_model=list[PreviewOut],
          summary="Render the variants of one language for a sample recipient")
def api_preview(session: SessionDep, message_id: int, body: PreviewIn,
                user: Annotated[User, Allow("content.view")]) -> list[PreviewOut]:
    message = _message(session, message_id)
    version_id = message.approved_version_id if body.version == "approved" else message.current_version_id
    variables = svc.variable_set(session=session)
    out = []
    for view in svc.version_variants(session=session, version_id=version_id):
        v = view.variant
        if v.language != body.language or (body.channel and v.channel != body.channel) or \
                (body.platform and v.platform != body.platform):
            continue
        try:
            rendered = svc.render_variant(v, body.values, variables=variables)
        except ValueError as exc:
            raise RequestValidationError([{"loc": ("body", "values"), "msg": str(exc), "type": "value_error"}]) from None
        out.append(PreviewOut(variant_id=v.id, language=v.language, channel=v.channel, platform=v.platform,
                              subject=rendered.subject, text=rendered.text, html=rendered.html))
    return out


@api.post("/messages/{message_id}/survey-items", response_model=SurveyItemLinkPublic, status_code=201,
          summary="Link the message to a KAP survey item it aims to move")
def api_link(request: Request, session: SessionDep, message_id: int, body: SurveyItemLinkIn,
             user: Annotated[User, Allow("content.edit")]) -> SurveyItemLinkPublic:
    message = _message(session, message_id)
    try:
        link = svc.link_survey_item(session=session, message=message, survey_id=body.survey_id,
                                    item_code=body.item_code, actor=user, ip=client_ip(request))
    except (svc.ContentError, svc.ContentForbidden) as err:
        _api_fail(err)
    session.commit()
    return SurveyItemLinkPublic(id=link.id, survey_id=link.survey_id, item_code=link.item_code)


@api.delete("/messages/{message_id}/survey-items/{link_id}", status_code=204, summary="Remove a survey item link")
def api_unlink(request: Request, session: SessionDep, message_id: int, link_id: int,
               user: Annotated[User, Allow("content.edit")]) -> Response:
    message = _message(session, message_id)
    try:
        svc.unlink_survey_item(session=session, message=message, link_id=link_id, actor=user, ip=client_ip(request))
    except (svc.ContentError, svc.ContentForbidden) as err:
        _api_fail(err)
    session.commit()
    return Response(status_code=204)


class ReviewItemOut(BaseModel):
    message: MessagePublic
    version: int
    approved_version: int | None
    compared_with: int | None = Field(description="The version the diff starts from: approved, else last sent back")
    submitted_by: str
    submitted_at: Any = None
    problems: list[str]
    diff: VersionDiffOut


@api.get("/review", response_model=list[ReviewItemOut], summary="Messages waiting for approval, with their changes")
def api_review(session: SessionDep, user: Annotated[User, Allow("content.approve")]) -> list[ReviewItemOut]:
    return [ReviewItemOut(message=_message_public(session, item.message), version=item.version.number,
                          approved_version=item.approved.number if item.approved else None,
                          compared_with=item.base.number if item.base else None,
                          submitted_by=item.submitted.actor_name if item.submitted else "",
                          submitted_at=item.submitted.at if item.submitted else None, problems=item.problems,
                          diff=_diff_out(item.diff)) for item in svc.review_queue(session=session)]


@api.get("/variables", response_model=list[VariablePublic], summary="Template variables and their values")
def api_variables(session: SessionDep, user: Annotated[User, Allow("content.view")]) -> list[VariablePublic]:
    return [VariablePublic(name=v.name, sample=v.sample, longest=v.longest, description=v.description,
                           standard=v.standard) for v in svc.list_variables(session=session)]


@api.put("/variables/{name}", response_model=VariablePublic, summary="Add or change a template variable")
def api_save_variable(request: Request, session: SessionDep, name: str, body: VariableIn,
                      user: Annotated[User, Allow("content.edit")]) -> VariablePublic:
    try:
        svc.save_variable(session=session, data=body.model_copy(update={"name": name}), actor=user,
                          ip=client_ip(request))
    except (svc.ContentError, svc.ContentForbidden) as err:
        _api_fail(err)
    session.commit()
    info = next(v for v in svc.list_variables(session=session) if v.name == name.strip())
    return VariablePublic(name=info.name, sample=info.sample, longest=info.longest, description=info.description,
                          standard=info.standard)


@api.delete("/variables/{name}", status_code=204, summary="Remove a variable (standard ones: reset their values)")
def api_delete_variable(request: Request, session: SessionDep, name: str,
                        user: Annotated[User, Allow("content.edit")]) -> Response:
    try:
        svc.delete_variable(session=session, name=name, actor=user, ip=client_ip(request))
    except (svc.ContentError, svc.ContentForbidden) as err:
        _api_fail(err)
    session.commit()
    return Response(status_code=204)


@api.post("/attachments", response_model=AttachmentPublic, status_code=201,
          summary="Upload a file for a channel format; reference its id in a variant's attachment_ids")
def api_upload(request: Request, session: SessionDep, user: Annotated[User, Allow("content.edit")],
               file: Annotated[UploadFile, File()],
               channel: Annotated[Channel, Query(description="The channel format the file is for")]) -> AttachmentPublic:
    data = file.file.read()
    try:
        attachment = svc.store_attachment(session=session, storage=_storage(request), filename=file.filename or "",
                                          content_type=file.content_type, data=data, channel=channel.value, actor=user,
                                          ip=client_ip(request), field_name="file")
    except (svc.ContentError, svc.ContentForbidden) as err:
        _api_fail(err)
    session.commit()
    return _attachment_public(attachment)


@api.get("/attachments/{attachment_id}", summary="Download an attachment")
def api_attachment(request: Request, session: SessionDep, attachment_id: int,
                   user: Annotated[User, Allow("content.view")]) -> Response:
    return _attachment_response(request, session, attachment_id, True)


class CounterIn(BaseModel):
    channel: Channel
    language: str = Field(default="ht", max_length=35)
    body: str = Field(default="", max_length=200_000)
    subject: str = Field(default="", max_length=400)
    platform: str = Field(default="", max_length=20)
    alt_text: str = Field(default="", max_length=2000)
    target_seconds: int | None = None


class SMSOut(BaseModel):
    encoding: str
    units: int
    segments: int
    per_segment: int
    remaining_in_segment: int
    non_gsm_chars: list[str]


class CounterOut(BaseModel):
    errors: dict[str, str]
    blocking: list[str]
    warnings: list[str]
    sms_typed: SMSOut | None = None
    sms_longest: SMSOut | None = None
    max_segments: int
    social_length: int | None = None
    social_limit: int | None = None
    words: int | None = None
    seconds: float | None = None
    variables_used: list[str]
    allowed_variables: list[str]


@api.post("/counter", response_model=CounterOut, summary="Count and check a text as the editor does")
def api_counter(session: SessionDep, body: CounterIn, user: Annotated[User, Allow("content.edit")]) -> CounterOut:
    try:
        language = rules.validate_language_tag(body.language)
        platform = svc.canonical_platform(body.platform) if body.channel == Channel.social and body.platform else ""
    except ValueError as exc:
        raise RequestValidationError([{"loc": ("body", "language" if "language" in str(exc).lower() else "platform"),
                                       "msg": str(exc), "type": "value_error"}]) from None
    a = _analysis_for(session, channel=body.channel.value, language=language, body=body.body, subject=body.subject,
                      platform=platform, alt_text=body.alt_text, target_seconds=body.target_seconds)

    def sms(info):
        return SMSOut(encoding=info.encoding, units=info.units, segments=info.segments, per_segment=info.per_segment,
                      remaining_in_segment=info.remaining_in_segment, non_gsm_chars=list(info.non_gsm_chars)) if info else None

    return CounterOut(errors=a.errors, blocking=a.blocking, warnings=a.warnings, sms_typed=sms(a.typed),
                      sms_longest=sms(a.longest), max_segments=a.max_segments,
                      social_length=a.social.length if a.social else None, social_limit=a.social.limit if a.social else None,
                      words=a.words, seconds=round(a.seconds, 1) if a.seconds is not None else None,
                      variables_used=list(a.variables_used), allowed_variables=list(a.allowed_variables))


@api.get("/export", summary="The whole library as JSON (messages, versions, variants, variables, files)")
def api_export(request: Request, session: SessionDep, user: Annotated[User, Allow("content.transfer")]) -> Response:
    return _export_response(request, session, user)


class ImportOut(BaseModel):
    dry_run: bool
    summary: str
    messages_created: list[str]
    messages_skipped: list[str]
    variables_created: list[str]
    variables_kept: list[str]
    files_stored: int
    notes: list[str]


@api.post("/import", response_model=ImportOut,
          summary="Import a library export; all or nothing, and what exists already is left as it is")
def api_import(request: Request, session: SessionDep, user: Annotated[User, Allow("content.transfer")],
               body: Annotated[Any, Body()] = None,
               dry_run: Annotated[bool, Query(description="Check and report without importing")] = False) -> ImportOut:
    try:
        report = import_library(session=session, storage=_storage(request), data=body, actor=user,
                                ip=client_ip(request), dry_run=dry_run)
    except ImportError_ as err:
        session.rollback()
        _api_fail(err)
    if dry_run:
        session.rollback()
    else:
        session.commit()
    return ImportOut(dry_run=report.dry_run, summary=report.summary, messages_created=report.messages_created,
                     messages_skipped=report.messages_skipped, variables_created=report.variables_created,
                     variables_kept=report.variables_kept, files_stored=report.files_stored, notes=report.notes)
