"""Engine, sessions and the schema-version check.

SQLite (the embedded default) runs in WAL mode with foreign keys enforced and a
busy timeout; the connections of one process take turns to write through a Python
lock (:class:`_WriteLock`). PostgreSQL runs through psycopg 3. The same models and
migrations serve both.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import bindparam, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, create_engine

__all__ = [
    "WORKER_THREADS",
    "SchemaBehind",
    "alembic_config",
    "check_schema",
    "insert_now",
    "is_sqlite",
    "make_engine",
    "schema_revisions",
    "session_scope",
]

ROOT = Path(__file__).resolve().parent.parent


class SchemaBehind(RuntimeError):
    """The database's schema is not at the code's migration head."""


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


class _WriteLock:
    """One writer at a time per SQLite file in this process.

    SQLite lets one connection write at a time; the others get SQLITE_BUSY, and its busy handler
    retries with sleeps of 1 ms up to 100 ms. Under concurrent submissions most of the latency
    was those sleeps. Connections of one process now wait on a Python lock before their first
    write instead, and a waiting one proceeds the moment the writer's transaction ends; the busy
    timeout still covers other processes (``konbit serve --workers``, the CLI, the scheduler).

    Waiting is only ever an optimisation, never required, so it never risks a deadlock: a
    connection that is already in a transaction (it may hold SQLite's lock without this one),
    code on an event loop's thread (the holder may need that loop to finish), and a thread
    that holds the lock through another connection only *try* to take it, and otherwise write
    under SQLite's busy timeout as before.
    """

    __slots__ = ("lock", "owner")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner: int | None = None

    def acquire(self, *, wait: bool) -> bool:
        me = threading.get_ident()
        if self.owner == me:  # another connection of this thread writes: SQLite's busy timeout decides
            return False
        if wait and asyncio._get_running_loop() is not None:  # an event loop's thread never blocks here
            wait = False
        if not (self.lock.acquire(timeout=10) if wait else self.lock.acquire(blocking=False)):
            return False
        self.owner = me
        return True

    def release(self) -> None:
        self.owner = None
        self.lock.release()


_WRITE_LOCKS: dict[str, _WriteLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()
# Statements that write, or open a transaction that is about to (SQLAlchemy's SAVEPOINT). A write
# not recognised here (a CTE that inserts) is safe: that transaction then only tries for the lock.
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE",
           "SAVEPOINT")


def _write_lock(database: str) -> _WriteLock | None:
    if not database or database == ":memory:" or "mode=memory" in database:
        return None
    key = os.path.realpath(database) if not database.startswith("file:") else database
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, _WriteLock())


class _Cursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):  # noqa: ANN001, ANN201 - sqlite3's signature
        self.connection._before(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            self.connection._after()

    def executemany(self, sql, seq_of_parameters, /):  # noqa: ANN001, ANN201
        self.connection._before(sql)
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            self.connection._after()


class _Connection(sqlite3.Connection):
    """A sqlite3 connection that takes its file's :class:`_WriteLock` before its first write
    statement and gives it back when its transaction ends (commit, rollback, close)."""

    def __init__(self, database, *args, **kwargs):  # noqa: ANN001 - sqlite3's signature
        super().__init__(database, *args, **kwargs)
        self._write_lock = _write_lock(os.fspath(database))
        self._holding = False

    def cursor(self, factory=_Cursor):  # noqa: ANN001, ANN201
        return super().cursor(factory)

    def execute(self, sql, parameters=(), /):  # noqa: ANN001, ANN201 - the shortcut bypasses Cursor.execute
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):  # noqa: ANN001, ANN201
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script, /):  # noqa: ANN001, ANN201 - it commits first, then runs unlocked
        try:
            return super().executescript(sql_script)
        finally:
            self._after()

    def _before(self, sql: str) -> None:
        head = sql.lstrip()[:15].upper()
        if self._write_lock is not None and not self._holding and head.startswith(_WRITES):
            # Already in a transaction: it may have written unnoticed and hold SQLite's lock, so only try.
            self._holding = self._write_lock.acquire(wait=not self.in_transaction)
        if head.startswith("SAVEPOINT") and not self.in_transaction:
            # sqlite3 opens a transaction only before a write, and SQLAlchemy's SAVEPOINT may come
            # first; an outermost SAVEPOINT is a transaction of its own, which its RELEASE commits,
            # so "savepoint.commit()" would commit the session's work so far. Open it first.
            sqlite3.Connection.cursor(self).execute("BEGIN")

    def _after(self) -> None:
        if self._holding and not self.in_transaction:
            self._holding = False
            self._write_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._after()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._after()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._holding:
                self._holding = False
                self._write_lock.release()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: Requests the app works on at once (``web.middleware.ConcurrencyLimit``), and AnyIO worker
#: threads for sync routes. Each of those requests holds at most one pooled connection, so the
#: pool must hold more than that, or requests holding connections could wait for threads held
#: by requests waiting for connections (fastapi/fastapi#3205). The pool keeps that many open:
#: connections beyond ``pool_size`` are closed when handed back, and opening one costs a
#: PostgreSQL backend process (or SQLite's pragmas) per request under full load. Two workers
#: x 40 stay under PostgreSQL's default of 100 connections.
WORKER_THREADS = 32
POOL = {"sqlite": (WORKER_THREADS, 8), "postgresql": (WORKER_THREADS, 8)}


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine for ``url`` with Konbit's per-database settings."""
    sqlite = is_sqlite(url)
    size, overflow = POOL["sqlite" if sqlite else "postgresql"]
    kwargs.setdefault("pool_size", size)
    kwargs.setdefault("max_overflow", overflow)
    if sqlite:
        if sqlite3.sqlite_version_info < (3, 35):  # INSERT ... RETURNING (web.db.insert_now)
            raise RuntimeError(f"Konbit needs SQLite 3.35 or later; this Python has {sqlite3.sqlite_version}.")
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10,
                                                "factory": _Connection}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session; the caller commits. Rolled back on error, always closed."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            # Detach first: rolling back expires loaded objects, and the error page still reads the user.
            session.expunge_all()
            session.rollback()
            raise


_INSERTS: dict[tuple[str, str, str], tuple[Any, list[str]]] = {}  # (statement, column keys)


def insert_now(session: Session, row: SQLModel, *, unless_taken: str = "") -> bool:
    """INSERT ``row`` (a new table model with an ``id`` made by the database) at once, and make
    it a persistent object of ``session``; return whether it went in.

    One cached statement, ``INSERT ... RETURNING id``: no unit-of-work flush and no
    compilation per call, for the rows a busy request adds (an interview, its audit event).
    ``unless_taken`` names a unique column: when a stored row holds ``row``'s value there,
    nothing is inserted (``ON CONFLICT DO NOTHING``, SQLite and PostgreSQL) and False is
    returned, with no error to roll back. Values are the object's own, defaults included.
    """
    table = type(row).__table__
    dialect = session.get_bind().dialect
    key = (table.name, dialect.name, unless_taken)
    if key not in _INSERTS:
        columns = [column for column in table.columns if not column.primary_key]
        quote = dialect.identifier_preparer.quote
        sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
               f"VALUES ({', '.join(':' + c.key for c in columns)})"
               + (f" ON CONFLICT ({quote(table.c[unless_taken].name)}) DO NOTHING" if unless_taken else "")
               + " RETURNING id")
        # text() with typed parameters: its compiled form is cached, which the dialects'
        # insert().on_conflict_do_nothing() is not.
        _INSERTS[key] = (text(sql).bindparams(*(bindparam(c.key, type_=c.type) for c in columns)).columns(table.c.id),
                         [c.key for c in columns])
    statement, keys = _INSERTS[key]
    new_id = session.execute(statement, {k: getattr(row, k) for k in keys}).scalar()
    if new_id is None:
        return False
    row.id = new_id  # type: ignore[attr-defined]
    make_transient_to_detached(row)
    session.add(row)
    # Count it among the transaction's new objects, as the ORM does for the rows its flush inserts
    # (Session._register_persistent): a rollback, or its savepoint's, then takes it out of the
    # session with its values, instead of leaving a persistent object whose row is gone.
    session._transaction._new[inspect(row)] = True  # noqa: SLF001 - SQLAlchemy 2.0's own bookkeeping
    return True


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@functools.cache
def code_head() -> str:
    """The code's head revision: read from the migration scripts once a process (they ship with it)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def schema_revisions(engine: Engine, conn: Connection | None = None) -> tuple[str | None, str]:
    """Return (the database's current revision, the code's head revision), on ``conn`` if given."""
    if conn is not None:
        return MigrationContext.configure(conn).get_current_revision(), code_head()
    with engine.connect() as own:
        return MigrationContext.configure(own).get_current_revision(), code_head()


def check_schema(engine: Engine) -> str:
    """Raise SchemaBehind unless the database is at the head revision; return it."""
    current, head = schema_revisions(engine)
    if current != head:
        state = "has no Konbit schema" if current is None else f"is at revision {current}"
        raise SchemaBehind(
            f"The database {state}; the code needs {head}. Run `konbit db upgrade` to migrate it."
        )
    return current
