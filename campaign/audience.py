"""Who a segment or a placement reaches: segment rules and memberships as SQL over contacts.

Every count and every outbox expansion goes through :func:`recipients_query`, so the preview's
numbers are the delivery's numbers. Services: keyword-only, take a Session, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, false, func, literal, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from audiences.models import AudienceSegment

from .models import Campaign, ChannelKind, Contact, ContactOptOut, ContactSegment
from .targeting import Condition, Rule, parse_rule

__all__ = ["Reach", "condition_clause", "count_members", "member_clause", "reach", "recipients_query", "rule_clause"]


def _text(column: Any) -> ColumnElement:
    return func.lower(func.trim(func.coalesce(column, "")))


def condition_clause(c: Condition) -> ColumnElement:
    if c.field == "has_phone":
        clause = col(Contact.phone).is_not(None)
    elif c.field == "has_email":
        clause = col(Contact.email).is_not(None)
    elif c.field == "has_consent":
        clause = col(Contact.consent_at).is_not(None)
    else:
        if c.field in ("has_phone", "has_email", "has_consent"):  # pragma: no cover - handled above
            raise AssertionError(c.field)
        column = Contact.attributes[c.attribute].as_string() if c.attribute else getattr(Contact, c.field)
        value = _text(column)
        if c.op == "eq":
            return value == c.values[0]
        if c.op == "ne":
            return value != c.values[0]
        if c.op == "in":
            return value.in_(c.values)
        if c.op == "not_in":
            return value.not_in(c.values)
        if c.op == "contains":
            escaped = c.values[0].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return value.like(f"%{escaped}%", escape="\\")
        if c.op == "exists":
            return value != ""
        return value == ""  # missing
    return clause if c.values[0] == "yes" else not_(clause)


def rule_clause(rule: Rule) -> ColumnElement:
    clauses = [condition_clause(c) for c in rule.conditions]
    return and_(true(), *clauses) if rule.match == "all" else or_(false(), *clauses)


def member_clause(segment: AudienceSegment) -> ColumnElement:
    """Contacts in ``segment``: its rule, or its list memberships."""
    if segment.rule:
        return rule_clause(parse_rule(segment.rule))
    return col(Contact.id).in_(select(ContactSegment.contact_id).where(ContactSegment.segment_id == segment.id))


def count_members(*, session: Session, segment: AudienceSegment | None = None, rule: Rule | None = None) -> int:
    clause = rule_clause(rule) if rule is not None else member_clause(segment)
    return session.exec(select(func.count()).select_from(Contact).where(clause)).one()


def _address(kind: ChannelKind) -> ColumnElement:
    if kind == ChannelKind.sms:
        return col(Contact.phone).is_not(None)
    if kind == ChannelKind.email:
        return col(Contact.email).is_not(None)
    return true()


def _consented(kind: ChannelKind) -> ColumnElement:
    """Direct messages need recorded consent; an invitation to a training does not."""
    return col(Contact.consent_at).is_not(None) if kind.direct else true()


def _opted_out(kind: ChannelKind) -> ColumnElement:
    return col(Contact.id).in_(select(ContactOptOut.contact_id).where(ContactOptOut.channel_kind == kind))


def _outside_comparison(campaign: Campaign) -> ColumnElement:
    regions = [" ".join(r.split()).lower() for r in campaign.comparison_regions or []]
    return _text(Contact.region).not_in(regions) if regions else true()


def recipients_query(*, campaign: Campaign, segments: list[AudienceSegment], kind: ChannelKind):
    """SELECT contact id, first matching segment id of the contacts a placement sends to.

    Members of any of ``segments`` with an address for ``kind``, recorded consent, not opted out
    of ``kind`` (consent and address only for direct channels) and not in one of the campaign's comparison regions (no campaign activity there).
    """
    if not segments:
        return select(Contact.id, literal(None).label("segment_id")).where(false())
    clauses = [(member_clause(s), s.id) for s in segments]
    first = case(*[(clause, literal(sid)) for clause, sid in clauses], else_=literal(None))
    return (select(Contact.id, first.label("segment_id"))
            .where(or_(*[clause for clause, _ in clauses]))
            .where(_address(kind), _consented(kind), not_(_opted_out(kind)),
                   _outside_comparison(campaign))
            .order_by(Contact.id))


@dataclass
class Reach:
    """A placement's audience: who it sends to, and who its segments hold but it leaves out, and why."""

    recipients: int = 0
    members: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    by_segment: dict[str, int] = field(default_factory=dict)  # segment code -> recipients counted there first


def reach(*, session: Session, campaign: Campaign, segments: list[AudienceSegment], kind: ChannelKind) -> Reach:
    """Counts for the preview: recipients, and the members left out by reason (one query per reason)."""
    out = Reach()
    if not segments:
        return out
    members = or_(*[member_clause(s) for s in segments])
    count = lambda *where: session.exec(select(func.count()).select_from(Contact).where(members, *where)).one()  # noqa: E731
    out.members = count()
    sub = recipients_query(campaign=campaign, segments=segments, kind=kind).order_by(None).subquery()
    rows = session.exec(select(sub.c.segment_id, func.count()).group_by(sub.c.segment_id)).all()
    codes = {s.id: s.code for s in segments}
    for segment_id, n in rows:
        out.by_segment[codes.get(segment_id, "")] = n
        out.recipients += n
    reasons = [("no address for this channel", not_(_address(kind))),
               ("no consent recorded", col(Contact.consent_at).is_(None)),
               ("opted out", _opted_out(kind)),
               ("in a comparison region", not_(_outside_comparison(campaign)))]
    for label, clause in reasons:
        if label in ("no address for this channel", "no consent recorded") and not kind.direct:
            continue
        if label == "in a comparison region" and not campaign.comparison_regions:
            continue
        n = count(clause)
        if n:
            out.excluded[label] = n
    return out

