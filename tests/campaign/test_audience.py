"""Segments' members and placements' recipients, as SQL on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from campaign import audience, schedule
from campaign.models import ChannelKind, ContactOptOut, Occurrence, Timing
from campaign.targeting import RuleError, describe, parse_rule
from sqlmodel import select
from tests.campaign.factories import approved_message, campaign_row, contacts, placement, segment, sms_channel


def test_rules_are_checked_and_name_the_bad_part():
    rule = parse_rule({"match": "all", "conditions": [
        {"field": "region", "op": "eq", "value": " Ouest "},
        {"field": "attributes.profession", "op": "in", "value": "Judge, prosecutor"}]})
    assert describe(rule) == "region is ouest and profession is one of judge, prosecutor"
    with pytest.raises(RuleError) as err:
        parse_rule({"match": "some", "conditions": [{"field": "phone", "op": "eq", "value": "1"},
                                                    {"field": "region", "op": "like", "value": "x"},
                                                    {"field": "language", "op": "eq", "value": ""}]})
    assert set(err.value.errors) == {"match", "conditions[0].field", "conditions[1].op", "conditions[2].value"}


def test_rule_segments_follow_contact_fields(session):
    judges = contacts(session, 3, region="Ouest", language="ht", profession="judge")
    contacts(session, 2, region="Nord", language="ht", profession="judge", start=10)
    contacts(session, 4, region="ouest", language="fr", profession="Prosecutor", start=20)
    contacts(session, 5, region="Ouest", language="ht", profession="police", start=30)
    rule = parse_rule({"conditions": [{"field": "region", "op": "eq", "value": "Ouest"},
                                      {"field": "attributes.profession", "op": "in", "value": ["judge", "prosecutor"]}]})
    assert audience.count_members(session=session, rule=rule) == 7
    either = parse_rule({"match": "any", "conditions": [{"field": "language", "op": "eq", "value": "fr"},
                                                        {"field": "region", "op": "eq", "value": "nord"}]})
    assert audience.count_members(session=session, rule=either) == 6
    judges[0].attributes = {"profession": "retired"}
    session.add(judges[0])
    session.flush()
    assert audience.count_members(session=session, rule=rule) == 6
    contains = parse_rule({"conditions": [{"field": "attributes.profession", "op": "contains", "value": "cut%"}]})
    assert audience.count_members(session=session, rule=contains) == 0


def test_recipients_leave_out_opted_out_unconsented_and_comparison_areas(session):
    seg = segment(session, "general_public")
    campaign = campaign_row(session, comparison_regions=["Sud-Est"])
    ok = contacts(session, 10, seg=seg)
    contacts(session, 3, seg=seg, consent=False, start=100)
    contacts(session, 4, seg=seg, region="Sud-Est", start=200)
    session.add(ContactOptOut(contact_id=ok[0].id, channel_kind=ChannelKind.sms, source="sms_keyword"))
    session.flush()
    rows = session.exec(audience.recipients_query(campaign=campaign, segments=[seg], kind=ChannelKind.sms)).all()
    assert [r[0] for r in rows] == [c.id for c in ok[1:]]
    assert {r[1] for r in rows} == {seg.id}
    found = audience.reach(session=session, campaign=campaign, segments=[seg], kind=ChannelKind.sms)
    assert (found.members, found.recipients) == (17, 9)
    assert found.excluded == {"no consent recorded": 3, "opted out": 1, "in a comparison region": 4}
    # An opt-out of SMS does not stop e-mail, but without an address nobody gets e-mail.
    email = audience.reach(session=session, campaign=campaign, segments=[seg], kind=ChannelKind.email)
    assert email.recipients == 0 and email.excluded["no address for this channel"] == 17


def test_materialising_twice_writes_each_occurrence_once(session, personas):
    message = approved_message(session, author=personas["carla"], approver=personas["leo"])
    campaign = campaign_row(session)
    row = placement(session, campaign=campaign, message=message, channel=sms_channel(session), timing=Timing.recurring,
                    starts_local=datetime(2026, 3, 2, 7, 30), rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR")
    end = datetime(2026, 3, 16, tzinfo=timezone.utc)
    first = schedule.materialise(session=session, campaign=campaign, placement=row, window_end=end)
    again = schedule.materialise(session=session, campaign=campaign, placement=row, window_end=end)
    assert len(first) == 6 and [o.id for o in again] == [o.id for o in first]
    assert len(session.exec(select(Occurrence)).all()) == 6
    later = schedule.materialise(session=session, campaign=campaign, placement=row,
                                 window_end=datetime(2026, 5, 30, tzinfo=timezone.utc))
    assert len(later) == 26  # Mondays, Wednesdays and Fridays of March and April 2026, no more
    assert later[0].due_at.replace(tzinfo=timezone.utc) == datetime(2026, 3, 2, 12, 30, tzinfo=timezone.utc)


def test_relative_occurrences_come_from_the_segments_members_only(session, personas):
    """Three days after consent, at 10:00: one occurrence per day the members' consents lead to."""
    from datetime import time

    from campaign.models import PlacementSegment
    seg, other = segment(session, "judges"), segment(session, "police")
    message = approved_message(session, author=personas["carla"], approver=personas["leo"])
    campaign = campaign_row(session)
    members = contacts(session, 3, seg=seg)
    outsider = contacts(session, 1, seg=other, start=50)[0]
    # 23:30 in Port-au-Prince on 1 March is 2 March in UTC: the contact's day is the local one.
    days = [datetime(2026, 3, 2, 4, 30, tzinfo=timezone.utc), datetime(2026, 3, 5, 15, tzinfo=timezone.utc),
            datetime(2026, 3, 5, 16, tzinfo=timezone.utc)]
    for contact, day in zip(members, days):
        contact.consent_at = day
    outsider.consent_at = datetime(2026, 3, 10, 15, tzinfo=timezone.utc)
    row = placement(session, campaign=campaign, message=message, channel=sms_channel(session), timing=Timing.relative,
                    starts_local=None, relative_field="consent_at", offset_days=3, at_time=time(10, 0))
    session.add(PlacementSegment(placement_id=row.id, segment_id=seg.id))
    session.flush()
    counts = schedule.relative_counts(session=session, campaign=campaign, placement=row)
    assert counts == {datetime(2026, 3, 4, 10, 0): 1, datetime(2026, 3, 8, 10, 0): 2}
    times = schedule.occurrence_times(session=session, campaign=campaign, placement=row)
    assert [t.local_at for t in times] == sorted(counts)
    assert times[0].due_at == datetime(2026, 3, 4, 15, 0, tzinfo=timezone.utc)
    only = schedule.relative_counts(session=session, campaign=campaign, placement=row, contacts=[members[0].id])
    assert only == {datetime(2026, 3, 4, 10, 0): 1}
