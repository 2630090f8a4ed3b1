"""Export and import of the whole library: a round trip into an empty database reproduces it,
importing twice creates nothing twice, and a malformed file imports nothing."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from content import service as svc
from content.demo import load_content_demo
from content.models import Attachment, ContentVariable, Message, MessageTransition, MessageVersion
from content.storage import LocalStorage, storage_for
from content.transfer import ImportError_, export_library, import_library
from surveys.models import InstrumentVersion, Survey
from tests.factories import bearer, login
from web.accounts.models import AuditEvent

CONTENT_TABLES = ["content_variant_attachment", "content_variant", "content_transition", "content_message_survey_item",
                  "content_attachment", "content_variable", "content_setting"]


def empty_the_library(engine) -> None:
    """What an empty database holds: no content at all (the users stay)."""
    with engine.begin() as conn:
        for table in CONTENT_TABLES[:4]:
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE content_message SET current_version_id = NULL, approved_version_id = NULL"))
        conn.execute(text("DELETE FROM content_version"))
        conn.execute(text("DELETE FROM content_message"))
        for table in CONTENT_TABLES[4:]:
            conn.execute(text(f"DELETE FROM {table}"))


def without_time(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    doc.pop("exported_at")
    return doc


def count(session, model) -> int:
    return len(session.exec(select(model)).all())


@pytest.fixture
def library(engine, personas, settings):
    """The demo message bank (12 messages, files, variables, review history) in the app's storage."""
    storage = storage_for(settings)
    with Session(engine, expire_on_commit=False) as s:
        survey = Survey(title="KAP baseline")
        s.add(survey)
        s.flush()
        s.add(InstrumentVersion(survey_id=survey.id, version=1, title="v1", spec={
            "format": 1, "default_language": "en",
            "sections": [{"name": "k", "items": [{"code": "k_law", "type": "integer", "labels": {"en": "Law?"}}]}]}))
        load_content_demo(s, storage=storage)
        svc.set_sms_max_segments(session=s, value=4, actor=None)
        first = s.exec(select(Message)).first()
        svc.link_survey_item(session=s, message=first, survey_id=survey.id, item_code="k_law", actor=None)
        s.commit()
    return storage


def test_an_export_imported_into_an_empty_database_reproduces_the_library(engine, library, tmp_path):
    with Session(engine) as s:
        exported = export_library(session=s, storage=library)
    assert len(exported["messages"]) == 12 and len(exported["attachments"]) == 4
    assert exported["settings"] == {"sms_max_segments": 4}
    assert [v["name"] for v in exported["variables"]] == ["training_date"]
    # through JSON, as a file would
    exported = json.loads(json.dumps(exported))
    empty_the_library(engine)
    fresh = LocalStorage(tmp_path / "second")
    with Session(engine) as s:
        report = import_library(session=s, storage=fresh, data=exported, actor=None)
        s.commit()
    assert len(report.messages_created) == 12 and report.messages_skipped == [] and report.files_stored == 4
    with Session(engine) as s:
        again = export_library(session=s, storage=fresh)
        assert without_time(again) == without_time(exported)
        # the approved version of the revised message is still the schedulable one
        restavek = next(m for m in s.exec(select(Message)).all() if m.title.startswith("Restavèk"))
        assert restavek.approved_version_id != restavek.current_version_id
        assert "24/24" not in svc.approved_variant(session=s, message_id=restavek.id, language="ht", channel="sms").body
        for attachment in s.exec(select(Attachment)).all():
            assert fresh.path(attachment.storage_name).read_bytes() == library.path(attachment.storage_name).read_bytes()


def test_importing_twice_creates_nothing_twice(engine, library, tmp_path):
    with Session(engine) as s:
        exported = export_library(session=s, storage=library)
        before = {model: count(s, model) for model in (Message, MessageVersion, MessageTransition, Attachment,
                                                        ContentVariable)}
    for _ in range(2):
        with Session(engine) as s:
            report = import_library(session=s, storage=library, data=exported, actor=None)
            s.commit()
        assert report.messages_created == [] and len(report.messages_skipped) == 12
        assert report.variables_kept == ["training_date"]
    with Session(engine) as s:
        assert {model: count(s, model) for model in before} == before


@pytest.mark.parametrize(("change", "path", "words"), [
    (lambda d: d.update(format="something-else"), "format", "konbit-content-library"),
    (lambda d: d["messages"][2]["versions"][0]["variants"][1].update(language="fr_FR"),
     "messages[2].versions[0].variants[1].language", "not '_'"),
    (lambda d: d["messages"][1]["versions"][0]["variants"][0].update(body="Rele {{ hotline }}"),
     "messages[1].versions[0].variants[0].body", "unknown variable 'hotline'"),
    (lambda d: d["messages"][0]["versions"][0]["variants"][0].update(channel="fax"),
     "messages[0].versions[0].variants[0].channel", "Input should be"),
    (lambda d: d["messages"][0]["versions"][0].pop("title"), "messages[0].versions[0].title", "Field required"),
    (lambda d: d["messages"][3].update(approved_version=9), "messages[3].approved_version", "no version 9"),
    (lambda d: d["messages"][4]["versions"][0].update(segments=["aliens"]), "messages[4].versions[0].segments",
     "Unknown audience segment"),
    (lambda d: d["attachments"][0].update(data_base64="!!notbase64"), "attachments[0].data_base64", "not valid base64"),
    (lambda d: d["attachments"][1].update(data_base64=base64.b64encode(b"%PDF-1.4 other").decode()),
     "attachments[1].sha256", "checksum does not match"),
    (lambda d: d["messages"][5].update(uid=d["messages"][6]["uid"]), "messages[6].uid", "used by two messages"),
    (lambda d: d["variables"][0].update(name="if"), "variables[0].name", "reserved word"),
])
def test_a_malformed_file_reports_the_bad_field_and_imports_nothing(engine, library, tmp_path, change, path, words):
    with Session(engine) as s:
        exported = json.loads(json.dumps(export_library(session=s, storage=library)))
    empty_the_library(engine)
    change(exported)
    with Session(engine) as s:
        with pytest.raises(ImportError_) as caught:
            import_library(session=s, storage=LocalStorage(tmp_path / "x"), data=exported, actor=None)
        s.rollback()
        assert path in caught.value.errors, caught.value.errors
        assert words in caught.value.errors[path]
        assert count(s, Message) == 0 and count(s, Attachment) == 0 and count(s, ContentVariable) == 0
    assert not (tmp_path / "x").exists()


def test_import_reports_links_it_cannot_make_and_a_dry_run_writes_nothing(engine, library, tmp_path):
    with Session(engine) as s:
        exported = json.loads(json.dumps(export_library(session=s, storage=library)))
    empty_the_library(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM instrument_version"))
        conn.execute(text("DELETE FROM survey"))
    with Session(engine) as s:
        report = import_library(session=s, storage=LocalStorage(tmp_path / "y"), data=exported, actor=None, dry_run=True)
        assert report.dry_run and len(report.messages_created) == 12
        s.rollback()
        assert count(s, Message) == 0
        report = import_library(session=s, storage=LocalStorage(tmp_path / "y"), data=exported, actor=None)
        s.commit()
        assert any("KAP baseline / k_law not found here" in note for note in report.notes)
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "content.import")).one().summary.startswith(
            "Imported 12 message(s)")


def test_export_and_import_through_the_api_and_the_page(client, engine, library, personas, settings):
    headers = bearer(client, "leo")
    r = client.get("/api/v1/content/export", headers=headers)
    assert r.status_code == 200 and "attachment; filename=" in r.headers["content-disposition"]
    document = r.json()
    assert client.get("/api/v1/content/export", headers=bearer(client, "sonia")).status_code == 403
    empty_the_library(engine)
    r = client.post("/api/v1/content/import?dry_run=true", headers=headers, json=document)
    assert r.status_code == 200 and r.json()["dry_run"] is True and len(r.json()["messages_created"]) == 12
    r = client.post("/api/v1/content/import", headers=headers, json=document)
    assert r.status_code == 200 and len(r.json()["messages_created"]) == 12, r.text
    r = client.post("/api/v1/content/import", headers=headers, json=document)
    assert r.json()["messages_created"] == [] and len(r.json()["messages_skipped"]) == 12
    broken = copy.deepcopy(document)
    broken["messages"][0]["versions"][0]["variants"][0]["language"] = "english"
    r = client.post("/api/v1/content/import", headers=headers, json=broken)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "messages[0].versions[0].variants[0].language"
    r = client.post("/api/v1/content/import", headers=headers, json=[1, 2])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "document"
    # the page, with a file upload
    csrf = login(client, "carla")
    page = client.get("/content/export.json")
    assert page.status_code == 200 and page.json()["format"] == "konbit-content-library"
    r = client.post("/content/import", data={"csrf_token": csrf},
                    files={"library": ("library.json", page.content, "application/json")})
    assert r.status_code == 200 and "0 message(s); 12 already in the library" in r.text
