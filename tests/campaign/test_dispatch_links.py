"""The links a worker puts in what it sends: the receipts webhook (with the channel's callback
token) for SMS gateways, the one-click unsubscribe link for e-mails, from KONBIT_PUBLIC_URL."""

from __future__ import annotations

from datetime import datetime, timezone

from campaign.dispatch import Worker, WorkerConfig
from campaign.models import ChannelConfig, ChannelKind, Contact, Delivery
from content.models import ContentVariant


def _delivery() -> Delivery:
    return Delivery(uid="7d3c0f0e-0000-4000-8000-000000000001", occurrence_id=1, placement_id=1, campaign_id=1,
                    channel_id=5, recipient_key="c1", contact_id=1, language="ht", due_at=datetime.now(timezone.utc))


def test_links_come_from_the_public_address(engine):
    worker = Worker(engine, WorkerConfig(public_url="https://konbit.example.org/"))
    contact = Contact(id=1, name="Roseline", phone="+50937000001", email="roseline@example.ht", language="ht")
    variant = ContentVariant(language="ht", channel="email", subject="Lwa 2014 la", body="Bonjou {name}")
    email = ChannelConfig(id=5, name="Mail", kind=ChannelKind.email, provider="smtp")
    out = worker._outgoing(email, _delivery(), contact, variant)
    assert out.unsubscribe_url == "https://konbit.example.org/unsubscribe/7d3c0f0e-0000-4000-8000-000000000001"
    assert out.to == "roseline@example.ht" and out.status_callback_url == ""
    sms = ChannelConfig(id=5, name="SMS", kind=ChannelKind.sms, provider="twilio")
    out = worker._outgoing(sms, _delivery(), contact, variant, "tok en")
    assert out.status_callback_url == "https://konbit.example.org/hooks/channels/5/receipts?token=tok+en"
    assert out.unsubscribe_url == "" and out.to == "+50937000001"
    # A channel's own template wins; without a public address nothing is invented.
    templated = ChannelConfig(id=5, name="SMS", kind=ChannelKind.sms, provider="generic_http",
                              settings={"status_callback_url": "https://relay.example/cb/{delivery_uid}"})
    assert worker._outgoing(templated, _delivery(), contact, variant, "t").status_callback_url.endswith("/cb/7d3c0f0e-0000-4000-8000-000000000001")
    bare = Worker(engine, WorkerConfig())
    assert bare._outgoing(sms, _delivery(), contact, variant, "t").status_callback_url == ""
