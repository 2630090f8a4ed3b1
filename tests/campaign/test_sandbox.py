"""The sandbox provider, and the demo that uses it: messages are logged in the data directory, never sent out."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from campaign import outbox
from campaign import service as svc
from campaign.adapters import Outgoing, adapter_for
from campaign.adapters.sandbox import sandbox_log, sandbox_messages
from campaign.models import (
    Campaign, CampaignStatus, ChannelConfig, ChannelKind, Delivery, DeliveryStatus, Occurrence, Placement,
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


@pytest.fixture
def demo(session, settings, personas, monkeypatch):
    """The demo's users, content and campaigns, as `konbit demo` loads them, on a given day."""
    from content.demo import load_content_demo  # noqa: PLC0415
    from content.storage import storage_for  # noqa: PLC0415
    from web.demo import load_users  # noqa: PLC0415
    from web.settings import get_settings  # noqa: PLC0415

    from campaign.demo import load_campaign_demo  # noqa: PLC0415

    monkeypatch.setenv("KONBIT_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("KONBIT_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()

    def load(today: date, now: datetime | None = None) -> None:
        load_users(session=session, logins_file=settings.data_dir / "demo-logins.txt")
        session.flush()
        load_content_demo(session, storage=storage_for(settings))
        load_campaign_demo(session, today=today, now=now)
        session.commit()

    yield load
    get_settings.cache_clear()


def test_the_demo_follow_up_runs_from_the_day_it_is_loaded_on_sandbox_channels(session, demo):
    demo(date(2027, 6, 6))  # a Sunday: the SMS channel does not send on Sundays
    follow = session.exec(select(Campaign).where(Campaign.status == CampaignStatus.active)).one()
    assert (follow.start_date, follow.end_date) == (date(2027, 6, 6), date(2027, 8, 28))
    sms = session.exec(select(Placement).where(Placement.campaign_id == follow.id, Placement.name == "Hotline reminder SMS")).one()
    assert sms.starts_local == datetime(2027, 6, 7, 10, 0) and "BYDAY=MO" in sms.rrule
    channels = {c.kind: c for c in session.exec(select(ChannelConfig)) if c.kind in (ChannelKind.sms, ChannelKind.social)}
    assert {c.provider for c in channels.values()} == {"sandbox"}
    assert not any("127.0.0.1:9099" in str(c.settings) for c in session.exec(select(ChannelConfig)))


@pytest.mark.parametrize(("now", "expected"), [
    # 09:52 in Port-au-Prince on a Tuesday (EDT, UTC-4): a send at 10:00, a few minutes later.
    (datetime(2027, 6, 8, 13, 52, tzinfo=timezone.utc), datetime(2027, 6, 8, 10, 0)),
    (datetime(2027, 6, 8, 13, 55, tzinfo=timezone.utc), datetime(2027, 6, 8, 10, 5)),
    (datetime(2027, 6, 9, 1, 30, tzinfo=timezone.utc), None),  # 21:30 the evening before: quiet hours
    (datetime(2027, 6, 13, 14, 0, tzinfo=timezone.utc), None),  # a Sunday
    (datetime(2027, 9, 7, 14, 0, tzinfo=timezone.utc), None),  # after the follow-up's last day
])
def test_the_demo_s_send_minutes_after_loading_falls_in_the_channel_s_sending_hours(now, expected):
    from campaign.demo import _soon

    assert _soon(now, date(2027, 6, 6), date(2027, 8, 28)) == expected


def test_the_demo_sends_an_sms_minutes_after_it_is_loaded(session, demo):
    now = datetime(2027, 6, 8, 13, 52, tzinfo=timezone.utc)
    demo(now.astimezone(ZoneInfo("America/Port-au-Prince")).date(), now)
    follow = session.exec(select(Campaign).where(Campaign.status == CampaignStatus.active)).one()
    once = session.exec(select(Placement).where(Placement.campaign_id == follow.id, Placement.timing == "once")).one()
    assert once.starts_local == datetime(2027, 6, 8, 10, 0) and once.status.value == "active"


def test_the_demo_sms_channel_really_delivers_with_a_worker(engine, session, demo, spawn, tmp_path):
    demo(datetime.now(timezone.utc).date())
    follow = session.exec(select(Campaign).where(Campaign.status == CampaignStatus.active)).one()
    placement = session.exec(select(Placement).where(Placement.campaign_id == follow.id,
                                                     Placement.name == "Hotline reminder SMS")).one()
    channel = session.get(ChannelConfig, placement.channel_id)
    # Whatever the hour of the test: no quiet hours, any day, no rate limit to wait for.
    channel.quiet_start = channel.quiet_end = channel.rate_limit_per_minute = None
    channel.send_days = list(range(7))
    session.add(channel)
    due = datetime.now(timezone.utc) - timedelta(seconds=5)
    occ = Occurrence(placement_id=placement.id, local_at=due.replace(tzinfo=None, microsecond=0), due_at=due)
    session.add(occ)
    session.flush()
    expanded = outbox.expand_occurrence(session=session, occurrence=occ)
    session.commit()
    _finish(spawn("worker", "--batch", "500", "--until-idle"), 300)
    with Session(engine) as s:
        rows = s.exec(select(Delivery).where(Delivery.occurrence_id == occ.id)).all()
    statuses = {r.status for r in rows}
    assert rows and DeliveryStatus.delivered in statuses and statuses <= {DeliveryStatus.delivered, DeliveryStatus.skipped}
    logged = sandbox_messages(tmp_path / "data" / "sandbox" / "messages.jsonl")
    assert len(logged) == sum(r.status == DeliveryStatus.delivered for r in rows) and expanded
