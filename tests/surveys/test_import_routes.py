"""The import screen (upload, mapping, preview of good and bad rows, confirm, progress) and the
JSON API for imports. The import runs in a background thread; ``finish`` waits for it."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from surveys import import_jobs
from surveys.models import Submission
from tests.factories import bearer, login
from tests.surveys.factories import make_survey
from tests.surveys.test_imports import count, kobo_csv, kobo_row, kobo_xlsx


@pytest.fixture
def kap(engine, personas):
    return make_survey(engine, actor=personas["leo"])


@pytest.fixture
def sonia(client, personas) -> str:
    return login(client, "sonia")


def finish(app, job_id: str, timeout: float = 60) -> import_jobs.ImportJob:
    """Wait until the job's thread is done; return the job as saved."""
    deadline = time.monotonic() + timeout
    while True:
        job = import_jobs.load_job(app.state.settings.data_dir, job_id)
        if job.id not in import_jobs._running and job.state not in import_jobs.RUNNING_STATES:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"import {job_id} still {job.state} after {timeout} s")
        time.sleep(0.05)


def upload(client, csrf: str, kap, data: bytes, filename: str = "kobo.csv", **form: str):
    response = client.post(f"/surveys/{kap.id}/import", headers={"X-CSRF-Token": csrf},
                           files={"file": (filename, data, "text/csv")}, data={"wave": "baseline", **form})
    assert response.status_code == 303, response.text[:500]
    location = response.headers["location"]
    assert location.startswith(f"/surveys/{kap.id}/import/")
    return location, location.rsplit("/", 1)[1]


def test_it_imports_a_clean_file_without_asking(app, client, sonia, kap, engine):
    assert "Upload and check" in client.get(f"/surveys/{kap.id}/import").text
    url, job_id = upload(client, sonia, kap, kobo_csv([kobo_row() for _ in range(3)]))
    job = finish(app, job_id)
    assert job.state == "done" and job.report["created"] == 3
    page = client.get(url).text
    assert "3 submissions added" in page and 'hx-trigger="every 1s"' not in page
    assert count(engine) == 3
    assert not import_jobs.job_source(app.state.settings.data_dir, job).exists()  # the upload is not kept


def test_it_shows_bad_rows_by_number_and_imports_the_good_ones_only_when_confirmed(app, client, sonia, kap, engine):
    rows = [kobo_row() for _ in range(4)]
    rows[1]["background/age"] = "abc"
    rows[2]["attitudes/a_victim_fault"] = "9"
    url, job_id = upload(client, sonia, kap, kobo_csv(rows))
    assert finish(app, job_id).state == "checked"
    assert count(engine) == 0
    page = client.get(url).text
    bad = page.split('id="bad-rows"', 1)[1].split("</table>", 1)[0]
    assert '<td class="num">3</td><td><code>age</code>' in bad and "is not a whole number" in bad
    assert '<td class="num">4</td><td><code>a_victim_fault</code>' in bad and "&#39;9&#39; is not a choice" in bad
    good = page.split('id="good-rows"', 1)[1].split("</table>", 1)[0]
    assert rows[0]["_uuid"] in good and rows[3]["_uuid"] in good and rows[1]["_uuid"] not in good
    assert "Import the 2 good rows" in page
    problems = client.get(f"{url}/problems.csv")
    assert problems.status_code == 200 and problems.text.splitlines()[1].startswith("3,age,background/age,abc,")

    response = client.post(f"{url}/confirm", headers={"X-CSRF-Token": sonia})
    assert response.status_code == 303
    job = finish(app, job_id)
    assert job.state == "done" and job.report["created"] == 2
    assert count(engine) == 2
    assert "2 bad rows left out" in client.get(url).text
    assert client.post(f"{url}/confirm", headers={"X-CSRF-Token": sonia}).status_code == 409  # once only


def test_the_same_file_twice_adds_nothing(app, client, sonia, kap, engine):
    data = kobo_csv([kobo_row() for _ in range(3)])
    finish(app, upload(client, sonia, kap, data)[1])
    job = finish(app, upload(client, sonia, kap, data)[1])
    assert job.state == "done" and job.report["created"] == 0 and job.report["already"] == 3
    assert count(engine) == 3


def test_it_asks_for_columns_it_cannot_find_then_imports(app, client, sonia, kap, engine):
    cells = {("id" if k == "_uuid" else "departement" if k == "region" else k): v for k, v in kobo_row().items()
             if k != "meta/instanceID"}
    url, job_id = upload(client, sonia, kap, kobo_csv([cells]))
    job = finish(app, job_id)
    assert job.state == "mapping" and "departement" in job.header
    page = client.get(url).text
    assert "No submission id column" in page and '<select name="map_uuid">' in page
    response = client.post(f"{url}/mapping", headers={"X-CSRF-Token": sonia},
                           data={"wave": "baseline", "map_uuid": "id", "map_region": "departement", "items": ""})
    assert response.status_code == 303
    job = finish(app, job_id)
    assert job.state == "done" and job.report["created"] == 1
    with Session(engine) as s:
        assert s.exec(select(Submission.region)).one() == "Ouest"


def test_it_takes_a_mapping_with_the_upload_and_refuses_a_malformed_one(app, client, sonia, kap):
    cells = {("id" if k == "_uuid" else k): v for k, v in kobo_row().items() if k != "meta/instanceID"}
    job = finish(app, upload(client, sonia, kap, kobo_csv([cells]), mapping="uuid=id")[1])
    assert job.state == "done" and job.mapping == {"uuid": "id"}
    response = client.post(f"/surveys/{kap.id}/import", headers={"X-CSRF-Token": sonia},
                           files={"file": ("k.csv", kobo_csv([cells]), "text/csv")}, data={"mapping": "uuid"})
    assert response.status_code == 400 and "Column mapping" in response.text


def test_it_imports_an_xlsx_export(app, client, sonia, kap, engine):
    job = finish(app, upload(client, sonia, kap, kobo_xlsx([kobo_row(), kobo_row()]), filename="kobo.xlsx")[1])
    assert job.state == "done" and job.report["created"] == 2


def test_it_refuses_other_file_types(client, sonia, kap):
    response = client.post(f"/surveys/{kap.id}/import", headers={"X-CSRF-Token": sonia},
                           files={"file": ("form.pdf", b"%PDF", "application/pdf")}, data={})
    assert response.status_code == 400 and "Upload a .csv or .xlsx" in response.text


def test_cancel_leaves_nothing_imported(app, client, sonia, kap, engine):
    rows = [kobo_row(), kobo_row(weight="zero")]
    url, job_id = upload(client, sonia, kap, kobo_csv(rows))
    finish(app, job_id)
    response = client.post(f"{url}/cancel", headers={"X-CSRF-Token": sonia})
    assert response.status_code == 303
    job = finish(app, job_id)
    assert job.state == "cancelled" and count(engine) == 0
    assert "cancelled" in client.get(f"/surveys/{kap.id}/import").text


def _write_job(app, job_id: str, **changes) -> None:
    job = import_jobs.load_job(app.state.settings.data_dir, job_id)
    for key, value in changes.items():
        setattr(job, key, value)
    path = import_jobs._job_dir(app.state.settings.data_dir, job_id) / "job.json"
    path.write_text(json.dumps(import_jobs.asdict(job)), encoding="utf-8")


def test_the_progress_bar_polls_while_running_and_stops_after(app, client, sonia, kap):
    rows = [kobo_row(), kobo_row(weight="-1")]
    url, job_id = upload(client, sonia, kap, kobo_csv(rows))
    finish(app, job_id)
    now = datetime.now(timezone.utc).isoformat()
    _write_job(app, job_id, state="importing", fraction=0.42, phase_rows=840, updated_at=now)
    partial = client.get(f"{url}/progress", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and partial.text.lstrip().startswith('<div id="import-job"')
    assert 'hx-trigger="every 1s"' in partial.text and 'value="42"' in partial.text and "840 rows" in partial.text
    assert "<html" not in partial.text
    _write_job(app, job_id, state="checked", fraction=1.0)
    assert 'hx-trigger' not in client.get(f"{url}/progress", headers={"HX-Request": "true"}).text
    _write_job(app, job_id, state="failed", error="Survey 9 no longer exists.")
    page = client.get(url).text
    assert "The import failed: Survey 9 no longer exists." in page and "Try again" in page


def test_an_interrupted_import_resumes_without_duplicates(app, client, sonia, kap, engine):
    rows = [kobo_row() for _ in range(5)]
    data = kobo_csv(rows)
    url, job_id = upload(client, sonia, kap, kobo_csv([rows[4], dict(rows[0], weight="x")]))
    finish(app, job_id)
    # Simulate a server that died while importing the file: 2 rows stored, the job frozen 10 minutes ago.
    import_jobs.store_file(engine=engine, survey_id=kap.id, source=kobo_csv(rows[:2]), filename="k.csv", wave="baseline")
    source = import_jobs.job_source(app.state.settings.data_dir, import_jobs.load_job(app.state.settings.data_dir, job_id))
    source.write_bytes(data)
    stale = (datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat()
    _write_job(app, job_id, state="importing", confirmed=True, updated_at=stale)
    page = client.get(url).text
    assert "interrupted" in page and "Resume" in page
    assert client.post(f"{url}/resume", headers={"X-CSRF-Token": sonia}).status_code == 303
    job = finish(app, job_id)
    assert job.state == "done" and job.report["created"] == 3
    assert count(engine) == 5


def test_imports_belong_to_whoever_started_them(app, client, sonia, kap, personas):
    url, job_id = upload(client, sonia, kap, kobo_csv([kobo_row()]))
    finish(app, job_id)
    client.cookies.clear()
    login(client, "leo")
    assert client.get(url).status_code == 403
    client.cookies.clear()
    login(client, "alice")
    assert client.get(url).status_code == 200  # admins see every import
    assert client.get(f"/surveys/{kap.id}/import/{'x' * 24}").status_code == 404
    assert client.get(f"/surveys/{kap.id}/import/..%2F..%2Fetc").status_code == 404


def test_enumerators_and_communications_cannot_import(client, kap, personas):
    for name in ("eddy", "carla"):
        client.cookies.clear()
        login(client, name)
        assert client.get(f"/surveys/{kap.id}/import").status_code == 403
    client.cookies.clear()
    assert client.get(f"/surveys/{kap.id}/import", headers={"Accept": "application/json"}).status_code == 401


# --- API --------------------------------------------------------------------------------------


def api_finish(app, client, headers, kap, job_id: str) -> dict:
    finish(app, job_id)
    response = client.get(f"/api/v1/surveys/{kap.id}/imports/{job_id}", headers=headers)
    assert response.status_code == 200
    return response.json()


def test_api_imports_a_file_and_waits_for_confirmation_of_bad_rows(app, client, kap, engine, personas):
    headers = bearer(client, "leo")
    rows = [kobo_row(), kobo_row(), kobo_row(arm="placebo")]
    response = client.post(f"/api/v1/surveys/{kap.id}/imports", headers=headers,
                           files={"file": ("kobo.csv", kobo_csv(rows), "text/csv")}, data={"wave": "baseline"})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    job = api_finish(app, client, headers, kap, job_id)
    assert job["state"] == "checked" and job["report"]["bad"] == 1
    assert job["report"]["problems"][0] == {"row": 4, "item": "arm", "column": "arm", "value": "placebo",
                                            "message": "arm 'placebo' is not intervention or comparison"}
    assert count(engine) == 0
    response = client.post(job["links"]["confirm"], headers=headers)
    assert response.status_code == 202
    job = api_finish(app, client, headers, kap, job_id)
    assert job["state"] == "done" and job["report"]["created"] == 2 and count(engine) == 2


def test_api_accepts_bad_rows_up_front_and_maps_columns(app, client, kap, engine, personas):
    headers = bearer(client, "sonia")
    cells = [{("departement" if k == "region" else k): v for k, v in kobo_row().items()} for _ in range(2)]
    cells[1]["background/age"] = "?"
    response = client.post(f"/api/v1/surveys/{kap.id}/imports", headers=headers,
                           files={"file": ("kobo.csv", kobo_csv(cells), "text/csv")},
                           data={"wave": "baseline", "map": ["region=departement"], "accept_bad_rows": "true"})
    assert response.status_code == 202, response.text
    job = api_finish(app, client, headers, kap, response.json()["id"])
    assert job["state"] == "done" and job["report"]["created"] == 1 and job["report"]["bad"] == 1
    with Session(engine) as s:
        assert s.exec(select(Submission.region)).one() == "Ouest"


def test_api_explains_a_file_it_cannot_use(client, kap, personas):
    headers = bearer(client, "sonia")
    response = client.post(f"/api/v1/surveys/{kap.id}/imports", headers=headers,
                           files={"file": ("x.csv", b"colour,size\nred,2\n", "text/csv")}, data={})
    assert response.status_code == 422
    body = response.json()
    assert "No submission id column" in body["detail"] and body["header"] == ["colour", "size"]
    response = client.post(f"/api/v1/surveys/{kap.id}/imports", headers=headers,
                           files={"file": ("x.csv", kobo_csv([kobo_row()]), "text/csv")}, data={"wave": "midline"})
    assert response.status_code == 422 and "no wave 'midline'" in response.json()["detail"]
    assert client.post(f"/api/v1/surveys/{kap.id}/imports", headers=bearer(client, "eddy"),
                       files={"file": ("x.csv", b"a\n", "text/csv")}).status_code == 403
