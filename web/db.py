"""Engine, sessions and the schema-version check.

SQLite (the embedded default) runs in WAL mode with foreign keys enforced and a
busy timeout; PostgreSQL runs through psycopg 3. The same models and migrations
serve both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

__all__ = [
    "WORKER_THREADS",
    "SchemaBehind",
    "alembic_config",
    "check_schema",
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
#: by requests waiting for connections (fastapi/fastapi#3205). SQLite keeps more connections
#: open, since each new one runs its pragmas; PostgreSQL keeps fewer (two workers x 40 stay
#: under its default of 100 connections).
WORKER_THREADS = 32
POOL = {"sqlite": (20, 20), "postgresql": (10, 30)}


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine for ``url`` with Konbit's per-database settings."""
    sqlite = is_sqlite(url)
    size, overflow = POOL["sqlite" if sqlite else "postgresql"]
    kwargs.setdefault("pool_size", size)
    kwargs.setdefault("max_overflow", overflow)
    if sqlite:
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs)
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


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def schema_revisions(engine: Engine) -> tuple[str | None, str]:
    """Return (the database's current revision, the code's head revision)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head or ""


def check_schema(engine: Engine) -> str:
    """Raise SchemaBehind unless the database is at the head revision; return it."""
    current, head = schema_revisions(engine)
    if current != head:
        state = "has no Konbit schema" if current is None else f"is at revision {current}"
        raise SchemaBehind(
            f"The database {state}; the code needs {head}. Run `konbit db upgrade` to migrate it."
        )
    return current
