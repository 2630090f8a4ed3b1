"""The sandbox provider: messages are logged in the data directory, never sent out."""

from __future__ import annotations

from sqlmodel import Session, select

from campaign import outbox
from campaign import service as svc
from campaign.adapters import Outgoing, adapter_for
from campaign.adapters.sandbox import sandbox_log, sandbox_messages
from campaign.models import (
    ChannelConfig, ChannelKind, Delivery, DeliveryStatus,
)
from tests.campaign.outbox_factories import due_occurrence, sms_setup
from tests.campaign.test_delivery_faults import _finish, spawn  # noqa: F401 - the fixture that starts `konbit`
from tests.conftest import TEST_SECRET
from tests.factories import login


def test_it_logs_the_message_in_the_data_directory_and_answers_delivered(tmp_path, monkeypatch):
    monkeypatch.setenv("KONBIT_DATA_DIR", str(tmp_path))
    channel = ChannelConfig(name="Sandbox", kind=ChannelKind.sms, provider="sandbox", settings={"sender": "188"})
    adapter = adapter_for(channel, {})
    outcomes = adapter.send_batch([Outgoing(delivery_uid="u-1", to="+50937000001", text="Rele 188", language="ht"),
                                   Outgoing(delivery_uid="u-2", to="+50937000002", text="Appelez le 188", language="fr")])
    again = adapter.send(Outgoing(delivery_uid="u-1", to="+50937000001", text="Rele 188"))
    assert [o.gateway_message_id for o in outcomes] == ["sandbox-u-1", "sandbox-u-2"] == [again.gateway_message_id, "sandbox-u-2"]
    assert all(o.ok and o.delivered for o in outcomes)
    assert sandbox_log() == tmp_path / "sandbox" / "messages.jsonl"
    logged = sandbox_messages()
    assert [(m["to"], m["text"], m["sender"], m["message_id"]) for m in logged[:2]] == [
        ("+50937000001", "Rele 188", "188", "sandbox-u-1"), ("+50937000002", "Appelez le 188", "188", "sandbox-u-2")]


def test_it_serves_sms_email_and_social_channels_and_nothing_else(session):
    for kind in (ChannelKind.sms, ChannelKind.email, ChannelKind.social):
        assert "sandbox" in svc.PROVIDERS[kind] and next(iter(svc.PROVIDERS[kind])) != "sandbox"  # never the default
        channel = svc.save_channel(session=session, actor=None, secret_key=TEST_SECRET, data=svc.ChannelIn(
            name=f"Sandbox {kind.value}", kind=kind, provider="sandbox"))
        assert channel.provider == "sandbox"
    for kind in (ChannelKind.radio, ChannelKind.training):
        assert "sandbox" not in svc.PROVIDERS[kind]


def test_the_channel_form_says_it_is_a_sandbox(client, personas):
    login(client, "carla")
    page = client.get("/campaigns/channels/new?kind=email").text
    assert "Sandbox (demo and training: delivers nothing outside" in page and "Nothing leaves Konbit" in page


def test_a_worker_delivers_through_the_sandbox_and_logs_each_message(engine, session, personas, spawn, tmp_path):
    setup = sms_setup(session, personas, n=25, url="http://127.0.0.1:9/nothing-listens")
    setup.channel.provider, setup.channel.settings = "sandbox", {"sender": "188"}
    session.add(setup.channel)
    outbox.expand_occurrence(session=session, occurrence=due_occurrence(session, setup))
    session.commit()
    _finish(spawn("worker", "--until-idle"))
    with Session(engine) as s:
        rows = s.exec(select(Delivery)).all()
    assert len(rows) == 25 and {r.status for r in rows} == {DeliveryStatus.delivered}
    logged = sandbox_messages(tmp_path / "data" / "sandbox" / "messages.jsonl")
    assert sorted(m["delivery_uid"] for m in logged) == sorted(r.uid for r in rows)
    assert {r.gateway_message_id for r in rows} == {m["message_id"] for m in logged}
