"""`konbit campaigns resume [--placement ID] [--replay]`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from campaign import jobs
from campaign import service as svc
from campaign.models import Campaign, CampaignStatus, Delivery, Placement, PlacementStatus
from tests.campaign.outbox_factories import sms_setup
from web.cli import app
from web.settings import get_settings


@pytest.fixture
def cli(engine, database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KONBIT_DATABASE_URL", database_url)
    monkeypatch.setenv("KONBIT_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def _rows(engine):
    with Session(engine) as s:
        return [(r.status.value, r.reason) for r in s.exec(select(Delivery).order_by(Delivery.id))]


def _paused_setup(engine, session, personas):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    setup = sms_setup(session, personas, n=2, url="http://127.0.0.1:9/send",
                      starts_local=(now - timedelta(seconds=5)).replace(tzinfo=None))
    jobs.tick(engine=engine)
    svc.set_campaign_status(session=session, campaign=session.get(Campaign, setup.campaign.id), action="pause", actor=None)
    session.commit()
    jobs.tick(engine=engine)
    assert _rows(engine) == [("skipped", "campaign paused")] * 2
    return setup


def test_it_resumes_a_campaign_without_replaying_unless_asked(cli, engine, session, personas):
    setup = _paused_setup(engine, session, personas)
    result = cli("campaigns", "resume", str(setup.campaign.id))
    assert result.exit_code == 0, result.output
    assert "stays skipped" in result.stdout
    with Session(engine) as s:
        assert s.get(Campaign, setup.campaign.id).status == CampaignStatus.active
    assert _rows(engine) == [("skipped", "campaign paused")] * 2


def test_it_resumes_with_replay(cli, engine, session, personas):
    setup = _paused_setup(engine, session, personas)
    result = cli("campaigns", "resume", str(setup.campaign.id), "--replay")
    assert result.exit_code == 0, result.output
    assert _rows(engine) == [("queued", "")] * 2


def test_it_resumes_one_placement_with_replay(cli, engine, session, personas):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    setup = sms_setup(session, personas, n=2, url="http://127.0.0.1:9/send",
                      starts_local=(now - timedelta(seconds=5)).replace(tzinfo=None))
    jobs.tick(engine=engine)
    svc.set_placement_status(session=session, placement=session.get(Placement, setup.placement.id),
                             status=PlacementStatus.paused, actor=None)
    session.commit()
    jobs.tick(engine=engine)
    assert cli("campaigns", "resume", str(setup.campaign.id), "--placement", "999").exit_code == 1
    result = cli("campaigns", "resume", str(setup.campaign.id), "--placement", str(setup.placement.id), "--replay")
    assert result.exit_code == 0, result.output
    assert _rows(engine) == [("queued", "")] * 2
