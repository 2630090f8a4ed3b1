"""`konbit surveys import-xlsform` and `konbit surveys list`."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from surveys import service
from surveys.models import Survey, Wave
from tests.surveys.factories import make_kap_spec, make_payload, make_survey, make_xlsform
from web.accounts.models import AuditEvent
from web.cli import app
from web.settings import get_settings


@pytest.fixture
def cli(engine, database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KONBIT_DATABASE_URL", database_url)
    monkeypatch.setenv("KONBIT_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def test_it_imports_an_xlsform_and_prints_the_new_surveys_id(cli, engine, tmp_path):
    form = tmp_path / "kap.xlsx"
    form.write_bytes(make_xlsform())
    result = cli("surveys", "import-xlsform", str(form), "--title", "Baseline Sud 2026")
    assert result.exit_code == 0, result.output
    with Session(engine) as s:
        survey = s.exec(select(Survey)).one()
        assert s.exec(select(AuditEvent.action)).all() == ["survey.create"]
    assert result.stdout.strip().splitlines()[0] == str(survey.id)
    assert survey.title == "Baseline Sud 2026"


def test_it_lists_every_problem_and_imports_nothing(cli, engine, tmp_path):
    form = tmp_path / "broken.xlsx"
    form.write_bytes(b"this is not a workbook")
    result = cli("surveys", "import-xlsform", str(form))
    assert result.exit_code == 1
    assert "broken.xlsx: 1 problem(s); nothing was imported." in result.output
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Survey)).one() == 0


def test_it_refuses_a_missing_file(cli, tmp_path):
    result = cli("surveys", "import-xlsform", str(tmp_path / "nowhere.xlsx"))
    assert result.exit_code == 2


def test_it_lists_surveys_with_versions_waves_and_submissions(cli, engine):
    assert "No survey yet" in cli("surveys", "list").output
    kap = make_survey(engine, spec=make_kap_spec(title="KAP Ouest"))
    with Session(engine) as s:
        service.submit(session=s, survey=s.get(Survey, kap.id), wave=s.get(Wave, kap.baseline.id),
                       payload=make_payload(), enumerator=None, source="import")
        s.commit()
    result = cli("surveys", "list")
    assert result.exit_code == 0, result.output
    line = [row for row in result.output.splitlines() if "KAP Ouest" in row][0]
    assert line.split()[:4] == [str(kap.id), "1", "baseline,endline", "1"]
