"""The OpenRosa server ODK Collect talks to, under ``/odk``; the files phones send, under the API.

ODK Collect's server URL is ``https://<konbit>/odk``; it then uses:

=======================================  ===============================================================
``GET /odk/formList``                    OpenRosa 1.0 xformsList: one form per survey and open wave
``GET /odk/forms/{form_id}/form.xml``    the XForm (pyxform, from the version's XLSForm)
``GET /odk/forms/{form_id}/manifest``    the media manifest (empty: Konbit forms carry no media)
``HEAD|GET /odk/submission``             the pre-flight: 204 with ``X-OpenRosa-Accept-Content-Length``
``POST /odk/submission``                 one instance (``xml_submission_file`` + attachments):
                                         201 stored, 202 already stored (a resend), 409 a resend with
                                         other answers (kept aside for a supervisor, as from the web)
=======================================  ===============================================================

Who is asking: HTTP Digest (RFC 7616, MD5, as ODK Collect sends it) against the user's ODK
password, which the user sets at ``PUT /api/v1/me/odk-password`` or an administrator at
``PUT /api/v1/users/{id}/odk-password``; Basic with the same password over HTTPS; or an API bearer
token (``POST /api/v1/token``). Every answer carries ``X-OpenRosa-Version: 1.0``, and errors are an
OpenRosaResponse whose message the phone shows.

CSRF: these are machine-to-machine routes. A Digest, Basic or bearer request carries its credential
in a header a browser never adds by itself, so a cross-site form cannot forge one; that is the rule
:func:`web.deps.Allow` already applies to bearer tokens (CSRF is checked for cookie sessions only).
A request with the browser cookie and no Authorization header goes through ``Allow`` unchanged, so
it still needs the CSRF token.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from content import rules as content_rules
from content.storage import storage_for
from surveys import openrosa, privacy, service
from surveys.openrosa_models import OpenRosaCredential, SubmissionAttachmentPublic
from web.accounts.models import User
from web.accounts.permissions import allowed
from web.accounts.service import AccountError

from ..deps import Allow, SessionDep, client_ip
from ..render import flash, redirect, render

__all__ = ["OpenRosaError", "openrosa_error", "routers"]

log = logging.getLogger("konbit.web")

odk = APIRouter(prefix="/odk", include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["odk"])
routers = [odk, api]

OPENROSA_VERSION = {"X-OpenRosa-Version": "1.0"}
XML = "text/xml; charset=utf-8"
#: The largest instance document read (its attachments are limited one by one).
MAX_XML_BYTES = 5 * 1024 * 1024


class OpenRosaError(StarletteHTTPException):
    """An error answered as an OpenRosaResponse (see :func:`openrosa_error`, registered in web.app)."""

    def __init__(self, status_code: int, message: str, *, challenge: str | None = None,
                 retry_after: int | None = None) -> None:
        headers = dict(OPENROSA_VERSION)
        if challenge:
            headers["WWW-Authenticate"] = challenge
        if retry_after:
            headers["Retry-After"] = str(retry_after)
        super().__init__(status_code=status_code, detail=message, headers=headers)


async def openrosa_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OpenRosaError)
    return Response(openrosa.response_xml(str(exc.detail), "error"), status_code=exc.status_code, media_type=XML,
                    headers=exc.headers)


def _xml(body: str, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status_code, media_type=XML, headers={**OPENROSA_VERSION, **(headers or {})})


def _challenge(request: Request, stale: bool = False) -> str:
    return openrosa.challenge(request.app.state.settings.secret_key, stale=stale)


def _problem(request: Request, problem: openrosa.OpenRosaProblem) -> OpenRosaError:
    status = problem.status_code
    return OpenRosaError(status, problem.message, challenge=_challenge(request) if status == 401 else None,
                         retry_after=15 * 60 if status == 429 else None)


def OpenRosaUser(permission: str) -> Any:  # noqa: N802 - reads as a declaration, like Allow
    """Like :func:`web.deps.Allow`, also taking Digest and Basic (HTTPS) credentials, answering in OpenRosa."""
    fallback = Allow(permission).dependency

    async def check(request: Request, session: SessionDep) -> User:
        settings = request.app.state.settings
        scheme, _, rest = request.headers.get("authorization", "").strip().partition(" ")
        scheme = scheme.lower()
        ip = client_ip(request)
        try:
            if scheme == "digest":
                path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                outcome = openrosa.verify_digest(session=session, secret=settings.secret_key,
                                                 header_params=openrosa.parse_authorization(rest),
                                                 method=request.method, path=path, ip=ip)
                if outcome.user is None:
                    message = ("The Digest nonce has expired; send again." if outcome.stale
                               else "The Digest nonce was not issued by this server.")
                    raise OpenRosaError(401, message, challenge=_challenge(request, stale=outcome.stale))
                user = outcome.user
            elif scheme == "basic":
                if request.url.scheme != "https" and not settings.https:
                    raise OpenRosaError(401, "Basic authentication is accepted over HTTPS only; use Digest.",
                                        challenge=_challenge(request))
                try:
                    username, sep, password = base64.b64decode(rest.strip(), validate=True).decode("utf-8").partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    sep = ""
                if not sep:
                    raise OpenRosaError(401, "The Basic credentials are malformed.", challenge=_challenge(request))
                user = openrosa.verify_basic(session=session, username=username, password=password, ip=ip)
            else:
                try:
                    return await fallback(request, session)
                except StarletteHTTPException as exc:
                    raise OpenRosaError(exc.status_code, str(exc.detail),
                                        challenge=_challenge(request) if exc.status_code == 401 else None) from None
        except openrosa.OpenRosaProblem as problem:
            raise _problem(request, problem) from None
        if not allowed(user.role, permission):
            raise OpenRosaError(403, "Your role does not allow this.")
        request.state.user = user
        return user

    check.permission = permission  # type: ignore[attr-defined]
    return Depends(check)


Collector = Annotated[User, OpenRosaUser("surveys.collect")]


def _base_url(request: Request) -> str:
    public = request.app.state.settings.public_url.rstrip("/")
    return (public or str(request.base_url).rstrip("/")) + "/odk"


def _xform(form: openrosa.Form) -> str:
    try:
        return openrosa.xform_xml(form.version, form_id_text=form.form_id, title=form.name)
    except Exception as exc:  # pyxform refusing a spec is the form's fault, not the phone's
        log.warning("form %s cannot be converted to an XForm: %s", form.form_id, exc)
        raise OpenRosaError(409, f"The form {form.form_id} cannot be converted to an XForm ({exc}); "
                                 "ask the survey designer to check it.") from None


# --- forms ---------------------------------------------------------------------------------------


@odk.get("/formList")
def form_list(request: Request, session: SessionDep, user: Collector, formID: str | None = None) -> Response:  # noqa: N803
    """Every open wave's form (formID filters to one; verbose and listAllVersions change nothing)."""
    pairs = []
    for form in openrosa.list_forms(session=session):
        if formID and form.form_id != formID:
            continue
        try:
            pairs.append((form, _xform(form)))
        except OpenRosaError:
            continue  # logged; the other forms are still listed
    return _xml(openrosa.form_list_xml(pairs, _base_url(request)))


def _form(session: Session, form_id: str) -> openrosa.Form:
    try:
        return openrosa.get_form(session=session, form_id_text=form_id)
    except openrosa.OpenRosaProblem as problem:
        raise OpenRosaError(problem.status_code, problem.message) from None


@odk.get("/forms/{form_id}/form.xml")
def form_download(session: SessionDep, form_id: str, user: Collector) -> Response:
    return _xml(_xform(_form(session, form_id)))


@odk.get("/forms/{form_id}/manifest")
def form_manifest(session: SessionDep, form_id: str, user: Collector) -> Response:
    _form(session, form_id)
    return _xml(openrosa.manifest_xml())


# --- submissions -----------------------------------------------------------------------------------


@odk.api_route("/submission", methods=["GET", "HEAD"], status_code=204)
def submission_preflight(request: Request, user: Collector) -> Response:
    """ODK Collect asks first (HEAD): how large a request may be; it splits larger ones."""
    limit = request.app.state.settings.max_body_bytes
    return Response(status_code=204, headers={**OPENROSA_VERSION, "X-OpenRosa-Accept-Content-Length": str(limit)})


async def _submission_parts(request: Request) -> tuple[bytes | None, list[openrosa.Attachment]]:
    """The instance document and the files of a multipart submission, each read within its limit."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise OpenRosaError(400, "Send the interview as multipart/form-data with an xml_submission_file part.")
    try:
        form = await request.form(max_files=100, max_fields=20)
    except StarletteHTTPException as exc:
        if exc.status_code == 413:
            raise OpenRosaError(413, str(exc.detail)) from None
        raise OpenRosaError(400, f"The multipart body cannot be read ({exc.detail}).") from None
    xml: bytes | None = None
    files: list[openrosa.Attachment] = []
    try:
        for key, value in form.multi_items():
            if key == "xml_submission_file":
                data = await value.read(MAX_XML_BYTES + 1) if isinstance(value, UploadFile) else value.encode()
                if len(data) > MAX_XML_BYTES:
                    raise OpenRosaError(413, f"The instance document is larger than {MAX_XML_BYTES // 1048576} MB.")
                xml = data
            elif isinstance(value, UploadFile):
                data = await value.read(openrosa.MAX_ATTACHMENT_BYTES + 1)
                files.append(openrosa.Attachment(value.filename or key, value.content_type, data))
            # other fields (ODK's "*isIncomplete*") need nothing: each part of a split submission
            # repeats the instance document
    finally:
        await form.close()
    return xml, files


@odk.post("/submission", status_code=201)
def submission(request: Request, session: SessionDep, user: Collector,
               parts: Annotated[tuple[bytes | None, list[openrosa.Attachment]], Depends(_submission_parts)]) -> Response:
    xml, files = parts
    if xml is None:
        raise OpenRosaError(400, "The request has no xml_submission_file part.")
    try:
        received = openrosa.receive(session=session, xml=xml, attachments=files, user=user,
                                    storage=storage_for(request.app.state.settings), ip=client_ip(request))
    except service.SubmissionConflictError as err:
        session.commit()  # keep the conflict for a supervisor
        raise OpenRosaError(409, err.message) from None
    except service.SurveyError as err:
        session.rollback()
        raise OpenRosaError(err.status_code, err.message) from None
    except openrosa.OpenRosaProblem as problem:
        session.rollback()
        raise OpenRosaError(problem.status_code, problem.message) from None
    session.commit()
    sub = received.submission
    if received.created:
        message = f"Received: interview {sub.uuid} is in the review queue."
    else:
        message = f"Interview {sub.uuid} was already received" + (
            f"; {received.attachments_added} file(s) added." if received.attachments_added else "; nothing changed.")
    return _xml(openrosa.response_xml(message, "submit_success"), 201 if received.created else 202,
                headers={"Location": f"/api/v1/submissions/{sub.id}"})


# --- attachments, for those who may see the interview's personal data -----------------------------------


def _visible_submission(session: Session, submission_id: int, user: User):
    sub = service.get_submission(session=session, submission_id=submission_id, viewer=user)
    if sub is None:
        raise HTTPException(404, f"There is no submission {submission_id}.")
    if not privacy.may_see_personal(user, enumerator_id=sub.enumerator_id, detail=True):
        raise HTTPException(403, "Your role does not allow seeing the files of this interview.")
    return sub


@api.get("/submissions/{submission_id}/attachments", response_model=list[SubmissionAttachmentPublic],
         summary="The files sent with an interview (ODK Collect)")
def api_attachments(session: SessionDep, submission_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                    user: Annotated[User, Allow("surveys.attachments")]) -> list[Any]:
    sub = _visible_submission(session, submission_id, user)
    return openrosa.list_attachments(session=session, submission=sub)


_FILE_CONTENT: dict[str, dict] = {content_rules.FILE_TYPES[k].mime_types[0]: {} for k in openrosa.ATTACHMENT_TYPES}


@api.get("/submissions/{submission_id}/attachments/{filename}", summary="One file sent with an interview",
         response_class=FileResponse, responses={200: {"description": "The file, as sent", "content": _FILE_CONTENT}})
def api_attachment(request: Request, session: SessionDep, submission_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                   filename: str, user: Annotated[User, Allow("surveys.attachments")]) -> Response:
    sub = _visible_submission(session, submission_id, user)
    row = openrosa.get_attachment(session=session, submission=sub, filename=filename)
    if row is None:
        raise HTTPException(404, f"Submission {submission_id} has no file {filename[:80]!r}.")
    path = storage_for(request.app.state.settings).path(row.storage_name)
    if not path.is_file():
        raise HTTPException(404, f"The file {row.filename} is missing from the storage; ask an administrator.")
    return FileResponse(path, media_type=row.content_type, filename=row.filename, content_disposition_type="attachment",
                        headers={"Cache-Control": "private, max-age=3600"})


# --- ODK passwords -------------------------------------------------------------------------------------


class OdkPassword(BaseModel):
    password: str = Field(max_length=256, description="At least 10 characters; typed into ODK Collect's server settings.")


def _set(request: Request, session: Session, user: User, body: OdkPassword, actor: User) -> Response:
    try:
        openrosa.set_credential(session=session, user=user, password=body.password, actor=actor, ip=client_ip(request))
    except AccountError as err:
        raise HTTPException(422, {"password": err.message}) from None
    session.commit()
    return Response(status_code=204)


@api.put("/me/odk-password", status_code=204, summary="Set my ODK Collect password (HTTP Digest)")
def api_set_own_odk_password(request: Request, session: SessionDep, body: OdkPassword,
                             user: Annotated[User, Allow("account.manage_own")]) -> Response:
    """Set it in ODK Collect under Settings > Project > Server, with your Konbit user name."""
    return _set(request, session, user, body, user)


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, f"There is no user {user_id}.")
    return user


@api.put("/users/{user_id}/odk-password", status_code=204, summary="Set a user's ODK Collect password")
def api_set_odk_password(request: Request, session: SessionDep, user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                         body: OdkPassword, admin: Annotated[User, Allow("users.manage")]) -> Response:
    return _set(request, session, _user(session, user_id), body, admin)


@api.delete("/users/{user_id}/odk-password", status_code=204, summary="Remove a user's ODK Collect password")
def api_remove_odk_password(request: Request, session: SessionDep, user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                            admin: Annotated[User, Allow("users.manage")]) -> Response:
    if not openrosa.remove_credential(session=session, user=_user(session, user_id), actor=admin, ip=client_ip(request)):
        raise HTTPException(404, f"User {user_id} has no ODK password.")
    session.commit()
    return Response(status_code=204)


# --- the same, as pages ------------------------------------------------------------------------------

pages = APIRouter(include_in_schema=False)
routers.append(pages)


def _password_page(request: Request, session: Session, target: User, action: str, errors: dict | None = None,
                   status_code: int = 200) -> Response:
    return render(request, "odk/password.html", {
        "target": target, "action": action, "errors": errors or {}, "server_url": _base_url(request),
        "credential": session.get(OpenRosaCredential, target.id)}, status_code=status_code)


def _save_page(request: Request, session: Session, target: User, actor: User, password: str, action: str) -> Response:
    try:
        openrosa.set_credential(session=session, user=target, password=password, actor=actor, ip=client_ip(request))
    except AccountError as err:
        session.rollback()
        return _password_page(request, session, target, action, {"password": err.message}, 400)
    session.commit()
    return flash(redirect(request, action), f"The ODK Collect password of {target.username} is set.", request)


@pages.get("/account/odk")
def own_password_page(request: Request, session: SessionDep, user: Annotated[User, Allow("account.manage_own")]) -> Response:
    return _password_page(request, session, user, "/account/odk")


@pages.post("/account/odk")
def own_password_save(request: Request, session: SessionDep, user: Annotated[User, Allow("account.manage_own")],
                      password: Annotated[str, Form(max_length=256)] = "") -> Response:
    return _save_page(request, session, user, user, password, "/account/odk")


@pages.get("/users/{user_id}/odk")
def user_password_page(request: Request, session: SessionDep, user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                       admin: Annotated[User, Allow("users.manage")]) -> Response:
    return _password_page(request, session, _user(session, user_id), f"/users/{user_id}/odk")


@pages.post("/users/{user_id}/odk")
def user_password_save(request: Request, session: SessionDep, user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                       admin: Annotated[User, Allow("users.manage")],
                       password: Annotated[str, Form(max_length=256)] = "") -> Response:
    return _save_page(request, session, _user(session, user_id), admin, password, f"/users/{user_id}/odk")


@pages.get("/submissions/{submission_id}/files")
def submission_files(request: Request, session: SessionDep, submission_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                     user: Annotated[User, Allow("surveys.attachments")]) -> Response:
    """The files of an interview, for its page (loaded by HTMX into the page's "Files" card)."""
    sub = _visible_submission(session, submission_id, user)
    return render(request, "odk/_files_partial.html", {"s": sub, "files": openrosa.list_attachments(session=session,
                                                                                                      submission=sub)},
                  block=None)
