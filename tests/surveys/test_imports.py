"""Imports of KoboToolbox / ODK Central exports: reading the file (pure), checking and storing
the rows (database), and ``konbit surveys import-responses``.

``kobo_csv`` writes a file the way Kobo does (``;`` separated, group paths, select_multiple
both whole and split into 0/1 columns, ``_uuid`` / ``meta/instanceID``, bookkeeping columns);
the other test modules of imports use it too.
"""

from __future__ import annotations

import csv
import io
import uuid as uuid_module
from datetime import datetime, timedelta, timezone
from typing import Any

import openpyxl
import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from surveys import import_jobs
from surveys.imports import ImportFileError, parse_mapping, read_header, read_responses, row_from_json
from surveys.models import Submission, SubmissionConflict, Survey
from tests.surveys.factories import make_answers, make_kap_spec, make_survey

SECTIONS = {it.code: s.name for s in make_kap_spec().sections for it in s.items}
SIGNS = ("job_offer", "documents", "debt", "dk")
DESIGN_COLUMNS = ("segment", "region", "cluster", "stratum", "weight", "arm", "sex", "age_group", "enumerator")


def kobo_row(*, uid: str | None = None, answers: dict[str, Any] | None = None, minutes: int = 25,
             end: datetime | None = None, **design: Any) -> dict[str, str]:
    """One interview as the cells of a Kobo export (column -> text)."""
    answers = make_answers() if answers is None else answers
    uid = uid or str(uuid_module.uuid4())
    end = end or datetime(2026, 11, 2, 14, 30, tzinfo=timezone(timedelta(hours=-5)))
    start = end - timedelta(minutes=minutes)
    cells = {"start": start.isoformat(timespec="milliseconds"), "end": end.isoformat(timespec="milliseconds")}
    for code, group in SECTIONS.items():
        if code in ("start", "end"):
            continue
        value = answers.get(code, "")
        if isinstance(value, list):
            value = " ".join(value)
        cells[f"{group}/{code}"] = "" if value is None else str(value)
        if code == "k_signs":
            chosen = set(cells[f"{group}/{code}"].split())
            for name in SIGNS:
                cells[f"{group}/{code}/{name}"] = ("1" if name in chosen else "0") if chosen else ""
    base = {"segment": "general_public", "region": "Ouest", "cluster": "Cité Soleil", "stratum": "urban",
            "weight": "1.5", "arm": "intervention", "sex": "female", "age_group": "25-34", "enumerator": "enum07"}
    base.update({k: str(v) for k, v in design.items()})
    cells.update(base)
    cells.update({"meta/instanceID": f"uuid:{uid}", "_id": "4242", "_uuid": uid,
                  "_submission_time": "2026-11-02T20:00:11", "_validation_status": "", "_notes": "[]",
                  "_status": "submitted_via_web", "_submitted_by": "", "__version__": "vXyZ", "_tags": "[]", "_index": "1"})
    return cells


def kobo_csv(rows: list[dict[str, str]], *, delimiter: str = ";", drop: tuple[str, ...] = ()) -> bytes:
    header = [c for c in rows[0] if c not in drop]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, "") for c in header])
    return out.getvalue().encode("utf-8")


def kobo_xlsx(rows: list[dict[str, str]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "KAP trafficking"
    header = list(rows[0])
    ws.append(header)
    for row in rows:
        cells: list[Any] = []
        for c in header:
            value = row.get(c, "")
            cells.append(int(value) if value.isdigit() and c.endswith(("age", "household_size", "e_times")) else (value or None))
        ws.append(cells)
    wb.create_sheet("repeat_members").append(["_index", "name"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def count(engine, model=Submission, *where) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


@pytest.fixture
def kap(engine, personas):
    return make_survey(engine, actor=personas["leo"])


def check(engine, kap, data: bytes, filename: str = "kobo.csv", **options) -> import_jobs.ImportReport:
    with Session(engine, expire_on_commit=False) as session:
        survey = session.get(Survey, kap.id)
        return import_jobs.check_file(session=session, survey=survey, source=data, filename=filename, **options)


def store(engine, kap, data: bytes, filename: str = "kobo.csv", **options) -> import_jobs.ImportReport:
    return import_jobs.store_file(engine=engine, survey_id=kap.id, source=data, filename=filename, **options)


# --- reading files (pure) -------------------------------------------------------------------------


def test_it_reads_a_kobo_csv_with_group_paths_and_uuid_prefixes():
    uid = str(uuid_module.uuid4())
    data = kobo_csv([kobo_row(uid=uid)])
    with read_responses(data, spec=make_kap_spec(), filename="x.csv", wave="baseline") as reader:
        assert reader.plan.id_column == "_uuid"
        assert reader.plan.items["age"] == "background/age"
        assert "k_signs" in reader.plan.items and "k_signs" not in reader.plan.splits  # the whole column wins
        rows = list(reader)
    (row,) = rows
    assert row.ok and row.row == 2 and row.uuid == uid and row.wave == "baseline"
    assert row.answers["k_signs"] == "job_offer debt" and row.answers["age"] == "34"
    assert row.design["region"] == "Ouest" and row.design["weight"] == 1.5 and row.design["enumerator_name"] == "enum07"
    assert row.design["started_at"] == datetime(2026, 11, 2, 19, 5, tzinfo=timezone.utc)  # -05:00 turned into UTC
    assert row.submitted_at == datetime(2026, 11, 2, 20, 0, 11, tzinfo=timezone.utc)


def test_it_reads_split_select_multiple_columns_and_odk_central_names():
    uid = str(uuid_module.uuid4())
    cells = kobo_row(uid=uid)
    central = {k.replace("/", "-") if not k.startswith("knowledge/k_signs/") else k.replace("knowledge/", "knowledge-"): v
               for k, v in cells.items() if k not in ("_uuid", "meta/instanceID", "knowledge/k_signs")}
    central["KEY"] = f"uuid:{uid.upper()}"
    data = kobo_csv([central], delimiter=",")
    (row,) = list(read_responses(data, spec=make_kap_spec(), filename="central.csv", wave="endline"))
    assert row.ok, row.problems
    assert row.uuid == uid  # prefix gone, case folded
    assert row.answers["k_signs"] == "job_offer debt"
    assert row.answers["age"] == "34"


def test_it_reads_labels_in_any_language_and_xlsx_numbers():
    cells = kobo_row()
    cells["knowledge/k_law"] = "Wi"  # Haitian Creole label of "yes"
    cells["background/education"] = "Secondaire"
    data = kobo_xlsx([cells])
    (row,) = list(read_responses(data, spec=make_kap_spec(), filename="kobo.xlsx", wave="baseline"))
    assert row.ok, row.problems
    assert row.answers["k_law"] == "yes" and row.answers["education"] == "secondary" and row.answers["age"] == "34"


def test_it_reports_bad_rows_with_row_number_item_and_value():
    rows = [kobo_row(), kobo_row(weight="-2", arm="treatment"), kobo_row()]
    rows[2]["attitudes/a_report_duty"] = "7"
    rows[2]["knowledge/k_signs"] = "job_offer fax"
    parsed = list(read_responses(kobo_csv(rows), spec=make_kap_spec(), filename="x.csv", wave="baseline"))
    assert [r.ok for r in parsed] == [True, False, False]
    problems = {(p.row, p.item): p for r in parsed for p in r.problems}
    assert problems[(3, "weight")].value == "-2"
    assert "intervention or comparison" in problems[(3, "arm")].message
    assert problems[(4, "a_report_duty")].value == "7" and problems[(4, "a_report_duty")].column == "attitudes/a_report_duty"
    assert "'fax' is not a choice of k_signs" in problems[(4, "k_signs")].message
    assert str(problems[(4, "a_report_duty")]).startswith("row 4, a_report_duty (column attitudes/a_report_duty):")


def test_it_marks_a_repeated_row_and_refuses_a_repeated_id_with_other_answers():
    uid = str(uuid_module.uuid4())
    first = kobo_row(uid=uid)
    other = dict(first, **{"background/age": "51"})
    parsed = list(read_responses(kobo_csv([first, dict(first), other]), spec=make_kap_spec(), filename="x.csv",
                                 wave="baseline"))
    assert parsed[1].ok and parsed[1].duplicate_of == 2
    assert not parsed[2].ok and "also on row 2" in parsed[2].problems[0].message


def test_it_maps_columns_with_other_names():
    cells = kobo_row()
    renamed = {("departement" if k == "region" else "id" if k == "_uuid" else k): v for k, v in cells.items()
               if k != "meta/instanceID"}
    renamed["vag"] = "endline"
    data = kobo_csv([renamed])
    with pytest.raises(ImportFileError) as info:
        read_responses(data, spec=make_kap_spec(), filename="x.csv")
    assert "No submission id column" in info.value.problems[0]
    mapping = parse_mapping(["region=departement", "uuid=id", "wave=vag"])
    (row,) = list(read_responses(data, spec=make_kap_spec(), filename="x.csv", mapping=mapping))
    assert row.ok and row.design["region"] == "Ouest" and row.wave == "endline"
    (row,) = list(read_responses(data, spec=make_kap_spec(), filename="x.csv", mapping=mapping, wave="baseline"))
    assert row.wave == "baseline"  # the option overrides the column


def test_it_refuses_a_mapping_to_nothing_and_malformed_pairs():
    data = kobo_csv([kobo_row()])
    with pytest.raises(ImportFileError) as info:
        read_responses(data, spec=make_kap_spec(), filename="x.csv", mapping={"region": "nowhere", "colour": "region"})
    assert any("no column 'nowhere'" in p for p in info.value.problems)
    assert any("'colour' is neither a design field" in p for p in info.value.problems)
    with pytest.raises(ValueError):
        parse_mapping(["region"])


def test_it_refuses_files_it_cannot_use():
    with pytest.raises(ImportFileError, match="empty"):
        read_responses(b"", spec=make_kap_spec(), filename="x.csv")
    with pytest.raises(ImportFileError, match="No column matches an item"):
        read_responses(b"_uuid,colour\nabc,red\n", spec=make_kap_spec(), filename="x.csv")
    with pytest.raises(ImportFileError, match="old .xls"):
        read_responses(b"\xd0\xcf\x11\xe0rest", spec=make_kap_spec(), filename="x.xls")
    with pytest.raises(ImportFileError, match="cannot be read"):
        read_responses(b"PK\x03\x04garbage", spec=make_kap_spec(), filename="x.xlsx")
    assert read_header(kobo_csv([kobo_row()]), filename="x.csv")[:2] == ["start", "end"]


def test_it_reads_a_windows_1252_csv():
    cells = kobo_row()
    cells["cluster"] = "Pétion-Ville"
    data = kobo_csv([cells]).decode("utf-8").encode("cp1252")
    (row,) = list(read_responses(data, spec=make_kap_spec(), filename="x.csv", wave="baseline"))
    assert row.design["cluster"] == "Pétion-Ville"


def test_it_reads_kobo_json_like_a_row():
    uid = str(uuid_module.uuid4())
    payload: dict[str, Any] = dict(kobo_row(uid=uid))
    payload.update({"_id": 4242, "_attachments": [], "_geolocation": [None, None], "_validation_status": {},
                    "background/age": 34, "_tags": []})
    row = row_from_json(payload, spec=make_kap_spec(), wave="baseline")
    assert row.ok and row.uuid == uid and row.answers["age"] == "34"


# --- checking and storing ---------------------------------------------------------------------


def test_it_imports_good_rows_and_reports_bad_ones_by_row(engine, kap):
    rows = [kobo_row() for _ in range(4)]
    rows[1]["background/age"] = "abc"
    rows[3]["knowledge/k_law"] = ""  # required
    data = kobo_csv(rows)
    report = check(engine, kap, data, wave="baseline")
    assert (report.rows, report.new, report.bad) == (4, 2, 2)
    assert {(p.row, p.item) for p in report.problems} == {(3, "age"), (5, "k_law")}
    assert count(engine) == 0  # the check writes nothing
    report = store(engine, kap, data, wave="baseline", report=report)
    assert report.created == 2 and count(engine) == 2
    with Session(engine) as s:
        sub = s.exec(select(Submission).where(Submission.uuid == rows[0]["_uuid"])).one()
        assert sub.source == "import" and sub.enumerator_name == "enum07" and sub.region == "Ouest"
        assert sub.answers["k_signs"] == ["job_offer", "debt"] and sub.answers["age"] == 34
        assert sub.wave_id == kap.baseline.id and sub.weight == 1.5 and sub.arm == "intervention"


def test_it_creates_nothing_when_the_same_rows_come_again(engine, kap):
    data = kobo_csv([kobo_row() for _ in range(3)])
    store(engine, kap, data, wave="baseline")
    report = check(engine, kap, data, wave="baseline")
    assert (report.new, report.already, report.bad) == (0, 3, 0)
    report = store(engine, kap, data, wave="baseline")  # one pass, as with --yes
    assert report.created == 0 and report.already == 3 and count(engine) == 3
    # An XLSX of the same interviews is the same interviews.
    assert store(engine, kap, kobo_xlsx([kobo_row()]), "k.xlsx", wave="baseline").created == 1


def test_it_keeps_a_changed_resend_aside_instead_of_importing_it(engine, kap):
    row = kobo_row()
    store(engine, kap, kobo_csv([row]), wave="baseline")
    changed = dict(row, **{"background/age": "52"})
    report = check(engine, kap, kobo_csv([changed]), wave="baseline")
    assert report.conflicts == 1 and report.bad == 1 and "different answers" in report.problems[0].message
    report = store(engine, kap, kobo_csv([changed]), wave="baseline", report=report)
    assert report.created == 0 and report.kept_aside == 1
    assert count(engine, SubmissionConflict) == 1 and count(engine) == 1
    store(engine, kap, kobo_csv([changed]), wave="baseline")
    assert count(engine, SubmissionConflict) == 1  # the same refused content is kept once


def test_it_flags_constraints_and_panel_repeats_as_submit_does(engine, kap):
    rows = [kobo_row(respondent_code="P-001") for _ in range(2)]
    rows[0]["background/household_size"] = "0"  # breaks ". > 0": kept and flagged for imports
    store(engine, kap, kobo_csv([dict(r, respondent_code="P-001") for r in rows]), wave="baseline")
    with Session(engine) as s:
        subs = s.exec(select(Submission).order_by(Submission.id)).all()
    codes = [{f["code"] for f in sub.flags} for sub in subs]
    assert "outside_constraint" in codes[0] and "outside_constraint" not in codes[1]
    assert all("panel_repeat" in c for c in codes)


def test_it_stores_the_same_hash_as_submit_so_a_resend_is_recognised(engine, kap):
    from surveys import service
    from tests.surveys.factories import make_payload

    uid = str(uuid_module.uuid4())
    row = kobo_row(uid=uid, minutes=15, end=datetime(2026, 11, 2, 14, 30, tzinfo=timezone.utc), language="ht")
    assert store(engine, kap, kobo_csv([row]), wave="baseline").created == 1  # the multi-row insert
    with Session(engine, expire_on_commit=False) as s:
        survey = s.get(Survey, kap.id)
        wave = service.get_wave(session=s, survey=survey, wave="baseline")
        again, created = service.submit(session=s, survey=survey, wave=wave, payload=make_payload(uuid=uid),
                                        enumerator=None, source="api")
        assert created is False and again.source == "import"


def test_it_refuses_an_unknown_wave_for_the_whole_file(engine, kap):
    with pytest.raises(ImportFileError, match="no wave 'midline'"):
        check(engine, kap, kobo_csv([kobo_row()]), wave="midline")


def test_it_reports_an_unknown_wave_in_a_column_by_row(engine, kap):
    data = kobo_csv([dict(kobo_row(), wave="baseline"), dict(kobo_row(), wave="midline")])
    report = check(engine, kap, data)
    assert report.new == 1 and report.bad == 1
    assert report.problems[0].row == 3 and report.problems[0].item == "wave"


def test_it_rolls_back_only_the_failing_row(engine, kap, monkeypatch):
    """A row that fails while being stored takes no other row with it."""
    from surveys import service

    rows = [kobo_row() for _ in range(3)]
    store(engine, kap, kobo_csv([rows[1]]), wave="baseline")  # stored: row 3 of the file will go through submit()
    changed = dict(rows[1], **{"background/age": "60"})
    def failing_submit(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "submit", failing_submit)
    report = store(engine, kap, kobo_csv([rows[0], changed, rows[2]]), wave="baseline")
    assert report.created == 2 and report.bad == 1 and "unexpected error" in report.problems[0].message
    assert count(engine) == 3


def test_it_redoes_a_batch_row_by_row_when_the_multi_row_insert_fails(engine, kap, monkeypatch):
    rows = [kobo_row() for _ in range(3)]
    monkeypatch.setattr(import_jobs, "_insert_statement", lambda dialect: "not a statement")
    report = store(engine, kap, kobo_csv(rows), wave="baseline")
    assert report.created == 3 and count(engine) == 3


def test_it_stores_a_clean_file_in_bulk_without_going_row_by_row(engine, kap, monkeypatch):
    from surveys import service

    def no_submit(**kwargs):
        raise AssertionError("a new row went through submit()")

    monkeypatch.setattr(service, "submit", no_submit)
    report = store(engine, kap, kobo_csv([kobo_row() for _ in range(5)]), wave="baseline", batch_size=2)
    assert report.created == 5 and report.bad == 0 and count(engine) == 5


def test_it_lets_submit_decide_when_an_id_was_stored_after_the_batch_was_read(engine, kap, monkeypatch):
    """Another import or a phone stores an id between the batch's look-up and its insert."""
    same, changed, fresh = kobo_row(), kobo_row(), kobo_row()
    store(engine, kap, kobo_csv([same, changed]), wave="baseline")
    monkeypatch.setattr(import_jobs, "_stored", lambda session, uuids: {})  # the look-up saw none of them
    other = dict(changed, **{"background/age": "61"})
    report = store(engine, kap, kobo_csv([same, other, fresh]), wave="baseline")
    assert report.created == 1 and report.already == 1 and report.kept_aside == 1 and report.conflicts == 1
    assert count(engine) == 3 and count(engine, SubmissionConflict) == 1
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Submission).where(Submission.uuid == fresh["_uuid"])).one() == 1


def test_a_row_stored_in_bulk_is_the_row_submit_would_store(engine, kap, monkeypatch):
    """Column by column, as the database holds it (JSON text included), but for the ids and times of arrival."""
    from sqlalchemy import String, cast

    rows = [kobo_row(minutes=2, respondent_code="R-7"), kobo_row(answers=make_answers(age="120", k_signs="dk debt")),
            kobo_row(answers=make_answers(consent="no"), language="fr", weight="2,5")]
    twins = [dict(row, _uuid=str(uuid_module.uuid4()), **{"meta/instanceID": ""}) for row in rows]
    assert store(engine, kap, kobo_csv(rows), wave="baseline").created == 3  # in bulk
    monkeypatch.setattr(import_jobs, "_insert_statement", lambda dialect: "not a statement")
    assert store(engine, kap, kobo_csv(twins), wave="baseline").created == 3  # row by row, through submit()
    table = Submission.__table__
    columns = [c for c in table.c if c.name not in ("id", "uuid", "received_at", "updated_at")]
    texts = [cast(table.c.answers, String), cast(table.c.flags, String)]
    with Session(engine) as s:
        stored = {u: tuple(r) for u, *r in s.execute(select(table.c.uuid, *columns, *texts))}
    for row, twin in zip(rows, twins):
        assert stored[row["_uuid"]] == stored[twin["_uuid"]]
    assert any(f["code"] == "panel_repeat" for f in stored[rows[0]["_uuid"]][columns.index(table.c.flags)])


def test_it_reports_the_same_bad_cell_on_every_row_that_holds_it(engine, kap):
    rows = [kobo_row(), kobo_row(), kobo_row()]
    for row in rows[1:]:
        row["background/age"] = "old"
        row["knowledge/k_law"] = "maybe"
    report = check(engine, kap, kobo_csv(rows), wave="baseline")
    assert report.bad == 2
    assert [(p.row, p.item) for p in report.problems] == [(3, "age"), (3, "k_law"), (4, "age"), (4, "k_law")]
    assert report.problems[0].message == report.problems[2].message == "'old' is not a whole number"


def test_a_crash_mid_import_then_a_restart_never_duplicates(engine, kap, monkeypatch):
    rows = [kobo_row() for _ in range(7)]
    data = kobo_csv(rows)
    calls = {"n": 0}
    real = import_jobs._store_batch

    def crash_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process dies mid-import
        return real(*args, **kwargs)

    monkeypatch.setattr(import_jobs, "_store_batch", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        store(engine, kap, data, wave="baseline", batch_size=3)
    assert count(engine) == 3  # the first batch was committed, nothing of the second
    monkeypatch.setattr(import_jobs, "_store_batch", real)
    report = store(engine, kap, data, wave="baseline", batch_size=3)
    assert report.created == 4 and report.already == 3 and count(engine) == 7


# --- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def cli(database_url, tmp_path, monkeypatch):
    from web.cli import app
    from web.settings import get_settings

    monkeypatch.setenv("KONBIT_DATABASE_URL", database_url)
    monkeypatch.setenv("KONBIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KONBIT_ENV", "test")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    yield run
    get_settings.cache_clear()


def test_cli_imports_a_clean_file_without_asking(engine, kap, cli, tmp_path):
    path = tmp_path / "kobo.csv"
    path.write_bytes(kobo_csv([kobo_row() for _ in range(3)]))
    result = cli("surveys", "import-responses", str(kap.id), str(path), "--wave", "baseline")
    assert result.exit_code == 0, result.output
    assert "Imported 3 new submissions" in result.output
    result = cli("surveys", "import-responses", str(kap.id), str(path), "--wave", "baseline")
    assert result.exit_code == 0 and "Imported 0 new submissions" in result.output and "3 already there" in result.output
    assert count(engine) == 3


def test_cli_lists_bad_rows_and_imports_nothing_without_yes(engine, kap, cli, tmp_path):
    rows = [kobo_row() for _ in range(3)]
    rows[2]["background/age"] = "old"
    path = tmp_path / "kobo.csv"
    path.write_bytes(kobo_csv(rows))
    result = cli("surveys", "import-responses", str(kap.id), str(path), "--wave", "baseline", input="n\n")
    assert result.exit_code == 1
    assert "row 4, age (column background/age): 'old' is not a whole number" in result.output
    assert count(engine) == 0
    result = cli("surveys", "import-responses", str(kap.id), str(path), "--wave", "baseline", "--yes")
    assert result.exit_code == 0, result.output
    assert "Imported 2 new submissions" in result.output and "row 4, age" in result.output
    assert count(engine) == 2


def test_cli_maps_columns_and_explains_an_unusable_file(engine, kap, cli, tmp_path):
    cells = {("departement" if k == "region" else "id" if k == "_uuid" else k): v for k, v in kobo_row().items()
             if k != "meta/instanceID"}
    path = tmp_path / "renamed.csv"
    path.write_bytes(kobo_csv([cells]))
    result = cli("surveys", "import-responses", str(kap.id), str(path), "--wave", "baseline")
    assert result.exit_code == 1 and "No submission id column" in result.output
    result = cli("surveys", "import-responses", str(kap.id), str(path), "--wave", "baseline",
                 "--map", "uuid=id", "--map", "region=departement")
    assert result.exit_code == 0, result.output
    with Session(engine) as s:
        assert s.exec(select(Submission.region)).one() == "Ouest"
    result = cli("surveys", "import-responses", str(kap.id), str(path), "--map", "region")
    assert result.exit_code == 2


def test_a_cell_holding_nul_is_a_row_problem_not_a_failed_import(engine, kap):
    # Issue 11 (same class as NUL in a request): PostgreSQL's text cannot hold U+0000, and the
    # batch holding such a row failed whole. Now the row is reported by its column; the rest enter.
    rows = [kobo_row(), kobo_row(cluster="Cit\x00 Soleil")]
    data = kobo_csv(rows)
    report = check(engine, kap, data, wave="baseline")
    assert (report.new, report.bad) == (1, 1)
    (problem,) = report.problems
    assert problem.row == 3 and problem.column == "cluster" and "NUL" in problem.message
    assert store(engine, kap, data, wave="baseline", report=report).created == 1 and count(engine) == 1


def test_a_table_leaves_the_questions_of_repeats_out_of_its_rows():
    """A CSV has one value per question: a repeat's columns (Kobo's legacy flattening) are not answers."""
    from surveys.imports import read_responses
    from surveys.xlsform import read_xlsform
    from tests.surveys.test_repeats import household_form

    spec = read_xlsform(household_form())
    data = "_uuid,n,person/pname,person/page\r\nu-1,1,Rose,40\r\n".encode()
    (row,) = list(read_responses(io.BytesIO(data), spec=spec, filename="x.csv"))
    assert row.answers == {"n": "1"}
