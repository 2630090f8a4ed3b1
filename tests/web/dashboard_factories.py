"""A campaign to draw: the demo KAP survey (two waves), an approved message aimed at one of its items,
an SMS placement and its delivery log (general public and police, some failed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlmodel import Session

from campaign.models import Delivery, DeliveryStatus, Occurrence, OccurrenceStatus
from content.models import MessageSurveyItem
from tests.campaign.factories import approved_message, campaign_row, contacts, placement, segment, sms_channel
from tests.surveys.factories import make_demo_survey


@dataclass(frozen=True)
class DashWorld:
    campaign_id: int
    survey_id: int
    message_id: int


def make_dash_world(engine, personas, *, per_wave: int = 120, seed: int = 5) -> DashWorld:
    kap = make_demo_survey(engine, per_wave=per_wave, seed=seed)
    with Session(engine, expire_on_commit=False) as s:
        carla, leo = s.merge(personas["carla"]), s.merge(personas["leo"])
        message = approved_message(s, author=carla, approver=leo, title="The law <2014> punishes trafficking")
        s.add(MessageSurveyItem(message_id=message.id, survey_id=kap.id, item_code="k_law"))
        camp = campaign_row(s, name="Kanpay <Nò> 2026", survey_id=kap.id, baseline_wave_id=kap.baseline.id,
                            endline_wave_id=kap.endline.id, regions=["Nord", "Ouest"])
        channel = sms_channel(s)
        row = placement(s, campaign=camp, message=message, channel=channel, name="Law SMS")
        public, police = segment(s, "general_public"), segment(s, "police")
        n = 0
        for day, people, seg, failed in ((datetime(2026, 3, 2, 14, tzinfo=timezone.utc), 30, public, 0),
                                         (datetime(2026, 3, 9, 14, tzinfo=timezone.utc), 10, police, 2)):
            occ = Occurrence(placement_id=row.id, local_at=day.replace(tzinfo=None), due_at=day,
                             status=OccurrenceStatus.expanded, recipients=people)
            s.add(occ)
            s.flush()
            for i, contact in enumerate(contacts(s, people, seg=seg, start=n)):
                status = DeliveryStatus.failed if i < failed else DeliveryStatus.delivered
                s.add(Delivery(occurrence_id=occ.id, placement_id=row.id, campaign_id=camp.id, channel_id=channel.id,
                               recipient_key=f"c{contact.id}", contact_id=contact.id, segment_id=seg.id, status=status,
                               reason="refused number" if status == DeliveryStatus.failed else "", due_at=day))
            n += people
        s.commit()
        return DashWorld(campaign_id=camp.id, survey_id=kap.id, message_id=message.id)
