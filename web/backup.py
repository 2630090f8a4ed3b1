"""Backups and restores of a Konbit installation: the database and the data directory's files.

A backup is a folder::

    konbit-backup-20261207T140000Z/
        database.sqlite3     (SQLite: an online copy through SQLite's backup API)
        database.pgdump      (PostgreSQL: pg_dump's custom format, one consistent snapshot)
        files/...            (the data directory: attachments, pending imports; not the database)
        manifest.json        (what it holds: schema revision, every file's size and SHA-256,
                              every table's row count and digest at the snapshot)

The database is copied first, then the files: an attachment is written before the row that names
it is committed and is never changed, so every row in the copy has its file. Both copies run
while Konbit serves and writes (online); the snapshot is the database's state at one instant.

:func:`restore_backup` checks every checksum before touching anything, restores only onto an
empty database and an empty data directory, and then compares each table's row count and digest
with the manifest, so a restore that completes is the backup, row for row.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, inspect, select, text
from sqlalchemy.engine import Connection, Engine, make_url

from .db import is_sqlite, make_engine, schema_revisions

__all__ = ["BackupError", "Manifest", "create_backup", "restore_backup", "table_digests", "verify_backup"]

MANIFEST = "manifest.json"
FORMAT = 1
SQLITE_NAME = "database.sqlite3"
PG_NAME = "database.pgdump"
SKIP_DIRS = {"backups"}  # never back up backups


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    path: Path
    data: dict[str, Any]

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        return self.data["tables"]

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return self.data["files"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cell(value: Any) -> str:
    """A value as the same text on every read (dates in ISO form, JSON with sorted keys)."""
    if value is None:
        return "\x00"
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return aware.astimezone(timezone.utc).isoformat()
    if isinstance(value, (date, time, Decimal)):
        return value.isoformat() if not isinstance(value, Decimal) else str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return str(value)


def table_digests(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every table's row count and a SHA-256 of its rows in primary-key order."""
    with engine.connect() as conn:
        return _digests(conn)


def _digests(conn: Connection) -> dict[str, dict[str, Any]]:
    meta = MetaData()
    meta.reflect(bind=conn)
    out: dict[str, dict[str, Any]] = {}
    for _, table in sorted(meta.tables.items()):
        order = list(table.primary_key.columns) or list(table.columns)
        digest = hashlib.sha256()
        rows = 0
        for row in conn.execution_options(yield_per=5000).execute(select(table).order_by(*order)):
            digest.update("\x1f".join(_cell(v) for v in row).encode())
            digest.update(b"\x1e")
            rows += 1
        out[table.name] = {"rows": rows, "sha256": digest.hexdigest()}
    return out


def _pg_url(url: str) -> str:
    """A libpq URL (pg_dump and pg_restore do not read SQLAlchemy's driver suffix)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(args: list[str], what: str) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=24 * 3600)
    except FileNotFoundError:
        raise BackupError(f"{args[0]} is not installed: install PostgreSQL's client programs "
                          f"(Debian: apt install postgresql-client) to {what}.") from None
    if done.returncode != 0:
        raise BackupError(f"{args[0]} failed ({done.returncode}) to {what}: {done.stderr.strip()[-800:]}")


def _data_files(data_dir: Path, db_path: Path | None) -> list[Path]:
    skip = set()
    if db_path is not None:
        skip = {db_path.resolve(), *(Path(str(db_path) + s).resolve() for s in ("-wal", "-shm", "-journal"))}
    out = []
    if not data_dir.exists():
        return out
    for root, dirs, files in os.walk(data_dir):
        dirs[:] = sorted(d for d in dirs if not (Path(root) == data_dir and d in SKIP_DIRS))
        for name in sorted(files):
            path = Path(root) / name
            if path.resolve() not in skip:
                out.append(path)
    return out


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up.")
    return Path(database)


def create_backup(*, database_url: str, data_dir: Path, dest: Path, now: datetime | None = None) -> Manifest:
    """Write a backup folder under ``dest``; return its manifest. Online: Konbit may keep running."""
    now = now or datetime.now(timezone.utc)
    folder = dest / f"konbit-backup-{now:%Y%m%dT%H%M%SZ}"
    if folder.exists():
        raise BackupError(f"{folder} exists already: wait a second or choose another --to.")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "files").mkdir(parents=True)
    engine = make_engine(database_url)
    try:
        current, _ = schema_revisions(engine)
        db_path = None
        if is_sqlite(database_url):
            db_path = _sqlite_path(database_url)
            if not db_path.exists():
                raise BackupError(f"There is no database at {db_path}.")
            target = partial / SQLITE_NAME
            source = sqlite3.connect(db_path, timeout=30)
            copy = sqlite3.connect(target)
            try:
                # One step: a read transaction over the whole copy (a consistent snapshot). In WAL
                # mode, Konbit's default, writers go on meanwhile; a copy in several steps would
                # start over at every write and might never end under load.
                source.backup(copy)
            finally:
                copy.close()
                source.close()
            snapshot = make_engine(f"sqlite:///{target}")
            try:
                tables = table_digests(snapshot)
            finally:
                snapshot.dispose()
            kind, dump = "sqlite", SQLITE_NAME
        else:
            # pg_dump reads the snapshot our REPEATABLE READ transaction exports, and the digests
            # are read in that same transaction: both see the database at one instant.
            target = partial / PG_NAME
            with engine.connect() as conn:
                conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
                snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot_id}",
                      f"--file={target}", _pg_url(database_url)], "dump the database")
                tables = _digests(conn)
                conn.rollback()
            kind, dump = "postgresql", PG_NAME
        files: dict[str, dict[str, Any]] = {}
        for path in _data_files(data_dir, db_path):
            rel = path.relative_to(data_dir).as_posix()
            out = partial / "files" / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(path, out)
            except FileNotFoundError:  # removed while we copied (a finished import's pending file)
                continue
            files[rel] = {"bytes": out.stat().st_size, "sha256": _sha256(out)}
        manifest = {
            "format": FORMAT, "created_at": now.isoformat(), "database": kind, "schema_revision": current,
            "dump": {"name": dump, "bytes": target.stat().st_size, "sha256": _sha256(target)},
            "tables": tables, "files": files,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        partial.rename(folder)
        return Manifest(folder, manifest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        engine.dispose()


def verify_backup(path: Path) -> Manifest:
    """Read a backup's manifest and check every checksum; :class:`BackupError` names the first fault."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{path} is not a Konbit backup: it has no {MANIFEST}.")
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BackupError(f"{manifest_path} cannot be read: {err}") from None
    if data.get("format") != FORMAT:
        raise BackupError(f"{path} is a backup of format {data.get('format')!r}; this Konbit reads format {FORMAT}.")
    dump = path / data["dump"]["name"]
    if not dump.is_file() or _sha256(dump) != data["dump"]["sha256"]:
        raise BackupError(f"{dump.name} is missing or damaged (its checksum differs from the manifest's).")
    for rel, meta in data["files"].items():
        file = path / "files" / rel
        if not file.is_file() or _sha256(file) != meta["sha256"]:
            raise BackupError(f"files/{rel} is missing or damaged (its checksum differs from the manifest's).")
    return Manifest(path, data)


def _empty_database(url: str) -> None:
    engine = make_engine(url)
    try:
        names = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if names:
        raise BackupError(f"The target database is not empty ({len(names)} tables, e.g. {sorted(names)[0]}): restore "
                          "onto a new, empty database, or drop this one first.")


def restore_backup(*, source: Path, database_url: str, data_dir: Path) -> Manifest:
    """Restore ``source`` onto an empty database and data directory; check it row for row."""
    manifest = verify_backup(source)
    kind = "sqlite" if is_sqlite(database_url) else "postgresql"
    if manifest.data["database"] != kind:
        raise BackupError(f"This is a {manifest.data['database']} backup and the target is {kind}: restore it onto "
                          f"the same kind of database (then move with `konbit` export tools if needed).")
    db_path = _sqlite_path(database_url) if kind == "sqlite" else None
    leftovers = [p for p in _data_files(data_dir, db_path)]
    if leftovers:
        raise BackupError(f"The data directory {data_dir} is not empty ({leftovers[0].relative_to(data_dir)}, ...): "
                          "restore into a new, empty one.")
    dump = source / manifest.data["dump"]["name"]
    if kind == "sqlite":
        if db_path.exists() and db_path.stat().st_size > 0:
            _empty_database(database_url)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        partial = db_path.with_name(db_path.name + ".restoring")
        shutil.copyfile(dump, partial)
        check = sqlite3.connect(partial)
        try:
            ok = check.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            check.close()
        if ok != "ok":
            partial.unlink(missing_ok=True)
            raise BackupError(f"The backup's database fails SQLite's integrity check: {ok}")
        os.replace(partial, db_path)
    else:
        _empty_database(database_url)
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              f"--dbname={_pg_url(database_url)}", str(dump)], "restore the database")
    for rel in manifest.files:
        out = data_dir / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "files" / rel, out)
    if manifest.tables:
        engine = make_engine(database_url)
        try:
            restored = table_digests(engine)
        finally:
            engine.dispose()
        differ = [name for name, meta in manifest.tables.items() if restored.get(name) != meta]
        if differ:
            raise BackupError(f"The restored database differs from the backup in {', '.join(differ[:5])}.")
    return manifest
