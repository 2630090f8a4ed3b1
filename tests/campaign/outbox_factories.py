"""Rows for the delivery tests: an active campaign with one SMS placement to N consenting contacts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import insert
from sqlmodel import Session, select

from campaign.models import (
    Campaign, CampaignStatus, ChannelConfig, ChannelKind, Contact, ContactSegment, Occurrence, Placement,
    PlacementSegment, Timing,
)
from content.models import VariantIn
from tests.campaign.factories import approved_message, segment


@dataclass
class SmsSetup:
    campaign: Campaign
    channel: ChannelConfig
    placement: Placement
    contact_ids: list[int]


def bulk_contacts(session: Session, n: int, *, segment_id: int, start: int = 0, language: str = "ht") -> list[int]:
    """``n`` consenting contacts in a list segment, written in bulk (fast for thousands)."""
    now = datetime.now(timezone.utc)
    import uuid  # noqa: PLC0415

    rows = [dict(uid=str(uuid.uuid4()), name=f"Kontak {start + i}", phone=f"+5093{start + i:07d}", language=language,
                 region="Ouest", attributes={}, consent_at=now, consent_method="paper form", consent_recorded_by="",
                 created_at=now, updated_at=now) for i in range(n)]
    if not rows:
        return []
    for k in range(0, n, 5000):
        session.execute(insert(Contact.__table__), rows[k:k + 5000])
    ids = list(session.exec(select(Contact.id).where(Contact.phone >= rows[0]["phone"], Contact.phone <= rows[-1]["phone"])
                            .order_by(Contact.id)))
    for k in range(0, len(ids), 5000):
        session.execute(insert(ContactSegment.__table__),
                        [{"contact_id": i, "segment_id": segment_id} for i in ids[k:k + 5000]])
    return ids


def sms_setup(session: Session, personas: dict, *, n: int, url: str, starts_local: datetime | None = None,
              timing: Timing = Timing.once, tz: str = "UTC", **channel) -> SmsSetup:
    message = approved_message(session, author=personas["carla"], approver=personas["leo"], variants=[
        VariantIn(language="ht", channel="sms", body="Bonjou {name}, trafik moun se yon krim. Rele 188."),
        VariantIn(language="fr", channel="sms", body="Bonjour {name}, la traite est un crime. Appelez le 188.")])
    today = datetime.now(timezone.utc).date()
    camp = Campaign(name="Konbit kont trafik", start_date=today - timedelta(days=1), end_date=today + timedelta(days=30),
                    timezone=tz, languages=["ht", "fr"], status=CampaignStatus.active)
    settings = {"url": url, "sender": "KONBIT", **channel.pop("settings", {})}
    chan = ChannelConfig(name="Local gateway", kind=ChannelKind.sms, provider="generic_http", settings=settings, **channel)
    session.add_all([camp, chan])
    session.flush()
    seg = segment(session, "general_public")
    p = Placement(campaign_id=camp.id, message_id=message.id, version_id=message.approved_version_id, channel_id=chan.id,
                  timing=timing, starts_local=starts_local or datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0))
    session.add(p)
    session.flush()
    session.add(PlacementSegment(placement_id=p.id, segment_id=seg.id))
    ids = bulk_contacts(session, n, segment_id=seg.id)
    session.commit()
    return SmsSetup(campaign=camp, channel=chan, placement=p, contact_ids=ids)


def due_occurrence(session: Session, setup: SmsSetup, *, due: datetime | None = None) -> Occurrence:
    due = due or datetime.now(timezone.utc)
    occ = Occurrence(placement_id=setup.placement.id, local_at=due.replace(tzinfo=None, microsecond=0), due_at=due)
    session.add(occ)
    session.flush()
    return occ
