"""The HTTP channel adapters against a real local server playing Twilio, RapidPro, Graph, a webhook."""

from __future__ import annotations

import base64

import pytest

from campaign.adapters import REGISTRY, AdapterError, Outgoing, adapter_for
from campaign.adapters.rapidpro import RapidProAdapter
from campaign.adapters.twilio import TwilioAdapter, twilio_signature
from campaign.models import ChannelConfig, ChannelKind
from tests.campaign.http_peer import local_gateway


@pytest.fixture
def gateway():
    with local_gateway() as g:
        yield g


def _msg(i: int = 0, text: str = "Trafik moun se yon krim.", **extra) -> Outgoing:
    return Outgoing(delivery_uid=f"00000000-0000-4000-8000-{i:012d}", to=f"+5093000{i:04d}", text=text, **extra)


def _twilio(gateway, **settings) -> TwilioAdapter:
    return TwilioAdapter({"base_url": gateway.url, "account_sid": "AC123", "sender": "+15005550006", **settings},
                         {"auth_token": "s3cret-token"}, timeout=1.0)


# --- Twilio -------------------------------------------------------------------------------


def test_it_sends_a_twilio_message_with_basic_auth_and_keeps_the_sid(gateway):
    gateway.answer((201, {"sid": "SM0123456789abcdef", "status": "queued"}))
    adapter = _twilio(gateway)
    outcome = adapter.send(_msg(1, status_callback_url="https://konbit.example/hooks/channels/3/receipts?token=t"))
    adapter.close()
    assert outcome.ok and outcome.gateway_message_id == "SM0123456789abcdef"
    seen = gateway.seen[0]
    assert seen.path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"AC123:s3cret-token").decode()
    assert seen.form() == {"To": "+50930000001", "From": "+15005550006", "Body": "Trafik moun se yon krim.",
                           "StatusCallback": "https://konbit.example/hooks/channels/3/receipts?token=t"}


def test_it_uses_a_messaging_service_sid_as_sender(gateway):
    gateway.answer((201, {"sid": "SM1"}))
    _twilio(gateway, sender="MG999").send(_msg())
    assert gateway.seen[0].form()["MessagingServiceSid"] == "MG999" and "From" not in gateway.seen[0].form()


def test_it_does_not_retry_twilios_invalid_number(gateway):
    gateway.answer((400, {"code": 21211, "message": "The 'To' number +5090 is not a valid phone number.", "status": 400}))
    outcome = _twilio(gateway).send(_msg())
    assert not outcome.ok and not outcome.retryable
    assert "21211" in outcome.error and "HTTP 400" in outcome.error and "s3cret" not in outcome.error


@pytest.mark.parametrize(("status", "body"), [(500, {"message": "oops"}), (503, {}), (429, {"code": 20429})])
def test_it_retries_a_busy_or_broken_twilio(gateway, status, body):
    gateway.answer((status, body))
    outcome = _twilio(gateway).send(_msg())
    assert not outcome.ok and outcome.retryable and f"HTTP {status}" in outcome.error


def test_it_retries_a_twilio_that_hangs_past_the_timeout(gateway):
    gateway.answer(("hang", 3))
    outcome = _twilio(gateway).send(_msg())
    assert not outcome.ok and outcome.retryable and "did not answer within 1 s" in outcome.error


def test_it_retries_an_unreachable_gateway():
    adapter = TwilioAdapter({"base_url": "http://127.0.0.1:9", "account_sid": "AC1", "sender": "+1"}, {"auth_token": "x"})
    outcome = adapter.send(_msg())
    assert not outcome.ok and outcome.retryable and "could not reach" in outcome.error


def test_it_refuses_a_twilio_channel_without_a_token(gateway):
    with pytest.raises(AdapterError, match="auth token"):
        TwilioAdapter({"account_sid": "AC1", "sender": "+1"}, {}).send(_msg())


def test_it_reuses_one_connection_across_a_twilio_batch(gateway):
    gateway.answer((201, {"sid": "SM1"}))
    adapter = _twilio(gateway)
    outcomes = adapter.send_batch([_msg(i) for i in range(5)])
    adapter.close()
    assert [o.ok for o in outcomes] == [True] * 5 and len(gateway.seen) == 5


def test_it_reads_twilios_status_callbacks_and_inbound_messages():
    assert TwilioAdapter.parse_receipts({"MessageSid": "SM1", "MessageStatus": "delivered"})[0].delivered
    failed = TwilioAdapter.parse_receipts({"MessageSid": "SM2", "MessageStatus": "undelivered", "ErrorCode": "30003"})[0]
    assert not failed.delivered and "30003" in failed.error
    assert TwilioAdapter.parse_receipts({"MessageSid": "SM3", "MessageStatus": "sent"}) == []
    with pytest.raises(ValueError):
        TwilioAdapter.parse_receipts({"foo": "bar"})
    inbound = TwilioAdapter.parse_inbound({"From": "+50930000001", "Body": "STOP", "MessageSid": "SM9"})[0]
    assert (inbound.sender, inbound.text, inbound.external_id) == ("+50930000001", "STOP", "SM9")


def test_it_computes_twilios_signature_as_documented():
    # The example of Twilio's security documentation.
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
              "To": "+18005551212"}
    assert twilio_signature("https://mycompany.com/myapp.php?foo=1&bar=2", params, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


# --- RapidPro -----------------------------------------------------------------------------


def test_it_groups_identical_texts_into_rapidpro_broadcasts_of_at_most_100(gateway):
    gateway.answer((201, {"id": 77, "status": "queued"}))
    adapter = RapidProAdapter({"base_url": gateway.url + "/", "channel_uuid": "abc-uuid"}, {"api_token": "rp-token"})
    messages = [_msg(i) for i in range(150)] + [_msg(200, text="Rele 188."), _msg(201)]
    outcomes = adapter.send_batch(messages)
    adapter.close()
    assert len(outcomes) == 152 and all(o.ok and o.gateway_message_id == "77" for o in outcomes)
    assert [len(s.json()["urns"]) for s in gateway.seen] == [100, 50, 1, 1]
    first = gateway.seen[0]
    assert first.path == "/api/v2/broadcasts.json" and first.headers["authorization"] == "Token rp-token"
    assert first.json()["urns"][0] == "tel:+50930000000" and first.json()["channel"] == "abc-uuid"
    assert gateway.seen[2].json()["text"] == "Rele 188."


def test_it_fails_a_whole_rapidpro_broadcast_together(gateway):
    gateway.answer((400, {"urns": ["URN 0 is not a valid URN"]}))
    outcomes = RapidProAdapter({"base_url": gateway.url}, {"api_token": "t"}).send_batch([_msg(1), _msg(2)])
    assert [(o.ok, o.retryable) for o in outcomes] == [(False, False)] * 2 and "not a valid URN" in outcomes[0].error
    gateway.answer((502, {}))
    assert RapidProAdapter({"base_url": gateway.url}, {"api_token": "t"}).send(_msg()).retryable


def test_it_reads_rapidpro_inbound_webhooks():
    flow = {"contact": {"uuid": "c1", "name": "Jan", "urn": "tel:+50930000001"}, "input": {"urn": "tel:+50930000001",
            "text": "Kanpe"}, "run": {"uuid": "r-1"}}
    assert RapidProAdapter.parse_inbound(flow)[0].sender == "+50930000001"
    assert RapidProAdapter.parse_inbound(flow)[0].text == "Kanpe"
    legacy = {"event": "mo_sms", "phone": "+50930000002", "text": "STOP", "sms": "991"}
    assert RapidProAdapter.parse_inbound(legacy)[0].external_id == "991"
    assert RapidProAdapter.parse_inbound({"event": "mt_dlvd", "sms": "1"}) == []
    with pytest.raises(ValueError):
        RapidProAdapter.parse_receipts({"event": "mt_dlvd"})


# --- Facebook and webhooks ----------------------------------------------------------------


def test_it_posts_on_a_facebook_page_and_keeps_the_post_id(gateway):
    gateway.answer((200, {"id": "1234_5678"}))
    channel = ChannelConfig(name="Page", kind=ChannelKind.social, provider="facebook",
                            settings={"page_id": "1234", "graph_url": gateway.url + "/v19.0"})
    outcome = adapter_for(channel, {"page_token": "EAAB-page"}).send(_msg(text="Trafik moun se yon krim."))
    assert outcome.ok and outcome.delivered and outcome.gateway_message_id == "1234_5678"
    seen = gateway.seen[0]
    assert seen.path == "/v19.0/1234/feed" and seen.form() == {"message": "Trafik moun se yon krim.", "access_token": "EAAB-page"}


def test_it_tells_a_transient_graph_error_from_a_permanent_one(gateway):
    gateway.answer((400, {"error": {"message": "Invalid OAuth access token EAAB-page", "code": 190}}))
    adapter = REGISTRY["facebook"]({"page_id": "1", "graph_url": gateway.url}, {"page_token": "EAAB-page"})
    outcome = adapter.send(_msg())
    assert not outcome.retryable and "EAAB-page" not in outcome.error and "Invalid OAuth" in outcome.error
    gateway.answer((400, {"error": {"message": "Application request limit reached", "code": 4}}))
    assert adapter.send(_msg()).retryable


def test_it_posts_a_webhook_with_a_bearer_token_and_the_idempotency_key(gateway):
    gateway.answer((201, {"post_id": "p-42"}))
    adapter = REGISTRY["webhook"]({"url": gateway.url + "/post", "page_name": "Konbit"}, {"token": "wh-tok"})
    outcome = adapter.send(_msg(3, subject="Title", language="ht"))
    assert outcome.ok and outcome.gateway_message_id == "p-42"
    seen = gateway.seen[0]
    assert seen.headers["authorization"] == "Bearer wh-tok"
    assert seen.headers["idempotency-key"] == "00000000-0000-4000-8000-000000000003"
    assert seen.json() == {"delivery_uid": "00000000-0000-4000-8000-000000000003", "text": "Trafik moun se yon krim.",
                           "subject": "Title", "language": "ht", "page_name": "Konbit"}
    gateway.answer((500, {"detail": "down"}))
    failed = adapter.send(_msg())
    assert not failed.ok and failed.retryable and "down" in failed.error
    gateway.answer((403, {"detail": "bad token"}))
    assert not adapter.send(_msg()).retryable
