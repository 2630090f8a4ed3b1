"""Providers declare their settings on their adapter class; channels store them typed, as JSON."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from campaign import service as svc
from campaign.adapters import REGISTRY, Adapter, Outcome, Outgoing, Setting, adapter_for, register
from campaign.models import ChannelConfig, ChannelKind
from campaign.secrets import decrypt_secrets
from tests.campaign.test_http_json_adapter import _Server
from tests.conftest import TEST_SECRET
from tests.factories import bearer, login


@pytest.fixture
def pigeon():
    """A provider that exists only as an adapter class: no list anywhere else names it."""

    @register
    class PigeonAdapter(Adapter):
        provider = "pigeon"
        kind = ChannelKind.sms
        label = "Carrier pigeon"
        setting_fields = (Setting("loft", required=True), Setting("birds", int, minimum=1, maximum=12))
        secret_fields = ("ring_code",)

        def send(self, message: Outgoing) -> Outcome:
            return Outcome(ok=True, gateway_message_id=f"coo-{message.delivery_uid}")

    yield PigeonAdapter
    REGISTRY.pop("pigeon", None)


def _save(session, **values) -> ChannelConfig:
    return svc.save_channel(session=session, actor=None, secret_key=TEST_SECRET, data=svc.ChannelIn(**values))


def test_it_takes_a_new_provider_from_its_adapter_class_alone(session, pigeon):
    assert svc.PROVIDERS[ChannelKind.sms]["pigeon"] is pigeon
    channel = _save(session, name="Loft", kind=ChannelKind.sms, provider="pigeon", settings={"loft": "Jacmel", "birds": "4"},
                    secrets={"ring_code": "r-1"})
    assert channel.settings == {"loft": "Jacmel", "birds": 4}
    assert decrypt_secrets(channel.secrets_encrypted, secret_key=TEST_SECRET) == {"ring_code": "r-1"}
    with pytest.raises(svc.PlanError) as err:
        _save(session, name="Loft", kind=ChannelKind.sms, provider="pigeon", settings={"birds": 40, "wings": "2"})
    assert set(err.value.errors) == {"settings", "settings.loft", "settings.birds"}
    assert "wings" in err.value.errors["settings"] and "birds" in err.value.errors["settings.birds"]


def test_it_does_not_offer_a_provider_for_a_kind_it_does_not_serve(session, pigeon):
    assert "pigeon" not in svc.PROVIDERS[ChannelKind.email]
    with pytest.raises(svc.PlanError) as err:
        _save(session, name="x", kind=ChannelKind.email, provider="pigeon", settings={"loft": "x"})
    assert "smtp" in err.value.errors["provider"]


def test_it_stores_the_http_gateway_settings_as_json_values(session):
    channel = _save(session, name="gw", kind=ChannelKind.sms, provider="generic_http", settings={
        "url": "http://127.0.0.1:9/send", "headers": '{"X-Account": "7"}', "body_template": {"dest": "{to}", "n": [1]},
        "id_field": "data.id", "concurrency": "3", "status_callback_url": "https://konbit.example/cb/{delivery_uid}"})
    assert channel.settings == {"url": "http://127.0.0.1:9/send", "headers": {"X-Account": "7"},
                                "body_template": {"dest": "{to}", "n": [1]}, "id_field": "data.id", "concurrency": 3,
                                "status_callback_url": "https://konbit.example/cb/{delivery_uid}"}


@pytest.mark.parametrize("settings, field, words", [
    ({"headers": '["X-Account"]'}, "headers", "headers setting must be a JSON object"),
    ({"headers": "X-Account: 7"}, "headers", "headers setting must be a JSON object"),
    ({"headers": {"X-Account": {"nested": 1}}}, "headers", "header names and text values"),
    ({"body_template": "{'to': '{to}'}"}, "body_template", "body_template setting must be a JSON object"),
    ({"concurrency": "65"}, "concurrency", "concurrency setting must be a whole number from 1 to 64"),
    ({"concurrency": "eight"}, "concurrency", "concurrency setting must be a whole number from 1 to 64"),
    ({"concurrency": 2.5}, "concurrency", "whole number"),
    ({"status_callback_url": "konbit.example/cb"}, "status_callback_url", "http:// or https://"),
])
def test_it_names_the_setting_it_refuses(session, settings, field, words):
    with pytest.raises(svc.PlanError) as err:
        _save(session, name="gw", kind=ChannelKind.sms, provider="generic_http",
              settings={"url": "http://127.0.0.1:9/send", **settings})
    assert set(err.value.errors) == {f"settings.{field}"}
    assert words in err.value.errors[f"settings.{field}"]


def test_an_smtp_channel_takes_an_unsubscribe_url_and_a_numeric_port(session):
    channel = _save(session, name="mail", kind=ChannelKind.email, provider="smtp", settings={
        "host": "127.0.0.1", "port": "2525", "sender": "k@konbit.example",
        "unsubscribe_url": "https://konbit.example/u/{delivery_uid}"})
    assert channel.settings["unsubscribe_url"] == "https://konbit.example/u/{delivery_uid}"
    assert channel.settings["port"] == 2525


def test_the_api_configures_a_gateway_that_sends_with_its_headers_and_body(client, engine, personas):
    server = _Server(200, {"data": {"msg": "gw-9"}})
    try:
        auth = bearer(client, "carla")
        r = client.post("/api/v1/campaigns/channels", headers=auth, json={
            "name": "Digicel", "kind": "sms", "provider": "generic_http",
            "settings": {"url": server.url, "sender": "KONBIT", "headers": {"X-Account": "konbit-7"},
                         "body_template": {"dest": ["{to}"], "body": "{text} ({language})", "ref": "{delivery_uid}"},
                         "id_field": "data.msg", "concurrency": 2},
            "secrets": {"auth_token": "tok-api-1"}})
        assert r.status_code == 201, r.text
        assert r.json()["settings"]["headers"] == {"X-Account": "konbit-7"} and r.json()["settings"]["concurrency"] == 2
        bad = client.post("/api/v1/campaigns/channels", headers=auth, json={
            "name": "Bad", "kind": "sms", "provider": "generic_http",
            "settings": {"url": server.url, "headers": "X-Account: 7", "concurrency": 0}})
        assert bad.status_code == 422
        refused = {e["field"]: e["message"] for e in bad.json()["errors"]}
        assert "headers setting must be a JSON object" in refused["settings.headers"]
        assert "concurrency setting must be a whole number from 1 to 64" in refused["settings.concurrency"]
        with Session(engine) as s:
            channel = s.exec(select(ChannelConfig)).one()
        adapter = adapter_for(channel, decrypt_secrets(channel.secrets_encrypted, secret_key=TEST_SECRET), timeout=2)
        outcome = adapter.send(Outgoing(delivery_uid="uid-1", to="+50937000001", text="Rele 188", language="ht"))
        adapter.close()
    finally:
        server.close()
    assert outcome.ok and outcome.gateway_message_id == "gw-9", outcome
    (headers, body), = server.seen
    assert headers["X-Account"] == "konbit-7" and headers["Authorization"] == "Bearer tok-api-1"
    assert body == {"dest": ["+50937000001"], "body": "Rele 188 (ht)", "ref": "uid-1"}


def test_the_form_takes_json_in_text_fields_and_shows_it_back(client, engine, personas):
    csrf = login(client, "carla")
    form = {"csrf_token": csrf, "name": "Digicel", "kind": "sms", "provider": "generic_http",
            "settings_url": "http://127.0.0.1:9/send", "settings_headers": '{"X-Account": "7"}',
            "settings_body_template": '{"to": "{to}", "msg": "{text}"}', "settings_concurrency": "4",
            "send_days": ["0", "1"], "active": "on"}
    bad = client.post("/campaigns/channels/new", data={**form, "settings_headers": "X-Account=7"})
    assert bad.status_code == 422 and "The headers setting must be a JSON object" in bad.text
    r = client.post("/campaigns/channels/new", data=form)
    assert r.status_code == 303, r.text
    with Session(engine) as s:
        channel = s.exec(select(ChannelConfig)).one()
    assert channel.settings["headers"] == {"X-Account": "7"} and channel.settings["concurrency"] == 4
    assert channel.settings["body_template"] == {"to": "{to}", "msg": "{text}"}
    edit = client.get(f"/campaigns/channels/{channel.id}/edit").text
    assert json.dumps({"X-Account": "7"}).replace('"', "&#34;") in edit or "{&quot;X-Account&quot;" in edit
    # Saving the form again, unchanged, keeps the objects.
    assert client.post(f"/campaigns/channels/{channel.id}/edit", data=form).status_code == 303
    with Session(engine) as s:
        assert s.get(ChannelConfig, channel.id).settings["headers"] == {"X-Account": "7"}
