"""OpenRosa 1.0 for ODK Collect: the form list, XForms made by pyxform, Digest credentials, and
interviews sent as XForm instance documents.

A phone configured with ``https://<konbit>/odk`` as its server asks for ``/odk/formList``, downloads
each form's XForm, and sends finalized interviews to ``/odk/submission``
(:mod:`web.routes.openrosa`). Here is everything else, framework-free where it can be:

* **Forms.** One form per survey and open wave: formID ``konbit_<survey id>_<wave id>``, version
  the number of the survey's latest instrument version. The XForm is pyxform's conversion of the
  version's XLSForm export (:func:`surveys.service.version_xlsform`), with that formID and
  version on its primary instance, so a submission names its survey, wave and version.
* **Instances.** :func:`parse_instance` reads the instance XML (defusedxml: no entities, no
  external references) and flattens it to ``group/name`` paths (the repetitions of a repeat group
  become ``answers[repeat] = [{code: text, ...}, ...]``), which
  :func:`surveys.imports.row_from_json` maps onto item codes as it does for Kobo's REST Service
  (groups at any depth, ``meta/instanceID`` as the submission's uuid with ``uuid:`` removed,
  ``start``/``end`` as the interview's times, design fields by name).
* **Submission.** :func:`receive` calls :func:`surveys.service.submit` with source ``odk``: the
  same uuid idempotency, the same 409 (and conflict kept for a supervisor) on a resend with other
  content, the same quality flags and review queue as the web form. Like Kobo data, a broken
  constraint is flagged rather than refused (the phone enforced the form's own), and a wave closed
  after the interview was made still takes it (flagged late by its end date).
* **Attachments.** Each file is identified by its content (:func:`content.rules.sniff_file_type`),
  must be one of :data:`ATTACHMENT_TYPES` and at most :data:`MAX_ATTACHMENT_BYTES`, and is kept by
  checksum in the attachment storage (:mod:`content.storage`), once per content.
* **Digest.** RFC 7616 with MD5 and ``qop=auth``, as ODK Collect speaks it, against the per-user
  :class:`~surveys.openrosa_models.OpenRosaCredential` (the HA1, since Digest cannot use the
  Argon2 hash of the web password). Nonces are stateless: a timestamp and its HMAC under the
  secret key, valid :data:`NONCE_SECONDS`; an expired one is answered ``stale=true`` so the phone
  retries without asking for the password again.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from pydantic import ValidationError
from defusedxml.ElementTree import fromstring
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from content import rules as content_rules
from content.storage import AttachmentStorage, StorageError
from surveys import rules, service
from surveys.imports import repeat_paths, row_from_json
from surveys.models import InstrumentVersion, Submission, SubmissionIn, Survey, Wave
from surveys.openrosa_models import OpenRosaCredential, SubmissionAttachment
from web.accounts.models import LoginAttempt, User, utcnow
from web.accounts.service import check_password_strength, get_user_by_username, record_audit

__all__ = [
    "ATTACHMENT_TYPES",
    "MAX_ATTACHMENT_BYTES",
    "NONCE_SECONDS",
    "REALM",
    "Attachment",
    "Form",
    "Instance",
    "OpenRosaProblem",
    "Received",
    "challenge",
    "check_attachment",
    "check_nonce",
    "digest_response",
    "form_id",
    "form_list_xml",
    "get_attachment",
    "get_form",
    "ha1",
    "list_attachments",
    "list_forms",
    "make_nonce",
    "manifest_xml",
    "parse_authorization",
    "parse_instance",
    "receive",
    "remove_credential",
    "response_xml",
    "set_credential",
    "verify_basic",
    "verify_digest",
    "xform_hash",
    "xform_xml",
]

#: The Digest realm. HA1 values depend on it: changing it voids every ODK password.
REALM = "Konbit ODK"
#: How long a Digest nonce is good for.
NONCE_SECONDS = 15 * 60
#: Files accepted with an interview (keys of content.rules.FILE_TYPES): photos and recordings.
ATTACHMENT_TYPES = ("jpg", "png", "webp", "gif", "mp3", "ogg", "wav", "m4a")
#: Largest single attachment.
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
#: Failed Digest/Basic attempts per user name within the window before the account is refused.
MAX_FAILURES, FAILURE_WINDOW = 10, timedelta(minutes=15)

XFORMS_LIST_NS = "http://openrosa.org/xforms/xformsList"
MANIFEST_NS = "http://openrosa.org/xforms/xformsManifest"
RESPONSE_NS = "http://openrosa.org/http/response"

#: Deepest group nesting read from an instance (Konbit forms have one level of groups, plus meta).
MAX_DEPTH = 32
_FORM_ID = re.compile(r"konbit_([0-9]{1,9})_([0-9]{1,9})")
_ATTACHMENT_NAME = re.compile(r"[^/\\\x00-\x1f]{1,255}")


class OpenRosaProblem(ValueError):
    """A request the OpenRosa routes refuse; ``status_code`` and a ``message`` for the phone's screen."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.message = message
        self.status_code = status_code


# --- Digest (RFC 7616, MD5, qop=auth) --------------------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def ha1(username: str, password: str, realm: str = REALM) -> str:
    """``MD5(username:realm:password)``: what the credential stores."""
    return _md5(f"{username}:{realm}:{password}")


def digest_response(*, ha1_hex: str, nonce: str, nc: str, cnonce: str, qop: str, method: str, uri: str) -> str:
    """The ``response`` a client computes for ``qop=auth``."""
    return _md5(f"{ha1_hex}:{nonce}:{nc}:{cnonce}:{qop}:{_md5(f'{method}:{uri}')}")


def _nonce_mac(secret: str, stamp: str) -> str:
    return hmac.new(secret.encode(), f"openrosa-nonce:{stamp}".encode(), hashlib.sha256).hexdigest()[:32]


def make_nonce(secret: str, now: float | None = None) -> str:
    stamp = str(int(time.time() if now is None else now))
    return f"{stamp}.{_nonce_mac(secret, stamp)}"


def check_nonce(secret: str, nonce: str, now: float | None = None) -> str:
    """``"ok"``, ``"stale"`` (ours, expired) or ``"bad"`` (not made by this server)."""
    stamp, _, mac = nonce.partition(".")
    if not stamp.isdigit() or len(stamp) > 12 or not hmac.compare_digest(mac.encode(), _nonce_mac(secret, stamp).encode()):
        return "bad"
    age = (time.time() if now is None else now) - int(stamp)
    return "ok" if -60 <= age <= NONCE_SECONDS else "stale"


def _opaque(secret: str) -> str:
    return hmac.new(secret.encode(), b"openrosa-opaque", hashlib.sha256).hexdigest()[:32]


def challenge(secret: str, *, stale: bool = False, now: float | None = None) -> str:
    """A ``WWW-Authenticate: Digest`` header value."""
    value = (f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{make_nonce(secret, now)}", '
             f'opaque="{_opaque(secret)}"')
    return value + (", stale=true" if stale else "")


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s"]*)\s*(?:,|$)')


def parse_authorization(value: str) -> dict[str, str]:
    """The parameters of a ``Digest ...`` header (keys lower-cased; quotes and escapes removed)."""
    params: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        match = _PARAM.match(value, pos)
        if match is None or match.end() == pos:
            raise OpenRosaProblem("The Authorization header is malformed.", 401)
        raw = match.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[match.group(1).lower()] = raw
        pos = match.end()
    return params


@dataclass(frozen=True, slots=True)
class DigestOutcome:
    user: User | None
    stale: bool = False
    reason: str = ""


def _recent_failures(session: Session, username: str) -> int:
    since = utcnow() - FAILURE_WINDOW
    return session.exec(select(func.count()).select_from(LoginAttempt).where(
        func.lower(LoginAttempt.username) == username.lower(), LoginAttempt.success == False,  # noqa: E712
        LoginAttempt.channel == "odk", col(LoginAttempt.at) >= since)).one()


def _failed(session: Session, username: str, reason: str, ip: str) -> None:
    session.add(LoginAttempt(username=username[:64], success=False, reason=reason, ip=ip[:64], channel="odk"))
    session.commit()


def _checked_user(session: Session, username: str, ip: str) -> tuple[User, OpenRosaCredential]:
    if _recent_failures(session, username) >= MAX_FAILURES:
        raise OpenRosaProblem("Too many failed attempts for this user; wait 15 minutes and try again.", 429)
    user = get_user_by_username(session=session, username=username) if username else None
    credential = session.get(OpenRosaCredential, user.id) if user is not None else None
    if user is None or credential is None or not user.is_active:
        _failed(session, username, "unknown_user" if user is None else "no_credential" if credential is None
                else "inactive", ip)
        raise OpenRosaProblem("Unknown user name or wrong ODK password (an administrator sets it on the user's page).", 401)
    return user, credential


def verify_digest(*, session: Session, secret: str, header_params: Mapping[str, str], method: str, path: str,
                  ip: str = "") -> DigestOutcome:
    """Who a Digest ``Authorization`` proves to be, or why not (failures are recorded, commit included).

    ``path`` is the request's path with its query string; the header's ``uri`` must name it.
    """
    p = header_params
    username, nonce, uri, response = p.get("username", ""), p.get("nonce", ""), p.get("uri", ""), p.get("response", "")
    if not (username and nonce and uri and response):
        raise OpenRosaProblem("The Digest credentials are incomplete (username, nonce, uri and response are needed).", 401)
    if p.get("algorithm", "MD5").upper() != "MD5" or p.get("qop", "") != "auth" or not p.get("cnonce") or not p.get("nc"):
        raise OpenRosaProblem("Only Digest with algorithm MD5 and qop=auth is supported.", 401)
    if uri.split("?", 1)[0] != path.split("?", 1)[0]:
        raise OpenRosaProblem("The Digest uri does not match the request.", 401)
    state = check_nonce(secret, nonce)
    if state == "bad":
        return DigestOutcome(None, reason="bad_nonce")
    user, credential = _checked_user(session, username, ip)
    expected = digest_response(ha1_hex=credential.ha1, nonce=nonce, nc=p["nc"], cnonce=p["cnonce"], qop="auth",
                               method=method, uri=uri)
    if not hmac.compare_digest(expected.encode(), response.lower().encode()):
        _failed(session, username, "bad_password", ip)
        raise OpenRosaProblem("Unknown user name or wrong ODK password (an administrator sets it on the user's page).", 401)
    if state == "stale":  # right password, old nonce: the phone retries with a fresh one
        return DigestOutcome(None, stale=True, reason="stale")
    return DigestOutcome(user)


def verify_basic(*, session: Session, username: str, password: str, ip: str = "") -> User:
    """Basic credentials checked against the same HA1 (accepted over HTTPS only, by the route)."""
    user, credential = _checked_user(session, username, ip)
    if not hmac.compare_digest(ha1(user.username, password, credential.realm).encode(), credential.ha1.encode()):
        _failed(session, username, "bad_password", ip)
        raise OpenRosaProblem("Unknown user name or wrong ODK password.", 401)
    return user


def set_credential(*, session: Session, user: User, password: str, actor: User, ip: str = "") -> OpenRosaCredential:
    """Set ``user``'s ODK password (stored as its HA1); raises web.accounts.service.AccountError for a
    weak one. No commit."""
    check_password_strength(password, username=user.username)
    credential = session.get(OpenRosaCredential, user.id)
    if credential is None:
        credential = OpenRosaCredential(user_id=user.id, realm=REALM, ha1="")
    credential.realm, credential.ha1 = REALM, ha1(user.username, password)
    credential.created_at, credential.set_by_id = utcnow(), actor.id
    session.add(credential)
    session.flush()
    record_audit(session=session, actor=actor, action="user.odk_password", entity_type="user", entity_id=user.id,
                 summary=f"ODK Collect password of {user.username} {'set' if actor.id == user.id else 'reset'}", ip=ip)
    return credential


def remove_credential(*, session: Session, user: User, actor: User, ip: str = "") -> bool:
    credential = session.get(OpenRosaCredential, user.id)
    if credential is None:
        return False
    session.delete(credential)
    session.flush()
    record_audit(session=session, actor=actor, action="user.odk_password_remove", entity_type="user", entity_id=user.id,
                 summary=f"ODK Collect password of {user.username} removed", ip=ip)
    return True



# --- forms -----------------------------------------------------------------------------------


def form_id(survey_id: int, wave_id: int) -> str:
    return f"konbit_{survey_id}_{wave_id}"


@dataclass(frozen=True, slots=True)
class Form:
    survey: Survey
    wave: Wave
    version: InstrumentVersion

    @property
    def form_id(self) -> str:
        return form_id(self.survey.id, self.wave.id)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        return f"{self.survey.title} ({self.wave.name})"

    @property
    def version_string(self) -> str:
        return str(self.version.version)


def list_forms(*, session: Session) -> list[Form]:
    """Every open wave of every survey, with the survey's latest version: what a phone may fill in."""
    waves = session.exec(select(Wave).where(col(Wave.is_open).is_(True)).order_by(col(Wave.survey_id), col(Wave.id))).all()
    forms, surveys = [], {}
    for wave in waves:
        if wave.survey_id not in surveys:
            survey = session.get(Survey, wave.survey_id)
            surveys[wave.survey_id] = (survey, service.latest_version(session=session, survey=survey))
        survey, version = surveys[wave.survey_id]
        forms.append(Form(survey, wave, version))
    return forms


def get_form(*, session: Session, form_id_text: str, open_only: bool = True) -> Form:
    """The form a formID names, or OpenRosaProblem 404."""
    match = _FORM_ID.fullmatch(form_id_text or "")
    wave = session.get(Wave, int(match.group(2))) if match else None
    if wave is None or wave.survey_id != int(match.group(1)) or (open_only and not wave.is_open):  # type: ignore[union-attr]
        raise OpenRosaProblem(f"There is no form {form_id_text[:80]!r} on this server (or its wave is closed). "
                              "Get the blank forms again.", 404)
    survey = session.get(Survey, wave.survey_id)
    return Form(survey, wave, service.latest_version(session=session, survey=survey))  # type: ignore[arg-type]


_XFORMS: dict[tuple[int, str, str, str], str] = {}


def xform_xml(version: InstrumentVersion, *, form_id_text: str, title: str) -> str:
    """The version as an XForm (pyxform's conversion of its XLSForm) with this formID, its number as
    the form version, and ``title``. Cached: a version never changes."""
    # created_at too, as surveys.service keys its spec cache: an id alone may come back after a restore
    key = (version.id or 0, version.created_at.isoformat() if version.created_at else "", form_id_text, title)
    cached = _XFORMS.get(key)
    if cached is not None:
        return cached
    from pyxform.builder import create_survey_element_from_dict  # noqa: PLC0415
    from pyxform.xls2json import workbook_to_json  # noqa: PLC0415
    from pyxform.xls2json_backends import get_xlsform  # noqa: PLC0415

    workbook = get_xlsform(xlsform=io.BytesIO(service.version_xlsform(version)))
    data = workbook_to_json(workbook_dict=workbook, form_name="data", fallback_form_name=workbook.fallback_form_name,
                            warnings=[])
    data.update(id_string=form_id_text, version=str(version.version), title=title)
    xml = create_survey_element_from_dict(data).to_xml(pretty_print=False)
    if len(_XFORMS) > 128:
        _XFORMS.clear()
    _XFORMS[key] = xml
    return xml


def xform_hash(xml: str) -> str:
    return "md5:" + hashlib.md5(xml.encode("utf-8"), usedforsecurity=False).hexdigest()


def form_list_xml(forms: Iterable[tuple[Form, str]], base_url: str) -> str:
    """The OpenRosa 1.0 xformsList of ``(form, its XForm)`` pairs, with URLs under ``base_url``."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<xforms xmlns="{XFORMS_LIST_NS}">']
    for form, xml in forms:
        base = f"{base_url}/forms/{form.form_id}"
        parts.append(
            f"<xform><formID>{escape(form.form_id)}</formID><name>{escape(form.name)}</name>"
            f"<version>{escape(form.version_string)}</version><hash>{xform_hash(xml)}</hash>"
            f"<descriptionText>{escape(form.survey.description[:500])}</descriptionText>"
            f"<downloadUrl>{escape(base)}/form.xml</downloadUrl><manifestUrl>{escape(base)}/manifest</manifestUrl></xform>")
    parts.append("</xforms>")
    return "".join(parts)


def manifest_xml() -> str:
    """The form's media manifest: Konbit forms carry no media files, so it lists none."""
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<manifest xmlns="{MANIFEST_NS}"></manifest>'


def response_xml(message: str, nature: str = "") -> str:
    """An OpenRosaResponse: ODK Collect shows its message."""
    attr = f' nature="{escape(nature)}"' if nature else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<OpenRosaResponse xmlns="{RESPONSE_NS}">'
            f"<message{attr}>{escape(message)}</message></OpenRosaResponse>")


# --- instances -----------------------------------------------------------------------------------


_TEMPLATE = "{http://openrosa.org/javarosa}template"


@dataclass(frozen=True, slots=True)
class Instance:
    form_id: str
    version: str
    fields: dict[str, str]  # "group/sub/name" -> text, leaves only
    # elements with children that appear more than once: "group/repeat" -> one dict per repetition
    # ("sub/name" -> text, relative to the repetition); see :meth:`with_repeats`
    repeats: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    @property
    def instance_id(self) -> str:
        return self.fields.get("meta/instanceID", "").strip()

    def with_repeats(self, paths: Iterable[str]) -> Instance:
        """The instance with every repetition of the repeat groups at ``paths`` in ``repeats``.

        A repeat answered once looks like a group in the XML: its fields are moved out of
        ``fields`` here. An element repeated that is not one of ``paths`` is refused.
        """
        paths = tuple(paths)
        for path in self.repeats:
            if path not in paths:
                raise OpenRosaProblem(f"{path} appears more than once: it is not a repeat group of this form.")
        fields: dict[str, str] = {}
        repeats = {path: list(reps) for path, reps in self.repeats.items()}
        for key, text in self.fields.items():
            owner = next((p for p in paths if key.startswith(p + "/")), None)
            if owner is None:
                fields[key] = text
            else:
                repeats.setdefault(owner, [{}])[0][key[len(owner) + 1:]] = text
        return Instance(form_id=self.form_id, version=self.version, fields=fields, repeats=repeats)


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _flatten(element: Element, prefix: str, depth: int, fields: dict[str, str],
             repeats: dict[str, list[dict[str, str]]] | None) -> None:
    """Leaves of ``element`` into ``fields`` by path; groups repeated among siblings into ``repeats``
    (None: inside a repetition, where a repeated group is a nested repeat, refused)."""
    if depth > MAX_DEPTH:
        raise OpenRosaProblem(f"The submission nests groups more than {MAX_DEPTH} deep.")
    children = [c for c in element if _local(c.tag) and c.get(_TEMPLATE) is None]  # not comments, not templates
    seen: dict[str, int] = {}
    for child in children:
        if len(child):
            seen[_local(child.tag)] = seen.get(_local(child.tag), 0) + 1
    for child in children:
        name = _local(child.tag)
        path = f"{prefix}{name}"
        if len(child) and seen[name] > 1:
            if repeats is None:
                raise OpenRosaProblem(f"{path} is a repeat inside a repeat: Konbit cannot take those yet.")
            repetition: dict[str, str] = {}
            _flatten(child, "", depth + 1, repetition, None)
            repeats.setdefault(path, []).append(repetition)
        elif len(child):
            _flatten(child, path + "/", depth + 1, fields, repeats)
        elif path in fields:
            raise OpenRosaProblem(f"{path} appears more than once: it is not a repeat group of this form.")
        else:
            fields[path] = child.text or ""


def parse_instance(data: bytes) -> Instance:
    """An XForm instance document, flattened; OpenRosaProblem 400 when it is not one."""
    if not data or not data.strip():
        raise OpenRosaProblem("The xml_submission_file is empty.")
    try:
        root = fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise OpenRosaProblem("The submission XML uses a DTD or entities, which are not accepted.") from None
    except (ParseError, ValueError) as exc:
        raise OpenRosaProblem(f"The submission is not well-formed XML ({exc}).") from None
    fid = (root.get("id") or "").strip()
    if not fid:
        raise OpenRosaProblem("The submission's root element has no id attribute: it is not an XForm instance.")
    fields: dict[str, str] = {}
    repeats: dict[str, list[dict[str, str]]] = {}
    _flatten(root, "", 1, fields, repeats)
    version = (root.get("version") or "").strip()
    return Instance(form_id=fid, version=version, fields=fields, repeats=repeats)


# --- receiving --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class Received:
    submission: Submission
    created: bool
    attachments_added: int


def check_attachment(item: Attachment) -> str:
    """The FILE_TYPES key of an acceptable attachment, or OpenRosaProblem (400, 413) saying why."""
    name = item.filename
    if not _ATTACHMENT_NAME.fullmatch(name or "") or name in (".", ".."):
        raise OpenRosaProblem(f"The attachment name {name[:80]!r} is not a plain file name.")
    if len(item.data) > MAX_ATTACHMENT_BYTES:
        raise OpenRosaProblem(f"The attachment {name!r} is {len(item.data) / 1048576:.1f} MB; "
                              f"the largest accepted is {MAX_ATTACHMENT_BYTES // 1048576} MB.", 413)
    if not item.data:
        raise OpenRosaProblem(f"The attachment {name!r} is empty.")
    kind = content_rules.sniff_file_type(item.data[: content_rules.HEAD_BYTES_NEEDED])
    if kind not in ATTACHMENT_TYPES:
        labels = ", ".join(content_rules.FILE_TYPES[k].label for k in ATTACHMENT_TYPES)
        raise OpenRosaProblem(f"The attachment {name!r} is not an accepted file (by its content); accepted: {labels}.", 415)
    return kind


def _submission_in(session: Session, instance: Instance, form: Form, version_number: int | None) -> SubmissionIn:
    version = form.version
    if version_number is not None and version_number != version.version:
        version = service.get_version(session=session, survey=form.survey, version=version_number)
        if version is None:
            raise OpenRosaProblem(f"Form {form.form_id} has no version {version_number}; get the blank form again.", 404)
    spec = service.version_spec(version)
    paths = repeat_paths(spec)
    instance = instance.with_repeats(paths)
    row = row_from_json({**instance.fields, **instance.repeats}, spec=spec, wave=form.wave.name)
    if row.problems:
        raise service.SubmissionInvalid([rules.AnswerProblem(p.item or "", p.message) for p in row.problems])
    design = {k: v for k, v in row.design.items() if k != "enumerator_name"}
    try:
        return SubmissionIn.model_validate({"uuid": row.uuid, "answers": row.answers, "version": version.version, **design})
    except ValidationError as exc:  # a field beyond its limits
        raise service.SubmissionInvalid([rules.AnswerProblem(".".join(str(p) for p in e["loc"]), e["msg"])
                                         for e in exc.errors()]) from None


def receive(*, session: Session, xml: bytes, attachments: Sequence[Attachment], user: User,
            storage: AttachmentStorage, ip: str = "") -> Received:
    """Store one instance sent by ODK Collect (and its files); the caller commits.

    Raises OpenRosaProblem (malformed, unknown form, bad attachment), ``service.SubmissionInvalid``
    (422) and ``service.SubmissionConflictError`` (409: commit, the conflict is kept).
    A resend of the same instance (same answers) returns the stored submission and adds the files
    it did not have: ODK Collect splits a large submission over several requests.
    """
    instance = parse_instance(xml)
    form = get_form(session=session, form_id_text=instance.form_id, open_only=False)
    if not instance.instance_id:
        raise OpenRosaProblem("The submission has no meta/instanceID.")
    version_number = int(instance.version) if instance.version.isdigit() and len(instance.version) < 9 else None
    if instance.version and version_number is None:
        raise OpenRosaProblem(f"Form version {instance.version[:40]!r} is not one of Konbit's; get the blank form again.", 404)
    checked = [(item, check_attachment(item)) for item in attachments]
    names = [item.filename for item, _ in checked]
    if len(set(names)) != len(names):
        raise OpenRosaProblem("Two attachments have the same name.")
    data = _submission_in(session, instance, form, version_number)
    submission, created = service.submit(session=session, survey=form.survey, wave=form.wave, payload=data,
                                         enumerator=user, source="odk", ip=ip)
    if not created and checked and submission.enumerator_id != user.id:
        raise OpenRosaProblem("This interview was sent by another user; its files cannot be added.", 409)
    added = _store_attachments(session, submission, checked, storage)
    return Received(submission, created, added)


def _store_attachments(session: Session, submission: Submission, checked: list[tuple[Attachment, str]],
                       storage: AttachmentStorage) -> int:
    existing = {a.filename: a for a in session.exec(select(SubmissionAttachment).where(
        SubmissionAttachment.submission_id == submission.id))}
    added = 0
    for item, kind in checked:
        name = content_rules.checksum_name(item.data, ext=kind)
        before = existing.get(item.filename)
        if before is not None:
            if before.storage_name != name:
                raise OpenRosaProblem(f"The attachment {item.filename!r} was already received with other content.", 409)
            continue
        try:
            storage.put(name, item.data)
        except StorageError as exc:
            raise OpenRosaProblem(f"The attachment could not be stored ({exc}); send again later.", 503) from exc
        row = SubmissionAttachment(submission_id=submission.id, filename=item.filename, storage_name=name,
                                   file_type=kind, content_type=content_rules.FILE_TYPES[kind].mime_types[0],
                                   size=len(item.data))
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            # Another part of the same split submission stored this name meanwhile.
            stored = get_attachment(session=session, submission=submission, filename=item.filename)
            if stored is None or stored.storage_name != name:
                raise OpenRosaProblem(f"The attachment {item.filename!r} was already received with other content.",
                                      409) from None
            continue
        added += 1
    return added


def list_attachments(*, session: Session, submission: Submission) -> list[SubmissionAttachment]:
    return list(session.exec(select(SubmissionAttachment).where(SubmissionAttachment.submission_id == submission.id)
                             .order_by(col(SubmissionAttachment.filename))))


def get_attachment(*, session: Session, submission: Submission, filename: str) -> SubmissionAttachment | None:
    return session.exec(select(SubmissionAttachment).where(SubmissionAttachment.submission_id == submission.id,
                                                           SubmissionAttachment.filename == filename)).first()

