"""The health probe, and the refusal to serve a database whose schema is behind the code."""

from __future__ import annotations

import sqlite3

import pytest
from starlette.testclient import TestClient

from web.app import create_app
from web.db import SchemaBehind, alembic_config, make_engine
from web.settings import load_settings


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture
def behind(tmp_path, settings):
    """Settings and an engine for an empty SQLite file: no Konbit schema at all."""
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    yield load_settings(**{**settings.model_dump(), "database_url": url}), engine, path
    engine.dispose()


def test_it_reports_the_schema_version(client, engine):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "status": "ok",
        "database": "ok",
        "backend": engine.dialect.name,
        "schema_version": head_revision(),
        "schema_head": head_revision(),
    }


def test_it_needs_no_login(client):
    assert client.get("/healthz").status_code == 200


def test_it_does_not_show_the_database_address(client, settings):
    r = client.get("/healthz")
    assert settings.database_url not in r.text
    assert settings.secret_key not in r.text


def test_it_refuses_to_start_on_an_empty_database(behind):
    settings, engine, _ = behind
    app = create_app(settings, engine=engine)
    with pytest.raises(SchemaBehind) as refused, TestClient(app):
        pass
    message = str(refused.value)
    assert "has no Konbit schema" in message
    assert "konbit db upgrade" in message
    assert head_revision() in message


def test_it_refuses_to_start_on_an_older_schema(behind):
    settings, engine, path = behind
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES ('0000_older')")
    app = create_app(settings, engine=engine)
    with pytest.raises(SchemaBehind, match=r"is at revision 0000_older.*`konbit db upgrade`"), TestClient(app):
        pass


def test_it_refuses_to_start_from_settings_alone(behind):
    """Without an engine handed in, the app builds its own from the settings, and still checks."""
    settings, _, _ = behind
    app = create_app(settings)
    with pytest.raises(SchemaBehind, match="konbit db upgrade"), TestClient(app):
        pass
    app.state.engine.dispose()


def test_it_says_the_schema_is_behind_when_started_without_the_check(behind):
    settings, engine, _ = behind
    with TestClient(create_app(settings, engine=engine, check_db=False)) as client:
        r = client.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "error"
    assert body["database"] == "ok"
    assert body["schema_version"] is None
    assert body["schema_head"] == head_revision()
    assert "konbit db upgrade" in body["message"]


def test_it_reports_an_unreachable_database(tmp_path, settings):
    directory = tmp_path / "not-a-file"
    directory.mkdir()
    url = f"sqlite:///{directory}"
    engine = make_engine(url)
    changed = load_settings(**{**settings.model_dump(), "database_url": url})
    with TestClient(create_app(changed, engine=engine, check_db=False)) as client:
        r = client.get("/healthz")
    engine.dispose()
    assert r.status_code == 503
    body = r.json()
    assert (body["status"], body["database"]) == ("error", "unreachable")
    assert str(directory) not in r.text
    assert "Traceback" not in r.text
