"""Who a segment or a placement reaches: segment rules and memberships as SQL over contacts.

Every count and every outbox expansion goes through :func:`recipients_query`, so the preview's
numbers are the delivery's numbers. Services: keyword-only, take a Session, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, false, func, literal, not_, or_, true, union
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from audiences.models import AudienceSegment

from .models import Campaign, ChannelKind, Contact, ContactOptOut, ContactSegment
from .targeting import Condition, Rule, parse_rule

__all__ = ["Reach", "condition_clause", "count_members", "distinct_recipients", "member_clause", "reach", "recipients_query", "rule_clause"]


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
    """Counts for the preview: recipients, and the members left out by reason.

    One grouped query over the segments' members: the first segment each member is counted in,
    with a conditional sum per exclusion reason (a member may have several) and one for those
    who pass every test, the recipients. The recipients are :func:`recipients_query`'s rows.
    """
    out = Reach()
    if not segments:
        return out
    clauses = [(member_clause(s), s.id) for s in segments]
    first = case(*[(clause, literal(sid)) for clause, sid in clauses], else_=literal(None))
    reasons = [("no address for this channel", not_(_address(kind)), kind.direct),
               ("no consent recorded", col(Contact.consent_at).is_(None), kind.direct),
               ("opted out", _opted_out(kind), True),
               ("in a comparison region", not_(_outside_comparison(campaign)), bool(campaign.comparison_regions))]
    reasons = [(label, clause) for label, clause, applies in reasons if applies]
    passes = and_(_address(kind), _consented(kind), not_(_opted_out(kind)), _outside_comparison(campaign))
    flag = lambda clause: func.coalesce(func.sum(case((clause, 1), else_=0)), 0)  # noqa: E731
    query = (select(first.label("segment_id"), func.count(), flag(passes), *[flag(c) for _, c in reasons])
             .select_from(Contact).where(or_(*[clause for clause, _ in clauses])).group_by(first))
    codes = {s.id: s.code for s in segments}
    excluded = [0] * len(reasons)
    for segment_id, members, recipients, *by_reason in session.exec(query):
        out.members += members
        if recipients:
            out.by_segment[codes.get(segment_id, "")] = recipients
            out.recipients += recipients
        excluded = [a + int(b) for a, b in zip(excluded, by_reason)]
    out.excluded = {label: n for (label, _), n in zip(reasons, excluded) if n}
    return out


def distinct_recipients(*, session: Session, campaign: Campaign, plans: list[tuple[list[AudienceSegment], ChannelKind]]) -> int:
    """Distinct contacts that any of ``plans`` (segments, channel kind) sends to: one UNION query."""
    queries = [select(recipients_query(campaign=campaign, segments=segs, kind=kind).order_by(None).subquery().c.id)
               for segs, kind in plans if segs]
    if not queries:
        return 0
    return session.exec(select(func.count()).select_from(union(*queries).subquery())).one()
