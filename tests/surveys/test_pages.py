"""Survey management pages: list, XLSForm upload, instrument view, versions, waves, settings."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import Session, func, select

from surveys.models import AnalysisScope, InstrumentVersion, Survey, Wave
from surveys.xlsform import read_xlsform
from tests.factories import login
from tests.surveys.factories import make_kap_spec, make_survey, make_xlsform

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REFERENCE = Path(__file__).resolve().parent / "xlsforms"  # other people's forms (see its README)


def _count(engine, model) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def kap(engine, personas):
    return make_survey(engine, actor=personas["leo"])


def test_it_lists_surveys_and_offers_the_upload_only_to_designers(client, personas, kap):
    login(client, "leo")
    html = client.get("/surveys").text
    assert "KAP trafficking in persons 2026" in html and 'action="/surveys"' in html
    client.cookies.clear()
    login(client, "eddy")
    html = client.get("/surveys").text
    assert "KAP trafficking in persons 2026" in html and 'action="/surveys"' not in html


def test_it_creates_a_survey_from_an_uploaded_xlsform(client, personas, engine):
    csrf = login(client, "leo")
    r = client.post("/surveys", data={"csrf_token": csrf, "title": "Endline Nord"},
                    files={"file": ("kap.xlsx", make_xlsform(), XLSX)})
    assert r.status_code == 303
    with Session(engine) as s:
        survey = s.exec(select(Survey)).one()
    assert r.headers["location"] == f"/surveys/{survey.id}" and survey.title == "Endline Nord"
    assert "Survey Endline Nord created." in client.get(r.headers["location"]).text


def test_an_upload_with_problems_lists_them_by_sheet_row_and_column(client, personas, engine):
    wb = openpyxl.load_workbook(io.BytesIO(make_xlsform()))
    headers = [c.value for c in wb["survey"][1]]
    wb["survey"].cell(row=4, column=headers.index("type") + 1, value="select_one missing_list")
    out = io.BytesIO()
    wb.save(out)
    csrf = login(client, "leo")
    r = client.post("/surveys", data={"csrf_token": csrf}, files={"file": ("bad.xlsx", out.getvalue(), XLSX)},
                    headers={"HX-Request": "true"})
    assert r.status_code == 422
    assert "The form was not imported" in r.text and "<td>survey</td><td class=\"num\">4</td><td>type</td>" in r.text
    assert "missing_list" in r.text and "<html" not in r.text  # the block only, for HTMX
    assert _count(engine, Survey) == 0
    empty = client.post("/surveys", data={"csrf_token": csrf})
    assert empty.status_code == 422 and "Choose an XLSForm file" in empty.text


def test_the_upload_needs_the_csrf_token_and_the_design_permission(client, personas):
    login(client, "leo")
    assert client.post("/surveys", files={"file": ("kap.xlsx", make_xlsform(), XLSX)}).status_code == 403
    client.cookies.clear()
    csrf = login(client, "sonia")
    r = client.post("/surveys", data={"csrf_token": csrf}, files={"file": ("kap.xlsx", make_xlsform(), XLSX)})
    assert r.status_code == 403


@pytest.mark.parametrize("name", sorted(p.name for p in REFERENCE.glob("*.xlsx")))
def test_real_forms_are_imported_or_refused_clearly(client, personas, engine, name):
    """Other people's forms (pyxform's fixtures): a survey, or a list of problems and nothing stored."""
    csrf = login(client, "leo")
    r = client.post("/surveys", data={"csrf_token": csrf}, files={"file": (name, (REFERENCE / name).read_bytes(), XLSX)})
    if r.status_code == 303:
        assert _count(engine, Survey) == 1 and _count(engine, InstrumentVersion) == 1
    else:
        assert r.status_code == 422 and "The form was not imported" in r.text
        assert _count(engine, Survey) == 0
        if name == "duplicate_columns.xlsx":
            assert "label" in r.text


def test_the_survey_page_shows_versions_waves_and_settings(client, personas, kap):
    login(client, "leo")
    html = client.get(f"/surveys/{kap.id}").text
    assert "Instrument versions" in html and "baseline" in html and "endline" in html
    assert f'/surveys/{kap.id}/versions/1/xlsform' in html and "Save settings" in html and "Add a wave" in html
    client.cookies.clear()
    login(client, "eddy")
    html = client.get(f"/surveys/{kap.id}").text
    assert "Save settings" not in html and "Upload version" not in html and "your own submissions" in html
    assert client.get("/surveys/999").status_code == 404


def test_the_instrument_page_shows_sections_items_kap_keys_and_languages(client, personas, kap):
    login(client, "eddy")
    html = client.get(f"/surveys/{kap.id}/versions/1").text
    for text in ("Konesans", "k_law", "knowledge", "correct: yes", "reverse-coded", "channel: radio",
                 "desired: police, ibesr, hotline", "Kreyol (ht)", "${consent} = &#39;yes&#39;", "Likert (5)"):
        assert text in html, text
    french = client.get(f"/surveys/{kap.id}/versions/1?lang=fr").text
    assert "Connaissances" in french and "Existe-t-il une loi contre la traite" in french
    assert client.get(f"/surveys/{kap.id}/versions/2").status_code == 404


def test_a_version_downloads_as_an_xlsform(client, personas, kap):
    login(client, "carla")
    r = client.get(f"/surveys/{kap.id}/versions/1/xlsform")
    assert r.status_code == 200 and read_xlsform(r.content) == make_kap_spec()


def test_a_new_version_is_uploaded_from_the_page(client, personas, kap, engine):
    csrf = login(client, "leo")
    r = client.post(f"/surveys/{kap.id}/versions", data={"csrf_token": csrf, "note": "shorter"},
                    files={"file": ("v2.xlsx", make_xlsform(make_kap_spec(title="v2")), XLSX)})
    assert r.status_code == 303 and r.headers["location"] == f"/surveys/{kap.id}/versions/2"
    bad = client.post(f"/surveys/{kap.id}/versions", data={"csrf_token": csrf},
                      files={"file": ("v3.xlsx", b"nope", XLSX)})
    assert bad.status_code == 422 and "The new version was not added" in bad.text
    assert _count(engine, InstrumentVersion) == 2


def test_waves_are_added_edited_and_deleted_from_the_page(client, personas, kap, engine):
    csrf = login(client, "leo")
    r = client.post(f"/surveys/{kap.id}/waves", data={"csrf_token": csrf, "name": "post-training", "kind": "post",
                                                      "design": "panel", "is_open": "on"})
    assert r.status_code == 303
    with Session(engine) as s:
        wave = s.exec(select(Wave).where(Wave.name == "post-training")).one()
    assert wave.design.value == "panel"
    dup = client.post(f"/surveys/{kap.id}/waves", data={"csrf_token": csrf, "name": "baseline", "kind": "baseline"})
    assert dup.status_code == 422 and "already has a wave named" in dup.text
    edit = client.post(f"/surveys/{kap.id}/waves/{wave.id}", data={"csrf_token": csrf, "name": "post-training",
                                                                    "kind": "post", "design": "panel",
                                                                    "starts_on": "2027-03-01", "ends_on": "2027-02-01"},
                       headers={"HX-Request": "true"})
    assert edit.status_code == 422 and "cannot end before it starts" in edit.text and edit.text.startswith("<tr")
    closed = client.post(f"/surveys/{kap.id}/waves/{wave.id}", data={"csrf_token": csrf, "name": "post-training",
                                                                      "kind": "post", "design": "panel"})
    assert closed.status_code == 200 and "closed" in closed.text
    with Session(engine) as s:
        assert s.get(Wave, wave.id).is_open is False
    gone = client.post(f"/surveys/{kap.id}/waves/{wave.id}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303 and _count(engine, Wave) == 2


def test_settings_are_saved_from_the_page(client, personas, kap, engine):
    csrf = login(client, "leo")
    r = client.post(f"/surveys/{kap.id}/settings", data={
        "csrf_token": csrf, "title": "KAP 2026", "analysis_scope": "approved", "dont_know_threshold": "25%",
        "min_seconds_per_answer": "5"})
    assert r.status_code == 303
    with Session(engine) as s:
        survey = s.get(Survey, kap.id)
    assert (survey.title, survey.analysis_scope, survey.dont_know_threshold, survey.min_seconds_per_answer) == \
        ("KAP 2026", AnalysisScope.approved, 0.25, 5)
    bad = client.post(f"/surveys/{kap.id}/settings", data={"csrf_token": csrf, "dont_know_threshold": "3"})
    assert bad.status_code == 422 and "dont_know_threshold" in bad.text


def test_a_survey_without_submissions_is_deleted_from_the_page(client, personas, kap, engine):
    csrf = login(client, "leo")
    assert client.post(f"/surveys/{kap.id}/delete", data={"csrf_token": csrf}).headers["location"] == "/surveys"
    assert _count(engine, Survey) == 0
