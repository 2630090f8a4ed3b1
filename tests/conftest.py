"""Shared fixtures: a real database (SQLite, or PostgreSQL when KONBIT_TEST_DATABASE_URL is set),
the app, and the personas.

With ``KONBIT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres`` the run creates
a fresh, uniquely named database on that server and drops it at the end.
Every test that touches the database starts from empty tables.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from web.app import create_app
from web.db import alembic_config, make_engine
from web.schema import metadata
from web.settings import Settings, load_settings

from tests.factories import PASSWORD, PERSONAS, make_user, scratch_database

TEST_SECRET = "test-secret-" + "x" * 40


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def pytest_configure(config):
    config.addinivalue_line("markers", "db: uses the database (runs again on PostgreSQL)")
    # Real argon2, at its lowest cost: hashing is the slowest part of the suite otherwise.
    from argon2 import PasswordHasher

    from web.accounts import service

    service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    service._DUMMY_HASH = service._hasher.hash("konbit-timing-equaliser")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    server = os.environ.get("KONBIT_TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'konbit-test.db'}"
        return
    with scratch_database(server, "konbit_test") as url:
        yield url


@pytest.fixture(scope="session")
def migrated_engine(database_url) -> Iterator[Engine]:
    engine = make_engine(database_url)
    cfg = alembic_config(database_url)
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")
    yield engine
    engine.dispose()


def _empty_tables(engine: Engine) -> None:
    tables = [t for t in reversed(metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())
    # The default segments are reference data the migration seeds: put them back.
    from sqlmodel import Session  # noqa: PLC0415

    from audiences.service import ensure_default_segments  # noqa: PLC0415

    with Session(engine) as session:
        ensure_default_segments(session=session)
        session.commit()


@pytest.fixture
def engine(migrated_engine) -> Iterator[Engine]:
    """The migrated database, emptied after the test."""
    yield migrated_engine
    _empty_tables(migrated_engine)


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return load_settings(env="test", database_url=database_url, secret_key=TEST_SECRET, data_dir=tmp_path / "data")


@pytest.fixture
def app(settings, engine):
    return create_app(settings, engine=engine)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


@pytest.fixture
def session(engine):
    from sqlmodel import Session

    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def personas(engine) -> dict:
    """alice (admin), carla (communications), eddy (enumerator), sonia (supervisor), leo (lead)."""
    return {name: make_user(engine, username=name, role=role) for name, role in PERSONAS.items()}


@pytest.fixture
def password() -> str:
    return PASSWORD


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in this process (one event loop, as in production)."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
