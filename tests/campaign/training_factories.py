"""A training placement with sessions, written through the planning services."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import Session, select

from campaign import service as svc
from campaign.models import CampaignIn, ChannelKind, Timing, TrainingSession
from content.models import VariantIn
from tests.campaign.factories import approved_message, contacts, segment

BRIEFING = [VariantIn(language="fr", channel="briefing", body="Appliquer la loi CL/2014-0010.\n\n1. Les éléments."),
            VariantIn(language="ht", channel="briefing", body="Aplike lwa CL/2014-0010.")]
PAST = datetime(2026, 11, 10, 9)  # before the tests' "now"
FUTURE = datetime(2027, 2, 9, 9)
NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)  # the service tests' "now"


def around_today() -> dict[str, datetime]:
    """Sessions 20 days ago and in 60 days, for tests that go through the routes (the real now)."""
    today = datetime.now(timezone.utc).replace(tzinfo=None, hour=9, minute=0, second=0, microsecond=0)
    return {"past": today - timedelta(days=20), "future": today + timedelta(days=60)}


def training_setup(session: Session, personas, *, capacity_past: int | None = 10, capacity_future: int | None = 5,
                   judges: int = 6, prosecutors: int = 4, past: datetime = PAST, future: datetime = FUTURE):
    """A campaign around ``past`` and ``future`` with a training placement for judges and prosecutors:
    a session at each. Returns (campaign, placement, past, future, judges, prosecutors)."""
    carla, leo = personas["carla"], personas["leo"]
    message = approved_message(session, author=carla, approver=leo, title="Applying the 2014 law", variants=BRIEFING)
    campaign = svc.create_campaign(session=session, actor=carla, data=CampaignIn(
        name="Fòmasyon jij yo", start_date=past.date() - timedelta(days=10), end_date=future.date() + timedelta(days=30)))
    venue = svc.save_channel(session=session, actor=carla, secret_key="k" * 40, data=svc.ChannelIn(
        name="École de la Magistrature", kind=ChannelKind.training, provider="venue", audience_size=40))
    placement, _ = svc.create_placement(session=session, campaign=campaign, actor=carla, data=svc.PlacementIn(
        name="Judiciary trainings", message_id=message.id, channel_id=venue.id, segments=["judges", "prosecutors"],
        timing=Timing.sessions, language="fr",
        sessions=[svc.SessionIn(starts_local=past, venue="EMA, Port-au-Prince", facilitator="Me Guerline Exantus",
                                capacity=capacity_past),
                  svc.SessionIn(starts_local=future, venue="Tribunal civil, Jacmel", facilitator="Juge Wilson Mondésir",
                                capacity=capacity_future)]))
    sessions = session.exec(select(TrainingSession).where(TrainingSession.placement_id == placement.id)
                            .order_by(TrainingSession.starts_local)).all()
    j = contacts(session, judges, seg=segment(session, "judges"), start=0)
    p = contacts(session, prosecutors, seg=segment(session, "prosecutors"), start=100)
    for i, c in enumerate(j + p):
        c.name = f"Jij {i:02d}"
        c.email = f"jij{i:02d}@example.org"
        session.add(c)
    session.flush()
    return campaign, placement, sessions[0], sessions[1], j, p
