"""Export and import of the whole content library as one JSON document.

Programmes share message banks this way. The document holds every message with
all its versions, variants, review steps and survey item links (by survey title),
the template variables, the library settings, and the attachment files
themselves (base64), so that importing it into an empty database reproduces the
library.

Importing is all or nothing and idempotent:

1. the whole document is validated first (shape, language tags, channel formats,
   templates against the variables, attachment checksums and types); the first
   problems are reported with the path of the bad field
   (``messages[2].versions[0].variants[1].language``) and nothing is imported;
2. messages are matched by their ``uid``, variables by name, files by checksum:
   what is already there is left as it is and reported, so importing the same
   file twice creates nothing twice.

The caller commits (or rolls back) the session.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlmodel import Session, col, select

from audiences.service import segment_names
from content import rules
from content.models import (
    Attachment,
    Channel,
    ContentSetting,
    ContentVariable,
    ContentVariant,
    Message,
    MessageStatus,
    MessageSurveyItem,
    MessageTransition,
    MessageVersion,
    VariableIn,
    VariantAttachment,
)
from content.service import (
    SMS_MAX_SEGMENTS_KEY,
    STANDARD_VARIABLE_DEFAULTS,
    ContentError,
    VariantDraft,
    instrument_items,
    latest_instrument_spec,
    list_variables,
    normalise_segments,
    normalise_themes,
    normalise_variant,
    sms_max_segments,
    validate_variable,
    version_variants,
)
from content.storage import AttachmentStorage, StorageError
from web.accounts.models import User
from web.accounts.service import record_audit

__all__ = ["FORMAT", "FORMAT_VERSION", "ImportError_", "ImportReport", "export_library", "import_library"]

FORMAT = "konbit-content-library"
FORMAT_VERSION = 1
MAX_REPORTED = 20


class ImportError_(ContentError):  # noqa: N801 - ImportError is a builtin
    """The document cannot be imported; ``errors`` maps paths of bad fields to messages."""


# --- Export -------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def export_library(*, session: Session, storage: AttachmentStorage, include_files: bool = True) -> dict[str, Any]:
    """The whole library as a JSON-ready dict (see the module docstring)."""
    from surveys.models import Survey  # noqa: PLC0415

    used_files: dict[int, Attachment] = {}
    messages = []
    for message in session.exec(select(Message).order_by(col(Message.id))).all():
        versions = session.exec(select(MessageVersion).where(MessageVersion.message_id == message.id)
                                .order_by(col(MessageVersion.number))).all()
        number_of = {v.id: v.number for v in versions}
        version_docs = []
        for version in versions:
            variants = []
            for view in version_variants(session=session, version_id=version.id):
                v = view.variant
                for attachment in view.attachments:
                    used_files[attachment.id] = attachment
                variants.append({
                    "language": v.language, "channel": v.channel.value, "platform": v.platform, "subject": v.subject,
                    "body": v.body, "target_seconds": v.target_seconds, "alt_text": v.alt_text,
                    "attachments": [a.sha256 for a in view.attachments],
                })
            version_docs.append({
                "number": version.number, "title": version.title, "objective": version.objective,
                "themes": list(version.themes or []), "segments": list(version.segments or []), "note": version.note,
                "created_at": _iso(version.created_at), "created_by": version.created_by_name, "variants": variants,
            })
        transitions = session.exec(select(MessageTransition).where(MessageTransition.message_id == message.id)
                                   .order_by(col(MessageTransition.at), col(MessageTransition.id))).all()
        links = []
        for link in session.exec(select(MessageSurveyItem).where(MessageSurveyItem.message_id == message.id)
                                 .order_by(col(MessageSurveyItem.id))).all():
            survey = session.get(Survey, link.survey_id)
            links.append({"survey": survey.title if survey else "", "item_code": link.item_code})
        messages.append({
            "uid": message.uid,
            "status": message.status.value,
            "approved_version": number_of.get(message.approved_version_id) if message.approved_version_id else None,
            "created_at": _iso(message.created_at),
            "updated_at": _iso(message.updated_at),
            "survey_items": links,
            "versions": version_docs,
            "transitions": [{
                "action": t.action, "from_status": t.from_status, "to_status": t.to_status,
                "version": t.version_number, "comment": t.comment, "actor": t.actor_name, "at": _iso(t.at),
            } for t in transitions],
        })
    files = []
    for attachment in sorted(used_files.values(), key=lambda a: a.sha256):
        doc: dict[str, Any] = {"sha256": attachment.sha256, "file_type": attachment.file_type,
                               "filename": attachment.filename, "content_type": attachment.content_type,
                               "size": attachment.size}
        if include_files:
            path = storage.path(attachment.storage_name)
            doc["data_base64"] = base64.b64encode(path.read_bytes()).decode("ascii") if path.is_file() else None
        files.append(doc)
    variables = [{"name": v.name, "sample": v.sample, "longest": v.longest, "description": v.description}
                 for v in list_variables(session=session) if not v.standard or v.customised]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": _iso(datetime.now(timezone.utc)),
        "settings": {SMS_MAX_SEGMENTS_KEY: sms_max_segments(session=session)},
        "variables": variables,
        "attachments": files,
        "messages": messages,
    }


# --- The document's shape -----------------------------------------------------------------


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_controls(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL_RE.search(value):
        raise ValueError("contains control characters (such as NUL) that no text may hold")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=200_000)

    @field_validator("*", mode="before")
    @classmethod
    def _text_without_controls(cls, value: Any) -> Any:
        if isinstance(value, list):
            for item in value:
                _no_controls(item)
        return _no_controls(value)


class _VariableDoc(_Strict):
    name: str = Field(max_length=40)
    sample: str = Field(default="", max_length=200)
    longest: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=500)


class _AttachmentDoc(_Strict):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    file_type: str = Field(max_length=10)
    filename: str = Field(max_length=255)
    content_type: str = Field(default="", max_length=100)
    size: int = Field(ge=0)
    data_base64: str | None = Field(default=None, max_length=200_000_000)


class _VariantDoc(_Strict):
    language: str = Field(max_length=35)
    channel: Channel
    platform: str = Field(default="", max_length=20)
    subject: str = Field(default="", max_length=200)
    body: str
    target_seconds: int | None = None
    alt_text: str = Field(default="", max_length=1000)
    attachments: list[str] = Field(default_factory=list, max_length=20)


class _VersionDoc(_Strict):
    number: int = Field(ge=1)
    title: str = Field(min_length=1, max_length=200)
    objective: str = Field(default="", max_length=5000)
    themes: list[str] = Field(default_factory=list, max_length=20)
    segments: list[str] = Field(default_factory=list, max_length=20)
    note: str = Field(default="", max_length=500)
    created_at: datetime | None = None
    created_by: str = Field(default="", max_length=64)
    variants: list[_VariantDoc] = Field(default_factory=list, max_length=200)


class _TransitionDoc(_Strict):
    action: str = Field(max_length=20)
    from_status: MessageStatus
    to_status: MessageStatus
    version: int | None = None
    comment: str = Field(default="", max_length=2000)
    actor: str = Field(default="", max_length=64)
    at: datetime | None = None


class _LinkDoc(_Strict):
    survey: str = Field(max_length=200)
    item_code: str = Field(max_length=80)


class _MessageDoc(_Strict):
    uid: str = Field(min_length=1, max_length=36)
    status: MessageStatus
    approved_version: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    survey_items: list[_LinkDoc] = Field(default_factory=list)
    versions: list[_VersionDoc] = Field(min_length=1, max_length=10_000)
    transitions: list[_TransitionDoc] = Field(default_factory=list)


class _LibraryDoc(_Strict):
    format: Literal["konbit-content-library"]
    format_version: Literal[1]
    exported_at: datetime | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    variables: list[_VariableDoc] = Field(default_factory=list)
    attachments: list[_AttachmentDoc] = Field(default_factory=list)
    messages: list[_MessageDoc] = Field(default_factory=list)


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "document"


# --- Import -------------------------------------------------------------------------------


@dataclass
class ImportReport:
    messages_created: list[str] = field(default_factory=list)
    messages_skipped: list[str] = field(default_factory=list)
    variables_created: list[str] = field(default_factory=list)
    variables_kept: list[str] = field(default_factory=list)
    files_stored: int = 0
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def summary(self) -> str:
        verb = "Would import" if self.dry_run else "Imported"
        text = (f"{verb} {len(self.messages_created)} message(s); {len(self.messages_skipped)} already in the library. "
                f"{len(self.variables_created)} variable(s) added, {len(self.variables_kept)} kept as they were; "
                f"{self.files_stored} file(s) stored.")
        return text


class _Problems:
    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, path: str, message: str) -> None:
        if len(self.errors) < MAX_REPORTED:
            self.errors.setdefault(path, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ImportError_(self.errors)


def _decode_files(doc: _LibraryDoc, problems: _Problems, session: Session, channels_of: dict[str, set[str]]
                  ) -> dict[str, tuple[_AttachmentDoc, bytes | None]]:
    files: dict[str, tuple[_AttachmentDoc, bytes | None]] = {}
    for index, item in enumerate(doc.attachments):
        path = f"attachments[{index}]"
        if item.sha256 in files:
            problems.add(f"{path}.sha256", "This file is listed twice.")
            continue
        if item.file_type not in rules.FILE_TYPES:
            problems.add(f"{path}.file_type", f"Unknown file type '{item.file_type}'; known: {', '.join(rules.FILE_TYPES)}.")
            continue
        exists = session.exec(select(Attachment).where(Attachment.sha256 == item.sha256,
                                                       Attachment.file_type == item.file_type)).first()
        if item.data_base64 is None:
            if exists is None:
                problems.add(f"{path}.data_base64", "The file's content is missing (export it with its files).")
            files[item.sha256] = (item, None)
            continue
        try:
            data = base64.b64decode(item.data_base64, validate=True)
        except (binascii.Error, ValueError):
            problems.add(f"{path}.data_base64", "This is not valid base64.")
            continue
        if hashlib.sha256(data).hexdigest() != item.sha256:
            problems.add(f"{path}.sha256", "The checksum does not match the file's content.")
            continue
        if len(data) != item.size:
            problems.add(f"{path}.size", f"The file has {len(data)} bytes, not {item.size}.")
            continue
        kinds = channels_of.get(item.sha256) or {k for k, types in rules.ATTACHMENT_KINDS.items() if item.file_type in types}
        filename = item.filename if "." in item.filename else f"{item.filename}.{item.file_type}"
        for kind in sorted(kinds) or ["briefing"]:
            problem = rules.check_attachment(filename, item.content_type or None, len(data),
                                             data[: rules.HEAD_BYTES_NEEDED], channel_kind=kind)
            if problem:
                problems.add(f"{path}", problem)
                break
        files[item.sha256] = (item, data)
    return files


def _validate(session: Session, doc: _LibraryDoc) -> tuple[dict, dict[int, list[list[VariantDraft]]]]:
    problems = _Problems()
    known_segments = segment_names(session=session)
    names = {v.name for v in list_variables(session=session)}
    for index, var in enumerate(doc.variables):
        try:
            validate_variable(VariableIn(**var.model_dump()))  # the Variables page's checks, without writing
        except ContentError as err:
            for name, message in err.errors.items():
                problems.add(f"variables[{index}].{name}", message)
        names.add(var.name)
    value = doc.settings.get(SMS_MAX_SEGMENTS_KEY)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10):
        problems.add(f"settings.{SMS_MAX_SEGMENTS_KEY}", "Must be a whole number from 1 to 10.")
    allowed_names = sorted(names)
    declared = {a.sha256 for a in doc.attachments}
    channels_of: dict[str, set[str]] = {}
    drafts: dict[int, list[list[VariantDraft]]] = {}
    uids: set[str] = set()
    for m_index, message in enumerate(doc.messages):
        m_path = f"messages[{m_index}]"
        if message.uid in uids:
            problems.add(f"{m_path}.uid", f"The uid {message.uid} is used by two messages.")
        uids.add(message.uid)
        numbers = [v.number for v in message.versions]
        if numbers != list(range(1, len(numbers) + 1)):
            problems.add(f"{m_path}.versions", "Versions must be numbered 1, 2, 3... in order.")
        if message.approved_version is not None and message.approved_version not in numbers:
            problems.add(f"{m_path}.approved_version", f"There is no version {message.approved_version}.")
        if message.status == MessageStatus.approved and message.approved_version != (numbers[-1] if numbers else None):
            problems.add(f"{m_path}.status", "An approved message's latest version must be its approved version.")
        for t_index, step in enumerate(message.transitions):
            if step.version is not None and step.version not in numbers:
                problems.add(f"{m_path}.transitions[{t_index}].version", f"There is no version {step.version}.")
        message_drafts = []
        for v_index, version in enumerate(message.versions):
            v_path = f"{m_path}.versions[{v_index}]"
            for name, fn, values in (("themes", normalise_themes, version.themes),
                                     ("segments", lambda v: normalise_segments(v, known_segments), version.segments)):
                try:
                    fn(values)
                except ContentError as err:
                    problems.add(f"{v_path}.{name}", err.errors[name])
            seen: set[tuple[str, str, str]] = set()
            version_drafts = []
            for r_index, variant in enumerate(version.variants):
                r_path = f"{v_path}.variants[{r_index}]"
                try:
                    draft = normalise_variant({**variant.model_dump(exclude={"attachments"}), "attachment_ids": []})
                except ContentError as err:
                    for name, text in err.errors.items():
                        problems.add(f"{r_path}.{name}", text)
                    continue
                if draft.key in seen:
                    problems.add(r_path, f"{draft.label} appears twice in this version.")
                seen.add(draft.key)
                for name in ("subject", "body", "alt_text"):
                    text = getattr(draft, name)
                    found = rules.validate_template(text, allowed_names) if text else []
                    if found:
                        problems.add(f"{r_path}.{name}", " ".join(found))
                for a_index, sha in enumerate(variant.attachments):
                    if sha not in declared:
                        problems.add(f"{r_path}.attachments[{a_index}]", "This file is not in the document's attachments.")
                    channels_of.setdefault(sha, set()).add(draft.channel)
                version_drafts.append((draft, list(variant.attachments)))
            message_drafts.append(version_drafts)
        drafts[m_index] = message_drafts
    files = _decode_files(doc, problems, session, channels_of)
    for sha, kinds in channels_of.items():
        if sha in files:
            file_type = files[sha][0].file_type
            for kind in kinds:
                if file_type not in rules.ATTACHMENT_KINDS[kind]:
                    problems.add("attachments", f"The {rules.FILE_TYPES[file_type].label} {files[sha][0].filename} "
                                                f"is not accepted for {kind}.")
    problems.raise_if_any()
    return files, drafts


def import_library(*, session: Session, storage: AttachmentStorage, data: Any, actor: User | None, ip: str = "",
                   dry_run: bool = False) -> ImportReport:
    """Import a document made by :func:`export_library`; ImportError_ (nothing written) if it is malformed."""
    if not isinstance(data, dict):
        raise ImportError_({"document": "Expected a JSON object made by a Konbit library export."})
    try:
        doc = _LibraryDoc.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors()[:MAX_REPORTED]:
            errors.setdefault(_path(err["loc"]), err["msg"])
        raise ImportError_(errors) from None
    files, drafts = _validate(session, doc)
    known_segments = segment_names(session=session)
    report = ImportReport(dry_run=dry_run)
    existing_uids = set(session.exec(select(Message.uid).where(col(Message.uid).in_([m.uid for m in doc.messages]))).all()) \
        if doc.messages else set()
    if dry_run:
        for message in doc.messages:
            title = message.versions[-1].title
            (report.messages_skipped if message.uid in existing_uids else report.messages_created).append(title)
        return report

    # Settings and variables: only what the library lacks.
    value = doc.settings.get(SMS_MAX_SEGMENTS_KEY)
    if value is not None and session.get(ContentSetting, SMS_MAX_SEGMENTS_KEY) is None:
        session.add(ContentSetting(key=SMS_MAX_SEGMENTS_KEY, value=value))
    for var in doc.variables:
        present = session.exec(select(ContentVariable).where(ContentVariable.name == var.name)).first()
        if present is not None:
            report.variables_kept.append(var.name)
            continue
        defaults = STANDARD_VARIABLE_DEFAULTS.get(var.name)
        if defaults and (var.sample, var.longest, var.description) == defaults:
            continue
        clean = validate_variable(VariableIn(**var.model_dump()))
        session.add(ContentVariable(name=clean.name, sample=clean.sample, longest=clean.longest,
                                    description=clean.description))
        report.variables_created.append(var.name)

    # Files used by the messages to import.
    wanted = {sha for m_index, message in enumerate(doc.messages) if message.uid not in existing_uids
              for version in drafts[m_index] for _, shas in version for sha in shas}
    attachment_ids: dict[str, int] = {}
    for sha in sorted(wanted):
        item, content = files[sha]
        row = session.exec(select(Attachment).where(Attachment.sha256 == sha, Attachment.file_type == item.file_type)).first()
        name = f"{sha}.{item.file_type}"
        if content is not None and not storage.exists(name):
            try:
                storage.put(name, content)
            except StorageError as exc:
                raise ImportError_({"attachments": str(exc)}) from exc
            report.files_stored += 1
        if row is None:
            row = Attachment(storage_name=name, sha256=sha, filename=item.filename, file_type=item.file_type,
                             content_type=rules.FILE_TYPES[item.file_type].mime_types[0], size=item.size,
                             created_by_id=actor.id if actor else None)
            session.add(row)
            session.flush()
        attachment_ids[sha] = row.id

    users = {u.username: u for u in session.exec(select(User)).all()}
    from surveys.models import Survey  # noqa: PLC0415

    for m_index, message in enumerate(doc.messages):
        last = message.versions[-1]
        if message.uid in existing_uids:
            report.messages_skipped.append(last.title)
            continue
        row = Message(uid=message.uid, title=last.title, objective=last.objective,
                      themes=normalise_themes(last.themes), segments=normalise_segments(last.segments, known_segments),
                      status=message.status, created_by_id=None,
                      **({"created_at": message.created_at} if message.created_at else {}))
        first_author = users.get(message.versions[0].created_by)
        row.created_by_id = first_author.id if first_author else None
        session.add(row)
        session.flush()
        version_ids: dict[int, int] = {}
        for v_index, version in enumerate(message.versions):
            author = users.get(version.created_by)
            v_row = MessageVersion(message_id=row.id, number=version.number, title=" ".join(version.title.split()),
                                   objective=version.objective, themes=normalise_themes(version.themes),
                                   segments=normalise_segments(version.segments, known_segments), note=version.note,
                                   created_by_id=author.id if author else None,
                                   created_by_name=version.created_by,
                                   **({"created_at": version.created_at} if version.created_at else {}))
            session.add(v_row)
            session.flush()
            version_ids[version.number] = v_row.id
            for draft, shas in drafts[m_index][v_index]:
                variant = ContentVariant(version_id=v_row.id, language=draft.language, channel=Channel(draft.channel),
                                         platform=draft.platform, subject=draft.subject, body=draft.body,
                                         target_seconds=draft.target_seconds, alt_text=draft.alt_text)
                session.add(variant)
                session.flush()
                for position, sha in enumerate(dict.fromkeys(shas)):
                    session.add(VariantAttachment(variant_id=variant.id, attachment_id=attachment_ids[sha],
                                                  position=position))
        row.current_version_id = version_ids[message.versions[-1].number]
        row.approved_version_id = version_ids.get(message.approved_version) if message.approved_version else None
        if message.updated_at:
            row.updated_at = message.updated_at
        session.add(row)
        for step in message.transitions:
            actor_row = users.get(step.actor)
            session.add(MessageTransition(
                message_id=row.id, version_id=version_ids.get(step.version) if step.version else None,
                version_number=step.version, action=step.action, from_status=step.from_status.value,
                to_status=step.to_status.value, comment=step.comment, actor_id=actor_row.id if actor_row else None,
                actor_name=step.actor, **({"at": step.at} if step.at else {})))
        for link in message.survey_items:
            survey = session.exec(select(Survey).where(Survey.title == link.survey)).first()
            codes = {i.code for i in instrument_items(latest_instrument_spec(session, survey.id))} if survey else set()
            if survey is None or link.item_code not in codes:
                report.notes.append(f"'{last.title}': survey item {link.survey} / {link.item_code} not found here; "
                                    "link skipped.")
                continue
            session.add(MessageSurveyItem(message_id=row.id, survey_id=survey.id, item_code=link.item_code))
        report.messages_created.append(last.title)
    session.flush()
    record_audit(session=session, actor=actor, action="content.import", entity_type="content_library", entity_id="",
                 summary=report.summary, details={"created": report.messages_created[:50],
                                                  "skipped": report.messages_skipped[:50],
                                                  "variables": report.variables_created}, ip=ip)
    return report
