"""The outbox: an occurrence expands into delivery rows once, in each recipient's language."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import func, select

from campaign import outbox
from campaign.models import (
    ChannelConfig, ChannelKind, Contact, ContactOptOut, Delivery, DeliveryStatus, Occurrence, OccurrenceStatus,
    PlacementSegment, Timing, TrainingAttendance, TrainingSession,
)
from content.models import VariantIn
from tests.campaign.factories import approved_message, campaign_row, contacts, placement, segment, sms_channel

DUE = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)


def _occurrence(session, p, local=datetime(2026, 3, 2, 9, 0), **extra):
    occ = Occurrence(placement_id=p.id, local_at=local, due_at=DUE, **extra)
    session.add(occ)
    session.flush()
    return occ


def _sms_placement(session, personas, variants=None, **campaign):
    message = approved_message(session, author=personas["carla"], approver=personas["leo"], variants=variants)
    camp = campaign_row(session, **campaign)
    p = placement(session, campaign=camp, message=message, channel=sms_channel(session))
    seg = segment(session, "general_public")
    session.add(PlacementSegment(placement_id=p.id, segment_id=seg.id))
    session.flush()
    return camp, p, seg


def _rows(session, occ):
    return session.exec(select(Delivery).where(Delivery.occurrence_id == occ.id).order_by(Delivery.id)).all()


def test_it_expands_once_per_recipient_and_twice_creates_nothing(session, personas):
    camp, p, seg = _sms_placement(session, personas)
    people = contacts(session, 30, seg=seg)
    occ = _occurrence(session, p)
    first = outbox.expand_occurrence(session=session, occurrence=occ, now=DUE)
    assert (first.created, first.total) == (30, 30)
    again = outbox.expand_occurrence(session=session, occurrence=occ, now=DUE)
    assert (again.created, again.total) == (0, 30)
    rows = _rows(session, occ)
    assert [r.recipient_key for r in rows] == [f"c{c.id}" for c in people]
    assert {r.status for r in rows} == {DeliveryStatus.queued}
    assert all(r.next_attempt_at is not None and r.segment_id == seg.id for r in rows)
    assert len({r.uid for r in rows}) == 30
    assert occ.status == OccurrenceStatus.expanded and occ.recipients == 30


def test_a_fresh_expansion_that_meets_rows_written_since_its_count_keeps_each_recipient_once(session, personas):
    """The first expansion copies straight into the table (PostgreSQL); when another process wrote
    rows of the occurrence after this one counted none, the copy is refused by the unique key,
    rolled back to its savepoint, and the conflict-safe insert writes only what is missing."""
    camp, p, seg = _sms_placement(session, personas)
    people = contacts(session, 12, seg=seg)
    occ = _occurrence(session, p)
    outbox.expand_occurrence(session=session, occurrence=occ, now=DUE)
    stored = _rows(session, occ)
    session.delete(stored[-1])  # the other process had written all but the last recipient
    session.flush()
    template = stored[0]
    rows = [(outbox._uids(1)[0], f"c{c.id}", c.id, seg.id, template.language, template.variant_id, "queued", "",
             template.next_attempt_at) for c in people]
    constants = dict(occurrence_id=occ.id, placement_id=p.id, campaign_id=camp.id, channel_id=template.channel_id,
                     attempts=0, claimed_by="", gateway_message_id="", due_at=DUE, created_at=DUE, updated_at=DUE)
    outbox._insert(session, rows, constants, fresh=True)
    again = _rows(session, occ)
    assert sorted(r.recipient_key for r in again) == sorted(f"c{c.id}" for c in people)  # each once, none lost
    session.commit()  # the transaction is still good


def test_it_does_not_write_rows_for_opted_out_or_unconsented_contacts(session, personas):
    camp, p, seg = _sms_placement(session, personas)
    people = contacts(session, 5, seg=seg)
    contacts(session, 2, seg=seg, consent=False, start=100)
    session.add(ContactOptOut(contact_id=people[0].id, channel_kind=ChannelKind.sms, source="sms_keyword"))
    session.flush()
    occ = _occurrence(session, p)
    assert outbox.expand_occurrence(session=session, occurrence=occ, now=DUE).created == 4


def test_it_gives_each_recipient_their_language_or_the_fallback(session, personas):
    camp, p, seg = _sms_placement(session, personas, languages=["fr", "ht"])
    contacts(session, 2, seg=seg, language="ht")
    contacts(session, 2, seg=seg, language="fr", start=10)
    contacts(session, 2, seg=seg, language="es", start=20)  # no Spanish text: the campaign's first language
    contacts(session, 1, seg=seg, language="fr-HT", start=30)  # a regional tag: its base language
    occ = _occurrence(session, p)
    outbox.expand_occurrence(session=session, occurrence=occ, now=DUE)
    assert [r.language for r in _rows(session, occ)] == ["ht", "ht", "fr", "fr", "fr", "fr", "fr"]


def test_it_skips_with_the_reason_when_no_variant_fits(session, personas):
    camp, p, seg = _sms_placement(session, personas, languages=["en"],
                                  variants=[VariantIn(language="ht", channel="sms", body="Rele 188.")])
    # Only a Haitian Creole text; an English-only campaign and an English contact fall back to nothing.
    contacts(session, 1, seg=seg, language="en")
    occ = _occurrence(session, p)
    result = outbox.expand_occurrence(session=session, occurrence=occ, now=DUE)
    [row] = _rows(session, occ)
    assert result.skipped == 1
    assert row.status == DeliveryStatus.skipped and row.reason.startswith("missing variant")
    assert row.next_attempt_at is None


def test_it_fills_variables_from_the_contact():
    contact = Contact(name="Marie Joseph", region="Nippes", attributes={"school": "Lycée Anténor Firmin"})
    text = "Bonjou {first_name} ({name}) nan {region}, {school} / {attributes.school}; {unknown} {phone}."
    assert outbox.fill(text, contact) == ("Bonjou Marie (Marie Joseph) nan Nippes, Lycée Anténor Firmin / "
                                          "Lycée Anténor Firmin; {unknown} .")


def test_it_expands_a_radio_airing_and_a_training_session_for_the_run_sheet(session, personas):
    message = approved_message(session, author=personas["carla"], approver=personas["leo"], variants=[
        VariantIn(language="ht", channel="radio", body="Spot 30 s", target_seconds=30),
        VariantIn(language="ht", channel="briefing", body="Briefing notes")])
    camp = campaign_row(session)
    station = ChannelConfig(name="Radio Vision 2000", kind=ChannelKind.radio, provider="station")
    venue = ChannelConfig(name="École de la magistrature", kind=ChannelKind.training, provider="venue")
    session.add_all([station, venue])
    session.flush()
    radio = placement(session, campaign=camp, message=message, channel=station, language="ht")
    training = placement(session, campaign=camp, message=message, channel=venue, language="ht", timing=Timing.sessions)
    ts = TrainingSession(placement_id=training.id, starts_local=datetime(2026, 3, 2, 9, 0))
    session.add(ts)
    session.flush()
    judges = contacts(session, 3, consent=False)
    session.add_all([TrainingAttendance(session_id=ts.id, contact_id=c.id) for c in judges])
    session.flush()
    airing = _occurrence(session, radio)
    sitting = _occurrence(session, training, session_id=ts.id)
    outbox.expand_occurrence(session=session, occurrence=airing, now=DUE)
    outbox.expand_occurrence(session=session, occurrence=sitting, now=DUE)
    [row] = _rows(session, airing)
    assert (row.recipient_key, row.language, row.next_attempt_at) == ("airing", "ht", None)
    assert [r.recipient_key for r in _rows(session, sitting)] == [f"c{c.id}" for c in judges]
    assert all(r.next_attempt_at is None for r in _rows(session, sitting))  # attendance confirms them


def test_it_replays_what_a_pause_skipped_only_when_asked(session, personas):
    camp, p, seg = _sms_placement(session, personas)
    contacts(session, 4, seg=seg)
    occ = _occurrence(session, p)
    outbox.expand_occurrence(session=session, occurrence=occ, now=DUE)
    assert outbox.skip_queued(session=session, reason="placement paused", placement_ids={p.id: ""}, now=DUE) == 4
    assert {r.status for r in _rows(session, occ)} == {DeliveryStatus.skipped}
    assert outbox.replay_skipped(session=session, placement_id=p.id, reason_prefix="placement paused", now=DUE) == 4
    session.expire_all()
    assert {r.status for r in _rows(session, occ)} == {DeliveryStatus.queued}
    assert session.exec(select(func.count()).select_from(Delivery)).one() == 4
