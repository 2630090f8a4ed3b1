"""Channels Konbit plans for but does not send over: radio stations and training venues.

A station airs its spots from the week's run sheet and confirms them; a venue hosts training
sessions. Their classes only declare the settings the planner keeps about them.
"""

from __future__ import annotations

from campaign.adapters.base import Adapter, AdapterError, Outcome, Outgoing, Setting, register
from campaign.models import ChannelKind

__all__ = ["StationAdapter", "VenueAdapter"]


class _Offline(Adapter):
    def send(self, message: Outgoing) -> Outcome:
        raise AdapterError(f"A {self.kind.label} channel is not sent over: Konbit plans it and records what happened.")


@register
class StationAdapter(_Offline):
    provider = "station"
    kind = ChannelKind.radio
    label = "Radio station (run sheets and confirmations)"
    setting_fields = (
        Setting("frequency", required=True), Setting("contact_person"), Setting("contact_phone"), Setting("contact_email"),
        Setting("rating", float, check=lambda v: 0 < v <= 1, help="share of listeners who hear one airing, e.g. 0.15",
                message="The share of listeners who hear one airing is a number above 0, at most 1 (e.g. 0.15)."),
    )


@register
class VenueAdapter(_Offline):
    provider = "venue"
    kind = ChannelKind.training
    label = "Training venue"
    setting_fields = (Setting("address"), Setting("partner"), Setting("contact_person"), Setting("contact_phone"))
