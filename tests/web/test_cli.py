"""The real ``konbit`` command, run as a subprocess against a database in a temporary directory.

These run on SQLite only (each needs a database of its own), except one that checks the
command against the PostgreSQL server when KONBIT_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from alembic import command
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url

from tests.factories import make_user, scratch_database
from web.db import ROOT, alembic_config
from web.demo import DEMO_USERS

PG_SERVER = os.environ.get("KONBIT_TEST_DATABASE_URL")
sqlite_only = pytest.mark.skipif(bool(PG_SERVER), reason="CLI subprocess tests run on SQLite")

KONBIT = ROOT / ".venv" / "bin" / "konbit"
if not KONBIT.exists():  # a virtualenv elsewhere: the script sits beside this interpreter
    KONBIT = Path(sys.executable).parent / "konbit"

GOOD_PASSWORD = "a-long-enough-passphrase"


def environment(**konbit: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("KONBIT_")}
    env["PYTHONPATH"] = str(ROOT)  # the code under test, whatever the virtualenv points at
    env.update({f"KONBIT_{k.upper()}": v for k, v in konbit.items()})
    return env


class Konbit:
    def __init__(self, data_dir: Path, database_url: str):
        self.data_dir = data_dir
        self.database_url = database_url
        self.env = environment(data_dir=str(data_dir), database_url=database_url)

    def __call__(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(KONBIT), *args], input=stdin, capture_output=True, text=True, timeout=120,
                              env={**self.env, **(env or {})}, cwd=self.data_dir.parent)


@pytest.fixture
def konbit(tmp_path) -> Konbit:
    data_dir = tmp_path / "data"
    return Konbit(data_dir, f"sqlite:///{data_dir / 'konbit.db'}")


@pytest.fixture
def upgraded(konbit) -> Konbit:
    """The database already migrated (in this process: quicker than another subprocess)."""
    konbit.data_dir.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(konbit.database_url)
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")
    return konbit


def users_in(konbit: Konbit) -> dict[str, tuple[str, str, int]]:
    with sqlite3.connect(konbit.data_dir / "konbit.db") as db:
        return {u: (r, h, a) for u, r, h, a in db.execute("SELECT username, role, password_hash, is_active FROM user_account")}


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@sqlite_only
def test_it_says_an_empty_database_needs_upgrading(konbit):
    r = konbit("db", "current")
    assert r.returncode == 1
    assert "database: empty" in r.stdout
    assert f"code:     {head()}" in r.stdout
    assert "Run `konbit db upgrade`." in r.stdout


@sqlite_only
def test_it_upgrades_the_database(konbit):
    r = konbit("db", "upgrade")
    assert r.returncode == 0, r.stderr
    assert "Database at head" in r.stdout
    r = konbit("db", "current")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [f"database: {head()}", f"code:     {head()}"]
    again = konbit("db", "upgrade")
    assert again.returncode == 0  # upgrading an up-to-date database does nothing, quietly


@sqlite_only
def test_it_adds_a_user_reading_the_password_from_stdin(upgraded):
    r = upgraded("users", "add", "marie", "--role", "supervisor", "--full-name", "Marie Jean", stdin=GOOD_PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Created marie (supervisor), id 1."
    assert GOOD_PASSWORD not in r.stdout + r.stderr
    role, password_hash, active = users_in(upgraded)["marie"]
    assert (role, active) == ("supervisor", 1)
    assert PasswordHasher().verify(password_hash, GOOD_PASSWORD)


@sqlite_only
def test_it_lists_users(upgraded):
    upgraded("users", "add", "marie", "--role", "supervisor", stdin=GOOD_PASSWORD)
    upgraded("users", "add", "andre", "--role", "admin", stdin=GOOD_PASSWORD)
    r = upgraded("users", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["id", "username", "role", "active", "last", "login"]
    assert lines[1].split() == ["2", "andre", "admin", "yes", "-"]
    assert lines[2].split() == ["1", "marie", "supervisor", "yes", "-"]


@sqlite_only
@pytest.mark.parametrize(
    ("args", "password", "field"),
    [
        (["marie", "--role", "superuser"], GOOD_PASSWORD, "role"),
        (["marie", "--role", "lead"], "short", "password"),
        (["marie", "--role", "lead"], "", "password"),
        (["marie jean", "--role", "lead"], GOOD_PASSWORD, "username"),
        (["m", "--role", "lead"], GOOD_PASSWORD, "username"),
        (["marie1234", "--role", "lead"], "MARIE1234", "password"),
    ],
)
def test_it_refuses_a_bad_user_naming_the_field(upgraded, args, password, field):
    r = upgraded("users", "add", *args, stdin=password + "\n")
    assert r.returncode == 2
    assert r.stderr.startswith(f"{field}: ")
    assert "Traceback" not in r.stderr
    assert users_in(upgraded) == {}


@sqlite_only
def test_it_refuses_a_user_name_that_is_taken(upgraded):
    upgraded("users", "add", "marie", "--role", "lead", stdin=GOOD_PASSWORD)
    r = upgraded("users", "add", "MARIE", "--role", "admin", stdin=GOOD_PASSWORD)
    assert r.returncode == 2
    assert r.stderr.startswith("username: ")
    assert "already taken" in r.stderr
    assert list(users_in(upgraded)) == ["marie"]


@sqlite_only
def test_it_refuses_to_add_a_user_before_the_upgrade(konbit):
    r = konbit("users", "add", "marie", "--role", "lead", stdin=GOOD_PASSWORD)
    assert r.returncode == 1
    assert "konbit db upgrade" in r.stderr
    assert "Traceback" not in r.stderr


@sqlite_only
def test_it_refuses_a_malformed_setting_naming_the_variable(konbit):
    r = konbit("db", "current", env={"KONBIT_HTTPS": "maybe"})
    assert r.returncode == 2
    assert "KONBIT_HTTPS" in r.stderr
    assert "Traceback" not in r.stderr


@sqlite_only
def test_it_loads_the_demo_once(upgraded):
    logins = upgraded.data_dir / "demo-logins.txt"
    first = upgraded("demo")
    assert first.returncode == 0, first.stderr
    assert "Demo logins" in first.stdout
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600
    written = logins.read_text(encoding="utf-8")
    assert len(written.splitlines()) == len(DEMO_USERS)
    users = users_in(upgraded)
    assert {u: r for u, (r, _, _) in users.items()} == {u: role.value for u, _, role in DEMO_USERS}
    # Each password in the file opens its account.
    for line in written.splitlines():
        username, password = line.split()[:2]
        assert password in first.stdout
        assert PasswordHasher().verify(users[username][1], password)

    with sqlite3.connect(upgraded.data_dir / "konbit.db") as db:
        # Two phones resent an edited interview: kept aside for the supervisor, not stored twice.
        conflicts = db.execute("SELECT uuid FROM submission_conflict WHERE NOT resolved").fetchall()
        stored = db.execute("SELECT count(*), count(DISTINCT uuid) FROM submission").fetchone()
    assert len(conflicts) == 2 and stored[0] == stored[1] == 2400
    with sqlite3.connect(upgraded.data_dir / "konbit.db") as db:
        # The national campaign, evaluated by the KAP survey's waves, with a comparison area.
        linked = db.execute("SELECT count(*) FROM campaign WHERE survey_id IS NOT NULL AND baseline_wave_id IS NOT NULL"
                            " AND endline_wave_id IS NOT NULL AND comparison_regions != '[]'").fetchone()[0]
        kinds = dict(db.execute("SELECT kind, count(*) FROM campaign_channel GROUP BY kind").fetchall())
        contacts = db.execute("SELECT count(*) FROM campaign_contact").fetchone()[0]
        attended = db.execute("SELECT count(DISTINCT session_id) FROM campaign_training_attendance").fetchone()[0]
        segments = {c for (c,) in db.execute("SELECT code FROM audience_segment")}
    assert linked >= 1 and kinds.get("radio") == 3 and kinds.get("social", 0) >= 1 and kinds.get("sms", 0) >= 1
    assert contacts >= 2000 and attended >= 2
    assert {"judges", "prosecutors", "police", "social_workers", "general_public"} <= segments

    second = upgraded("demo")
    assert second.returncode == 0, second.stderr
    assert "already exist" in second.stdout
    assert users_in(upgraded) == users
    assert logins.read_text(encoding="utf-8") == written
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600


@sqlite_only
def test_it_refuses_the_demo_before_the_upgrade(konbit):
    r = konbit("demo")
    assert r.returncode == 1
    assert "konbit db upgrade" in r.stderr
    assert not (konbit.data_dir / "demo-logins.txt").exists()


@pytest.mark.db  # runs in the PostgreSQL pass of `make test`
@pytest.mark.skipif(not PG_SERVER, reason="needs KONBIT_TEST_DATABASE_URL")
def test_it_upgrades_a_postgresql_database_given_as_postgres_url(tmp_path):
    with scratch_database(PG_SERVER, "konbit_cli") as made:
        # As a hosting platform would give it: postgres://, which the settings normalise.
        url = make_url(made).set(drivername="postgres").render_as_string(hide_password=False)
        konbit = Konbit(tmp_path / "data", url)
        assert konbit("db", "upgrade").returncode == 0
        r = konbit("db", "current")
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"database: {head()}" in r.stdout
        r = konbit("users", "add", "marie", "--role", "lead", stdin=GOOD_PASSWORD)
        assert r.returncode == 0, r.stderr
        assert "marie" in konbit("users", "list").stdout


@sqlite_only
def test_it_serves_with_several_worker_processes(upgraded):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(KONBIT), "serve", "--port", str(port), "--workers", "2", "--log-level", "warning"],
                            env=upgraded.env, cwd=upgraded.data_dir.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        answered = []
        deadline = time.monotonic() + 60
        while len(answered) < 4 and time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                answered.append(r.json()["status"] if r.status_code == 200 else r.status_code)
            except httpx.HTTPError:
                time.sleep(0.2)
        assert answered == ["ok"] * 4, proc.stderr.read() if proc.poll() is not None else answered
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert "workers: 2" in out and "Traceback" not in err


@pytest.mark.parametrize("module", ["web", "web.cli"])
def test_python_dash_m_has_every_command_of_the_console_script(module, tmp_path):
    """``python -m web.cli`` ran its module as ``__main__`` while the other command modules registered
    on ``web.cli``: worker, scheduler, analyze, backup and import-responses were missing."""
    env = environment(data_dir=str(tmp_path / "data"), database_url=f"sqlite:///{tmp_path / 'k.db'}")
    out = subprocess.run([sys.executable, "-m", module, "--help"], env=env, capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    for command_name in ("serve", "worker", "scheduler", "analyze", "backup", "restore", "campaigns", "surveys"):
        assert f" {command_name} " in out.stdout, (command_name, out.stdout)
    worker = subprocess.run([sys.executable, "-m", module, "worker", "--help"], env=env, capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert worker.returncode == 0 and "--until-idle" in worker.stdout


@sqlite_only
def test_campaigns_import_contacts_list_and_plan(upgraded, tmp_path):
    """``konbit campaigns import-contacts`` reports bad lines and stores nothing unless confirmed;
    ``list`` and ``plan`` show the campaign and its sends in the campaign's time."""
    from sqlmodel import Session, create_engine

    from campaign.models import Placement
    from tests.campaign.factories import approved_message, campaign_row, sms_channel
    from web.accounts.models import Role

    source = tmp_path / "kontak.csv"
    source.write_text("non,telefon,lang,gwoup\nMarie,3712 3456,Kreyòl,police\nJean,12,fr,police\n"
                      "Rose,+509 3712 3456,fr,nope\nPaul,4712 0000,fr,police\n", encoding="utf-8")
    refused = upgraded("campaigns", "import-contacts", str(source), stdin="n\n")
    assert refused.returncode == 1 and "Nothing was stored." in refused.stdout
    assert "line 3: " in refused.stdout and "line 4: " in refused.stdout and "Unknown segment 'nope'" in refused.stdout
    db = upgraded.data_dir / "konbit.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM campaign_contact").fetchone() == (0,)
    stored = upgraded("campaigns", "import-contacts", str(source), "--yes")
    assert stored.returncode == 0, stored.stderr
    assert "Stored: 2 added, 0 completed." in stored.stdout
    with sqlite3.connect(db) as conn:
        assert sorted(conn.execute("SELECT phone FROM campaign_contact")) == [("+50937123456",), ("+50947120000",)]
        assert conn.execute("SELECT count(*) FROM audit_event WHERE action = 'contacts.import'").fetchone() == (1,)

    engine = create_engine(upgraded.database_url)
    author = make_user(engine, username="carla", role=Role.communications)
    approver = make_user(engine, username="leo", role=Role.lead)
    with Session(engine) as s:
        message = approved_message(s, author=author, approver=approver, title="Trafik moun se yon krim")
        campaign = campaign_row(s, name="Kanpay Ouest")
        s.add(Placement(campaign_id=campaign.id, message_id=message.id, version_id=message.approved_version_id,
                        channel_id=sms_channel(s).id, timing="recurring", starts_local=datetime(2026, 3, 2, 7, 30),
                        rrule="FREQ=WEEKLY;BYDAY=MO,WE"))
        s.commit()
        campaign_id = campaign.id
    engine.dispose()
    listed = upgraded("campaigns", "list")
    assert listed.returncode == 0 and f"{campaign_id}\tdraft\t2026-03-01 – 2026-04-30\t1 placement(s)\tKanpay Ouest" in listed.stdout
    plan = upgraded("campaigns", "plan", str(campaign_id), "--days", "7")
    assert plan.returncode == 0, plan.stderr
    assert "Mon 2026-03-02 07:30\tSMS gateway\tfr, ht\tTrafik moun se yon krim" in plan.stdout
    assert "2 item(s) from 2026-03-01 for 7 day(s), times in America/Port-au-Prince." in plan.stdout
    as_json = upgraded("campaigns", "plan", str(campaign_id), "--start", "2026-03-09", "--days", "3", "--json")
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [x["local_at"] for x in lines] == ["2026-03-09T07:30:00", "2026-03-11T07:30:00"]
    assert upgraded("campaigns", "plan", "999").returncode == 1
    bad = upgraded("campaigns", "plan", str(campaign_id), "--start", "March")
    assert bad.returncode == 2 and "--start: 'March' is not a date" in bad.stderr and "Traceback" not in bad.stderr
