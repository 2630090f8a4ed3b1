"""ODK Collect as a client: the OpenRosa routes through the app, with HTTP Digest (httpx's own RFC 7616
client), the XForm pyxform makes, and instance documents shaped as that XForm's primary instance."""

from __future__ import annotations

import copy
import struct
import uuid as uuid_module
import zlib
from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from surveys import openrosa
from surveys.models import Submission, SubmissionConflict, SubmissionStatus
from surveys.openrosa_models import OpenRosaCredential, SubmissionAttachment
from surveys.xlsform import read_xlsform
from tests.factories import bearer, login
from tests.surveys.factories import make_survey
from web.accounts.models import User

XF = "{http://www.w3.org/2002/xforms}"
LIST = "{http://openrosa.org/xforms/xformsList}"
ODK_PASSWORD = "odk-phone-pass-2026"

# A 1x1 JPEG's leading bytes are what the content check reads: a JPEG start-of-image and JFIF header.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200 + b"\xff\xd9"


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


@pytest.fixture
def odk(engine, personas):
    """A survey with open baseline and endline waves, and ODK passwords for eddy and sonia."""
    made = make_survey(engine, actor=personas["alice"])
    with Session(engine) as session:
        for name in ("eddy", "sonia", "leo"):
            user = session.get(User, personas[name].id)
            openrosa.set_credential(session=session, user=user, password=ODK_PASSWORD, actor=user)
        session.commit()
    return made


def digest(name: str = "eddy", password: str = ODK_PASSWORD) -> httpx.DigestAuth:
    return httpx.DigestAuth(name, password)


def _form_xml(client, made, wave: str = "baseline", auth=None) -> str:
    fid = openrosa.form_id(made.id, made.waves[wave].id)
    r = client.get(f"/odk/forms/{fid}/form.xml", auth=auth or digest())
    assert r.status_code == 200, r.text
    return r.text


def instance_from_xform(xform: str, answers: dict[str, str], instance_id: str) -> bytes:
    """What ODK Collect sends: the XForm's primary instance with the answers filled in by name."""
    root = ET.fromstring(xform)
    model = root.find(f".//{XF}model")
    data = copy.deepcopy(model.find(f"{XF}instance")[0])
    for element in data.iter():
        name = element.tag.rsplit("}", 1)[-1]
        if name in answers:
            element.text = answers[name]
        if name == "instanceID":
            element.text = instance_id
    ET.register_namespace("", XF[1:-1])
    return ET.tostring(data, encoding="utf-8", xml_declaration=True)


ANSWERS = {
    "start": "2026-11-02T09:00:00.000-05:00", "end": "2026-11-02T09:18:30.000-05:00",
    "consent": "yes", "age": "34", "education": "secondary", "household_size": "5",
    "k_law": "yes", "k_law_year": "y2014", "k_signs": "job_offer debt", "k_hotline": "no",
    "a_victim_fault": "2", "a_report_duty": "5", "a_restavek_ok": "1", "a_law_protects": "4", "a_migrants_help": "4",
    "p_talked": "yes", "p_report_to": "police", "e_radio": "yes", "e_times": "3", "e_last": "2026-10-02", "e_sms": "no",
}


def _post(client, xml: bytes, files: list[tuple[str, bytes, str]] = (), auth=None, **kwargs):
    parts = [("xml_submission_file", ("submission.xml", xml, "text/xml"))]
    parts += [(name, (name, data, ctype)) for name, data, ctype in files]
    return client.post("/odk/submission", files=parts, auth=auth or digest(), headers={"X-OpenRosa-Version": "1.0"},
                       **kwargs)


# --- authentication ----------------------------------------------------------------------------


def test_it_challenges_a_phone_without_credentials_with_digest(client, odk):
    r = client.get("/odk/formList")
    assert r.status_code == 401
    assert r.headers["x-openrosa-version"] == "1.0"
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Digest ") and 'realm="Konbit ODK"' in challenge and 'qop="auth"' in challenge
    assert ET.fromstring(r.content).tag == "{http://openrosa.org/http/response}OpenRosaResponse"


def test_it_refuses_a_wrong_odk_password_and_the_web_password(client, odk, password):
    assert client.get("/odk/formList", auth=digest(password="not-the-password")).status_code == 401
    # The web password is not the ODK password: the two are separate credentials.
    assert client.get("/odk/formList", auth=digest(password=password)).status_code == 401
    assert client.get("/odk/formList", auth=digest("nobody")).status_code == 401


def test_it_answers_an_expired_nonce_with_stale_so_the_phone_retries(client, odk, settings):
    old = openrosa.make_nonce(settings.secret_key, now=1_000_000)
    ha1 = openrosa.ha1("eddy", ODK_PASSWORD)
    header = (f'Digest username="eddy", realm="{openrosa.REALM}", nonce="{old}", uri="/odk/formList", qop=auth, '
              f'nc=00000001, cnonce="abc", response="'
              + openrosa.digest_response(ha1_hex=ha1, nonce=old, nc="00000001", cnonce="abc", qop="auth",
                                         method="GET", uri="/odk/formList") + '"')
    r = client.get("/odk/formList", headers={"Authorization": header})
    assert r.status_code == 401 and "stale=true" in r.headers["www-authenticate"]
    forged = header.replace(old, "1000000.0123456789abcdef0123456789abcdef")
    assert "stale" not in client.get("/odk/formList", headers={"Authorization": forged}).headers["www-authenticate"]


def test_it_takes_basic_only_over_https_and_bearer_tokens(client, odk, app):
    assert client.get("/odk/formList", auth=("eddy", ODK_PASSWORD)).status_code == 401
    with TestClient(app, base_url="https://testserver") as secure:
        assert secure.get("/odk/formList", auth=("eddy", ODK_PASSWORD)).status_code == 200
    assert client.get("/odk/formList", headers=bearer(client, "eddy")).status_code == 200


def test_it_refuses_roles_that_do_not_collect(client, odk):
    r = client.get("/odk/formList", auth=digest("leo"))
    assert r.status_code == 403 and b"role" in r.content


def test_it_lets_users_and_admins_set_the_odk_password(client, odk, engine, personas):
    r = client.put("/api/v1/me/odk-password", json={"password": "short"}, headers=bearer(client, "carla"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "password"
    assert client.put("/api/v1/me/odk-password", json={"password": "carla-odk-2026!"},
                      headers=bearer(client, "carla")).status_code == 204
    admin = bearer(client, "alice")
    eddy = personas["eddy"].id
    assert client.put(f"/api/v1/users/{eddy}/odk-password", json={"password": "new-eddy-odk-pw"},
                      headers=admin).status_code == 204
    assert client.get("/odk/formList", auth=digest()).status_code == 401
    assert client.get("/odk/formList", auth=digest(password="new-eddy-odk-pw")).status_code == 200
    with Session(engine) as session:  # HA1 stored, never the password
        stored = session.get(OpenRosaCredential, eddy)
        assert stored.ha1 == openrosa.ha1("eddy", "new-eddy-odk-pw") and "new-eddy" not in stored.ha1
    assert client.delete(f"/api/v1/users/{eddy}/odk-password", headers=admin).status_code == 204
    assert client.get("/odk/formList", auth=digest(password="new-eddy-odk-pw")).status_code == 401
    assert client.put(f"/api/v1/users/{eddy}/odk-password", json={"password": "x" * 12},
                      headers=bearer(client, "sonia")).status_code == 403


# --- forms ------------------------------------------------------------------------------------


def test_it_lists_one_form_per_open_wave_as_openrosa_xforms_list(client, odk):
    r = client.get("/odk/formList", auth=digest())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    assert r.headers["x-openrosa-version"] == "1.0"
    root = ET.fromstring(r.content)
    assert root.tag == f"{LIST}xforms"
    forms = {x.findtext(f"{LIST}formID"): x for x in root.findall(f"{LIST}xform")}
    baseline = openrosa.form_id(odk.id, odk.baseline.id)
    assert set(forms) == {baseline, openrosa.form_id(odk.id, odk.endline.id)}
    entry = forms[baseline]
    assert entry.findtext(f"{LIST}version") == "1"
    assert entry.findtext(f"{LIST}name") == f"{odk.survey.title} (baseline)"
    assert entry.findtext(f"{LIST}downloadUrl") == f"http://testserver/odk/forms/{baseline}/form.xml"
    assert entry.findtext(f"{LIST}manifestUrl") == f"http://testserver/odk/forms/{baseline}/manifest"
    xform = client.get(entry.findtext(f"{LIST}downloadUrl"), auth=digest())
    assert entry.findtext(f"{LIST}hash") == openrosa.xform_hash(xform.text)
    one = ET.fromstring(client.get(f"/odk/formList?formID={baseline}", auth=digest()).content)
    assert [x.findtext(f"{LIST}formID") for x in one] == [baseline]
    manifest = client.get(entry.findtext(f"{LIST}manifestUrl"), auth=digest())
    assert manifest.status_code == 200
    assert ET.fromstring(manifest.content).tag == "{http://openrosa.org/xforms/xformsManifest}manifest"


def test_it_serves_the_xform_pyxform_makes_with_the_form_id_and_version(client, odk):
    xform = _form_xml(client, odk)
    root = ET.fromstring(xform)  # well-formed
    assert root.tag == "{http://www.w3.org/1999/xhtml}html"
    assert root.findtext("{http://www.w3.org/1999/xhtml}head/{http://www.w3.org/1999/xhtml}title") == \
        f"{odk.survey.title} (baseline)"
    primary = root.find(f".//{XF}model/{XF}instance")[0]
    assert primary.get("id") == openrosa.form_id(odk.id, odk.baseline.id) and primary.get("version") == "1"
    names = {e.tag.rsplit("}", 1)[-1] for e in primary.iter()}
    assert {"consent", "age", "k_signs", "instanceID"} <= names
    assert primary.find(f"{XF}knowledge/{XF}k_signs") is not None  # the groups are kept
    binds = {b.get("nodeset"): b for b in root.iter(f"{XF}bind")}
    assert binds["/data/background/age"].get("type") == "int"
    assert binds["/data/meta/instanceID"].get("{http://openrosa.org/javarosa}preload") == "uid"


def test_it_refuses_unknown_and_closed_forms_with_404(client, odk, engine):
    r = client.get("/odk/forms/konbit_999_999/form.xml", auth=digest())
    assert r.status_code == 404 and b"no form" in r.content
    assert client.get("/odk/forms/nonsense/manifest", auth=digest()).status_code == 404


# --- submissions ----------------------------------------------------------------------------------


def test_it_answers_the_preflight_with_204_and_the_size_it_accepts(client, odk, settings):
    for method in ("HEAD", "GET"):
        r = client.request(method, "/odk/submission", auth=digest())
        assert r.status_code == 204
        assert r.headers["x-openrosa-accept-content-length"] == str(settings.max_body_bytes)
        assert r.headers["x-openrosa-version"] == "1.0"


def test_it_stores_a_real_instance_with_its_photo_in_the_review_queue(client, odk, engine, personas):
    xform = _form_xml(client, odk)
    iid = f"uuid:{uuid_module.uuid4()}"
    xml = instance_from_xform(xform, {**ANSWERS, "comments": "photo.jpg"}, iid)
    assert b"<knowledge>" in xml and b"<meta>" in xml  # nested groups, as the XForm has them
    r = _post(client, xml, [("photo.jpg", JPEG, "image/jpeg")])
    assert r.status_code == 201, r.text
    assert r.headers["x-openrosa-version"] == "1.0"
    message = ET.fromstring(r.content).find("{http://openrosa.org/http/response}message")
    assert message.get("nature") == "submit_success"
    with Session(engine) as session:
        sub = session.exec(select(Submission)).one()
        assert sub.uuid == iid.removeprefix("uuid:")
        assert (sub.source, sub.enumerator_id, sub.wave_id) == ("odk", personas["eddy"].id, odk.baseline.id)
        assert sub.status == SubmissionStatus.received
        assert sub.answers["age"] == 34 and sub.answers["k_signs"] == ["job_offer", "debt"]
        assert sub.answers["e_last"] == "2026-10-02"
        assert sub.started_at.isoformat() == "2026-11-02T14:00:00+00:00"
        assert (sub.ended_at - sub.started_at).total_seconds() == 18.5 * 60
        attachment = session.exec(select(SubmissionAttachment)).one()
        assert (attachment.filename, attachment.file_type, attachment.size) == ("photo.jpg", "jpg", len(JPEG))
        sub_id = sub.id
    # The review queue sees it (and its flags) as it sees the web form's interviews.
    login(client, "sonia")
    listed = client.get(f"/api/v1/surveys/{odk.id}/submissions", params={"source": "odk"}).json()
    assert [s["uuid"] for s in listed["items"]] == [iid.removeprefix("uuid:")]
    assert listed["items"][0]["source"] == "odk"
    files = client.get(f"/api/v1/submissions/{sub_id}/attachments")
    assert files.status_code == 200 and files.json()[0]["filename"] == "photo.jpg"
    got = client.get(f"/api/v1/submissions/{sub_id}/attachments/photo.jpg")
    assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    page = client.get(f"/submissions/{sub_id}")
    assert page.status_code == 200 and f'hx-get="/submissions/{sub_id}/files"' in page.text
    fragment = client.get(f"/submissions/{sub_id}/files", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and f"/api/v1/submissions/{sub_id}/attachments/photo.jpg" in fragment.text


def test_it_flags_a_rushed_interview_as_the_web_form_does(client, odk, engine):
    xml = instance_from_xform(_form_xml(client, odk), {**ANSWERS, "end": "2026-11-02T09:00:40.000-05:00"},
                              f"uuid:{uuid_module.uuid4()}")
    assert _post(client, xml).status_code == 201
    with Session(engine) as session:
        flags = {f["code"] for f in session.exec(select(Submission)).one().flags}
    assert "too_short" in flags, flags


def test_it_recognises_a_resend_and_keeps_a_conflicting_one_aside(client, odk, engine):
    xform = _form_xml(client, odk)
    iid = f"uuid:{uuid_module.uuid4()}"
    xml = instance_from_xform(xform, ANSWERS, iid)
    assert _post(client, xml).status_code == 201
    again = _post(client, xml, [("later.png", _png(), "image/png")])  # a split submission's second part
    assert again.status_code == 202 and b"1 file(s) added" in again.content
    assert _post(client, xml, [("later.png", _png(), "image/png")]).status_code == 202  # the same file: nothing new
    other = _post(client, xml, [("later.png", JPEG, "image/jpeg")])
    assert other.status_code == 409 and b"other content" in other.content
    changed = instance_from_xform(xform, {**ANSWERS, "age": "35"}, iid)
    r = _post(client, changed)
    assert r.status_code == 409 and b"kept aside" in r.content
    with Session(engine) as session:
        assert len(session.exec(select(Submission)).all()) == 1
        assert session.exec(select(SubmissionConflict)).one().uuid == iid.removeprefix("uuid:")
        assert len(session.exec(select(SubmissionAttachment)).all()) == 1


def test_it_shows_attachments_only_to_roles_allowed(client, odk, engine, personas):
    xml = instance_from_xform(_form_xml(client, odk), ANSWERS, f"uuid:{uuid_module.uuid4()}")
    assert _post(client, xml, [("photo.jpg", JPEG, "image/jpeg")]).status_code == 201
    with Session(engine) as session:
        sub_id = session.exec(select(Submission)).one().id
    path = f"/api/v1/submissions/{sub_id}/attachments/photo.jpg"
    assert client.get(path).status_code == 401
    assert client.get(path, headers=bearer(client, "eddy")).status_code == 200
    assert client.get(path, headers=bearer(client, "alice")).status_code == 200
    assert client.get(path, headers=bearer(client, "leo")).status_code == 403
    assert client.get(path, headers=bearer(client, "carla")).status_code == 403
    assert client.get(f"/submissions/{sub_id}/files", headers=bearer(client, "leo")).status_code == 403
    # another enumerator does not even learn it exists
    from tests.factories import make_user  # noqa: PLC0415
    from web.accounts.models import Role  # noqa: PLC0415

    make_user(engine, username="erin", role=Role.enumerator)
    assert client.get(path, headers=bearer(client, "erin")).status_code == 404


# --- bad input: clear 4xx, never a 500 ------------------------------------------------------------------


@pytest.mark.parametrize("body, status, words", [
    (b"<data id='x'><unclosed></data>", 400, b"not well-formed"),
    (b"", 400, b"empty"),
    (b"<?xml version='1.0'?><!DOCTYPE d [<!ENTITY a 'b'>]><data id='x'>&a;</data>", 400, b"DTD"),
    (b"<data><age>3</age></data>", 400, b"no id attribute"),
    (b"<data id='x'>" + b"<g>" * 5000 + b"</g>" * 5000 + b"</data>", 400, b"more than 32 deep"),
    ("<data id='x'><q>\u00e9</q></data>".encode("latin-1"), 400, b"not well-formed"),
    (b"<data id='konbit_999_999' version='1'><meta><instanceID>uuid:1</instanceID></meta></data>", 404, b"no form"),
])
def test_it_refuses_bad_instance_documents_clearly(client, odk, body, status, words):
    r = _post(client, body)
    assert r.status_code == status and words in r.content, r.text


def test_it_refuses_an_instance_without_id_or_with_a_bad_answer(client, odk):
    xform = _form_xml(client, odk)
    no_id = instance_from_xform(xform, ANSWERS, "")
    r = _post(client, no_id)
    assert r.status_code == 400 and b"instanceID" in r.content
    bad = instance_from_xform(xform, {**ANSWERS, "age": "thirty"}, f"uuid:{uuid_module.uuid4()}")
    r = _post(client, bad)
    assert r.status_code == 422 and b"age" in r.content
    wrong_version = instance_from_xform(xform, ANSWERS, f"uuid:{uuid_module.uuid4()}").replace(b'version="1"', b'version="7"')
    r = _post(client, wrong_version)
    assert r.status_code == 404 and b"no version 7" in r.content


def test_it_refuses_oversized_and_disguised_attachments(client, odk, engine):
    xml = instance_from_xform(_form_xml(client, odk), ANSWERS, f"uuid:{uuid_module.uuid4()}")
    big = JPEG[:-2] + b"\x00" * (openrosa.MAX_ATTACHMENT_BYTES + 1)
    r = _post(client, xml, [("big.jpg", big, "image/jpeg")])
    assert r.status_code == 413 and b"largest accepted is 10 MB" in r.content
    r = _post(client, xml, [("photo.jpg", b"#!/bin/sh\necho hi\n", "image/jpeg")])
    assert r.status_code == 415 and b"by its content" in r.content
    r = _post(client, xml, [("../../etc/passwd", JPEG, "image/jpeg")])
    assert r.status_code == 400
    with Session(engine) as session:  # nothing stored by any of them
        assert session.exec(select(Submission)).all() == []


def test_it_refuses_a_body_that_is_not_multipart_or_lacks_the_instance(client, odk):
    r = client.post("/odk/submission", content=b"<data/>", headers={"Content-Type": "text/xml"}, auth=digest())
    assert r.status_code == 400 and b"multipart" in r.content
    r = client.post("/odk/submission", files=[("photo.jpg", ("photo.jpg", JPEG, "image/jpeg"))], auth=digest())
    assert r.status_code == 400 and b"xml_submission_file" in r.content


def test_a_browser_session_still_needs_the_csrf_token(client, odk):
    csrf = login(client, "eddy")
    xml = instance_from_xform(_form_xml(client, odk, auth=None), ANSWERS, f"uuid:{uuid_module.uuid4()}")
    files = [("xml_submission_file", ("submission.xml", xml, "text/xml"))]
    assert client.post("/odk/submission", files=files).status_code == 403
    assert client.post("/odk/submission", files=files, headers={"X-CSRF-Token": csrf}).status_code == 201


def test_parse_instance_flattens_groups_and_strips_namespaces():
    xml = (b'<data xmlns:orx="http://openrosa.org/xforms" id="konbit_1_2" version="3">'
           b'<intro><consent>yes</consent></intro><outer><inner><age>34</age></inner></outer>'
           b'<orx:meta><orx:instanceID>uuid:abc</orx:instanceID></orx:meta></data>')
    parsed = openrosa.parse_instance(xml)
    assert (parsed.form_id, parsed.version, parsed.instance_id) == ("konbit_1_2", "3", "uuid:abc")
    assert parsed.fields == {"intro/consent": "yes", "outer/inner/age": "34", "meta/instanceID": "uuid:abc"}
    with pytest.raises(openrosa.OpenRosaProblem, match="not a repeat group"):
        openrosa.parse_instance(b'<data id="x"><r><q>1</q></r><r><q>2</q></r></data>').with_repeats(())
    with pytest.raises(openrosa.OpenRosaProblem, match="not a repeat group"):
        openrosa.parse_instance(b'<data id="x"><q>1</q><q>2</q></data>')


def test_parse_instance_keeps_each_repetition_and_skips_the_template():
    xml = (b'<data xmlns:jr="http://openrosa.org/javarosa" id="x"><g><r jr:template=""><q/></r>'
           b'<r><q>1</q><sub><w>a</w></sub></r><r><q>2</q></r></g><one><q2>3</q2></one><n>4</n></data>')
    parsed = openrosa.parse_instance(xml).with_repeats(["g/r", "one"])
    assert parsed.fields == {"n": "4"}
    assert parsed.repeats == {"g/r": [{"q": "1", "sub/w": "a"}, {"q": "2"}], "one": [{"q2": "3"}]}
    with pytest.raises(openrosa.OpenRosaProblem, match="repeat inside a repeat"):
        openrosa.parse_instance(b'<data id="x"><r><i><q>1</q></i><i><q>2</q></i></r><r><q>3</q></r></data>')


TUTORIAL = Path(__file__).resolve().parents[1] / "surveys" / "xlsforms" / "corpus" / "pyxform_tutorial.xls"


def test_it_stores_the_repetitions_of_a_repeat_group_as_a_list(client, engine, personas):
    """pyxform's tutorial form: a household roster (begin repeat member), sent as ODK Collect sends it."""
    made = make_survey(engine, actor=personas["alice"], spec=read_xlsform(TUTORIAL.read_bytes()))
    with Session(engine) as session:
        user = session.get(User, personas["eddy"].id)
        openrosa.set_credential(session=session, user=user, password=ODK_PASSWORD, actor=user)
        session.commit()
    root = ET.fromstring(_form_xml(client, made))
    data = copy.deepcopy(root.find(f".//{XF}model").find(f"{XF}instance")[0])
    members = data.findall(f"{XF}member")
    assert members[0].get("{http://openrosa.org/javarosa}template") == ""  # pyxform's template, not sent
    for element in members:
        data.remove(element)
    people = [{"name": "Rose", "relationship_to_household_head": "head", "sex": "female", "older_than_five": "yes",
               "age_in_years": "34", "literate": "yes", "pregnant": "no"},
              {"name": "Ti Jan", "relationship_to_household_head": "son_or_daughter", "sex": "male",
               "older_than_five": "no", "age_in_months": "14"}]
    for index, person in enumerate(people):
        member = ET.Element(f"{XF}member")
        for child in members[1]:
            ET.SubElement(member, child.tag).text = person.get(child.tag.rsplit("}", 1)[-1], "")
        data.insert(index, member)
    iid = str(uuid_module.uuid4())
    data.find(f"{XF}meta/{XF}instanceID").text = f"uuid:{iid}"
    ET.register_namespace("", XF[1:-1])
    xml = ET.tostring(data, encoding="utf-8", xml_declaration=True)
    r = _post(client, xml)
    assert r.status_code == 201, r.text
    with Session(engine) as session:
        sub = session.exec(select(Submission).where(Submission.uuid == iid)).one()
        assert sub.answers["member"] == [
            {"name": "Rose", "relationship_to_household_head": "head", "sex": "female", "older_than_five": "yes",
             "age_in_years": 34, "literate": "yes", "pregnant": "no"},
            {"name": "Ti Jan", "relationship_to_household_head": "son_or_daughter", "sex": "male",
             "older_than_five": "no", "age_in_months": 14}]
    # A repetition breaking a constraint is flagged (the phone enforced it), one of a wrong type refused.
    bad = xml.replace(b"<age_in_months>14<", b"<age_in_months>many<").replace(iid.encode(), str(uuid_module.uuid4()).encode())
    r = _post(client, bad)
    assert r.status_code == 422 and b"member[2]/age_in_months" in r.content, r.text


def test_it_sets_the_odk_password_from_the_account_and_users_pages(client, app, odk, personas):
    csrf = login(client, "carla")
    page = client.get("/account/odk")
    assert page.status_code == 200 and "http://testserver/odk" in page.text and "not set yet" in page.text
    assert client.post("/account/odk", data={"password": "short", "csrf_token": csrf}).status_code == 400
    assert client.post("/account/odk", data={"password": "carla-phone-2026", "csrf_token": csrf}).status_code == 303
    assert "not set yet" not in client.get("/account/odk").text
    admin = TestClient(app, base_url="http://testserver", follow_redirects=False)
    csrf = login(admin, "alice")
    eddy = personas["eddy"].id
    assert admin.get(f"/users/{eddy}/odk").status_code == 200
    assert "/users/%d/odk" % eddy in admin.get("/users").text
    assert admin.post(f"/users/{eddy}/odk", data={"password": "eddy-phone-2027", "csrf_token": csrf}).status_code == 303
    phone = TestClient(app, base_url="http://testserver")
    assert phone.get("/odk/formList", auth=digest(password="eddy-phone-2027")).status_code == 200


def test_it_takes_an_interview_made_with_an_older_version_of_the_form(client, odk, engine, personas):
    xform_v1 = _form_xml(client, odk)
    from surveys import service  # noqa: PLC0415
    from tests.surveys.factories import make_kap_spec  # noqa: PLC0415

    with Session(engine) as session:
        survey = service.get_survey(session=session, survey_id=odk.id)
        v2 = service.add_version(session=session, survey=survey, spec=make_kap_spec(version="2"), actor=None)
        session.commit()
        v2_id = v2.id
    listed = ET.fromstring(client.get("/odk/formList", auth=digest()).content)
    assert {x.findtext(f"{LIST}version") for x in listed} == {"2"}
    assert ET.fromstring(_form_xml(client, odk)).find(f".//{XF}model/{XF}instance")[0].get("version") == "2"
    r = _post(client, instance_from_xform(xform_v1, ANSWERS, f"uuid:{uuid_module.uuid4()}"))
    assert r.status_code == 201, r.text
    with Session(engine) as session:
        assert session.exec(select(Submission)).one().instrument_version_id == odk.version.id != v2_id


def test_digest_matches_the_md5_example_of_rfc_7616():
    # RFC 7616, section 3.9.1.
    ha1 = openrosa.ha1("Mufasa", "Circle of Life", realm="http-auth@example.org")
    assert openrosa.digest_response(ha1_hex=ha1, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc="00000001",
                                    cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop="auth", method="GET",
                                    uri="/dir/index.html") == "8ca523f5e9506fed4657c9700eebdbec"
    params = openrosa.parse_authorization('username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
                                          'algorithm=MD5, nonce="7ypf", nc=00000001, cnonce="f2", qop=auth, '
                                          'response="8ca5", opaque="FQhe"')
    assert params["username"] == "Mufasa" and params["nc"] == "00000001" and params["qop"] == "auth"
    with pytest.raises(openrosa.OpenRosaProblem):
        openrosa.parse_authorization('username="unterminated')
