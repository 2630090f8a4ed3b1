"""Backup under write load, restore onto an empty database and data directory, compare every
table and file; refusals that leave the target untouched. SQLite, and PostgreSQL when
KONBIT_TEST_DATABASE_URL is set (pg_dump and pg_restore for real)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlmodel import Session

from tests.factories import make_user, scratch_database
from tests.web.test_cli import KONBIT, environment, sqlite_only
from web.accounts.models import AuditEvent, Role
from web.accounts.service import record_audit
from web.backup import BackupError, create_backup, restore_backup, table_digests, verify_backup
from web.db import alembic_config, make_engine

pytestmark = pytest.mark.db
PG_SERVER = os.environ.get("KONBIT_TEST_DATABASE_URL")


@contextlib.contextmanager
def _database(tmp: Path, name: str) -> Iterator[str]:
    if PG_SERVER:
        with scratch_database(PG_SERVER, f"konbit_backup_{name}") as url:
            yield url
    else:
        yield f"sqlite:///{tmp / name / 'konbit.db'}"


def _migrate(url: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")


def _fill(url: str, data_dir: Path) -> None:
    engine = make_engine(url)
    make_user(engine, username="frantz", role=Role.admin)
    with Session(engine) as s:
        for i in range(200):
            record_audit(session=s, actor=None, action="test.seed", entity_type="seed", entity_id=i,
                         summary=f"Seed {i}: Kreyòl «ak» accents", details={"i": i, "text": "=HYPERLINK(\"x\")"})
        s.commit()
    engine.dispose()
    attachments = data_dir / "attachments" / "ab"
    attachments.mkdir(parents=True)
    (attachments / "loi-2014-0010.pdf").write_bytes(os.urandom(300_000))
    (data_dir / "demo-logins.txt").write_text("frantz: secret\n", encoding="utf-8")


def test_a_backup_taken_under_write_load_restores_row_for_row(tmp_path):
    with _database(tmp_path, "source") as source_url, _database(tmp_path, "target") as target_url:
        data_dir = tmp_path / "source" if not PG_SERVER else tmp_path / "source-data"
        data_dir.mkdir(parents=True, exist_ok=True)
        _migrate(source_url)
        _fill(source_url, data_dir)
        writer_engine = make_engine(source_url)
        stop = threading.Event()
        written = []

        def write() -> None:  # Konbit keeps working while the backup runs
            n = 0
            while not stop.is_set():
                with Session(writer_engine) as s:
                    record_audit(session=s, actor=None, action="test.load", entity_type="load", entity_id=n,
                                 summary=f"Write {n} during the backup")
                    s.commit()
                written.append(n)
                n += 1

        thread = threading.Thread(target=write)
        thread.start()
        try:
            while len(written) < 20:
                threading.Event().wait(0.01)
            manifest = create_backup(database_url=source_url, data_dir=data_dir, dest=tmp_path / "backups")
        finally:
            threading.Event().wait(0.2)  # writes after the snapshot too
            stop.set()
            thread.join()
            writer_engine.dispose()
        assert manifest.path.name.startswith("konbit-backup-") and not list((tmp_path / "backups").glob("*.partial"))
        snapshot_rows = manifest.tables["audit_event"]["rows"]
        assert 200 + 20 <= snapshot_rows < 200 + len(written)  # taken while writes went on, consistent at one instant
        assert set(manifest.files) == {"attachments/ab/loi-2014-0010.pdf", "demo-logins.txt"}

        target_dir = tmp_path / "restored-data"
        restore_backup(source=manifest.path, database_url=target_url, data_dir=target_dir)
        target = make_engine(target_url)
        source = make_engine(source_url)
        try:
            assert table_digests(target) == manifest.tables  # every table, row for row
            with target.connect() as t, source.connect() as s:
                restored = t.execute(select(AuditEvent.__table__).order_by(AuditEvent.__table__.c.id)).all()
                original = s.execute(select(AuditEvent.__table__).where(AuditEvent.__table__.c.id <= restored[-1].id)
                                     .order_by(AuditEvent.__table__.c.id)).all()
                assert restored == original  # the source's first rows, as they were
                assert t.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == manifest.data["schema_revision"]
        finally:
            target.dispose()
            source.dispose()
        for rel in manifest.files:
            assert (target_dir / rel).read_bytes() == (data_dir / rel).read_bytes()

        # A second restore onto the now full target is refused, and changes nothing.
        before = (target_dir / "demo-logins.txt").stat().st_mtime_ns
        with pytest.raises(BackupError, match="not empty"):
            restore_backup(source=manifest.path, database_url=target_url, data_dir=tmp_path / "another-empty-dir")
        with pytest.raises(BackupError, match="data directory .* is not empty"):
            restore_backup(source=manifest.path, database_url=target_url, data_dir=target_dir)
        assert (target_dir / "demo-logins.txt").stat().st_mtime_ns == before


def test_a_damaged_backup_is_refused_before_anything_is_written(tmp_path):
    with _database(tmp_path, "source") as source_url, _database(tmp_path, "target") as target_url:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        _migrate(source_url)
        _fill(source_url, data_dir)
        manifest = create_backup(database_url=source_url, data_dir=data_dir, dest=tmp_path / "backups")
        verify_backup(manifest.path)
        damaged = manifest.path / "files" / "attachments" / "ab" / "loi-2014-0010.pdf"
        damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
        with pytest.raises(BackupError, match="files/attachments/ab/loi-2014-0010.pdf is missing or damaged"):
            restore_backup(source=manifest.path, database_url=target_url, data_dir=tmp_path / "restored")
        assert not (tmp_path / "restored").exists()
        with pytest.raises(BackupError, match="not a Konbit backup"):
            verify_backup(tmp_path)
        meta = json.loads((manifest.path / "manifest.json").read_text())
        assert meta["dump"]["sha256"] and "secret" not in json.dumps(meta["tables"])


@sqlite_only
def test_the_commands_back_up_check_and_restore(tmp_path):
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'konbit.db'}"
    data_dir.mkdir()
    _migrate(url)
    _fill(url, data_dir)
    env = environment(data_dir=str(data_dir), database_url=url)
    done = subprocess.run([str(KONBIT), "backup", "--to", str(tmp_path / "b")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Backed up to" in done.stdout and "files" in done.stdout
    folder = next((tmp_path / "b").iterdir())
    check = subprocess.run([str(KONBIT), "restore", str(folder), "--check"], env=env, capture_output=True, text=True)
    assert check.returncode == 0 and "every checksum matches" in check.stdout
    # Restoring onto the live installation is refused with the reason, not a traceback.
    refused = subprocess.run([str(KONBIT), "restore", str(folder)], env=env, capture_output=True, text=True)
    assert refused.returncode == 1 and "not empty" in refused.stderr and "Traceback" not in refused.stderr
    fresh = tmp_path / "fresh"
    env2 = environment(data_dir=str(fresh), database_url=f"sqlite:///{fresh / 'konbit.db'}")
    ok = subprocess.run([str(KONBIT), "restore", str(folder)], env=env2, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "match the backup row for row" in ok.stdout and (fresh / "attachments" / "ab" / "loi-2014-0010.pdf").is_file()
