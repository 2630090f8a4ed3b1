"""Faults the delivery side must survive, with real processes (``konbit worker``, ``konbit scheduler``)
against the test database (a SQLite file, or PostgreSQL) and a real local gateway.

Small leases and ticks keep them short: a worker's lease is 2 s, a scheduler's 2 s, a tick 0.3 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from campaign import outbox
from campaign.models import Delivery, DeliveryStatus, Occurrence, OccurrenceStatus, SchedulerLease
from tests.campaign.gateway import Gateway
from tests.campaign.outbox_factories import due_occurrence, sms_setup
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.slow

KONBIT = str(Path(sys.executable).with_name("konbit"))


@pytest.fixture
def spawn(database_url, tmp_path):
    """Start ``konbit <args>`` against the test database; every process is killed at the end."""
    started: list[subprocess.Popen] = []

    def start(*args: str, **env: object) -> subprocess.Popen:
        environment = {**os.environ, "KONBIT_ENV": "test", "KONBIT_DATABASE_URL": database_url,
                       "KONBIT_SECRET_KEY": TEST_SECRET, "KONBIT_DATA_DIR": str(tmp_path / "data"),
                       "KONBIT_DELIVERY_LEASE_SECONDS": "2", "KONBIT_DELIVERY_BACKOFF_SECONDS": "0.05",
                       "KONBIT_SCHEDULER_TICK_SECONDS": "0.3", "KONBIT_SCHEDULER_LEASE_SECONDS": "2",
                       **{f"KONBIT_{k.upper()}": str(v) for k, v in env.items()}}
        log = open(tmp_path / f"{args[0]}-{len(started)}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([KONBIT, *args, "--log-level", "warning"], env=environment, stdout=log,
                                stderr=subprocess.STDOUT)
        proc.log_path = log.name
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited ({proc.returncode}): {Path(proc.log_path).read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _finish(proc: subprocess.Popen, timeout: float = 120) -> None:
    assert proc.wait(timeout=timeout) == 0, Path(proc.log_path).read_text()[-2000:]


def _log(engine) -> list[Delivery]:
    with Session(engine) as s:
        return s.exec(select(Delivery).order_by(Delivery.id)).all()


def _agrees(rows: list[Delivery], gw: Gateway, n: int) -> None:
    """Every recipient exactly one message at the gateway, and the delivery log says the same."""
    per = gw.state.per_recipient()
    assert len(per) == n and set(per.values()) == {1}
    assert {r.status for r in rows} == {DeliveryStatus.sent} and len(rows) == n
    assert {r.uid: r.gateway_message_id for r in rows} == {k: m.message_id for k, m in gw.state.messages.items()}


def test_kill_9_the_worker_mid_send_and_every_recipient_gets_one_message(engine, session, personas, spawn):
    n = 5000
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=n, url=gw.url)
        outbox.expand_occurrence(session=session, occurrence=due_occurrence(session, setup))
        session.commit()
        worker = spawn("worker", "--batch", "200")

        def in_hand() -> int:
            with Session(engine) as s:
                return s.exec(select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.sending)).one()

        # Killed with a batch in hand, not in the moment between recording one batch and claiming
        # the next (a kill there is the easy case: nothing is in flight).
        _wait(lambda: len(gw.state.messages) >= 1500 and in_hand() > 0, 90, "the first messages", worker)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        at_kill = len(gw.state.messages)
        with Session(engine) as s:
            in_flight = s.exec(select(func.count()).select_from(Delivery)
                               .where(Delivery.status == DeliveryStatus.sending)).one()
        assert 1500 <= at_kill < n and in_flight > 0  # killed with a batch in hand
        _finish(spawn("worker", "--batch", "200", "--until-idle"))
        _agrees(_log(engine), gw, n)
        # Messages that went out before the kill but were not recorded were sent again with the same
        # idempotency key, and the gateway answered with the first message's id.
        assert gw.state.requests == n + gw.state.duplicates


def test_two_workers_send_nothing_twice(engine, session, personas, spawn):
    n = 3000
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=n, url=gw.url)
        outbox.expand_occurrence(session=session, occurrence=due_occurrence(session, setup))
        session.commit()
        workers = [spawn("worker", "--batch", "100", "--until-idle", "--name", f"w{i}") for i in (1, 2)]
        for w in workers:
            _finish(w)
        rows = _log(engine)
        _agrees(rows, gw, n)
        assert gw.state.requests == n and gw.state.duplicates == 0  # not even a second POST
        assert {r.claimed_by for r in rows} == {"w1", "w2"}


def test_two_workers_hold_the_rate_limit_and_sigterm_leaves_nothing_in_flight(engine, session, personas, spawn):
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=200, url=gw.url, rate_limit_per_minute=40)
        outbox.expand_occurrence(session=session, occurrence=due_occurrence(session, setup))
        session.commit()
        workers = [spawn("worker", "--batch", "7", "--name", f"w{i}") for i in (1, 2)]
        _wait(lambda: len(gw.state.messages) >= 40, 60, "the first minute's messages", workers[0])
        time.sleep(2)  # both keep trying: the limit must hold for both together
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            _finish(w, 30)
        rows = _log(engine)
        assert len(gw.state.messages) == 40 and gw.state.requests == 40
        assert sum(r.status == DeliveryStatus.sent for r in rows) == 40
        assert sum(r.status == DeliveryStatus.queued for r in rows) == 160  # nothing left "sending"


def _lease_holder(engine) -> str:
    with Session(engine) as s:
        lease = s.get(SchedulerLease, "scheduler")
        return lease.holder if lease else ""


def _occurrence(engine) -> Occurrence | None:
    with Session(engine) as s:
        return s.exec(select(Occurrence)).first()


def _scheduled(session, personas, gw, seconds: float):
    due = (datetime.now(timezone.utc) + timedelta(seconds=seconds)).replace(microsecond=0)
    return sms_setup(session, personas, n=20, url=gw.url, starts_local=due.replace(tzinfo=None)), due


@pytest.mark.parametrize("grace, outcome", [(60, OccurrenceStatus.late), (1, OccurrenceStatus.skipped)])
def test_kill_9_the_scheduler_across_a_due_time(engine, session, personas, spawn, grace, outcome):
    with Gateway() as gw:
        setup, due = _scheduled(session, personas, gw, 4)
        first = spawn("scheduler", "--name", "first")
        _wait(lambda: _lease_holder(engine) == "first" and _occurrence(engine) is not None, 30, "the scheduler", first)
        assert datetime.now(timezone.utc) < due, "the machine is too slow for this test's timing"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        _wait(lambda: datetime.now(timezone.utc) > due + timedelta(seconds=2.5), 30, "the due time to pass")
        assert _occurrence(engine).status == OccurrenceStatus.planned  # nobody was there at its time
        second = spawn("scheduler", "--name", "second", delivery_grace_seconds=grace)
        _wait(lambda: _occurrence(engine).status != OccurrenceStatus.planned, 30, "the restarted scheduler", second)
        occ = _occurrence(engine)
        assert occ.status == outcome, occ.reason
        if outcome == OccurrenceStatus.late:
            assert occ.reason.startswith("sent late:")
            _finish(spawn("worker", "--until-idle"))
            _agrees(_log(engine), gw, 20)
        else:
            assert "beyond the grace period of 1 s" in occ.reason
            assert _log(engine) == [] and not gw.state.requests
        second.send_signal(signal.SIGTERM)
        _finish(second, 30)
        assert setup.placement.id == occ.placement_id


def test_a_standby_scheduler_takes_over_when_the_active_one_is_killed(engine, session, personas, spawn):
    with Gateway() as gw:
        setup, due = _scheduled(session, personas, gw, 6)
        active = spawn("scheduler", "--name", "active")
        _wait(lambda: _lease_holder(engine) == "active", 30, "the first scheduler", active)
        standby = spawn("scheduler", "--name", "standby")
        time.sleep(1.0)
        assert _lease_holder(engine) == "active" and standby.poll() is None  # it waits
        active.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _wait(lambda: _lease_holder(engine) == "standby", 30, "the standby to take over", standby)
        assert time.monotonic() - killed < 10  # lease 2 s + tick 0.3 s here; 45 s + 15 s by default
        _wait(lambda: _occurrence(engine) is not None and _occurrence(engine).status != OccurrenceStatus.planned,
              30, "the standby to expand the due occurrence", standby)
        assert _occurrence(engine).status in (OccurrenceStatus.expanded, OccurrenceStatus.late)
        with Session(engine) as s:
            assert s.exec(select(func.count()).select_from(Delivery)).one() == 20
        standby.send_signal(signal.SIGTERM)
        _finish(standby, 30)
        assert setup.placement.id == _occurrence(engine).placement_id and due


def test_serve_with_scheduler_sends_a_due_placement_and_stops_cleanly(engine, session, personas, spawn):
    from tests.conftest import _free_port  # noqa: PLC0415
    from urllib.request import urlopen  # noqa: PLC0415

    with Gateway() as gw:
        _scheduled(session, personas, gw, 1)
        port = _free_port()
        server = spawn("serve", "--with-scheduler", "--port", str(port))
        _wait(lambda: len(gw.state.messages) == 20, 60, "the embedded scheduler and worker to send", server)

        def answers() -> bool:
            try:
                return urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200
            except OSError:
                return False

        _wait(answers, 30, "the web app", server)
        server.send_signal(signal.SIGTERM)
        _finish(server, 60)
        _agrees(_log(engine), gw, 20)
        assert _lease_holder(engine)  # it led, and gave the lead up on the way out
        with Session(engine) as s:
            assert s.get(SchedulerLease, "scheduler").expires_at.replace(tzinfo=timezone.utc) <= datetime.now(timezone.utc)


# --- Status callbacks: the gateway posts them to a live app, or loses them -----------------------


def _with_callbacks(session, personas, gw: Gateway, n: int):
    from campaign.secrets import encrypt_secrets  # noqa: PLC0415

    setup = sms_setup(session, personas, n=n, url=gw.url,
                      secrets_encrypted=encrypt_secrets({"callback_token": "cb-token-1"}, secret_key=TEST_SECRET))
    outbox.expand_occurrence(session=session, occurrence=due_occurrence(session, setup))
    session.commit()
    return setup


def test_the_gateways_status_callbacks_reach_the_app_and_mark_the_messages_delivered(engine, session, personas, spawn,
                                                                                      live_server):
    n = 30
    with Gateway() as gw:
        gw.state.callbacks = "send"
        _with_callbacks(session, personas, gw, n)
        _finish(spawn("worker", "--batch", "10", "--until-idle", public_url=live_server))
        _wait(lambda: {r.status for r in _log(engine)} == {DeliveryStatus.delivered}, 30, "every receipt")
        rows = _log(engine)
        assert len(rows) == n and all(r.delivered_at is not None for r in rows)
        assert gw.state.requests == n and len(gw.state.per_recipient()) == n and gw.state.callbacks_lost == 0


def test_lost_status_callbacks_leave_the_messages_sent_and_nothing_is_sent_again(engine, session, personas, spawn,
                                                                                live_server):
    n = 30
    with Gateway() as gw:
        gw.state.callbacks = "drop"
        _with_callbacks(session, personas, gw, n)
        _finish(spawn("worker", "--batch", "10", "--until-idle", public_url=live_server))
        assert gw.state.callbacks_lost == n  # each message asked for a receipt, and none came
        _agrees(_log(engine), gw, n)
        time.sleep(2.5)  # past the workers' lease: a "sent" row must not look abandoned
        _finish(spawn("worker", "--batch", "10", "--until-idle", public_url=live_server))
        _agrees(_log(engine), gw, n)
        assert gw.state.requests == n and gw.state.duplicates == 0
        assert all(r.delivered_at is None and r.attempts == 1 for r in _log(engine))
