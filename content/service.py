"""The content library: queries and commands.

Services take a ``Session`` and keyword-only arguments and never commit: the
route, command or loader that owns the unit of work commits (or rolls back, so
that nothing is half-stored).

Bad input raises :class:`ContentError`, whose ``errors`` map each culprit field
to a message meant to be shown as it is; a step the message's state does not
allow (or a save on a version someone else replaced meanwhile) raises
:class:`ContentConflict`; a role that may not take a step raises
:class:`ContentForbidden`.

The rules themselves (SMS encoding and segments, read times, platform limits,
the template sandbox, Markdown, diffs, attachment checks) are the pure
functions of :mod:`content.rules`; this module applies them to stored messages.

For the campaign package: :func:`approved_variant` gives the variant a campaign
may schedule, and :func:`assert_schedulable` refuses anything else.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from audiences.segments import segment_label
from audiences.service import list_segments, segment_names
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
    VariantIn,
    new_uid,
)
from content.storage import AttachmentStorage, StorageError
from web.accounts.models import Role, User, utcnow
from web.accounts.permissions import allowed
from web.accounts.service import record_audit

__all__ = [
    "ACTION_LABELS",
    "BODY_LIMITS",
    "DEFAULT_SMS_MAX_SEGMENTS",
    "MAX_THEMES",
    "MAX_THEME_LENGTH",
    "MAX_VARIANTS",
    "RADIO_TARGETS",
    "SEGMENT_NEEDS",
    "SMS_MAX_SEGMENTS_KEY",
    "STANDARD_VARIABLE_DEFAULTS",
    "TRANSITIONS",
    "Analysis",
    "ContentConflict",
    "ContentError",
    "ContentForbidden",
    "CoverageGap",
    "FieldView",
    "MessageRow",
    "Rendered",
    "ReviewItem",
    "SurveyItemChoice",
    "SurveyLinkView",
    "VariableInfo",
    "VariableSet",
    "VariantDiff",
    "VariantDraft",
    "VariantView",
    "VersionDiff",
    "all_themes",
    "analyse",
    "approved_variant",
    "assert_schedulable",
    "blocking_problems",
    "canonical_platform",
    "check_upload",
    "check_variant",
    "coverage",
    "create_message",
    "delete_message",
    "delete_variable",
    "delete_variant",
    "diff_versions",
    "find_variant",
    "get_message",
    "get_version",
    "instrument_items",
    "language_order",
    "latest_instrument_spec",
    "link_survey_item",
    "list_messages",
    "list_transitions",
    "list_variables",
    "list_versions",
    "max_upload_bytes",
    "normalise_segments",
    "normalise_themes",
    "normalise_variant",
    "render_variant",
    "review_queue",
    "save_variable",
    "save_variant",
    "set_sms_max_segments",
    "sms_max_segments",
    "store_attachment",
    "survey_item_choices",
    "survey_links",
    "transition",
    "unlink_survey_item",
    "update_message",
    "validate_variable",
    "variable_set",
    "variant_label",
    "version_variants",
]

#: Radio spot lengths offered, in seconds.
RADIO_TARGETS: tuple[int, ...] = (15, 30, 60)
#: Segments an SMS may take unless the library setting says otherwise.
DEFAULT_SMS_MAX_SEGMENTS = 3
SMS_MAX_SEGMENTS_KEY = "sms_max_segments"
#: Longest accepted text per channel format, in characters (template markup included).
BODY_LIMITS: Mapping[str, int] = {
    "sms": 1_600, "radio": 20_000, "social": 65_536, "email": 100_000, "briefing": 200_000,
}
MAX_THEMES = 12
MAX_THEME_LENGTH = 40
MAX_VARIANTS = 200

#: Standard variables: (sample shown in previews, longest expected value, what it is).
#: The hotline number is a placeholder: set the real one on the Variables page.
STANDARD_VARIABLE_DEFAULTS: Mapping[str, tuple[str, str, str]] = {
    # 188: the free line of the police's child protection brigade (BPM), open since 2012 (content/law.py, "bpm188").
    "hotline_number": ("188", "188", "The free number to report a suspected case."),
    "campaign_name": ("Konbit kont trafik moun", "Kanpay nasyonal kont trafik moun ak esplwatasyon timoun",
                      "The campaign's public name."),
    "first_name": ("Roseline", "Marie-Christelle", "The recipient's first name (SMS and e-mail)."),
    "organisation": ("OIM Ayiti", "Organisation internationale pour les migrations",
                     "The organisation that signs the message."),
}

#: What each audience segment needs: (languages, channel formats). The coverage check lists,
#: per message, what its segments need and the message lacks.
SEGMENT_NEEDS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "judges": (("fr", "ht"), ("briefing", "email")),
    "prosecutors": (("fr", "ht"), ("briefing", "email")),
    "lawyers": (("fr", "ht"), ("briefing", "email")),
    "police": (("ht", "fr"), ("briefing", "sms")),
    "border_officials": (("ht", "fr", "es"), ("briefing", "sms")),
    "social_workers": (("ht", "fr"), ("briefing", "sms")),
    "media": (("fr", "ht", "en"), ("email", "social")),
    "tourism": (("en", "fr", "es"), ("email", "social")),
    "vulnerable_groups": (("ht",), ("sms", "radio")),
    "general_public": (("ht", "fr"), ("sms", "radio", "social")),
}

#: The review flow: action -> (statuses it starts from, status it leads to, permission, label).
TRANSITIONS: Mapping[str, tuple[frozenset[MessageStatus], MessageStatus | None, str, str]] = {
    "submit": (frozenset({MessageStatus.draft}), MessageStatus.in_review, "content.edit", "Submitted for review"),
    "withdraw": (frozenset({MessageStatus.in_review}), MessageStatus.draft, "content.edit", "Withdrawn from review"),
    "approve": (frozenset({MessageStatus.in_review}), MessageStatus.approved, "content.approve", "Approved"),
    "send_back": (frozenset({MessageStatus.in_review}), MessageStatus.draft, "content.approve", "Sent back"),
    "retire": (frozenset({MessageStatus.draft, MessageStatus.in_review, MessageStatus.approved}), MessageStatus.retired,
               "content.approve", "Retired"),
    # Back to approved when the latest version is the approved one, else to draft.
    "restore": (frozenset({MessageStatus.retired}), None, "content.approve", "Restored"),
}
ACTION_LABELS = {name: spec[3] for name, spec in TRANSITIONS.items()} | {
    "revise": "New draft started", "auto_withdraw": "Withdrawn (changed in review)", "create": "Created",
}

# Names Jinja2 would not read as a variable.
_RESERVED_NAMES = frozenset({"true", "false", "none", "and", "or", "not", "in", "is", "if", "else", "elif", "endif",
                             "for", "endfor", "block", "raw", "loop", "self", "super", "caller", "varargs", "kwargs"})
_VARIABLE_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")


# --- Errors ------------------------------------------------------------------------------


class ContentError(ValueError):
    """Input that cannot be saved; ``errors`` maps each culprit field to a message."""

    status_code = 422

    def __init__(self, errors: Mapping[str, str] | str, *, field: str = "form"):
        self.errors: dict[str, str] = dict(errors) if isinstance(errors, Mapping) else {field: errors}
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return "; ".join(f"{name}: {text}" if name != "form" else text for name, text in self.errors.items())

    def prefixed(self, prefix: str) -> "ContentError":
        """The same errors with their field names under ``prefix`` (``variants[2].body``)."""
        return type(self)({f"{prefix}.{name}" if name != "form" else prefix: text for name, text in self.errors.items()})


class ContentConflict(ContentError):
    """The message's state does not allow this, or it changed since the page was loaded."""

    status_code = 409


class ContentForbidden(PermissionError):
    """The actor's role may not take this step."""


# --- Small helpers ------------------------------------------------------------------------


# Control characters no text needs (and PostgreSQL refuses NUL): all but tab and line ends.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", _CONTROL_RE.sub("", text))


def _clean_text(text: str | None) -> str:
    """NFC, no control characters, Windows line ends made plain, no trailing whitespace at the end."""
    return _nfc(text or "").replace("\r\n", "\n").replace("\r", "\n").rstrip()


def language_order(tag: str) -> tuple[int, str]:
    primary = tag.split("-")[0]
    first = rules.LANGUAGES_FIRST
    return (first.index(primary) if primary in first else len(first), tag)


def _variant_order(language: str, channel: str, platform: str) -> tuple:
    return (language_order(language), rules.CHANNEL_KINDS.index(channel) if channel in rules.CHANNEL_KINDS else 99, platform)


def variant_label(language: str, channel: str, platform: str = "") -> str:
    """``ht · SMS``, ``fr · Social post (facebook)``."""
    label = Channel(channel).label
    return f"{language} · {label}" + (f" ({platform})" if platform else "")


def canonical_platform(platform: str) -> str:
    """``twitter`` -> ``x``; ValueError naming the known platforms for anything else."""
    return rules.social_info("", platform).platform


def _split_filename(filename: str) -> tuple[str, str]:
    """(base name without any browser path, lower-case extension or "")."""
    base = re.split(r"[\\/]", filename or "")[-1].strip()
    if "." not in base.strip("."):
        return base, ""
    return base, base.rsplit(".", 1)[1].lower()


def _actor_name(actor: User | None) -> str:
    return actor.username if actor else "system"


def _require_permission(actor: User | None, permission: str) -> None:
    if actor is not None and not allowed(actor.role, permission):
        raise ContentForbidden("Your role does not allow this.")


# --- Settings and variables --------------------------------------------------------------


def sms_max_segments(*, session: Session) -> int:
    row = session.get(ContentSetting, SMS_MAX_SEGMENTS_KEY)
    if row is None or isinstance(row.value, bool) or not isinstance(row.value, int) or row.value < 1:
        return DEFAULT_SMS_MAX_SEGMENTS
    return row.value


def set_sms_max_segments(*, session: Session, value: int, actor: User | None, ip: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise ContentError({"sms_max_segments": "Choose a whole number of segments from 1 to 10."})
    old = sms_max_segments(session=session)
    row = session.get(ContentSetting, SMS_MAX_SEGMENTS_KEY)
    if row is None:
        session.add(ContentSetting(key=SMS_MAX_SEGMENTS_KEY, value=value))
    else:
        row.value = value
        session.add(row)
    if old != value:
        record_audit(session=session, actor=actor, action="content.settings", entity_type="content_setting",
                     entity_id=SMS_MAX_SEGMENTS_KEY, summary=f"SMS segment limit {old} -> {value}",
                     details={"old": old, "new": value}, ip=ip)


@dataclass(frozen=True, slots=True)
class VariableInfo:
    name: str
    sample: str
    longest: str
    description: str
    standard: bool
    customised: bool  # a standard variable whose values were changed


@dataclass(frozen=True, slots=True)
class VariableSet:
    """The variables templates may use, with their sample and longest values."""

    names: tuple[str, ...]
    samples: Mapping[str, str]
    longest: Mapping[str, str]

    @classmethod
    def standard(cls) -> "VariableSet":
        return cls(tuple(rules.STANDARD_VARIABLES),
                   {n: v[0] for n, v in STANDARD_VARIABLE_DEFAULTS.items()},
                   {n: v[1] for n, v in STANDARD_VARIABLE_DEFAULTS.items()})


def list_variables(*, session: Session) -> list[VariableInfo]:
    """Standard variables first (with any values set for them), then the campaign's own, by name."""
    rows = {row.name: row for row in session.exec(select(ContentVariable).order_by(col(ContentVariable.name))).all()}
    result = []
    for name in rules.STANDARD_VARIABLES:
        sample, longest, description = STANDARD_VARIABLE_DEFAULTS[name]
        row = rows.pop(name, None)
        if row is not None:
            result.append(VariableInfo(name, row.sample or sample, row.longest or row.sample or longest,
                                       row.description or description, True, True))
        else:
            result.append(VariableInfo(name, sample, longest, description, True, False))
    for row in rows.values():
        result.append(VariableInfo(row.name, row.sample, row.longest or row.sample, row.description, False, False))
    return result


def variable_set(*, session: Session) -> VariableSet:
    infos = list_variables(session=session)
    return VariableSet(tuple(v.name for v in infos), {v.name: v.sample for v in infos}, {v.name: v.longest for v in infos})


def _variables_in_use(session: Session, name: str) -> list[str]:
    """Titles of messages whose latest or approved version uses ``name``."""
    pattern = re.compile(r"\b" + re.escape(name) + r"\b")
    version_ids = {i for pair in session.exec(select(Message.current_version_id, Message.approved_version_id)).all()
                   for i in pair if i is not None}
    if not version_ids:
        return []
    rows = session.exec(
        select(Message.title, ContentVariant.body, ContentVariant.subject)
        .join(MessageVersion, col(MessageVersion.message_id) == col(Message.id))
        .join(ContentVariant, col(ContentVariant.version_id) == col(MessageVersion.id))
        .where(col(MessageVersion.id).in_(version_ids))
    ).all()
    titles: dict[str, None] = {}
    for title, body, subject in rows:
        if ("{" in body and pattern.search(body)) or ("{" in subject and pattern.search(subject)):
            titles.setdefault(title, None)
    return list(titles)


def validate_variable(data: VariableIn) -> VariableIn:
    """A variable's name and values checked and cleaned, or ContentError naming the field."""
    name = (data.name or "").strip()
    errors: dict[str, str] = {}
    if not _VARIABLE_NAME_RE.fullmatch(name):
        errors["name"] = ("Use 1 to 40 lower-case letters, digits and underscores, starting with a letter "
                          "(e.g. regional_office).")
    elif name in _RESERVED_NAMES:
        errors["name"] = f"'{name}' is a reserved word of the template language; choose another name."
    sample = _clean_text(data.sample)
    longest = _clean_text(data.longest) or sample
    if "\n" in sample or "\n" in longest:
        errors["sample"] = "Values must fit on one line."
    if "{" in sample + longest or "}" in sample + longest:
        errors["sample"] = "Values may not contain braces { }."
    if len(longest) < len(sample):
        errors["longest"] = "The longest value must be at least as long as the sample."
    if len(longest) > 200:
        errors["longest"] = "Keep values under 200 characters."
    if name not in rules.STANDARD_VARIABLES and not longest and "name" not in errors:
        errors["longest"] = "Give a sample or a longest value: SMS segments are counted with it."
    if errors:
        raise ContentError(errors)
    return VariableIn(name=name, sample=sample, longest=longest, description=_clean_text(data.description)[:500])


def save_variable(*, session: Session, data: VariableIn, actor: User | None, ip: str = "") -> ContentVariable:
    """Create or change a variable (for a standard one: its sample and longest values)."""
    _require_permission(actor, "content.edit")
    clean = validate_variable(data)
    name, sample, longest = clean.name, clean.sample, clean.longest
    row = session.exec(select(ContentVariable).where(ContentVariable.name == name)).first()
    created = row is None
    old = {} if row is None else {"sample": row.sample, "longest": row.longest, "description": row.description}
    if row is None:
        row = ContentVariable(name=name)
    row.sample, row.longest, row.description = sample, longest, clean.description
    row.updated_at = utcnow()
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # created by someone else meanwhile (the caller rolls back)
        raise ContentConflict({"name": f"The variable {name} was just created by someone else; reload the page."}) from None
    new = {"sample": row.sample, "longest": row.longest, "description": row.description}
    if created or old != new:
        record_audit(session=session, actor=actor, action="content.variable.create" if created else "content.variable.update",
                     entity_type="content_variable", entity_id=name,
                     summary=f"{'Added' if created else 'Changed'} template variable {name}",
                     details={"old": old, "new": new}, ip=ip)
    return row


def delete_variable(*, session: Session, name: str, actor: User | None, ip: str = "") -> None:
    """Remove a campaign variable (refused while a message uses it); for a standard one, reset its values."""
    _require_permission(actor, "content.edit")
    row = (session.exec(select(ContentVariable).where(ContentVariable.name == name)).first()
           if _VARIABLE_NAME_RE.fullmatch(name or "") else None)
    if row is None:
        raise ContentError({"name": f"There is no variable '{name}' to remove."})
    if name not in rules.STANDARD_VARIABLES:
        users = _variables_in_use(session, name)
        if users:
            shown = ", ".join(f"'{t}'" for t in users[:5]) + (" and others" if len(users) > 5 else "")
            raise ContentConflict({"name": f"'{name}' is used by {shown}; change those messages first."})
    session.delete(row)
    record_audit(session=session, actor=actor, action="content.variable.delete", entity_type="content_variable",
                 entity_id=name, summary=(f"Reset standard variable {name}" if name in rules.STANDARD_VARIABLES
                                          else f"Removed template variable {name}"), ip=ip)


# --- Variants: normalising, checking, rendering -------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantDraft:
    """A variant as it will be stored: clean, canonical, and with attachment ids."""

    language: str
    channel: str
    platform: str = ""
    subject: str = ""
    body: str = ""
    target_seconds: int | None = None
    alt_text: str = ""
    attachment_ids: tuple[int, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.language, self.channel, self.platform)

    @property
    def label(self) -> str:
        return variant_label(self.language, self.channel, self.platform)


def normalise_variant(data: VariantIn | Mapping[str, Any]) -> VariantDraft:
    """Check the shape of a variant and return it in canonical form, or raise ContentError."""
    if isinstance(data, Mapping):
        data = VariantIn.model_validate(data)
    errors: dict[str, str] = {}
    try:
        language = rules.validate_language_tag(data.language or "")
    except ValueError as exc:
        errors["language"] = str(exc)
        language = (data.language or "").strip()
    channel = Channel(data.channel).value
    platform = ""
    if channel == "social":
        try:
            platform = canonical_platform(data.platform or "") if (data.platform or "").strip() else ""
        except ValueError as exc:
            errors["platform"] = str(exc)
        if not platform and "platform" not in errors:
            errors["platform"] = "Choose the platform: " + ", ".join(rules.SOCIAL_PLATFORM_LIMITS) + "."
    target = None
    if channel == "radio":
        target = data.target_seconds
        if target not in RADIO_TARGETS:
            errors["target_seconds"] = "Choose the spot length: " + ", ".join(f"{t} s" for t in RADIO_TARGETS) + "."
    subject = _clean_text(data.subject) if channel == "email" else ""
    if channel == "email" and not subject.strip():
        errors["subject"] = "An e-mail needs a subject."
    elif len(subject) > 200:
        errors["subject"] = "Keep the subject under 200 characters."
    body = _clean_text(data.body)
    if not body.strip():
        errors["body"] = "Write the text of this variant."
    elif len(body) > BODY_LIMITS[channel]:
        errors["body"] = f"The text is {len(body)} characters long; at most {BODY_LIMITS[channel]} are accepted here."
    alt_text = _clean_text(data.alt_text) if channel == "social" else ""
    if errors:
        raise ContentError(errors)
    return VariantDraft(language, channel, platform, subject, body, target, alt_text,
                        tuple(dict.fromkeys(int(i) for i in data.attachment_ids)))


@dataclass
class Analysis:
    """What the editor shows about a variant: counts, and what is wrong with it.

    ``errors`` (per field) refuse the save; ``blocking`` refuse a submission for
    review (the text cannot be sent as it is); ``warnings`` are advice.
    """

    channel: str
    errors: dict[str, str] = field(default_factory=dict)
    blocking: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    typed: rules.SMSInfo | None = None  # SMS as typed, template markup included
    sample: rules.SMSInfo | None = None  # SMS with the sample values
    longest: rules.SMSInfo | None = None  # SMS with every variable at its longest value
    sample_text: str | None = None  # the text rendered with the sample values
    max_segments: int = DEFAULT_SMS_MAX_SEGMENTS
    social: rules.SocialInfo | None = None
    words: int | None = None
    seconds: float | None = None
    rate: float | None = None
    target_seconds: int | None = None
    variables_used: tuple[str, ...] = ()
    allowed_variables: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors and not self.blocking


def _template_errors(text: str, allowed_names: Sequence[str]) -> str | None:
    problems = rules.validate_template(text, allowed_names)
    return " ".join(problems) if problems else None


def analyse(
    *, channel: str, language: str, body: str, subject: str = "", platform: str = "", alt_text: str = "",
    target_seconds: int | None = None, variables: VariableSet, max_segments: int = DEFAULT_SMS_MAX_SEGMENTS,
) -> Analysis:
    """Count and check one variant's text (pure: no session)."""
    channel = Channel(channel).value
    body = _nfc(body or "")
    result = Analysis(channel=channel, max_segments=max_segments, target_seconds=target_seconds,
                      allowed_variables=variables.names)
    names = list(variables.names)
    for name, text in (("body", body), ("subject", subject), ("alt_text", alt_text)):
        if text:
            problem = _template_errors(_nfc(text), names)
            if problem:
                result.errors[name] = problem
    if channel == "sms":
        result.typed = rules.sms_info(body)
    if "body" in result.errors or not body.strip():
        return result
    try:
        result.variables_used = rules.template_variables(body)
    except ValueError:  # pragma: no cover - validated above
        pass
    longest_values = {n: variables.longest.get(n, "") for n in names}
    sample_values = {n: variables.samples.get(n, "") for n in names}
    try:
        result.sample_text = rules.render_template(body, sample_values, allowed=names)
        if channel == "sms":
            longest_text = rules.longest_rendering(body, longest_values, allowed=names)
        elif channel == "social" and platform:
            longest_text = rules.longest_rendering(body, longest_values, allowed=names,
                                                   key=lambda t: rules.social_info(t, platform).length)
        elif channel == "radio":
            longest_text = rules.longest_rendering(body, longest_values, allowed=names, key=rules.count_spoken_words)
        else:
            longest_text = result.sample_text
    except ValueError as exc:
        result.errors["body"] = str(exc)
        return result
    if channel == "sms":
        result.sample = rules.sms_info(result.sample_text)
        result.longest = rules.sms_info(longest_text)
        for problem in rules.check_sms(longest_text, max_segments=max_segments):
            (result.blocking if problem.startswith(("The SMS needs", "The SMS is empty")) else result.warnings).append(problem)
        if result.longest.segments > result.sample.segments and not result.blocking:
            result.warnings.append(
                f"With the longest expected values of its variables this SMS takes {result.longest.segments} "
                f"segments instead of {result.sample.segments}.")
    elif channel == "social" and platform:
        result.social = rules.social_info(longest_text, platform)
        result.blocking.extend(rules.check_social(longest_text, platform))
    elif channel == "radio":
        result.words = rules.count_spoken_words(longest_text)
        try:
            result.rate = rules.speaking_rate(language)
            result.seconds = result.words * 60.0 / result.rate
            if target_seconds in RADIO_TARGETS:
                result.warnings.extend(rules.check_radio_length(longest_text, language, target_seconds))
        except ValueError:
            result.warnings.append(f"No speaking rate is known for '{language}': the read time cannot be estimated.")
    elif channel in ("email", "briefing"):
        result.words = rules.count_spoken_words(body)
    return result


def check_variant(draft: VariantDraft, *, variables: VariableSet, max_segments: int,
                  attachments: Sequence[Attachment] = ()) -> Analysis:
    """Everything wrong with a normalised variant, attachments included."""
    result = analyse(channel=draft.channel, language=draft.language, body=draft.body, subject=draft.subject,
                     platform=draft.platform, alt_text=draft.alt_text, target_seconds=draft.target_seconds,
                     variables=variables, max_segments=max_segments)
    accepted = rules.ATTACHMENT_KINDS[draft.channel]
    wrong = [a.filename for a in attachments if a.file_type not in accepted]
    if wrong:
        result.errors["attachments"] = (
            f"{', '.join(wrong)}: not accepted for {Channel(draft.channel).label} "
            f"(accepted: {', '.join(rules.FILE_TYPES[k].label for k in accepted) or 'no attachments'}).")
    elif draft.channel in ("radio", "social") and len(attachments) > 1:
        what = "one audio file" if draft.channel == "radio" else "one image"
        result.errors["attachments"] = f"A {Channel(draft.channel).label.lower()} carries at most {what}."
    if draft.channel == "social" and attachments and not draft.alt_text.strip():
        result.errors["alt_text"] = "Describe the image for people who cannot see it (alt text)."
    if draft.channel == "social" and len(draft.alt_text) > 1000:
        result.errors["alt_text"] = "Keep the alt text under 1000 characters."
    return result


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str  # briefing: sanitised HTML of the Markdown; others: empty


def render_variant(variant: ContentVariant | VariantDraft, values: Mapping[str, str], *,
                   variables: VariableSet | None = None) -> Rendered:
    """Render a variant's templates with ``values`` (missing ones take their samples); ValueError if refused."""
    variables = variables or VariableSet.standard()
    filled = {n: variables.samples.get(n, "") for n in variables.names}
    filled.update({k: v for k, v in values.items() if isinstance(v, str)})
    allowed_names = list(dict.fromkeys([*variables.names, *filled]))
    channel = variant.channel.value if isinstance(variant.channel, Channel) else variant.channel
    text = rules.render_template(variant.body, filled, allowed=allowed_names)
    subject = rules.render_template(variant.subject, filled, allowed=allowed_names) if variant.subject else ""
    html = rules.markdown_to_html(text) if channel == "briefing" else ""
    return Rendered(subject, text, html)


# --- Reading messages and versions ------------------------------------------------------


def get_message(*, session: Session, message_id: int) -> Message | None:
    return session.get(Message, message_id)


def get_version(*, session: Session, message: Message, number: int) -> MessageVersion | None:
    return session.exec(select(MessageVersion).where(MessageVersion.message_id == message.id,
                                                     MessageVersion.number == number)).first()


def list_versions(*, session: Session, message: Message) -> list[MessageVersion]:
    return list(session.exec(select(MessageVersion).where(MessageVersion.message_id == message.id)
                             .order_by(col(MessageVersion.number).desc())).all())


def list_transitions(*, session: Session, message: Message) -> list[MessageTransition]:
    return list(session.exec(select(MessageTransition).where(MessageTransition.message_id == message.id)
                             .order_by(col(MessageTransition.at).desc(), col(MessageTransition.id).desc())).all())


@dataclass
class VariantView:
    variant: ContentVariant
    attachments: list[Attachment]

    @property
    def label(self) -> str:
        return variant_label(self.variant.language, self.variant.channel.value, self.variant.platform)

    @property
    def draft(self) -> VariantDraft:
        v = self.variant
        return VariantDraft(v.language, v.channel.value, v.platform, v.subject, v.body, v.target_seconds, v.alt_text,
                            tuple(a.id for a in self.attachments if a.id is not None))


def version_variants(*, session: Session, version_id: int | None) -> list[VariantView]:
    """The variants of a version with their attachments, languages ht, fr, en, es first."""
    if version_id is None:
        return []
    variants = list(session.exec(select(ContentVariant).where(ContentVariant.version_id == version_id)).all())
    if not variants:
        return []
    links = session.exec(
        select(VariantAttachment, Attachment)
        .join(Attachment, col(Attachment.id) == col(VariantAttachment.attachment_id))
        .where(col(VariantAttachment.variant_id).in_([v.id for v in variants]))
        .order_by(col(VariantAttachment.position))
    ).all()
    by_variant: dict[int, list[Attachment]] = {}
    for link, attachment in links:
        by_variant.setdefault(link.variant_id, []).append(attachment)
    views = [VariantView(v, by_variant.get(v.id or 0, [])) for v in variants]
    views.sort(key=lambda view: _variant_order(view.variant.language, view.variant.channel.value, view.variant.platform))
    return views


def find_variant(views: Iterable[VariantView], language: str, channel: str, platform: str = "") -> VariantView | None:
    for view in views:
        v = view.variant
        if v.language == language and v.channel.value == channel and v.platform == platform:
            return view
    return None


@dataclass
class MessageRow:
    message: Message
    languages: list[str]
    channels: list[str]
    variant_count: int


def list_messages(
    *, session: Session, q: str = "", theme: str = "", language: str = "", channel: str = "", status: str = "",
    segment: str = "",
) -> list[MessageRow]:
    """Messages matching the filters, most recently changed first.

    ``q`` searches titles, objectives and the latest variants' texts; ``language`` matches a
    primary tag too (``fr`` finds ``fr-HT``); ``theme`` and ``segment`` match exactly.
    """
    query = select(Message)
    conditions = []
    q, language, theme = _nfc(q), _nfc(language), _nfc(theme)
    if status in MessageStatus.__members__:
        conditions.append(col(Message.status) == MessageStatus(status))
    current = col(ContentVariant.version_id) == col(Message.current_version_id)
    q = q.strip()
    if q:
        like = f"%{q.lower()}%"
        conditions.append(or_(
            func.lower(col(Message.title)).like(like),
            func.lower(col(Message.objective)).like(like),
            exists().where(current, or_(func.lower(col(ContentVariant.body)).like(like),
                                        func.lower(col(ContentVariant.subject)).like(like))),
        ))
    if language.strip():
        tag = language.strip()
        try:
            tag = rules.validate_language_tag(tag)
        except ValueError:
            pass
        conditions.append(exists().where(current, or_(col(ContentVariant.language) == tag,
                                                      col(ContentVariant.language).like(f"{tag}-%"))))
    if channel in Channel.__members__:
        conditions.append(exists().where(current, col(ContentVariant.channel) == Channel(channel)))
    messages = list(session.exec(query.where(and_(*conditions)) if conditions else query).all())
    theme = theme.strip().lower()
    if theme:
        messages = [m for m in messages if theme in (m.themes or [])]
    if segment:
        messages = [m for m in messages if segment in (m.segments or [])]
    messages.sort(key=lambda m: (m.updated_at, m.id or 0), reverse=True)
    version_ids = [m.current_version_id for m in messages if m.current_version_id is not None]
    pairs: dict[int, list[tuple[str, str]]] = {}
    if version_ids:
        for version_id, lang, chan in session.exec(
            select(ContentVariant.version_id, ContentVariant.language, ContentVariant.channel)
            .where(col(ContentVariant.version_id).in_(version_ids))
        ).all():
            pairs.setdefault(version_id, []).append((lang, chan.value if isinstance(chan, Channel) else chan))
    rows = []
    for m in messages:
        found = pairs.get(m.current_version_id or 0, [])
        langs = sorted({lang for lang, _ in found}, key=language_order)
        chans = [c for c in rules.CHANNEL_KINDS if any(ch == c for _, ch in found)]
        rows.append(MessageRow(m, langs, chans, len(found)))
    return rows


def all_themes(*, session: Session) -> list[str]:
    themes: set[str] = set()
    for value in session.exec(select(Message.themes)).all():
        themes.update(value or [])
    return sorted(themes)


# --- Writing messages ---------------------------------------------------------------------


def _clean_title(title: str | None) -> str:
    return " ".join(_nfc(title or "").split())


def normalise_themes(values: Iterable[str]) -> list[str]:
    """Themes as tags: lower case, single spaces, no duplicates; commas split too."""
    themes: dict[str, None] = {}
    for value in values:
        for part in _nfc(str(value)).split(","):
            tag = " ".join(part.split()).lower()
            if tag:
                if len(tag) > MAX_THEME_LENGTH:
                    raise ContentError({"themes": f"The theme '{tag[:30]}…' is longer than {MAX_THEME_LENGTH} characters."})
                themes.setdefault(tag, None)
    if len(themes) > MAX_THEMES:
        raise ContentError({"themes": f"Give at most {MAX_THEMES} themes."})
    return list(themes)


def normalise_segments(values: Iterable[str], known: Mapping[str, str]) -> list[str]:
    """The segment codes in ``values``, deduplicated, in the order of ``known`` (code -> name)."""
    segments: dict[str, None] = {}
    unknown = []
    for value in values:
        code = str(value).strip()
        if not code:
            continue
        if code not in known:
            unknown.append(code)
        segments.setdefault(code, None)
    if unknown:
        raise ContentError({"segments": f"Unknown audience segment(s): {', '.join(unknown)}; known: "
                                        f"{', '.join(known)}."})
    return [s for s in known if s in segments]


def _details(title: str | None, objective: str | None, themes: Iterable[str], segments: Iterable[str],
             known: Mapping[str, str]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    clean_title = _clean_title(title)
    if not clean_title:
        errors["title"] = "Give the message a title."
    elif len(clean_title) > 200:
        errors["title"] = "Keep the title under 200 characters."
    clean_objective = _clean_text(objective)
    if len(clean_objective) > 5000:
        errors["objective"] = "Keep the objective under 5000 characters."
    result: dict[str, Any] = {"title": clean_title, "objective": clean_objective}
    for name, fn, values in (("themes", normalise_themes, themes),
                             ("segments", lambda v: normalise_segments(v, known), segments)):
        try:
            result[name] = fn(values)
        except ContentError as err:
            errors.update(err.errors)
    if errors:
        raise ContentError(errors)
    return result


def _attachments_by_id(session: Session, ids: Iterable[int]) -> dict[int, Attachment]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    return {a.id: a for a in session.exec(select(Attachment).where(col(Attachment.id).in_(ids))).all() if a.id is not None}


def _checked_draft(session: Session, data: VariantIn | VariantDraft, variables: VariableSet, max_segments: int,
                   known: dict[int, Attachment] | None = None) -> tuple[VariantDraft, Analysis]:
    draft = data if isinstance(data, VariantDraft) else normalise_variant(data)
    attachments = known if known is not None else _attachments_by_id(session, draft.attachment_ids)
    missing = [str(i) for i in draft.attachment_ids if i not in attachments]
    if missing:
        raise ContentError({"attachment_ids": f"No attachment with id {', '.join(missing)}: upload the file first."})
    analysis = check_variant(draft, variables=variables, max_segments=max_segments,
                             attachments=[attachments[i] for i in draft.attachment_ids])
    if analysis.errors:
        raise ContentError(analysis.errors)
    return draft, analysis


def _write_version(
    session: Session, message: Message, *, actor: User | None, note: str, details: Mapping[str, Any],
    drafts: Sequence[VariantDraft], created_at=None,
) -> MessageVersion:
    """Add the next version of ``message`` with these details and variants, and point the message at it."""
    current = session.get(MessageVersion, message.current_version_id) if message.current_version_id else None
    number = (current.number if current else 0) + 1
    version = MessageVersion(
        message_id=message.id, number=number, title=details["title"], objective=details["objective"],
        themes=list(details["themes"]), segments=list(details["segments"]), note=note[:500],
        created_by_id=actor.id if actor else None, created_by_name=_actor_name(actor),
        **({"created_at": created_at} if created_at else {}),
    )
    session.add(version)
    try:
        session.flush()
    except IntegrityError:  # another save took this number first (the caller rolls back)
        raise ContentConflict("Someone saved this message at the same moment; reload the page and try again.") from None
    for draft in sorted(drafts, key=lambda d: _variant_order(*d.key)):
        variant = ContentVariant(version_id=version.id, language=draft.language, channel=Channel(draft.channel),
                                 platform=draft.platform, subject=draft.subject, body=draft.body,
                                 target_seconds=draft.target_seconds, alt_text=draft.alt_text)
        session.add(variant)
        session.flush()
        for position, attachment_id in enumerate(draft.attachment_ids):
            session.add(VariantAttachment(variant_id=variant.id, attachment_id=attachment_id, position=position))
    message.current_version_id = version.id
    message.title, message.objective = version.title, version.objective
    message.themes, message.segments = list(version.themes), list(version.segments)
    message.updated_at = utcnow()
    session.add(message)
    session.flush()
    return version


def _record_transition(session: Session, message: Message, *, action: str, old: MessageStatus, new: MessageStatus,
                       actor: User | None, comment: str = "", ip: str = "", version: MessageVersion | None = None,
                       audit: bool = True) -> MessageTransition:
    version = version or (session.get(MessageVersion, message.current_version_id) if message.current_version_id else None)
    row = MessageTransition(message_id=message.id, version_id=version.id if version else None,
                            version_number=version.number if version else None, action=action,
                            from_status=old.value, to_status=new.value, comment=comment,
                            actor_id=actor.id if actor else None, actor_name=_actor_name(actor))
    session.add(row)
    if audit:
        record_audit(session=session, actor=actor, action=f"content.{action}", entity_type="content_message",
                     entity_id=message.id,
                     summary=f"{ACTION_LABELS.get(action, action)}: {message.title} (v{version.number if version else '-'})"
                             + (f" - {comment[:200]}" if comment else ""),
                     details={"from": old.value, "to": new.value, "version": version.number if version else None,
                              "comment": comment}, ip=ip)
    return row


def _before_edit(session: Session, message: Message, *, actor: User | None, base_version: int | None, ip: str) -> MessageStatus:
    """Refuse edits of retired or concurrently changed messages; return the status before the edit."""
    if message.status == MessageStatus.retired:
        raise ContentConflict("This message is retired; restore it before editing.")
    if base_version is not None:
        current = session.get(MessageVersion, message.current_version_id) if message.current_version_id else None
        if current is not None and current.number != base_version:
            raise ContentConflict(
                f"Someone saved version {current.number} of this message after the version {base_version} you "
                f"edited; reload the page to see their changes, then make yours again.")
    return message.status


def _after_edit(session: Session, message: Message, old_status: MessageStatus, version: MessageVersion, *,
                actor: User | None, ip: str) -> None:
    """An edit turns an approved or in-review message into a draft; the approved version stays usable."""
    if old_status == MessageStatus.in_review:
        message.status = MessageStatus.draft
        _record_transition(session, message, action="auto_withdraw", old=old_status, new=MessageStatus.draft,
                           actor=actor, comment="Changed while in review: submit it again.", ip=ip, version=version)
    elif old_status == MessageStatus.approved:
        message.status = MessageStatus.draft
        approved = session.get(MessageVersion, message.approved_version_id) if message.approved_version_id else None
        _record_transition(session, message, action="revise", old=old_status, new=MessageStatus.draft, actor=actor,
                           comment=(f"Version {approved.number} stays approved and in use until this draft is approved."
                                    if approved else ""), ip=ip, version=version)
    session.add(message)


def create_message(*, session: Session, data, actor: User | None, ip: str = "",
                   uid: str | None = None, note: str = "Created") -> Message:
    """Create a message and its version 1 (with any variants given). ``data`` is a MessageCreate."""
    _require_permission(actor, "content.edit")
    details = _details(data.title, data.objective, data.themes, data.segments, segment_names(session=session))
    variables = variable_set(session=session)
    max_segments = sms_max_segments(session=session)
    drafts: list[VariantDraft] = []
    seen: set[tuple[str, str, str]] = set()
    for index, variant in enumerate(data.variants):
        try:
            draft, _ = _checked_draft(session, variant, variables, max_segments)
        except ContentError as err:
            raise err.prefixed(f"variants[{index}]") from None
        if draft.key in seen:
            raise ContentError({f"variants[{index}]": f"{draft.label} is given twice."})
        seen.add(draft.key)
        drafts.append(draft)
    message = Message(uid=uid or new_uid(), title=details["title"], objective=details["objective"],
                      themes=details["themes"], segments=details["segments"],
                      created_by_id=actor.id if actor else None)
    session.add(message)
    session.flush()
    version = _write_version(session, message, actor=actor, note=note, details=details, drafts=drafts)
    record_audit(session=session, actor=actor, action="content.create", entity_type="content_message",
                 entity_id=message.id, summary=f"Created message {message.title}",
                 details={"version": version.number, "variants": [d.label for d in drafts]}, ip=ip)
    return message


def _current_details(session: Session, message: Message) -> dict[str, Any]:
    return {"title": message.title, "objective": message.objective, "themes": list(message.themes or []),
            "segments": list(message.segments or [])}


def update_message(*, session: Session, message: Message, data, actor: User | None, ip: str = "") -> MessageVersion | None:
    """Change a message's details (a MessageUpdate): a new version, or None when nothing changed."""
    _require_permission(actor, "content.edit")
    old_status = _before_edit(session, message, actor=actor, base_version=data.base_version, ip=ip)
    current = _current_details(session, message)
    details = _details(
        data.title if data.title is not None else current["title"],
        data.objective if data.objective is not None else current["objective"],
        data.themes if data.themes is not None else current["themes"],
        data.segments if data.segments is not None else current["segments"],
        segment_names(session=session),
    )
    changed = [name for name in ("title", "objective", "themes", "segments") if details[name] != current[name]]
    if not changed:
        return None
    drafts = [view.draft for view in version_variants(session=session, version_id=message.current_version_id)]
    version = _write_version(session, message, actor=actor, note="Changed " + ", ".join(changed), details=details,
                             drafts=drafts)
    _after_edit(session, message, old_status, version, actor=actor, ip=ip)
    record_audit(session=session, actor=actor, action="content.edit", entity_type="content_message",
                 entity_id=message.id, summary=f"{message.title}: v{version.number}, changed {', '.join(changed)}",
                 details={"version": version.number, "changed": changed}, ip=ip)
    return version


def save_variant(*, session: Session, message: Message, data: VariantIn | VariantDraft, actor: User | None,
                 ip: str = "", base_version: int | None = None) -> tuple[MessageVersion | None, Analysis]:
    """Add or replace one variant: a new version (None when nothing changed) and the variant's analysis.

    Refused (ContentError naming the field) when the language, format or template is wrong;
    length problems do not stop a save but are returned in the analysis (and stop a submission).
    """
    _require_permission(actor, "content.edit")
    old_status = _before_edit(session, message, actor=actor, base_version=base_version, ip=ip)
    draft, analysis = _checked_draft(session, data, variable_set(session=session), sms_max_segments(session=session))
    views = version_variants(session=session, version_id=message.current_version_id)
    drafts = [view.draft for view in views]
    existing = next((d for d in drafts if d.key == draft.key), None)
    if existing == draft:
        return None, analysis
    if existing is None and len(drafts) >= MAX_VARIANTS:
        raise ContentError({"form": f"A message has at most {MAX_VARIANTS} variants."})
    drafts = [d for d in drafts if d.key != draft.key] + [draft]
    note = f"{'Edited' if existing else 'Added'} {draft.label}"
    version = _write_version(session, message, actor=actor, note=note, details=_current_details(session, message),
                             drafts=drafts)
    _after_edit(session, message, old_status, version, actor=actor, ip=ip)
    record_audit(session=session, actor=actor, action="content.edit", entity_type="content_message",
                 entity_id=message.id, summary=f"{message.title}: v{version.number}, {note[0].lower()}{note[1:]}",
                 details={"version": version.number, "variant": draft.label}, ip=ip)
    return version, analysis


def delete_variant(*, session: Session, message: Message, language: str, channel: str, platform: str = "",
                   actor: User | None, ip: str = "", base_version: int | None = None) -> MessageVersion:
    """Remove one variant from the message: a new version without it."""
    _require_permission(actor, "content.edit")
    old_status = _before_edit(session, message, actor=actor, base_version=base_version, ip=ip)
    views = version_variants(session=session, version_id=message.current_version_id)
    view = find_variant(views, language, channel, platform)
    if view is None:
        raise ContentError({"variant": f"This message has no {language} {channel} variant to remove."})
    label = view.label
    drafts = [v.draft for v in views if v is not view]
    version = _write_version(session, message, actor=actor, note=f"Removed {label}",
                             details=_current_details(session, message), drafts=drafts)
    _after_edit(session, message, old_status, version, actor=actor, ip=ip)
    record_audit(session=session, actor=actor, action="content.edit", entity_type="content_message",
                 entity_id=message.id, summary=f"{message.title}: v{version.number}, removed {label}",
                 details={"version": version.number, "removed": label}, ip=ip)
    return version


def delete_message(*, session: Session, message: Message, actor: User | None, ip: str = "") -> None:
    """Delete a draft that was never submitted nor approved (retire anything else)."""
    _require_permission(actor, "content.edit")
    submitted = session.exec(select(MessageTransition.id).where(MessageTransition.message_id == message.id,
                                                                MessageTransition.action == "submit")).first()
    if message.status != MessageStatus.draft or message.approved_version_id is not None or submitted is not None:
        raise ContentConflict("Only a draft that was never submitted can be deleted; retire this message instead.")
    title = message.title
    # Delete the children explicitly, so no database has to untangle crossing cascades.
    for model in (MessageTransition, MessageSurveyItem):
        for row in session.exec(select(model).where(model.message_id == message.id)).all():
            session.delete(row)
    message.current_version_id = None
    session.add(message)
    session.flush()
    for version in session.exec(select(MessageVersion).where(MessageVersion.message_id == message.id)).all():
        for view in version_variants(session=session, version_id=version.id):
            for link in session.exec(select(VariantAttachment).where(VariantAttachment.variant_id == view.variant.id)).all():
                session.delete(link)
            session.delete(view.variant)
        session.flush()
        session.delete(version)
    session.flush()
    session.delete(message)
    session.flush()
    record_audit(session=session, actor=actor, action="content.delete", entity_type="content_message",
                 entity_id=message.id, summary=f"Deleted draft message {title}", ip=ip)


# --- The review flow ---------------------------------------------------------------------


def blocking_problems(*, session: Session, version_id: int | None) -> list[str]:
    """What stops a version from being submitted or approved, per variant."""
    variables = variable_set(session=session)
    max_segments = sms_max_segments(session=session)
    problems = []
    views = version_variants(session=session, version_id=version_id)
    if not views:
        return ["The message has no variant yet: write at least one."]
    for view in views:
        analysis = check_variant(view.draft, variables=variables, max_segments=max_segments, attachments=view.attachments)
        for problem in [*analysis.errors.values(), *analysis.blocking]:
            problems.append(f"{view.label}: {problem}")
    return problems


def transition(*, session: Session, message: Message, action: str, actor: User | None, comment: str = "",
               version: int | None = None, ip: str = "", override_reason: str = "") -> MessageTransition:
    """Take one step of the review flow; audited.

    ``version`` is the version number the actor looked at: the step is refused when the
    message changed since. Sending back needs a comment saying what to change.

    Separation of duties: nobody approves a version they wrote. An administrator may, when no
    one else can, by giving ``override_reason``; the override is audited with the reason.
    """
    if action not in TRANSITIONS:
        raise ContentError({"action": f"Unknown step '{action}'; known: {', '.join(TRANSITIONS)}."})
    sources, target, permission, label = TRANSITIONS[action]
    _require_permission(actor, permission)
    comment = _clean_text(comment)
    if len(comment) > 2000:
        raise ContentError({"comment": "Keep the comment under 2000 characters."})
    old = message.status
    if old not in sources:
        raise ContentConflict(f"A message that is {old.label.lower()} cannot be {label.lower()}.")
    current = session.get(MessageVersion, message.current_version_id) if message.current_version_id else None
    if version is not None and current is not None and current.number != version:
        raise ContentConflict(f"The message changed since you looked at it (now version {current.number}, "
                              f"you saw {version}); reload the page.")
    if action == "send_back" and not comment.strip():
        raise ContentError({"comment": "Say what should change before sending the message back."})
    if action in ("submit", "approve"):
        if current is not None and message.approved_version_id == current.id:
            raise ContentConflict("This version is the approved one already; change something first.")
        problems = blocking_problems(session=session, version_id=message.current_version_id)
        if problems:
            raise ContentConflict({"form": "Fix these first: " + " ".join(problems[:10])
                                   + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")})
    overridden = False
    if action == "approve" and actor is not None and current is not None and current.created_by_id == actor.id:
        reason = " ".join((override_reason or "").split())[:500]
        if actor.role != Role.admin:
            raise ContentConflict("You wrote this version: another approver must approve it (nobody approves their own "
                                  "work). Ask a programme lead or an administrator.")
        if not reason:
            raise ContentError({"override_reason": "You wrote this version. To approve it yourself, say why no one else "
                                                   "can (the reason is kept in the audit trail)."})
        overridden = True
    if action == "approve":
        message.approved_version_id = message.current_version_id
        new = MessageStatus.approved
    elif action == "restore":
        new = MessageStatus.approved if (message.approved_version_id is not None
                                         and message.approved_version_id == message.current_version_id) else MessageStatus.draft
    else:
        new = target  # type: ignore[assignment]
    message.status = new
    message.updated_at = utcnow()
    session.add(message)
    row = _record_transition(session, message, action=action, old=old, new=new, actor=actor, comment=comment,
                             ip=ip, version=current)
    if overridden:
        record_audit(session=session, actor=actor, action="content.approve_own", entity_type="content_message",
                     entity_id=message.id, summary=f"Approved their own version {current.number} of '{message.title}'",
                     details={"version": current.number, "reason": " ".join(override_reason.split())[:500]}, ip=ip)
    session.flush()
    return row


@dataclass
class ReviewItem:
    message: Message
    version: MessageVersion
    approved: MessageVersion | None
    submitted: MessageTransition | None
    # What the diff compares with: the approved version, else the version last sent back, else nothing.
    base: MessageVersion | None
    sent_back: MessageTransition | None
    diff: "VersionDiff"
    problems: list[str]


def review_queue(*, session: Session) -> list[ReviewItem]:
    """Messages waiting for a lead, oldest submission first, each with its changes.

    The changes are shown against the approved version (still in use) if there is one,
    else against the version last sent back (what was done about the comment), else
    the whole message is new.
    """
    items = []
    for message in session.exec(select(Message).where(Message.status == MessageStatus.in_review)).all():
        version = session.get(MessageVersion, message.current_version_id) if message.current_version_id else None
        if version is None:
            continue
        approved = session.get(MessageVersion, message.approved_version_id) if message.approved_version_id else None
        steps = list_transitions(session=session, message=message)
        submitted = next((t for t in steps if t.action == "submit"), None)
        sent_back = next((t for t in steps if t.action == "send_back"), None)
        base = approved
        if base is None and sent_back is not None and sent_back.version_id not in (None, version.id):
            base = session.get(MessageVersion, sent_back.version_id)
        items.append(ReviewItem(message, version, approved, submitted, base, sent_back,
                                diff_versions(session=session, old=base, new=version),
                                blocking_problems(session=session, version_id=version.id)))
    items.sort(key=lambda item: item.submitted.at if item.submitted else item.message.updated_at)
    return items


# --- For the campaign package ------------------------------------------------------------


def approved_variant(*, session: Session, message_id: int, language: str, channel: str,
                     platform: str | None = None) -> ContentVariant | None:
    """The approved variant a campaign may schedule, or None.

    None when the message does not exist, is retired, has no approved version, or its
    approved version has no variant for this language and channel format (and platform,
    for social posts). A newer draft in progress does not change the answer.
    """
    message = session.get(Message, message_id)
    if message is None or message.status == MessageStatus.retired or message.approved_version_id is None:
        return None
    try:
        tag = rules.validate_language_tag(language)
        kind = Channel(channel)
    except ValueError:
        return None
    query = select(ContentVariant).where(ContentVariant.version_id == message.approved_version_id,
                                         ContentVariant.language == tag, ContentVariant.channel == kind)
    if platform:
        try:
            query = query.where(ContentVariant.platform == canonical_platform(platform))
        except ValueError:
            return None
    return session.exec(query.order_by(col(ContentVariant.platform))).first()


def assert_schedulable(*, session: Session, variant_id: int) -> ContentVariant:
    """The variant, if it belongs to the approved version of a message in use; else ContentConflict."""
    variant = session.get(ContentVariant, variant_id)
    if variant is None:
        raise ContentError({"variant_id": f"There is no variant {variant_id}."})
    version = session.get(MessageVersion, variant.version_id)
    message = session.get(Message, version.message_id) if version else None
    if message is None or message.approved_version_id != variant.version_id:
        raise ContentConflict({"variant_id": "Only variants of a message's approved version can be scheduled."})
    if message.status == MessageStatus.retired:
        raise ContentConflict({"variant_id": f"'{message.title}' is retired and cannot be scheduled."})
    return variant


# --- Diffs --------------------------------------------------------------------------------


@dataclass
class FieldView:
    name: str
    change: str  # added, removed, changed
    html: str = ""  # text fields: <del>/<ins> markup, escaped
    removed: list[str] = field(default_factory=list)  # list fields
    added: list[str] = field(default_factory=list)
    old: Any = None
    new: Any = None


@dataclass
class VariantDiff:
    label: str
    change: str  # added, removed, changed
    fields: list[FieldView]


@dataclass
class VersionDiff:
    old_number: int | None
    new_number: int
    details: list[FieldView]
    variants: list[VariantDiff]

    @property
    def empty(self) -> bool:
        return not self.details and not self.variants


_TEXT_FIELDS = {"title", "objective", "subject", "body", "alt_text"}


def _snapshot(session: Session, version: MessageVersion | None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    if version is None:
        return {}, {}
    names = segment_names(session=session)
    details = {"title": version.title, "objective": version.objective,
               "themes": list(version.themes or []), "segments": [segment_label(s, names) for s in version.segments or []]}
    variants = {}
    for view in version_variants(session=session, version_id=version.id):
        v = view.variant
        data: dict[str, Any] = {}
        if v.channel == Channel.email:
            data["subject"] = v.subject
        data["body"] = v.body
        if v.channel == Channel.radio:
            data["target_seconds"] = f"{v.target_seconds} s" if v.target_seconds else ""
        if v.channel == Channel.social:
            data["alt_text"] = v.alt_text
        if view.attachments:
            data["attachments"] = [f"{a.filename} ({a.sha256[:8]})" for a in view.attachments]
        variants[view.label] = data
    return details, variants


def _field_views(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldView]:
    views = []
    for change in rules.field_diff(old, new):
        view = FieldView(change.field, change.change, old=change.old, new=change.new)
        if change.field in _TEXT_FIELDS:
            view.html = rules.render_diff_html(rules.text_diff(change.old or "", change.new or ""))
        elif isinstance(change.old, list) or isinstance(change.new, list):
            old_list, new_list = change.old or [], change.new or []
            view.removed = [x for x in old_list if x not in new_list]
            view.added = [x for x in new_list if x not in old_list]
        views.append(view)
    return views


def diff_versions(*, session: Session, old: MessageVersion | None, new: MessageVersion) -> VersionDiff:
    """What changed from ``old`` (None: nothing, the whole message is new) to ``new``."""
    old_details, old_variants = _snapshot(session, old)
    new_details, new_variants = _snapshot(session, new)
    details = _field_views(old_details, new_details)
    variants = []
    for label in [*old_variants, *[k for k in new_variants if k not in old_variants]]:
        before, after = old_variants.get(label), new_variants.get(label)
        if before == after:
            continue
        change = "added" if before is None else "removed" if after is None else "changed"
        variants.append(VariantDiff(label, change, _field_views(before or {}, after or {})))
    return VersionDiff(old.number if old else None, new.number, details, variants)


# --- Coverage -----------------------------------------------------------------------------


@dataclass
class CoverageGap:
    segment: str
    label: str
    missing: list[tuple[str, str]]


def coverage(*, session: Session, message: Message, version_id: int | None = None) -> list[CoverageGap]:
    """Per targeted segment, the (language, channel format) variants the message still lacks."""
    views = version_variants(session=session, version_id=version_id or message.current_version_id)
    existing = [(view.variant.language, view.variant.channel.value) for view in views]
    # fr-HT counts for fr.
    existing += [(lang.split("-")[0], chan) for lang, chan in existing if "-" in lang]
    gaps = []
    rows = {s.code: s for s in list_segments(session=session, include_archived=True)}
    for segment in message.segments or []:
        languages, channels = SEGMENT_NEEDS.get(segment, (("ht", "fr"), ("sms",)))
        row = rows.get(segment)
        if row is not None and row.languages:
            languages = tuple(row.languages)
        missing = rules.missing_variants(languages, channels, existing)
        if missing:
            gaps.append(CoverageGap(segment, segment_label(segment, {c: r.name for c, r in rows.items()}), missing))
    return gaps


# --- Survey items --------------------------------------------------------------------------


@dataclass
class SurveyItemChoice:
    code: str
    label: str
    kap_domain: str | None


def latest_instrument_spec(session: Session, survey_id: int) -> dict | None:
    from surveys.models import InstrumentVersion  # noqa: PLC0415

    row = session.exec(select(InstrumentVersion).where(InstrumentVersion.survey_id == survey_id)
                       .order_by(col(InstrumentVersion.version).desc())).first()
    return row.spec if row is not None else None


def instrument_items(spec: dict | None) -> list[SurveyItemChoice]:
    items = []
    if not isinstance(spec, dict):
        return items
    default = spec.get("default_language") or "en"
    for section in spec.get("sections") or []:
        for item in (section or {}).get("items") or []:
            if not isinstance(item, dict) or not item.get("code"):
                continue
            if item.get("type") in ("calculate", "start", "end", "today", "username", "deviceid", "note"):
                continue
            labels = item.get("labels") or {}
            label = labels.get("en") or labels.get(default) or next(iter(labels.values()), "") if labels else ""
            items.append(SurveyItemChoice(item["code"], label, item.get("kap_domain")))
    return items


def survey_item_choices(*, session: Session) -> list[tuple[Any, list[SurveyItemChoice]]]:
    """Each survey with the items of its latest instrument version."""
    from surveys.models import Survey  # noqa: PLC0415

    result = []
    for survey in session.exec(select(Survey).order_by(col(Survey.title))).all():
        items = instrument_items(latest_instrument_spec(session, survey.id))
        if items:
            result.append((survey, items))
    return result


@dataclass
class SurveyLinkView:
    link: MessageSurveyItem
    survey_title: str
    label: str
    kap_domain: str | None
    current: bool  # the code is still in the survey's latest instrument version


def survey_links(*, session: Session, message: Message) -> list[SurveyLinkView]:
    from surveys.models import Survey  # noqa: PLC0415

    views = []
    links = session.exec(select(MessageSurveyItem).where(MessageSurveyItem.message_id == message.id)
                         .order_by(col(MessageSurveyItem.survey_id), col(MessageSurveyItem.item_code))).all()
    specs: dict[int, list[SurveyItemChoice]] = {}
    for link in links:
        survey = session.get(Survey, link.survey_id)
        if link.survey_id not in specs:
            specs[link.survey_id] = instrument_items(latest_instrument_spec(session, link.survey_id))
        item = next((i for i in specs[link.survey_id] if i.code == link.item_code), None)
        views.append(SurveyLinkView(link, survey.title if survey else f"survey {link.survey_id}",
                                    item.label if item else "", item.kap_domain if item else None, item is not None))
    return views


def link_survey_item(*, session: Session, message: Message, survey_id: int, item_code: str, actor: User | None,
                     ip: str = "") -> MessageSurveyItem:
    """Link the message to a KAP survey item of the survey's latest instrument version."""
    from surveys.models import Survey  # noqa: PLC0415

    _require_permission(actor, "content.edit")
    survey = session.get(Survey, survey_id) if isinstance(survey_id, int) else None
    if survey is None:
        raise ContentError({"survey_id": f"There is no survey {survey_id}."})
    code = (item_code or "").strip()
    spec = latest_instrument_spec(session, survey_id)
    if spec is None:
        raise ContentError({"survey_id": f"The survey '{survey.title}' has no questionnaire yet."})
    items = instrument_items(spec)
    if not any(i.code == code for i in items):
        raise ContentError({"item_code": f"'{code}' is not an item of the latest questionnaire of '{survey.title}'."})
    existing = session.exec(select(MessageSurveyItem).where(MessageSurveyItem.message_id == message.id,
                                                            MessageSurveyItem.survey_id == survey_id,
                                                            MessageSurveyItem.item_code == code)).first()
    if existing is not None:
        return existing
    link = MessageSurveyItem(message_id=message.id, survey_id=survey_id, item_code=code)
    session.add(link)
    session.flush()
    record_audit(session=session, actor=actor, action="content.link", entity_type="content_message",
                 entity_id=message.id, summary=f"{message.title}: linked to {survey.title} / {code}",
                 details={"survey_id": survey_id, "item_code": code}, ip=ip)
    return link


def unlink_survey_item(*, session: Session, message: Message, link_id: int, actor: User | None, ip: str = "") -> None:
    _require_permission(actor, "content.edit")
    link = session.get(MessageSurveyItem, link_id)
    if link is None or link.message_id != message.id:
        raise ContentError({"link": "This message has no such survey item link."})
    session.delete(link)
    record_audit(session=session, actor=actor, action="content.unlink", entity_type="content_message",
                 entity_id=message.id, summary=f"{message.title}: unlinked {link.item_code}",
                 details={"survey_id": link.survey_id, "item_code": link.item_code}, ip=ip)


# --- Attachments ----------------------------------------------------------------------------


def max_upload_bytes(channel: str) -> int:
    """The largest file accepted for a channel format (0: none accepted)."""
    kinds = rules.ATTACHMENT_KINDS[Channel(channel).value]
    return max((rules.FILE_TYPES[k].max_bytes for k in kinds), default=0)


def check_upload(*, filename: str, content_type: str | None, size: int, head: bytes, channel: str,
                 field_name: str = "attachments") -> str:
    """The FILE_TYPES key of an acceptable upload, or ContentError naming ``field_name``."""
    problem = rules.check_attachment(filename or "", content_type, size, head[: rules.HEAD_BYTES_NEEDED] if size else b"",
                                     channel_kind=Channel(channel).value)
    if problem:
        raise ContentError({field_name: problem})
    ext = _split_filename(filename)[1]
    return next(k for k in rules.ATTACHMENT_KINDS[Channel(channel).value] if ext in rules.FILE_TYPES[k].extensions)


def store_attachment(*, session: Session, storage: AttachmentStorage, filename: str, content_type: str | None,
                     data: bytes, channel: str, actor: User | None, ip: str = "",
                     field_name: str = "attachments") -> Attachment:
    """Check an uploaded file, keep it under its checksum, and record it (once per content)."""
    _require_permission(actor, "content.edit")
    file_type = check_upload(filename=filename, content_type=content_type, size=len(data), head=data,
                             channel=channel, field_name=field_name)
    name = rules.checksum_name(data, ext=file_type)
    existing = session.exec(select(Attachment).where(Attachment.storage_name == name)).first()
    if existing is not None and storage.exists(name):
        return existing
    try:
        storage.put(name, data)
    except StorageError as exc:
        raise ContentError({field_name: str(exc)}) from exc
    if existing is not None:
        return existing
    base = _nfc(_split_filename(filename)[0]) or f"file.{file_type}"
    row = Attachment(storage_name=name, sha256=name.split(".")[0], filename=base[:255], file_type=file_type,
                     content_type=rules.FILE_TYPES[file_type].mime_types[0], size=len(data),
                     created_by_id=actor.id if actor else None)
    session.add(row)
    session.flush()
    record_audit(session=session, actor=actor, action="content.attachment.upload", entity_type="content_attachment",
                 entity_id=row.id, summary=f"Uploaded {row.filename} ({row.size} bytes)",
                 details={"sha256": row.sha256, "file_type": file_type}, ip=ip)
    return row
