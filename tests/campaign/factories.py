"""Rows for campaign tests, written through the services where one exists."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlmodel import Session, select

from audiences.models import AudienceSegment
from campaign.models import Campaign, ChannelConfig, ChannelKind, Contact, ContactSegment, Placement, Timing
from content import service as content_svc
from content.models import MessageCreate, VariantIn
from web.accounts.models import Role, User


def approved_message(session: Session, *, author: User, approver: User, title: str = "Trafficking is a crime",
                     variants: list[VariantIn] | None = None):
    """A message with an approved version (written by ``author``, approved by ``approver``)."""
    variants = variants if variants is not None else [
        VariantIn(language="ht", channel="sms", body="Trafik moun se yon krim. Rele 188."),
        VariantIn(language="fr", channel="sms", body="La traite des personnes est un crime. Appelez le 188."),
    ]
    message = content_svc.create_message(session=session, data=MessageCreate(title=title, segments=["general_public"],
                                                                            variants=variants), actor=author)
    content_svc.transition(session=session, message=message, action="submit", actor=author)
    content_svc.transition(session=session, message=message, action="approve", actor=approver)
    session.flush()
    return message


def campaign_row(session: Session, **extra) -> Campaign:
    values = dict(name="Konbit kont trafik", start_date=date(2026, 3, 1), end_date=date(2026, 4, 30),
                  timezone="America/Port-au-Prince", languages=["ht", "fr"])
    values.update(extra)
    row = Campaign(**values)
    session.add(row)
    session.flush()
    return row


def segment(session: Session, code: str) -> AudienceSegment:
    return session.exec(select(AudienceSegment).where(AudienceSegment.code == code)).one()


def contacts(session: Session, n: int, *, seg: AudienceSegment | None = None, region: str = "Ouest",
             language: str = "ht", consent: bool = True, start: int = 0, **attributes) -> list[Contact]:
    rows = [Contact(phone=f"+509{30000000 + start + i}", language=language, region=region,
                    attributes=dict(attributes), consent_at=datetime(2026, 1, 5, tzinfo=timezone.utc) if consent else None,
                    consent_method="paper form")
            for i in range(n)]
    session.add_all(rows)
    session.flush()
    if seg is not None:
        session.add_all([ContactSegment(contact_id=c.id, segment_id=seg.id) for c in rows])
        session.flush()
    return rows


def sms_channel(session: Session, **extra) -> ChannelConfig:
    row = ChannelConfig(name="SMS gateway", kind=ChannelKind.sms, provider="generic_http",
                        settings={"url": "http://127.0.0.1:9/send"}, **extra)
    session.add(row)
    session.flush()
    return row


def placement(session: Session, *, campaign: Campaign, message, channel: ChannelConfig, timing: Timing = Timing.once,
              starts_local: datetime | None = datetime(2026, 3, 2, 9, 0), **extra) -> Placement:
    row = Placement(campaign_id=campaign.id, message_id=message.id, version_id=message.approved_version_id,
                    channel_id=channel.id, timing=timing, starts_local=starts_local, **extra)
    session.add(row)
    session.flush()
    return row


# A radio spot's script that starts like a spreadsheet formula (run-sheet CSV tests).
SPOT_SCRIPT = "=HYPERLINK(\"http://evil\")  Trafik moun se yon krim. Rele {{ hotline_number }}."
SPOT_TEXT = SPOT_SCRIPT.replace("{{ hotline_number }}", "188")  # as the run sheet shows it


def radio_station(session, name="Radio Kiskeya") -> ChannelConfig:
    row = ChannelConfig(name=name, kind=ChannelKind.radio, provider="station", settings={"frequency": "88.5 FM"},
                        audience_size=300_000)
    session.add(row)
    session.flush()
    return row


def radio_plan(session, personas, *, tz="America/Port-au-Prince", times=("07:30", "18:45"), station=None):
    message = approved_message(session, author=personas["carla"], approver=personas["leo"], title="Hotline spot", variants=[
        VariantIn(language="ht", channel="radio", body=SPOT_SCRIPT, target_seconds=30),
        VariantIn(language="fr", channel="radio", body="La traite est un crime.", target_seconds=30)])
    campaign = campaign_row(session, timezone=tz, start_date=date(2026, 3, 1), end_date=date(2026, 3, 31))
    station = station or radio_station(session)
    row = placement(session, campaign=campaign, message=message, channel=station, timing=Timing.recurring,
                    starts_local=datetime(2026, 3, 2), rrule="FREQ=DAILY;UNTIL=20260315T235959", times_of_day=list(times),
                    language="ht", duration_seconds=30, name="Hotline spot, daily")
    return campaign, station, row
