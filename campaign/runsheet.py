"""A radio station's weekly run sheet, and the station's word on what aired.

The run sheet lists every airing of a station's placements in one week (Monday to Sunday, wall
clock of each campaign): when, in which daypart, which spot, its script or audio file, its
language and length. Each airing has a reference, ``<placement id>-<YYYYMMDDTHHMM>`` (its
planned local time), that the station sends back: with the run-sheet CSV and an added column
``aired`` (yes/no, oui/non, wi/non, 1/0; blank: not confirmed yet), or through the confirmation
page. :func:`read_confirmations` checks a file and names every problem by line and column;
:func:`confirm_airings` writes the airings' occurrences (materialising them when needed) as
aired or missed. Confirming the same thing twice changes nothing.

Services: keyword-only, take a Session, never commit.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from content import service as content_svc
from content.models import Attachment, ContentVariant, Message, VariantAttachment
from web.accounts.models import User, utcnow
from web.accounts.service import record_audit
from web.exports_safe import csv_text

from .confirmations import sync_airing
from . import rules, schedule
from .service import fallback_language
from .models import (
    Campaign,
    ChannelConfig,
    ChannelKind,
    Occurrence,
    OccurrenceStatus,
    Placement,
    PlacementStatus,
)

__all__ = [
    "CSV_COLUMNS", "Airing", "ConfirmError", "ConfirmResult", "Decision", "Problem", "Spot", "airing_ref",
    "check_decisions", "confirm_airings", "parse_aired", "parse_week", "read_confirmations", "runsheet_csv", "spot_of",
    "week_airings", "week_label",
]

CSV_COLUMNS = ("airing", "date", "time", "daypart", "spot", "campaign", "language", "duration_seconds", "script",
               "audio_file", "aired", "note")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
FIRST_YEAR, LAST_YEAR = 2000, 2100  # weeks a run sheet may be asked for
MAX_ROWS = 5000
YES = frozenset({"yes", "y", "oui", "o", "wi", "1", "true", "aired"})
NO = frozenset({"no", "n", "non", "0", "false", "missed"})
_REF = re.compile(r"^(\d{1,10})-(\d{8}T\d{4})$")
_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})(?:-?[1-7])?$", re.IGNORECASE)


# --- Weeks --------------------------------------------------------------------------------


def parse_week(text: str | None, *, today: date | None = None) -> date:
    """The Monday of the week ``text`` names: an ISO week (2026-W15) or a date (any day of it).

    Empty means this week. ValueError says what to write instead.
    """
    value = (text or "").strip()
    if not value:
        day = today or date.today()
        return day - timedelta(days=day.weekday())
    match = _WEEK.match(value)
    try:
        if match:
            day = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
        else:
            day = date.fromisoformat(value[:10])
    except ValueError:
        raise ValueError(f"'{value[:20]}' is not a week: give an ISO week such as 2026-W15 or a date such as 2026-04-13.") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"Give a week between {FIRST_YEAR} and {LAST_YEAR}.")
    return day - timedelta(days=day.weekday())


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


# --- Spots --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spot:
    """What a radio placement airs: the variant's script in its language, and its audio files."""

    language: str
    script: str
    audio: tuple[tuple[int, str], ...] = ()  # (attachment id, file name)
    target_seconds: int | None = None


def spot_of(*, session: Session, campaign: Campaign, placement: Placement, kind: ChannelKind) -> Spot | None:
    """The variant a placement sends on a ``kind`` channel: its language, falling back along the campaign's."""
    variants = list(session.exec(select(ContentVariant).where(ContentVariant.version_id == placement.version_id,
                                                              ContentVariant.channel == kind.content_format)
                                 .order_by(ContentVariant.id)))
    if placement.social_platform:
        variants = [v for v in variants if v.platform == placement.social_platform] or variants
    available = [v.language for v in variants]
    chosen = fallback_language(placement.language or (campaign.languages or [""])[0], available,
                               campaign.languages or []) or (available[0] if available else None)
    variant = next((v for v in variants if v.language == chosen), None)
    if variant is None:
        return None
    files = session.exec(select(Attachment.id, Attachment.filename).join(
        VariantAttachment, VariantAttachment.attachment_id == Attachment.id)
        .where(VariantAttachment.variant_id == variant.id).order_by(VariantAttachment.position)).all()
    return Spot(variant.language, _script(session, variant), tuple((i, n) for i, n in files), variant.target_seconds)


def _script(session: Session, variant: ContentVariant) -> str:
    """The variant's text with the campaign-wide variables filled in (the hotline number...)."""
    try:
        return content_svc.render_variant(variant, {}, variables=content_svc.variable_set(session=session)).text
    except ValueError:  # a template the library refuses now: show it as written rather than nothing
        return variant.body


# --- Airings ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Airing:
    ref: str
    placement_id: int
    campaign_id: int
    campaign: str
    local_at: datetime  # planned wall-clock time, the campaign's zone
    due_at: datetime  # aware UTC
    timezone: str
    daypart: str
    spot: str
    language: str
    duration_seconds: int | None
    script: str
    audio: tuple[tuple[int, str], ...]
    placement_status: str
    status: str  # the occurrence's status, "planned" when it is not a row yet
    reason: str = ""
    confirmed_at: datetime | None = None
    confirmed_by: str = ""
    occurrence_id: int | None = None

    @property
    def airs_local(self) -> datetime:
        """The wall-clock time it goes out: ``local_at``, or later when clocks skip that hour."""
        return self.due_at.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)


def airing_ref(placement_id: int, local_at: datetime) -> str:
    return f"{placement_id}-{local_at:%Y%m%dT%H%M}"


def week_airings(*, session: Session, channel: ChannelConfig, monday: date) -> list[Airing]:
    """Every airing of ``channel``'s placements (cancelled ones aside) in the week starting ``monday``."""
    lo, hi = datetime.combine(monday, time(0)), datetime.combine(monday + timedelta(days=7), time(0))
    rows = session.exec(select(Placement, Campaign, Message).join(Campaign, Campaign.id == Placement.campaign_id)
                        .join(Message, Message.id == Placement.message_id)
                        .where(Placement.channel_id == channel.id, Placement.status != PlacementStatus.cancelled)
                        .order_by(Placement.id)).all()
    out: list[Airing] = []
    for placement, campaign, message in rows:
        times = [t for t in schedule.occurrence_times(session=session, campaign=campaign, placement=placement)
                 if lo <= t.local_at < hi]
        if not times:
            continue
        spot = spot_of(session=session, campaign=campaign, placement=placement, kind=channel.kind)
        occurrences = {o.local_at: o for o in session.exec(select(Occurrence).where(
            Occurrence.placement_id == placement.id, Occurrence.local_at >= lo, Occurrence.local_at < hi))}
        for t in times:
            occ = occurrences.get(t.local_at)
            out.append(Airing(
                ref=airing_ref(placement.id, t.local_at), placement_id=placement.id, campaign_id=campaign.id,
                campaign=campaign.name, local_at=t.local_at, due_at=t.due_at, timezone=campaign.timezone,
                daypart=rules.daypart(t.local_at.time()), spot=placement.name or message.title,
                language=spot.language if spot else placement.language,
                duration_seconds=placement.duration_seconds or (spot.target_seconds if spot else None),
                script=spot.script if spot else "", audio=spot.audio if spot else (),
                placement_status=placement.status.value, status=occ.status.value if occ else "planned",
                reason=occ.reason if occ else "", confirmed_at=occ.confirmed_at if occ else None,
                confirmed_by=occ.confirmed_by if occ else "", occurrence_id=occ.id if occ else None))
    out.sort(key=lambda a: (a.local_at, a.placement_id))
    return out


def _aired_text(a: Airing) -> str:
    return {"aired": "yes", "missed": "no"}.get(a.status, "")


def runsheet_csv(airings: Sequence[Airing]) -> str:
    """The run sheet as CSV; ``aired`` and ``note`` carry what is confirmed so far, for the station to fill in."""
    return csv_text(CSV_COLUMNS, ([a.ref, a.airs_local.date().isoformat(), a.airs_local.strftime("%H:%M"), a.daypart, a.spot,
                                   a.campaign, a.language, a.duration_seconds if a.duration_seconds is not None else "",
                                   a.script, "; ".join(name for _, name in a.audio), _aired_text(a),
                                   a.reason if a.status in ("aired", "missed") else ""] for a in airings))


# --- Confirmations ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    line: int  # 0: not a line of a file (a form field)
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.line else self.column
        return f"{where}: {self.message}"


class ConfirmError(ValueError):
    """Confirmations that cannot be recorded; nothing was stored."""

    def __init__(self, problems: Sequence[Problem]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class Decision:
    status: OccurrenceStatus
    note: str = ""


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).strip().lower()


def parse_aired(value: str | None) -> OccurrenceStatus | None:
    """yes/oui/wi/1 -> aired, no/non/0 -> missed, blank -> None; ValueError otherwise."""
    text = _fold(value or "").strip("'\" ")
    if not text:
        return None
    if text in YES:
        return OccurrenceStatus.aired
    if text in NO:
        return OccurrenceStatus.missed
    raise ValueError(f"'{(value or '').strip()[:20]}' is not an answer: write yes, no, oui, non, wi, 1 or 0, "
                     "or leave it blank if it is not known yet.")


def _column_name(index: int, name: str) -> str:
    letters = ""
    n = index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters} ({name})"


def check_decisions(entries: Sequence[tuple[int, str, str, str, str, str]], airings: Sequence[Airing], *,
                    now: datetime, station: str, monday: date) -> dict[str, Decision]:
    """Entries (line, reference, aired value, note, reference column, aired column) checked against the week's airings."""
    known = {a.ref: a for a in airings}
    problems: list[Problem] = []
    out: dict[str, Decision] = {}
    seen: dict[str, tuple[int, OccurrenceStatus | None]] = {}
    for line, ref, value, note, ref_col, aired_col in entries:
        ref = ref.strip().lstrip("'")
        if not ref:
            problems.append(Problem(line, ref_col, "no airing reference: keep the first column of the run sheet as it was."))
            continue
        airing = known.get(ref)
        if airing is None:
            why = "is not an airing reference" if not _REF.match(ref) else \
                f"is not an airing of {station} in the week of {monday:%d %B %Y} ({week_label(monday)})"
            problems.append(Problem(line, ref_col, f"'{ref[:40]}' {why}: download this week's run sheet again."))
            continue
        try:
            status = parse_aired(value)
        except ValueError as err:
            problems.append(Problem(line, aired_col, str(err)))
            continue
        if ref in seen and seen[ref][1] != status:
            problems.append(Problem(line, aired_col, f"{ref} is also on line {seen[ref][0]} with another answer."))
            continue
        seen[ref] = (line, status)
        if status is None:
            continue
        if airing.due_at > now:
            problems.append(Problem(line, aired_col, f"the airing of {airing.local_at:%a %d %b %Y %H:%M} is still to come: "
                                                     "confirm it once it has aired (or leave it blank)."))
            continue
        if len(note) > 300:
            problems.append(Problem(line, "note", "a note may have at most 300 characters."))
            continue
        out[ref] = Decision(status, note.strip())
    if problems:
        raise ConfirmError(problems)
    return out


def read_confirmations(raw: bytes, airings: Sequence[Airing], *, now: datetime, station: str,
                       monday: date) -> dict[str, Decision]:
    """The answers of a run-sheet CSV sent back by a station; ConfirmError lists every problem, by line and column."""
    if raw[:4] == b"PK\x03\x04":
        raise ConfirmError([Problem(0, "file", "this is a spreadsheet file (XLSX): save it as CSV and send that.")])
    if len(raw) > MAX_UPLOAD_BYTES:
        raise ConfirmError([Problem(0, "file", f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise ConfirmError([Problem(0, "file", "the file is not text (save it as CSV, UTF-8).")]) from None
    if not text.strip():
        raise ConfirmError([Problem(0, "file", "the file is empty.")])
    first = text.splitlines()[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [_fold(h).strip("'") for h in next(reader)]
    except csv.Error as err:
        raise ConfirmError([Problem(1, "file", f"the file cannot be read as CSV ({err}).")]) from None
    missing = [name for name in ("airing", "aired") if name not in header]
    if missing:
        raise ConfirmError([Problem(1, name, f"there is no column '{name}': keep the run sheet's columns and "
                                             "write yes or no in 'aired'.") for name in missing])
    i_ref, i_aired = header.index("airing"), header.index("aired")
    i_note = header.index("note") if "note" in header else None
    entries = []
    # Lines are counted as a spreadsheet numbers its rows (the header is 1), so a script written
    # over several lines inside one cell does not shift the numbers.
    line = 1
    try:
        for line, row in enumerate(reader, start=2):
            if line - 1 > MAX_ROWS:
                raise ConfirmError([Problem(line, "file", f"a run sheet has at most {MAX_ROWS} rows.")])
            if not any(cell.strip() for cell in row):
                continue

            def cell(i: int | None, row: list[str] = row) -> str:
                return row[i] if i is not None and i < len(row) else ""

            entries.append((line, cell(i_ref), cell(i_aired), cell(i_note), _column_name(i_ref, "airing"),
                            _column_name(i_aired, "aired")))
    except csv.Error as err:
        raise ConfirmError([Problem(line + 1, "file", f"the file cannot be read as CSV ({err}).")]) from None
    return check_decisions(entries, airings, now=now, station=station, monday=monday)


@dataclass
class ConfirmResult:
    aired: int = 0
    missed: int = 0
    changed: int = 0
    unchanged: int = 0
    refs: list[str] = field(default_factory=list)


def confirm_airings(*, session: Session, channel: ChannelConfig, monday: date, decisions: Mapping[str, Decision],
                    airings: Sequence[Airing], actor: User | None, source: str, ip: str = "",
                    now: datetime | None = None) -> ConfirmResult:
    """Record ``decisions`` (checked by :func:`check_decisions`) on the airings' occurrences.

    The week's occurrences of each placement concerned are materialised first (idempotent). An
    occurrence whose status and note already say so is left alone, so the same file twice
    changes nothing; one audit event names what changed.
    """
    now = now or utcnow()
    by_ref = {a.ref: a for a in airings}
    result = ConfirmResult()
    placements: dict[int, dict[datetime, Occurrence]] = {}
    for ref, decision in decisions.items():
        airing = by_ref[ref]
        if airing.placement_id not in placements:
            placement = session.get(Placement, airing.placement_id)
            campaign = session.get(Campaign, placement.campaign_id)
            tz = ZoneInfo(campaign.timezone)
            start = rules.local_to_utc(datetime.combine(monday, time(0)), tz)
            end = rules.local_to_utc(datetime.combine(monday + timedelta(days=7), time(0)), tz)
            placements[airing.placement_id] = {o.local_at: o for o in schedule.materialise(
                session=session, campaign=campaign, placement=placement, window_start=start, window_end=end)}
        occ = placements[airing.placement_id].get(airing.local_at)
        if occ is None:  # pragma: no cover - materialise writes every time the run sheet lists
            raise ConfirmError([Problem(0, ref, "this airing could not be recorded; download the run sheet again.")])
        if decision.status == OccurrenceStatus.aired:
            result.aired += 1
        else:
            result.missed += 1
        if occ.status == decision.status and (occ.reason or "") == decision.note:
            result.unchanged += 1
            continue
        occ.status = decision.status
        occ.reason = decision.note[:300]
        occ.confirmed_at = now
        occ.confirmed_by = ((actor.full_name or actor.username) if actor else "")[:120]
        session.add(occ)
        sync_airing(session=session, occurrence=occ, now=now)  # the run sheet is the radio spot's delivery
        result.changed += 1
        result.refs.append(ref)
    if result.changed:
        session.flush()
        record_audit(session=session, actor=actor, action="airings.confirm", entity_type="campaign_channel",
                     entity_id=channel.id,
                     summary=f"Recorded {result.changed} airing(s) of {channel.name}, week {week_label(monday)}",
                     details={"week": week_label(monday), "aired": result.aired, "missed": result.missed,
                              "changed": result.changed, "source": source, "airings": result.refs[:200]}, ip=ip)
    return result

