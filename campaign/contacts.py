"""Contacts of the direct channels: phone numbers in E.164, and imports checked before they are stored.

An import is two steps. :func:`check_import` reads a CSV or XLSX file and returns a report,
row by row (bad phone numbers, duplicates merged by phone or e-mail, unknown segments, dates
that cannot be read) with the clean rows; nothing is written. Once the user has read the report,
:func:`apply_rows` stores the clean rows, a slice at a time so that a long import shows its
progress and can resume: applying a row twice changes nothing (contacts are matched by phone,
then e-mail). Services: keyword-only, take a Session, never commit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import phonenumbers
from sqlalchemy import delete
from sqlmodel import Session, col, select

from audiences.models import AudienceSegment
from surveys.imports import NUL_IN_CELL, ImportFileError, open_table_rows
from web.accounts.models import User, utcnow

from .models import ChannelKind, Contact, ContactOptOut, ContactSegment

__all__ = [
    "COLUMN_ALIASES", "ContactEdit", "ContactError", "ContactImportReport", "ContactRow", "ImportFileError", "apply_rows",
    "check_import", "contact_segments", "normalise_email", "normalise_phone", "opted_out_kinds", "set_opt_out",
    "update_contact",
]

MAX_ROWS = 200_000
MAX_REPORTED = 500  # rows with a problem listed in full; the rest are counted
EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]{2,}$")

# Header -> field, in the languages staff write their sheets in (compared without accents or case).
COLUMN_ALIASES: Mapping[str, str] = {
    "name": "name", "nom": "name", "non": "name", "full name": "name", "nombre": "name",
    "phone": "phone", "telephone": "phone", "telefon": "phone", "tel": "phone", "mobile": "phone",
    "phone number": "phone", "numero": "phone", "cellulaire": "phone", "celular": "phone", "msisdn": "phone",
    "email": "email", "e-mail": "email", "mail": "email", "courriel": "email", "imel": "email", "correo": "email",
    "language": "language", "langue": "language", "lang": "language", "idioma": "language",
    "region": "region", "departement": "region", "depatman": "region", "department": "region",
    "segments": "segments", "segment": "segments", "groupe": "segments", "gwoup": "segments",
    "consent_at": "consent_at", "consent": "consent_at", "consentement": "consent_at", "konsantman": "consent_at",
    "consent date": "consent_at", "consent_method": "consent_method", "consent method": "consent_method",
    "consent_by": "consent_recorded_by", "consent recorded by": "consent_recorded_by",
}
YES = {"yes", "y", "oui", "wi", "si", "true", "1", "x"}
NO = {"no", "n", "non", "false", "0", ""}
LANGUAGE_NAMES = {"kreyol": "ht", "creole": "ht", "kreyol ayisyen": "ht", "haitian creole": "ht", "francais": "fr",
                  "french": "fr", "english": "en", "anglais": "en", "espanol": "es", "spanish": "es", "espagnol": "es"}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).lower().replace("_", " ").split())


def normalise_phone(raw: str, region: str = "HT") -> tuple[str | None, str | None]:
    """(E.164, None) for a valid number, or (None, why) in words. ``region``: the campaign's country."""
    text = (raw or "").strip()
    if not text:
        return None, None
    try:
        number = phonenumbers.parse(text, region.upper() or None)
    except phonenumbers.NumberParseException:
        return None, f"'{text[:30]}' is not a phone number."
    if not phonenumbers.is_valid_number(number):
        return None, (f"'{text[:30]}' is not a valid {region.upper()} number"
                      " (give it with its country code, e.g. +509 37 12 34 56, if it is from elsewhere).")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def normalise_email(raw: str) -> tuple[str | None, str | None]:
    text = (raw or "").strip().lower()
    if not text:
        return None, None
    if len(text) > 254 or not EMAIL.match(text):
        return None, f"'{text[:40]}' is not an e-mail address."
    return text, None


def _language(raw: str) -> tuple[str, str | None]:
    text = _fold(raw)
    if not text:
        return "", None
    text = LANGUAGE_NAMES.get(text, text)
    from content.rules import validate_language_tag  # noqa: PLC0415

    try:
        return validate_language_tag(text.replace(" ", "-")), None
    except ValueError:
        return "", f"'{raw[:20]}' is not a language: use ht, fr, en or es (or Kreyòl, Français...)."


def _consent(raw: str, now: datetime) -> tuple[datetime | None, str | None]:
    text = raw.strip()
    if _fold(text) in YES:
        return now, None
    if _fold(text) in NO:
        return None, None
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%d/%m/%Y")):
        try:
            moment = parse(text)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        if moment > now:
            return None, f"The consent date {text[:20]} is in the future."
        return moment.astimezone(timezone.utc), None
    return None, f"'{text[:20]}' is not a consent date (use 2026-03-01 or 01/03/2026, or yes/no)."


def _attribute_name(header: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", _fold(header)).strip("_")
    if not slug or not slug[0].isalpha():
        slug = f"field_{slug}"
    return slug[:40]


@dataclass
class ContactRow:
    """One line of the file: what it will do (new, update, merged, error) and the clean values."""

    line: int
    action: str = "new"  # new | update (an existing contact) | merged (into an earlier line) | error
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    name: str = ""
    phone: str | None = None
    email: str | None = None
    language: str = ""
    region: str = ""
    segments: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    consent_at: str | None = None  # ISO
    consent_method: str = ""
    consent_recorded_by: str = ""
    merged_into: int | None = None


@dataclass
class ContactImportReport:
    filename: str
    columns: dict[str, str]  # header -> field or attributes.<name>
    rows: list[ContactRow]  # the clean rows (new/update), in file order, merged lines folded in
    problems: list[ContactRow]  # rows left out, at most MAX_REPORTED
    counts: dict[str, int]
    without_consent: int = 0

    @property
    def importable(self) -> int:
        return len(self.rows)

    def as_json(self) -> dict[str, Any]:
        return {"filename": self.filename, "columns": self.columns, "counts": self.counts,
                "without_consent": self.without_consent,
                "problems": [{"line": r.line, "problems": r.problems} for r in self.problems],
                "rows": [asdict(r) for r in self.rows]}


def check_import(*, session: Session, source: Any, filename: str, country: str = "HT",
                 default_segments: Sequence[str] = (), actor: User | None = None,
                 now: datetime | None = None) -> ContactImportReport:
    """Read a contacts file and say, row by row, what importing it would do. Writes nothing.

    Raises :class:`ImportFileError` when the file cannot be read at all (no header, no phone
    or e-mail column, too many rows).
    """
    now = now or utcnow()
    known = {s.code: s for s in session.exec(select(AudienceSegment)).all()}
    names_to_codes = {_fold(s.name): s.code for s in known.values()}
    for code in default_segments:
        if code not in known:
            raise ImportFileError([f"Unknown segment {code!r} chosen for every row."])
    rows, close = open_table_rows(source, filename)
    try:
        iterator = iter(rows)
        header = next(iterator, None)
        if not header or not any(h.strip() for h in header):
            raise ImportFileError(["The file is empty: its first row must name the columns (phone, email, name...)."])
        columns: dict[str, str] = {}
        plan: list[tuple[int, str]] = []
        seen_fields: set[str] = set()
        for index, raw in enumerate(header):
            head = raw.strip()
            if not head:
                continue
            target = COLUMN_ALIASES.get(_fold(head)) or f"attributes.{_attribute_name(head)}"
            if target in seen_fields:
                raise ImportFileError([f"Two columns mean {target}: {head!r} and an earlier one. Keep one."])
            seen_fields.add(target)
            columns[head] = target
            plan.append((index, target))
        if "phone" not in seen_fields and "email" not in seen_fields:
            raise ImportFileError(["The file needs a phone or an email column (found: "
                                   + ", ".join(columns) + ")."])
        clean: list[ContactRow] = []
        problems: list[ContactRow] = []
        counts = {"lines": 0, "new": 0, "update": 0, "merged": 0, "error": 0}
        by_phone: dict[str, ContactRow] = {}
        by_email: dict[str, ContactRow] = {}
        for line, values in enumerate(iterator, start=2):
            if not any(str(v).strip() for v in values):
                continue
            counts["lines"] += 1
            if counts["lines"] > MAX_ROWS:
                raise ImportFileError([f"The file has more than {MAX_ROWS:,} contacts: split it."])
            row = ContactRow(line=line, segments=list(default_segments))
            for index, target in plan:
                value = str(values[index]).strip() if index < len(values) else ""
                if value[:1] == "'" and value[1:2] in ("=", "+", "-", "@"):
                    value = value[1:]  # a cell Konbit's own export neutralised (web.exports_safe): the value itself
                if "\x00" in value:  # PostgreSQL's text cannot hold it; say so rather than strip it silently
                    row.problems.append(f"{_column_label(columns, target)}: {NUL_IN_CELL}")
                    continue
                if target == "phone":
                    row.phone, problem = normalise_phone(value, country)
                elif target == "email":
                    row.email, problem = normalise_email(value)
                elif target == "language":
                    row.language, problem = _language(value)
                elif target == "segments":
                    problem = None
                    for part in re.split(r"[;,|]", value):
                        code = part.strip()
                        if not code:
                            continue
                        code = code if code in known else names_to_codes.get(_fold(code), code.lower())
                        if code not in known:
                            problem = f"Unknown segment '{part.strip()[:40]}' (known: {', '.join(sorted(known))})."
                        elif code not in row.segments:
                            row.segments.append(code)
                elif target == "consent_at":
                    moment, problem = _consent(value, now)
                    row.consent_at = moment.isoformat() if moment else None
                elif target.startswith("attributes."):
                    problem = None
                    if value:
                        row.attributes[target.split(".", 1)[1]] = value[:500]
                else:
                    problem = None
                    setattr(row, target, " ".join(value.split())[:120 if target != "region" else 80])
                if problem:
                    row.problems.append(f"{_column_label(columns, target)}: {problem}")
            if not row.phone and not row.email and not row.problems:
                row.problems.append("No phone number and no e-mail address: nothing to reach this contact by.")
            if row.consent_at and not row.consent_method:
                row.consent_method = f"import of {filename[:60]}" if filename else "import"
            if row.consent_at and not row.consent_recorded_by and actor is not None:
                row.consent_recorded_by = actor.username
            if row.problems:
                row.action = "error"
                counts["error"] += 1
                if len(problems) < MAX_REPORTED:
                    problems.append(row)
                continue
            earlier = (by_phone.get(row.phone) if row.phone else None) or (by_email.get(row.email) if row.email else None)
            if earlier is not None:
                _merge(earlier, row)
                counts["merged"] += 1
                if row.phone:
                    by_phone.setdefault(row.phone, earlier)
                if row.email:
                    by_email.setdefault(row.email, earlier)
                continue
            clean.append(row)
            if row.phone:
                by_phone[row.phone] = row
            if row.email:
                by_email[row.email] = row
    finally:
        close()
    _mark_existing(session, clean)
    for row in clean:
        counts[row.action] += 1
    without = sum(1 for r in clean if not r.consent_at)
    return ContactImportReport(filename, columns, clean, problems, counts, without)


def _column_label(columns: Mapping[str, str], target: str) -> str:
    return next((head for head, t in columns.items() if t == target), target)


def _merge(into: ContactRow, row: ContactRow) -> None:
    """Fold a later line about the same person into the earlier one: blanks filled, segments joined."""
    into.notes.append(f"line {row.line} merged in (same {'phone' if row.phone and row.phone == into.phone else 'e-mail'})")
    for name in ("name", "phone", "email", "language", "region", "consent_at", "consent_method", "consent_recorded_by"):
        if not getattr(into, name) and getattr(row, name):
            setattr(into, name, getattr(row, name))
    into.segments += [s for s in row.segments if s not in into.segments]
    for key, value in row.attributes.items():
        into.attributes.setdefault(key, value)


def _existing(session: Session, phones: Iterable[str], emails: Iterable[str]) -> tuple[dict[str, Contact], dict[str, Contact]]:
    phones, emails = [p for p in phones if p], [e for e in emails if e]
    by_phone: dict[str, Contact] = {}
    by_email: dict[str, Contact] = {}
    for chunk in range(0, max(len(phones), len(emails)), 900):
        part_p, part_e = phones[chunk:chunk + 900], emails[chunk:chunk + 900]
        if part_p:
            for c in session.exec(select(Contact).where(col(Contact.phone).in_(part_p))):
                by_phone[c.phone] = c
        if part_e:
            for c in session.exec(select(Contact).where(col(Contact.email).in_(part_e))):
                by_email[c.email] = c
    return by_phone, by_email


def _mark_existing(session: Session, rows: list[ContactRow]) -> None:
    by_phone, by_email = _existing(session, [r.phone for r in rows], [r.email for r in rows])
    for row in rows:
        match = by_phone.get(row.phone) if row.phone else None
        other = by_email.get(row.email) if row.email else None
        if match is not None and other is not None and match.id != other.id:
            row.notes.append("phone and e-mail belong to two existing contacts; the one with the phone is updated")
        if match is not None or other is not None:
            row.action = "update"


def _row_from(data: ContactRow | Mapping[str, Any]) -> ContactRow:
    return data if isinstance(data, ContactRow) else ContactRow(**dict(data))


def apply_rows(*, session: Session, rows: Sequence[ContactRow | Mapping[str, Any]], actor: User | None) -> dict[str, int]:
    """Store checked rows: new contacts added, existing ones (by phone, then e-mail) completed.

    Applying the same rows again changes nothing. Returns counts {"added", "updated"}.
    """
    parsed = [_row_from(r) for r in rows]
    segments = {s.code: s.id for s in session.exec(select(AudienceSegment)).all()}
    by_phone, by_email = _existing(session, [r.phone for r in parsed], [r.email for r in parsed])
    added = updated = 0
    now = utcnow()
    touched: list[tuple[Contact, ContactRow]] = []
    for row in parsed:
        contact = (by_phone.get(row.phone) if row.phone else None) or (by_email.get(row.email) if row.email else None)
        consent = datetime.fromisoformat(row.consent_at) if row.consent_at else None
        if contact is None:
            contact = Contact(name=row.name, phone=row.phone, email=row.email, language=row.language, region=row.region,
                              attributes=dict(row.attributes), consent_at=consent, consent_method=row.consent_method,
                              consent_recorded_by=row.consent_recorded_by)
            session.add(contact)
            added += 1
        else:
            changed = False
            for name in ("name", "language", "region"):
                value = getattr(row, name)
                if value and getattr(contact, name) != value:
                    setattr(contact, name, value)
                    changed = True
            if row.phone and not contact.phone and row.phone not in by_phone:
                contact.phone, changed = row.phone, True
            if row.email and not contact.email and row.email not in by_email:
                contact.email, changed = row.email, True
            merged = {**(contact.attributes or {}), **row.attributes}
            if merged != (contact.attributes or {}):
                contact.attributes, changed = merged, True
            if consent and contact.consent_at is None:
                contact.consent_at, contact.consent_method = consent, row.consent_method
                contact.consent_recorded_by, changed = row.consent_recorded_by, True
            if changed:
                contact.updated_at = now
                session.add(contact)
                updated += 1
        if contact.phone:
            by_phone[contact.phone] = contact
        if contact.email:
            by_email[contact.email] = contact
        touched.append((contact, row))
    session.flush()
    wanted = {(c.id, segments[code]) for c, row in touched for code in row.segments if code in segments}
    if wanted:
        ids = list({c for c, _ in wanted})
        have: set[tuple[int, int]] = set()
        for chunk in range(0, len(ids), 900):
            have |= {(m.contact_id, m.segment_id) for m in session.exec(
                select(ContactSegment).where(col(ContactSegment.contact_id).in_(ids[chunk:chunk + 900])))}
        session.add_all([ContactSegment(contact_id=c, segment_id=s) for c, s in sorted(wanted - have)])
        session.flush()
    return {"added": added, "updated": updated}


def set_opt_out(*, session: Session, contact: Contact, kind: ChannelKind, opted_out: bool, source: str = "staff",
                detail: str = "") -> bool:
    """Opt a contact out of (or back into) one channel kind; whether anything changed."""
    existing = session.exec(select(ContactOptOut).where(ContactOptOut.contact_id == contact.id,
                                                        ContactOptOut.channel_kind == kind)).first()
    if opted_out and existing is None:
        session.add(ContactOptOut(contact_id=contact.id, channel_kind=kind, source=source, detail=detail[:200]))
        session.flush()
        return True
    if not opted_out and existing is not None:
        session.exec(delete(ContactOptOut).where(ContactOptOut.id == existing.id))
        return True
    return False



# --- One contact, by hand ----------------------------------------------------------------------


class ContactError(ValueError):
    """A contact edit that cannot be saved: ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class ContactEdit:
    """What staff may change on one contact: the fields of an import row, the list segments it belongs
    to (rule segments follow their rule), consent, and the channel kinds it has opted out of."""

    name: str = ""
    phone: str = ""
    email: str = ""
    language: str = ""
    region: str = ""
    segments: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)
    consent: bool = False
    consent_method: str = ""
    opted_out: frozenset[ChannelKind] = frozenset()
    note: str = ""  # why (an opt-out asked for by phone, a correction...), kept in the audit trail


def contact_segments(*, session: Session, contact: Contact) -> list[str]:
    """Codes of the list segments the contact was put in."""
    return list(session.exec(select(AudienceSegment.code).join(ContactSegment, ContactSegment.segment_id == AudienceSegment.id)
                             .where(ContactSegment.contact_id == contact.id).order_by(AudienceSegment.code)).all())


def opted_out_kinds(*, session: Session, contact: Contact) -> set[ChannelKind]:
    return set(session.exec(select(ContactOptOut.channel_kind).where(ContactOptOut.contact_id == contact.id)).all())


def update_contact(*, session: Session, contact: Contact, data: ContactEdit, actor: User | None, country: str = "HT",
                   ip: str = "") -> dict[str, Any]:
    """Change one contact as staff asked; raises :class:`ContactError` (every field's problem) and
    changes nothing when a value is wrong. Returns what changed, field by field, as the audit
    trail records it: names of fields only for personal values (phone, e-mail, name), never the values.
    """
    from web.accounts.service import record_audit  # noqa: PLC0415

    errors: dict[str, str] = {}
    phone, problem = normalise_phone(data.phone, country)
    if problem:
        errors["phone"] = problem
    email, problem = normalise_email(data.email)
    if problem:
        errors["email"] = problem
    if not phone and not email and "phone" not in errors and "email" not in errors:
        errors["phone"] = "Give a phone number or an e-mail address: nothing else can reach this contact."
    language, problem = _language(data.language)
    if problem:
        errors["language"] = problem
    for name, value, limit in (("name", data.name, 120), ("region", data.region, 80), ("consent_method", data.consent_method, 80),
                               ("note", data.note, 200)):
        if len(value) > limit:
            errors[name] = f"At most {limit} characters."
        elif "\x00" in value:
            errors[name] = NUL_IN_CELL
    segments = {s.code: s for s in session.exec(select(AudienceSegment)).all()}
    unknown = [c for c in data.segments if c not in segments]
    ruled = [c for c in data.segments if c in segments and segments[c].rule is not None]
    if unknown:
        errors["segments"] = f"Unknown segment(s): {', '.join(sorted(unknown))[:200]}."
    elif ruled:
        errors["segments"] = (f"{', '.join(segments[c].name for c in ruled)}: a rule decides who is in this segment; "
                              "change the contact's fields or the rule instead.")
    attributes: dict[str, str] = {}
    for key, value in data.attributes.items():
        slug = _attribute_name(str(key))
        if len(str(value)) > 500:
            errors["attributes"] = f"{slug}: at most 500 characters."
        elif str(value).strip():
            attributes[slug] = str(value).strip()
    if phone and "phone" not in errors:
        other = session.exec(select(Contact.id).where(Contact.phone == phone, Contact.id != contact.id)).first()
        if other is not None:
            errors["phone"] = f"Another contact already has {phone}: edit that one, or merge them by importing."
    if email and "email" not in errors:
        other = session.exec(select(Contact.id).where(Contact.email == email, Contact.id != contact.id)).first()
        if other is not None:
            errors["email"] = f"Another contact already has {email}."
    if errors:
        raise ContactError(errors)

    changed: dict[str, Any] = {}
    values = {"name": " ".join(data.name.split()), "phone": phone, "email": email, "language": language,
              "region": " ".join(data.region.split()), "attributes": attributes}
    for name, value in values.items():
        if getattr(contact, name) != value:
            changed[name] = "changed" if name in ("name", "phone", "email") else value
            setattr(contact, name, value)
    now = utcnow()
    if data.consent and contact.consent_at is None:
        contact.consent_at, contact.consent_method = now, " ".join(data.consent_method.split()) or "recorded by staff"
        contact.consent_recorded_by = actor.username if actor is not None else ""
        changed["consent"] = "given"
    elif not data.consent and contact.consent_at is not None:
        contact.consent_at, contact.consent_method, contact.consent_recorded_by = None, "", ""
        changed["consent"] = "withdrawn"
    elif data.consent and data.consent_method and data.consent_method != contact.consent_method:
        contact.consent_method = " ".join(data.consent_method.split())
        changed["consent_method"] = contact.consent_method
    before = set(contact_segments(session=session, contact=contact))
    wanted = set(data.segments)
    if before != wanted:
        ids = {code: segments[code].id for code in before | wanted}
        if before - wanted:
            session.exec(delete(ContactSegment).where(ContactSegment.contact_id == contact.id,
                                                      col(ContactSegment.segment_id).in_([ids[c] for c in before - wanted])))
        session.add_all([ContactSegment(contact_id=contact.id, segment_id=ids[c]) for c in sorted(wanted - before)])
        changed["segments"] = sorted(wanted)
    for kind in ChannelKind:
        if set_opt_out(session=session, contact=contact, kind=kind, opted_out=kind in data.opted_out, source="staff",
                       detail=data.note):
            changed.setdefault("opted_out", {})[kind.value] = kind in data.opted_out
    if changed:
        contact.updated_at = now
        session.add(contact)
        session.flush()
        record_audit(session=session, actor=actor, action="contact.update", entity_type="campaign_contact",
                     entity_id=contact.id, summary=f"Changed contact {contact.uid[:8]}",
                     details={"changed": changed, "note": data.note[:200]}, ip=ip)
    return changed
