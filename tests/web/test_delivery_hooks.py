"""Gateways' callbacks and e-mail unsubscribe links through the app, on a real database, with a real
local HTTP server playing the gateway that carries the opt-out confirmations."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlmodel import Session, select

from campaign import hooks
from campaign.adapters.twilio import twilio_signature
from campaign.models import (
    ChannelConfig, ChannelKind, Contact, ContactOptOut, Delivery, DeliveryStatus, InboundMessage, Occurrence,
)
from campaign.optout import CONFIRMATIONS
from campaign.secrets import encrypt_secrets
from tests.campaign.factories import approved_message, campaign_row, placement
from tests.campaign.http_peer import local_gateway
from tests.conftest import TEST_SECRET

SID_OK, SID_BAD = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"


@pytest.fixture
def gateway():
    with local_gateway() as g:
        g.answer((201, {"sid": "SMconfirmation"}))
        yield g


def _channel(s: Session, *, provider: str = "twilio", kind: ChannelKind = ChannelKind.sms, settings: dict,
             secrets: dict) -> ChannelConfig:
    row = ChannelConfig(name=f"{provider} channel", kind=kind, provider=provider, settings=settings,
                        secrets_encrypted=encrypt_secrets(secrets, secret_key=TEST_SECRET))
    s.add(row)
    s.flush()
    return row


def _world(engine, personas, gateway) -> dict:
    with Session(engine, expire_on_commit=False) as s:
        message = approved_message(s, author=personas["carla"], approver=personas["leo"])
        campaign = campaign_row(s)
        sms = _channel(s, settings={"base_url": gateway.url, "account_sid": "AC1", "sender": "+15005550006"},
                       secrets={"auth_token": "tw-auth", "callback_token": "cb-token-123"})
        email = _channel(s, provider="smtp", kind=ChannelKind.email,
                         settings={"host": "127.0.0.1", "port": "25", "sender": "k@konbit.example"}, secrets={})
        jan = Contact(name="Jan", phone="+50930000001", email="jan@example.org", language="ht")
        marie = Contact(name="Marie", phone="+50930000002", email="marie@example.org", language="fr")
        s.add_all([jan, marie])
        s.flush()
        rows = {}
        for channel in (sms, email):
            p = placement(s, campaign=campaign, message=message, channel=channel)
            occ = Occurrence(placement_id=p.id, local_at=datetime(2026, 3, 2, 9), due_at=datetime(2026, 3, 2, 14, tzinfo=timezone.utc))
            s.add(occ)
            s.flush()
            for contact, sid in ((jan, SID_OK), (marie, SID_BAD)):
                d = Delivery(occurrence_id=occ.id, placement_id=p.id, campaign_id=campaign.id, channel_id=channel.id,
                             recipient_key=f"c{contact.id}", contact_id=contact.id, due_at=occ.due_at,
                             status=DeliveryStatus.sent, gateway_message_id=sid if channel is sms else "")
                s.add(d)
                s.flush()
                rows[(channel.kind.value, contact.name)] = d.uid
        s.commit()
        return {"sms": sms.id, "email": email.id, "jan": jan.id, "marie": marie.id, "uids": rows}


def _status(engine, uid: str) -> tuple[DeliveryStatus, str, datetime | None]:
    with Session(engine) as s:
        row = s.exec(select(Delivery).where(Delivery.uid == uid)).one()
        return row.status, row.reason, row.delivered_at


def test_it_moves_deliveries_to_delivered_or_failed_on_authenticated_receipts(client, engine, personas, gateway):
    w = _world(engine, personas, gateway)
    url = f"/hooks/channels/{w['sms']}/receipts"
    assert hooks.receipts_path(w["sms"], "cb-token-123") == f"{url}?token=cb-token-123"
    r = client.post(hooks.receipts_path(w["sms"], "cb-token-123"), data={"MessageSid": SID_OK, "MessageStatus": "delivered"})
    assert r.status_code == 200 and r.json() == {"delivered": 1, "failed": 0, "unchanged": 0, "unknown": 0}
    status, _, delivered_at = _status(engine, w["uids"][("sms", "Jan")])
    assert status == DeliveryStatus.delivered and delivered_at is not None
    # Repeated, then a late failure after delivery: nothing changes.
    assert client.post(f"{url}?token=cb-token-123", data={"MessageSid": SID_OK, "MessageStatus": "delivered"}).json()["unchanged"] == 1
    client.post(url, data={"MessageSid": SID_OK, "MessageStatus": "failed"}, headers={"Authorization": "Bearer cb-token-123"})
    assert _status(engine, w["uids"][("sms", "Jan")])[0] == DeliveryStatus.delivered
    r = client.post(url, data={"MessageSid": SID_BAD, "MessageStatus": "undelivered", "ErrorCode": "30003"},
                    headers={"X-Konbit-Token": "cb-token-123"})
    assert r.json()["failed"] == 1
    status, reason, _ = _status(engine, w["uids"][("sms", "Marie")])
    assert status == DeliveryStatus.failed and "30003" in reason
    # An id no delivery of this channel has is counted, not stored.
    assert client.post(f"{url}?token=cb-token-123", data={"MessageSid": "SMnope", "MessageStatus": "delivered"}).json()["unknown"] == 1
    # Intermediate statuses are not a final word.
    assert client.post(f"{url}?token=cb-token-123", data={"MessageSid": SID_BAD, "MessageStatus": "sent"}).json() == {
        "delivered": 0, "failed": 0, "unchanged": 0, "unknown": 0}


def test_it_takes_twilios_signature_instead_of_the_token(client, engine, personas, gateway):
    w = _world(engine, personas, gateway)
    url = f"http://testserver/hooks/channels/{w['sms']}/receipts"
    form = {"MessageSid": SID_OK, "MessageStatus": "delivered", "AccountSid": "AC1"}
    good = twilio_signature(url, form, "tw-auth")
    assert client.post(url, data=form, headers={"X-Twilio-Signature": good}).status_code == 200
    assert _status(engine, w["uids"][("sms", "Jan")])[0] == DeliveryStatus.delivered
    bad = twilio_signature(url, {**form, "MessageStatus": "failed"}, "tw-auth")
    assert client.post(url, data=form, headers={"X-Twilio-Signature": bad}).status_code == 403


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("/hooks/channels/{sms}/receipts", {}, 401),
    ("/hooks/channels/{sms}/receipts?token=wrong", {}, 403),
    ("/hooks/channels/{sms}/receipts", {"Authorization": "Bearer cb-token-12"}, 403),
    ("/hooks/channels/{sms}/inbound?token=cb-token-1234", {}, 403),
    ("/hooks/channels/{email}/receipts?token=cb-token-123", {}, 403),  # a channel without a callback token
    ("/hooks/channels/987654/receipts?token=cb-token-123", {}, 403),
    ("/hooks/channels/99999999999999/inbound?token=cb-token-123", {}, 403),
    ("/hooks/channels/{sms}/receipts?token=wrong", {"X-Twilio-Signature": "AAAA"}, 403),
])
def test_it_refuses_callers_without_the_right_credentials(client, engine, personas, gateway, path, headers, status):
    w = _world(engine, personas, gateway)
    r = client.post(path.format(**w), data={"MessageSid": SID_OK, "MessageStatus": "delivered"}, headers=headers)
    assert r.status_code == status and r.json()["detail"]
    assert _status(engine, w["uids"][("sms", "Jan")])[0] == DeliveryStatus.sent


def test_it_answers_unreadable_bodies_with_400(client, engine, personas, gateway):
    w = _world(engine, personas, gateway)
    url = f"/hooks/channels/{w['sms']}/receipts?token=cb-token-123"
    r = client.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["detail"]
    r = client.post(url, json={"foo": "bar"})
    assert r.status_code == 400 and "MessageSid" in r.json()["detail"]
    r = client.post(f"/hooks/channels/{w['sms']}/inbound?token=cb-token-123", json=[1, 2])
    assert r.status_code == 400


def test_a_stop_opts_the_contact_out_and_is_confirmed_once_in_their_language(client, engine, personas, gateway):
    w = _world(engine, personas, gateway)
    url = f"/hooks/channels/{w['sms']}/inbound?token=cb-token-123"
    r = client.post(url, data={"From": "+50930000001", "Body": "Kanpe tanpri!", "MessageSid": "SMin1"})
    assert r.status_code == 200 and "<Response>" in r.text
    with Session(engine) as s:
        optout = s.exec(select(ContactOptOut)).one()
        assert (optout.contact_id, optout.channel_kind, optout.source, optout.detail) == (w["jan"], ChannelKind.sms,
                                                                                          "sms_keyword", "KANPE")
    assert len(gateway.seen) == 1
    assert gateway.seen[0].form()["To"] == "+50930000001" and gateway.seen[0].form()["Body"] == CONFIRMATIONS["ht"]
    # The gateway posts the same message again, then the contact sends STOP again: no second answer.
    client.post(url, data={"From": "+50930000001", "Body": "Kanpe tanpri!", "MessageSid": "SMin1"})
    client.post(url, data={"From": "+50930000001", "Body": "STOP", "MessageSid": "SMin2"})
    assert len(gateway.seen) == 1
    # Marie writes in French, with an accent and local digits: answered in French.
    client.post(url, data={"From": "3000-0002", "Body": "Arrêt", "MessageSid": "SMin3"})
    assert len(gateway.seen) == 2 and gateway.seen[1].form()["Body"] == CONFIRMATIONS["fr"]
    client.post(url, data={"From": "+50930000001", "Body": "Mèsi pou enfòmasyon an", "MessageSid": "SMin4"})
    client.post(url, data={"From": "+50939999999", "Body": "STOP", "MessageSid": "SMin5"})
    with Session(engine) as s:
        actions = [(m.external_id, m.action) for m in s.exec(select(InboundMessage).order_by(InboundMessage.id))]
        assert s.exec(select(ContactOptOut)).all().__len__() == 2
    assert actions == [("SMin1", "opted_out"), ("SMin2", "already_opted_out"), ("SMin3", "opted_out"),
                       ("SMin4", "ignored"), ("SMin5", "unknown_sender")]
    assert len(gateway.seen) == 2


def test_a_rapidpro_flow_webhook_opts_out_with_a_bearer_token(client, engine, personas, gateway):
    w = _world(engine, personas, gateway)
    gateway.answer((201, {"id": 5}))
    with Session(engine, expire_on_commit=False) as s:
        rp = _channel(s, provider="rapidpro", settings={"base_url": gateway.url}, secrets={"api_token": "rp", "callback_token": "rp-cb"})
        s.commit()
    body = {"contact": {"uuid": "u1", "name": "Marie", "urn": "tel:+50930000002"}, "input": {"text": "ALTO", "urn": "tel:+50930000002"},
            "run": {"uuid": "run-1"}}
    r = client.post(f"/hooks/channels/{rp.id}/inbound", json=body, headers={"Authorization": "Bearer rp-cb"})
    assert r.status_code == 200 and r.json() == {"received": 1, "actions": ["opted_out"]}
    assert gateway.seen[0].path == "/api/v2/broadcasts.json"
    assert gateway.seen[0].json()["urns"] == ["tel:+50930000002"] and gateway.seen[0].json()["text"] == CONFIRMATIONS["fr"]
    # RapidPro has no per-message receipts: said plainly, not a 500.
    r = client.post(hooks.receipts_path(rp.id), json={"event": "mt_dlvd", "sms": 1}, headers={"X-Konbit-Token": "rp-cb"})
    assert r.status_code == 400 and "does not take delivery receipts" in r.json()["detail"]


def test_the_unsubscribe_link_opts_out_only_its_contact_of_email(client, engine, personas, gateway):
    w = _world(engine, personas, gateway)
    uid = w["uids"][("email", "Jan")]
    page = client.get(f"/unsubscribe/{uid}")
    assert page.status_code == 200 and "j•••@example.org" in page.text and "jan@example.org" not in page.text
    assert 'action="/unsubscribe/' in page.text
    # RFC 8058: the mail client POSTs List-Unsubscribe=One-Click, with no cookie and no CSRF token.
    r = client.post(f"/unsubscribe/{uid}", content=b"List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "You are unsubscribed" in r.text
    with Session(engine) as s:
        rows = s.exec(select(ContactOptOut)).all()
    assert [(o.contact_id, o.channel_kind, o.source) for o in rows] == [(w["jan"], ChannelKind.email, "email_link")]
    assert "one-click" in rows[0].detail
    assert client.post(f"/unsubscribe/{uid}").status_code == 200  # again: still one row
    assert "You are unsubscribed" in client.get(f"/unsubscribe/{uid}").text
    # An SMS delivery's uid (gateways see those), an unknown uid and garbage are not unsubscribe links.
    for bad in (w["uids"][("sms", "Marie")], "00000000-0000-4000-8000-000000000000", "x" * 300, "1"):
        assert client.get(f"/unsubscribe/{bad}").status_code == 404
        assert client.post(f"/unsubscribe/{bad}", content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 404
    with Session(engine) as s:
        assert len(s.exec(select(ContactOptOut)).all()) == 1


def test_the_channel_page_shows_the_addresses_to_give_the_gateway(client, engine, personas, gateway):
    from tests.factories import login  # noqa: PLC0415

    w = _world(engine, personas, gateway)
    login(client, "carla")
    page = client.get(f"/campaigns/channels/{w['sms']}/edit").text
    assert f"http://testserver/hooks/channels/{w['sms']}/receipts?token=TOKEN" in page
    assert f"http://testserver/hooks/channels/{w['sms']}/inbound?token=TOKEN" in page
    assert "cb-token-123" not in page
    assert "gateway-callbacks" not in client.get(f"/campaigns/channels/{w['email']}/edit").text
