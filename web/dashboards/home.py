"""What each role's home page lists: its own next work, with counts and links to the queues.

Communications staff: upcoming placements, delivery failures, content sent back for changes.
Enumerators: the open waves (all of them: no wave is assigned to anyone), what was sent back
to them (the phone's unsent interviews are counted in the browser, where they are). Supervisors: submissions waiting for
review, quality flags by enumerator. Leads: their campaigns' dashboards, content waiting for
approval. Administrators: users, locked accounts, system health.

Services: keyword-only, take a Session, never commit. Every count is one grouped query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from campaign.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, SchedulerLease
from campaign.service import calendar_events
from content.models import Message, MessageStatus, MessageTransition
from surveys import service as survey_service
from surveys.models import Submission, SubmissionStatus, Survey, Wave

from ..accounts.models import LoginAttempt, Role, User, utcnow

__all__ = ["Card", "Row", "home_cards", "menu_counts"]

UPCOMING_DAYS = 7
FAILURE_DAYS = 7
LIST_LIMIT = 8
#: A scheduler whose heartbeat is older than this is reported as stopped.
HEARTBEAT_STALE = timedelta(minutes=5)


@dataclass(frozen=True)
class Row:
    """One line of a card: what, a link, and a muted note (a date, a count)."""

    text: str
    href: str = ""
    note: str = ""
    tone: str = ""  # "", "warn" or "ok"


@dataclass
class Card:
    """A card of the home page: a title, its headline count, a link to the whole queue, lines."""

    key: str
    title: str
    count: int | None = None
    href: str = ""
    link_text: str = ""
    rows: list[Row] = field(default_factory=list)
    empty: str = "Nothing waiting."
    note: str = ""


# --- communications --------------------------------------------------------------------------


def upcoming_placements(*, session: Session, now: datetime, days: int = UPCOMING_DAYS) -> Card:
    """What goes out in the coming days in the campaigns not finished, from each placement's schedule."""
    events = []
    for campaign in session.exec(select(Campaign).where(
            col(Campaign.status).in_([CampaignStatus.active, CampaignStatus.draft, CampaignStatus.paused]))).all():
        today = now.astimezone(ZoneInfo(campaign.timezone)).date()
        for e in calendar_events(session=session, start=today, end=today + timedelta(days=days - 1),
                                 campaign_id=campaign.id, limit=500):
            events.append((e, campaign.name))
    events.sort(key=lambda pair: pair[0].local_at)
    return Card("upcoming", f"Upcoming placements (next {days} days)", len(events), "/campaigns/calendar", "Calendar",
                [Row(f"{e.title} · {e.channel}", f"/campaigns/{e.campaign_id}/placements/{e.placement_id}",
                     f"{e.local_at:%a %d %b %H:%M} · {name}" + (" · paused" if e.status == "paused" else ""))
                 for e, name in events[:LIST_LIMIT]],
                empty="Nothing planned in the coming week.")


def delivery_failures(*, session: Session, now: datetime, days: int = FAILURE_DAYS) -> Card:
    since = now - timedelta(days=days)
    rows = session.exec(select(Campaign.id, Campaign.name, func.count())
                        .join(Delivery, Delivery.campaign_id == Campaign.id)
                        .where(Delivery.status == DeliveryStatus.failed, col(Delivery.updated_at) >= since)
                        .group_by(Campaign.id, Campaign.name).order_by(func.count().desc())).all()
    return Card("failures", f"Delivery failures (last {days} days)", sum(n for _, _, n in rows), "/campaigns", "Campaigns",
                [Row(name, f"/campaigns/{cid}/deliveries?status=failed", f"{n:,} failed", "warn") for cid, name, n in rows],
                empty="No failed deliveries.")


def content_sent_back(*, session: Session) -> Card:
    """Drafts whose last review step sent them back: they wait for changes."""
    last = (select(MessageTransition.message_id, func.max(MessageTransition.id).label("last_id"))
            .group_by(MessageTransition.message_id).subquery())
    rows = session.exec(select(Message, MessageTransition)
                        .join(last, last.c.message_id == Message.id)
                        .join(MessageTransition, MessageTransition.id == last.c.last_id)
                        .where(Message.status == MessageStatus.draft, MessageTransition.action == "send_back")
                        .order_by(col(MessageTransition.at).desc())).all()
    return Card("sent_back", "Content waiting for changes", len(rows), "/content?status=draft", "Drafts",
                [Row(m.title, f"/content/{m.id}", (t.comment or "")[:120]) for m, t in rows[:LIST_LIMIT]],
                empty="No message was sent back.")


# --- enumerators -----------------------------------------------------------------------------


def open_waves(*, session: Session) -> Card:
    """Every wave open to enumerators: Konbit assigns no wave to anyone, so each enumerator sees them all."""
    rows = session.exec(select(Survey, Wave).join(Wave, Wave.survey_id == Survey.id).where(Wave.is_open == True)  # noqa: E712
                        .order_by(col(Survey.title), col(Wave.id))).all()
    return Card("open_waves", "Open waves", len(rows), "/collect", "Collect",
                [Row(f"{s.title} · {w.name}", f"/collect/{s.id}/{w.id}",
                     f"until {w.ends_on:%d %b %Y}" if w.ends_on else "") for s, w in rows[:LIST_LIMIT]],
                empty="No wave is open for collection.")


def sent_back_to(*, session: Session, user: User) -> Card:
    where = (Submission.enumerator_id == user.id, Submission.status == SubmissionStatus.has_issues)
    total = session.exec(select(func.count()).select_from(Submission).where(*where)).one()
    rows = session.exec(select(Submission, Survey.title).join(Survey, Survey.id == Submission.survey_id).where(*where)
                        .order_by(col(Submission.updated_at).desc()).limit(LIST_LIMIT)).all()
    return Card("returned", "Sent back to you", total, "/collect", "All your interviews",
                [Row(f"{title}: interview of {s.received_at:%d %b}" + (f" ({s.respondent_code})" if s.respondent_code else ""),
                     f"/collect/submissions/{s.id}", (s.review_comment or "")[:120], "warn") for s, title in rows],
                empty="Nothing was sent back to you.")


# --- supervisors -----------------------------------------------------------------------------


def waiting_review(*, session: Session) -> Card:
    rows = session.exec(select(Survey.id, Survey.title, Submission.status, func.count())
                        .join(Submission, Submission.survey_id == Survey.id)
                        .where(col(Submission.status).in_([SubmissionStatus.received, SubmissionStatus.has_issues]))
                        .group_by(Survey.id, Survey.title, Submission.status).order_by(col(Survey.title))).all()
    lines = []
    for sid, title, status, n in rows:
        status = SubmissionStatus(status)
        label = "received" if status == SubmissionStatus.received else "sent back, awaiting correction"
        lines.append(Row(title, f"/review?survey={sid}&status={status.value}", f"{n:,} {label}"))
    received = sum(n for _, _, s, n in rows if SubmissionStatus(s) == SubmissionStatus.received)
    return Card("review", "Submissions waiting for review", received, "/review?status=received", "Review queue", lines,
                empty="Nothing to review.")


def flags_by_enumerator(*, session: Session, viewer: User) -> Card:
    summary = survey_service.flag_summary(
        session=session, viewer=viewer, filters=survey_service.SubmissionFilter(status=SubmissionStatus.received))
    flagged = [e for e in summary if e.flagged]
    return Card("flags", "Quality flags by enumerator (waiting for review)", sum(e.flagged for e in flagged),
                "/review?status=received&flag=any", "Flagged submissions",
                [Row(e.enumerator, f"/review?status=received&flag=any&enumerator={e.enumerator_id or ''}",
                     f"{e.flagged} of {e.submissions} flagged: " + ", ".join(
                         f"{survey_service.rules.FLAG_LABELS.get(code, code).lower()} {n}" for code, n in
                         sorted(e.flags.items(), key=lambda kv: -kv[1])), "warn") for e in flagged[:LIST_LIMIT]],
                empty="No flagged submission waits for review.")


def fieldwork(*, session: Session) -> Card:
    """Open waves and their interviews so far, each linked to its progress page."""
    counts = dict(((sid, wid), n) for sid, wid, n in session.exec(
        select(Submission.survey_id, Submission.wave_id, func.count())
        .where(Submission.status != SubmissionStatus.rejected).group_by(Submission.survey_id, Submission.wave_id)).all())
    rows = session.exec(select(Survey, Wave).join(Wave, Wave.survey_id == Survey.id).where(Wave.is_open == True)  # noqa: E712
                        .order_by(col(Survey.title), col(Wave.id))).all()
    return Card("fieldwork", "Fieldwork progress", len(rows), "/surveys", "Surveys",
                [Row(f"{s.title} · {w.name}", f"/surveys/{s.id}/waves/{w.id}/progress",
                     f"{counts.get((s.id, w.id), 0):,} interviews" + (f", until {w.ends_on:%d %b}" if w.ends_on else ""))
                 for s, w in rows[:LIST_LIMIT]], empty="No wave is open.")


# --- leads -----------------------------------------------------------------------------------


def campaign_dashboards(*, session: Session, user: User) -> Card:
    """Active and paused campaigns, and finished or draft ones the user created or activated."""
    mine = (Campaign.created_by_id == user.id) | (Campaign.activated_by_id == user.id)
    rows = session.exec(select(Campaign).where(
        col(Campaign.status).in_([CampaignStatus.active, CampaignStatus.paused]) | mine)
        .order_by(col(Campaign.start_date).desc())).all()
    if not rows:
        rows = session.exec(select(Campaign).order_by(col(Campaign.start_date).desc()).limit(LIST_LIMIT)).all()
    return Card("dashboards", "Campaign dashboards", len(rows), "/campaigns", "All campaigns",
                [Row(c.name, f"/campaigns/{c.id}/dashboard",
                     f"{c.status.label} · {c.start_date:%d %b %Y} – {c.end_date:%d %b %Y}") for c in rows[:LIST_LIMIT]],
                empty="No campaign yet.")


def content_to_approve(*, session: Session) -> Card:
    rows = session.exec(select(Message).where(Message.status == MessageStatus.in_review)
                        .order_by(col(Message.updated_at))).all()
    return Card("approve", "Content waiting for approval", len(rows), "/content/review", "Review queue",
                [Row(m.title, f"/content/{m.id}", f"since {m.updated_at:%d %b}") for m in rows[:LIST_LIMIT]],
                empty="No message waits for approval.")


# --- administrators ----------------------------------------------------------------------------


def users_card(*, session: Session) -> Card:
    rows = session.exec(select(User.role, User.is_active, func.count()).group_by(User.role, User.is_active)).all()
    active = {Role(r): n for r, a, n in rows if a}
    inactive = sum(n for _, a, n in rows if not a)
    return Card("users", "Users", sum(active.values()), "/users", "Manage users",
                [Row(Role(r).label, "/users", f"{n} active") for r, n in sorted(active.items(), key=lambda kv: kv[0].value)]
                + ([Row("Deactivated", "/users", f"{inactive}")] if inactive else []), empty="No users.")


def locked_accounts(*, session: Session, now: datetime, max_failures: int, lockout_seconds: int) -> Card:
    since = now - timedelta(seconds=lockout_seconds)
    rows = session.exec(select(func.lower(LoginAttempt.username), func.count(), func.max(LoginAttempt.at))
                        .where(LoginAttempt.success == False, col(LoginAttempt.at) >= since,  # noqa: E712
                               LoginAttempt.reason != "locked")
                        .group_by(func.lower(LoginAttempt.username))).all()
    locked = [(name, n, at) for name, n, at in rows if n >= max_failures]
    return Card("locked", "Locked accounts", len(locked), "/audit", "Audit log",
                [Row(name, "/users", f"{n} failed attempts, last {at:%H:%M} UTC", "warn") for name, n, at in locked[:LIST_LIMIT]],
                empty="No account is locked.")


def system_health(*, session: Session, now: datetime) -> Card:
    rows: list[Row] = []
    try:
        session.exec(select(1)).one()
        rows.append(Row("Database", "/healthz", "answering", "ok"))
    except Exception:  # a database fault is what this card reports, not a reason to fail the page
        rows.append(Row("Database", "/healthz", "not answering", "warn"))
        return Card("health", "System health", None, "/healthz", "Health probe", rows)
    leases = session.exec(select(SchedulerLease)).all()
    if not leases:
        rows.append(Row("Scheduler", "", "no heartbeat yet (is `konbit scheduler` or `konbit serve` running?)", "warn"))
    for lease in leases:
        beat = lease.heartbeat_at if lease.heartbeat_at.tzinfo else lease.heartbeat_at.replace(tzinfo=now.tzinfo)
        stale = now - beat > HEARTBEAT_STALE
        rows.append(Row(f"Scheduler ({lease.name})", "", f"last heartbeat {beat:%d %b %H:%M} UTC"
                        + (", stopped?" if stale else "") + (f" · {lease.holder}" if lease.holder else ""),
                        "warn" if stale else "ok"))
    backlog = session.exec(select(func.count()).select_from(Delivery).where(
        Delivery.status == DeliveryStatus.queued, col(Delivery.next_attempt_at).is_not(None),
        col(Delivery.next_attempt_at) <= now)).one()
    sending = session.exec(select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.sending)).one()
    rows.append(Row("Outbox backlog", "", f"{backlog:,} due and waiting, {sending:,} sending", "warn" if backlog > 1000 else "ok"))
    return Card("health", "System health", backlog, "/healthz", "Health probe", rows, note="Outbox backlog in the count.")


# --- per role ------------------------------------------------------------------------------------


def home_cards(*, session: Session, user: User, settings: Any = None, now: datetime | None = None) -> list[Card]:
    """The cards of ``user``'s home page, in order, for their role."""
    now = now or utcnow()
    role = user.role
    if role == Role.communications:
        return [upcoming_placements(session=session, now=now), delivery_failures(session=session, now=now),
                content_sent_back(session=session)]
    if role == Role.enumerator:
        return [open_waves(session=session), sent_back_to(session=session, user=user)]
    if role == Role.supervisor:
        return [waiting_review(session=session), flags_by_enumerator(session=session, viewer=user),
                fieldwork(session=session)]
    if role == Role.lead:
        return [campaign_dashboards(session=session, user=user), content_to_approve(session=session),
                fieldwork(session=session)]
    max_failures = getattr(settings, "login_max_failures", 5)
    lockout = getattr(settings, "login_lockout_seconds", 15 * 60)
    return [users_card(session=session),
            locked_accounts(session=session, now=now, max_failures=max_failures, lockout_seconds=lockout),
            system_health(session=session, now=now), content_to_approve(session=session),
            waiting_review(session=session)]


def menu_counts(*, session: Session, user: User) -> dict[str, int]:
    """Menu path -> how many items wait there for ``user`` (only what is not zero)."""
    out: dict[str, int] = {}
    role = user.role
    if role in (Role.lead, Role.admin):
        out["/content/review"] = session.exec(select(func.count()).select_from(Message)
                                              .where(Message.status == MessageStatus.in_review)).one()
    if role in (Role.supervisor, Role.admin):
        out["/review"] = session.exec(select(func.count()).select_from(Submission)
                                      .where(Submission.status == SubmissionStatus.received)).one()
    if role in (Role.enumerator, Role.supervisor, Role.admin):
        out["/collect"] = session.exec(select(func.count()).select_from(Submission).where(
            Submission.enumerator_id == user.id, Submission.status == SubmissionStatus.has_issues)).one()
    if role in (Role.communications, Role.admin):
        since = utcnow() - timedelta(days=FAILURE_DAYS)
        out["/campaigns"] = session.exec(select(func.count()).select_from(Delivery).where(
            Delivery.status == DeliveryStatus.failed, col(Delivery.updated_at) >= since)).one()
    return {k: v for k, v in out.items() if v}
