"""web.db on SQLite: the connections of one process queue for the write lock in Python, in turn,
instead of polling SQLite's busy handler with sleeps."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from web.db import _Connection, _write_lock, make_engine


@pytest.fixture
def path(tmp_path):
    db = tmp_path / "writers.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    return db


def _connect(path, timeout: float = 10) -> _Connection:
    return sqlite3.connect(path, timeout=timeout, check_same_thread=False, factory=_Connection)


def test_the_lock_is_held_from_the_first_write_to_the_end_of_the_transaction(path):
    lock = _write_lock(str(path)).lock
    conn = _connect(path)
    conn.execute("SELECT count(*) FROM t").fetchall()
    assert not lock.locked()  # reading takes no lock
    conn.execute("INSERT INTO t (v) VALUES ('a')")
    assert lock.locked()
    conn.commit()
    assert not lock.locked()
    conn.execute("UPDATE t SET v = 'b'")
    assert lock.locked()
    conn.rollback()
    assert not lock.locked()
    conn.cursor().executemany("INSERT INTO t (v) VALUES (?)", [("c",), ("d",)])
    assert lock.locked()
    conn.close()  # closing an open transaction gives the lock back too
    assert not lock.locked()


def test_a_second_writer_waits_for_the_first_to_commit_then_writes(path):
    first, second = _connect(path), _connect(path)
    first.execute("INSERT INTO t (v) VALUES ('first')")
    done = threading.Event()

    def write() -> None:
        second.execute("INSERT INTO t (v) VALUES ('second')")
        second.commit()
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert not done.wait(0.3)  # still queued behind the first writer
    first.commit()
    assert done.wait(5)
    thread.join()
    assert [r[0] for r in first.execute("SELECT v FROM t ORDER BY id")] == ["first", "second"]
    first.close()
    second.close()


def test_readers_are_not_held_up_by_a_writer(path):
    writer, reader = _connect(path), _connect(path)
    writer.execute("INSERT INTO t (v) VALUES ('pending')")
    result: list = []
    thread = threading.Thread(target=lambda: result.append(reader.execute("SELECT count(*) FROM t").fetchone()[0]))
    thread.start()
    thread.join(5)
    assert result == [0]  # WAL: the reader sees the last commit, without waiting
    writer.rollback()
    writer.close()
    reader.close()


def test_a_thread_writing_through_two_connections_gets_sqlites_busy_error_not_a_deadlock(path):
    one, two = _connect(path), _connect(path, timeout=0.2)
    one.execute("INSERT INTO t (v) VALUES ('one')")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        two.execute("INSERT INTO t (v) VALUES ('two')")
    one.commit()
    two.execute("INSERT INTO t (v) VALUES ('two')")
    two.commit()
    assert one.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    one.close()
    two.close()


def test_the_engine_uses_it_and_keeps_its_pooled_connections(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'engine.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        assert isinstance(conn.connection.dbapi_connection, _Connection)
        conn.execute(text("INSERT INTO t DEFAULT VALUES"))
        assert _write_lock(str(tmp_path / "engine.db")).lock.locked()
    assert not _write_lock(str(tmp_path / "engine.db")).lock.locked()
    assert engine.pool.size() >= 32  # as many as requests in flight: none is opened per request
    engine.dispose()


def test_memory_databases_have_no_lock():
    assert _write_lock(":memory:") is None and _write_lock("") is None


def test_a_transaction_that_wrote_without_the_lock_only_tries_for_it_so_nothing_deadlocks(path):
    """A write the prefix check does not see leaves the connection holding SQLite's lock but not
    this one. Its next write must not wait for the lock's holder, who waits on SQLite for it."""
    unseen, holder = _connect(path), _connect(path, timeout=5)
    unseen.execute("BEGIN")
    unseen.execute("/* unseen */ INSERT INTO t (v) VALUES ('unseen')")  # SQLite's write lock, not ours
    holder.execute("SAVEPOINT s")  # takes ours (opening a transaction counts as a write)
    assert _write_lock(str(path)).lock.locked()
    done = threading.Event()

    def holder_writes() -> None:
        try:
            holder.execute("INSERT INTO t (v) VALUES ('holder')")  # waits on SQLite for `unseen`
            holder.execute("RELEASE s")
            holder.commit()
        finally:
            done.set()

    thread = threading.Thread(target=holder_writes)
    thread.start()
    unseen.execute("INSERT INTO t (v) VALUES ('again')")  # must not wait for the holder
    unseen.commit()
    assert done.wait(5)
    thread.join()
    assert sorted(r[0] for r in unseen.execute("SELECT v FROM t")) == ["again", "holder", "unseen"]
    assert not _write_lock(str(path)).lock.locked()
    unseen.close()
    holder.close()


def test_code_on_an_event_loop_never_waits_for_the_lock(path):
    import asyncio  # noqa: PLC0415

    holder, loop_side = _connect(path), _connect(path, timeout=0.2)
    holder.execute("INSERT INTO t (v) VALUES ('holder')")

    async def write_from_the_loop() -> str:
        try:
            loop_side.execute("INSERT INTO t (v) VALUES ('loop')")
        except sqlite3.OperationalError as err:  # SQLite's own busy timeout, not a wait on our lock
            return str(err)
        return "wrote"

    result: list[str] = []
    started = time.monotonic()
    # A thread of its own: this test process may already run a loop here (Playwright's).
    thread = threading.Thread(target=lambda: result.append(asyncio.run(write_from_the_loop())))
    thread.start()
    thread.join(15)
    assert "locked" in result[0]
    assert time.monotonic() - started < 3  # waiting on the lock would have taken its 10 s timeout
    holder.commit()
    loop_side.close()
    holder.close()


def test_rows_inserted_at_once_leave_the_session_when_their_transaction_rolls_back(engine):
    """insert_now's objects behave as the ORM's new ones: a rollback (or a savepoint's) takes them
    out of the session, and SQLite giving the id out again is no clash."""
    from sqlmodel import Session, func, select  # noqa: PLC0415

    from web.accounts.models import AuditEvent  # noqa: PLC0415
    from web.accounts.service import record_audit  # noqa: PLC0415

    with Session(engine) as session:
        kept = record_audit(session=session, actor=None, action="test.kept", actor_name="t")
        savepoint = session.begin_nested()
        dropped = record_audit(session=session, actor=None, action="test.dropped", actor_name="t")
        savepoint.rollback()
        assert kept in session and dropped not in session and dropped.action == "test.dropped"
        again = record_audit(session=session, actor=None, action="test.again", actor_name="t")
        session.commit()
        assert {e.action for e in session.exec(select(AuditEvent).where(AuditEvent.actor_name == "t"))} == \
            {"test.kept", "test.again"}
        gone = record_audit(session=session, actor=None, action="test.gone", actor_name="t")
        session.rollback()
        assert gone not in session and gone.action == "test.gone"  # readable, not an ObjectDeletedError
        assert session.exec(select(func.count()).select_from(AuditEvent).where(AuditEvent.actor_name == "t")).one() == 2
        assert again.id and kept.id
