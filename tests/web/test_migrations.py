"""Every migration goes up, down and up again, and the migrated schema is what the models say.

Runs on its own fresh database on the test server: a temporary SQLite file, or with
KONBIT_TEST_DATABASE_URL another uniquely named PostgreSQL database, dropped afterwards.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from tests.factories import scratch_database
from web.db import ROOT, alembic_config, make_engine
from web.schema import metadata


@pytest.fixture
def fresh_url(tmp_path) -> Iterator[str]:
    server = os.environ.get("KONBIT_TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    with scratch_database(server, "konbit_migrations") as url:
        yield url


@pytest.fixture
def fresh_engine(fresh_url) -> Iterator[Engine]:
    engine = make_engine(fresh_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cfg(fresh_url):
    config = alembic_config(fresh_url)
    config.attributes["configure_logging"] = False
    return config


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def revisions_in_order(cfg) -> list:
    script = ScriptDirectory.from_config(cfg)
    return list(reversed(list(script.walk_revisions("base", "heads"))))


def test_it_has_one_head(cfg):
    assert len(ScriptDirectory.from_config(cfg).get_heads()) == 1


def test_it_names_migration_files_by_date():
    for path in (ROOT / "alembic" / "versions").glob("*.py"):
        assert re.match(r"^20\d{6}_\w+\.py$", path.name), path.name


def test_it_runs_every_migration_up_down_and_up_again(cfg, fresh_engine):
    revisions = revisions_in_order(cfg)
    assert revisions, "no migrations found"
    for rev in revisions:
        command.upgrade(cfg, rev.revision)
        assert current(fresh_engine) == rev.revision
        created = tables(fresh_engine)
        command.downgrade(cfg, rev.down_revision or "base")
        assert current(fresh_engine) == rev.down_revision, f"{rev.revision} did not go down"
        command.upgrade(cfg, rev.revision)
        assert current(fresh_engine) == rev.revision
        assert tables(fresh_engine) == created, f"{rev.revision} up again differs from the first time"
    command.downgrade(cfg, "base")
    assert current(fresh_engine) is None
    assert tables(fresh_engine) == set(), "downgrading to base left tables behind"
    command.upgrade(cfg, "head")
    assert current(fresh_engine) == revisions[-1].revision


def test_it_migrates_to_exactly_what_the_models_describe(cfg, fresh_engine):
    command.upgrade(cfg, "head")
    assert tables(fresh_engine) == set(metadata.tables)
    with fresh_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "target_metadata": metadata})
        diff = compare_metadata(context, metadata)
    assert diff == [], "the models and the migrations differ; write a migration:\n" + "\n".join(map(str, diff))


def test_it_finds_nothing_to_migrate_on_an_empty_database_only_when_told(cfg, fresh_engine):
    """An empty database differs from the models (so the comparison above can fail)."""
    with fresh_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert {d[1].name for d in diff if d[0] == "add_table"} == set(metadata.tables)


def test_the_migrations_seed_the_ten_default_segments(cfg, fresh_engine):
    """Content targets and survey breakdowns rely on the default codes being rows from the start."""
    from audiences.segments import DEFAULT_SEGMENTS

    command.upgrade(cfg, "head")
    with fresh_engine.connect() as conn:
        rows = conn.execute(text("SELECT code, name, kind FROM audience_segment ORDER BY position, id")).all()
    assert [(r.code, r.name) for r in rows] == [(s.code, s.name) for s in DEFAULT_SEGMENTS]
    assert all(r.kind for r in rows)


def test_lower_packages_never_import_campaign():
    """Imports go one way: campaign may use content and surveys, never the reverse."""
    import ast

    offenders = []
    for package in ("content", "surveys", "audiences"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                              if n == "campaign" or n.startswith("campaign.")]
    assert offenders == []
