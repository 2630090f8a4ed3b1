"""A SAVEPOINT commits nothing: what a session did before and inside it stays in the session's
transaction until the session commits, on SQLite as on PostgreSQL.

On SQLite, sqlite3 opens a transaction only before a write, so a SAVEPOINT that came first was
a transaction of its own and its RELEASE committed: an import killed between a batch's bulk
insert and the commit of its run's counts left 1,000 submissions stored and a run saying 500
(tests/surveys/test_import_crash.py, seen in CI).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import Session, func, select

from web.accounts.models import AuditEvent

pytestmark = pytest.mark.db


def _count(engine) -> int:
    with Session(engine) as other:
        return other.exec(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "probe")).one()


def _probe(n: int) -> AuditEvent:
    return AuditEvent(action="probe", entity_type="probe", entity_id=str(n), summary=f"probe {n}")


@pytest.mark.parametrize("read_first", [True, False])
def test_a_released_savepoint_commits_nothing_until_the_session_does(engine, read_first):
    with Session(engine) as session:
        if read_first:
            session.execute(text("SELECT 1")).all()
        savepoint = session.begin_nested()
        session.add(_probe(1))
        session.flush()
        savepoint.commit()
        assert _count(engine) == 0  # another connection sees nothing yet
        session.rollback()
    assert _count(engine) == 0  # rolled back with the session


def test_work_inside_and_after_a_savepoint_commits_together(engine):
    with Session(engine) as session:
        with session.begin_nested():
            session.add(_probe(1))
        session.add(_probe(2))
        assert _count(engine) == 0
        session.commit()
    assert _count(engine) == 2


def test_a_rolled_back_savepoint_keeps_the_work_before_it(engine):
    with Session(engine) as session:
        session.add(_probe(1))
        session.flush()
        savepoint = session.begin_nested()
        session.add(_probe(2))
        session.flush()
        savepoint.rollback()
        session.commit()
    assert _count(engine) == 1
