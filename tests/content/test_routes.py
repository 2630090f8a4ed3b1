"""The content pages in a (test) browser session: forms, HTMX fragments, uploads, downloads,
the review flow per role, and what must not happen (escaping, half-stored saves)."""

from __future__ import annotations

import html
import re

import pytest
from sqlmodel import Session, select

from content import service as svc
from content.models import Attachment, Message, MessageCreate, MessageStatus, MessageVersion, VariantIn
from content.storage import storage_for
from tests.factories import login
from web.assets import static_url

SMS_HT = "Si w wè yon timoun restavèk k ap soufri, rele {{ hotline_number }}. Li gratis."
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 600
PDF = b"%PDF-1.4\n" + b"0" * 600 + b"\n%%EOF\n"


def make_message(engine, personas, *, title="Restavèk: a child is not a servant", variants=(), status=None) -> int:
    with Session(engine, expire_on_commit=False) as s:
        carla, leo = s.merge(personas["carla"]), s.merge(personas["leo"])
        message = svc.create_message(session=s, actor=carla, data=MessageCreate(
            title=title, objective="Report exploited children.", themes=["restavèk"], segments=["general_public"],
            variants=[VariantIn(**v) for v in variants]))
        if status in ("in_review", "approved"):
            svc.transition(session=s, message=message, action="submit", actor=carla)
        if status == "approved":
            svc.transition(session=s, message=message, action="approve", actor=leo)
        s.commit()
        return message.id


def versions(engine, message_id) -> list[int]:
    with Session(engine) as s:
        return sorted(s.exec(select(MessageVersion.number).where(MessageVersion.message_id == message_id)).all())


def status_of(engine, message_id) -> MessageStatus:
    with Session(engine) as s:
        return s.get(Message, message_id).status


@pytest.fixture
def carla(client, personas):
    return login(client, "carla")


# --- List, create, edit ----------------------------------------------------------------------------


def test_it_lists_and_filters_messages_and_answers_htmx_with_the_results_only(client, personas, engine, carla):
    make_message(engine, personas, variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    make_message(engine, personas, title="The 2014 law", variants=[{"language": "fr", "channel": "briefing", "body": "# Loi"}])
    page = client.get("/content")
    assert page.status_code == 200 and "Restavèk: a child is not a servant" in page.text and "The 2014 law" in page.text
    part = client.get("/content?channel=briefing&q=law", headers={"HX-Request": "true"})
    assert part.status_code == 200
    assert "<html" not in part.text and 'id="results"' in part.text
    assert "The 2014 law" in part.text and "Restavèk" not in part.text
    assert part.headers["vary"].split(", ")[:1] == ["HX-Request"] and "Accept-Encoding" in part.headers["vary"]  # a gzipped fragment


def test_it_creates_a_message_and_refuses_a_form_without_title_naming_the_field(client, personas, engine, carla):
    r = client.post("/content", data={"csrf_token": carla, "title": "  ", "themes": "restavèk",
                                      "segments": ["general_public", "martians"]})
    assert r.status_code == 400
    assert "Give the message a title." in r.text
    assert "Unknown audience segment(s): martians" in r.text
    with Session(engine) as s:
        assert s.exec(select(Message)).all() == []
    r = client.post("/content", data={"csrf_token": carla, "title": "Trafik moun", "objective": "Konnen lalwa",
                                      "themes": "Law 2014, penalties", "segments": ["judges", "police"]})
    assert r.status_code == 303
    message_id = int(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/content/{message_id}")
    assert "Trafik moun" in page.text and "law 2014" in page.text and "Police (PNH, BPM)" in page.text
    r = client.post(f"/content/{message_id}", data={"csrf_token": carla, "title": "Trafik moun se yon krim",
                                                    "themes": "law 2014", "segments": ["judges"], "base_version": "1"})
    assert r.status_code == 303 and versions(engine, message_id) == [1, 2]
    stale = client.post(f"/content/{message_id}", data={"csrf_token": carla, "title": "Late", "base_version": "1"})
    assert stale.status_code == 409 and "Someone saved version 2" in stale.text


def test_user_text_is_escaped_everywhere(client, personas, engine, carla):
    message_id = make_message(engine, personas, title="<script>alert(1)</script>", variants=[
        {"language": "en", "channel": "briefing", "body": "# Note\n\n<script>alert(2)</script> [x](javascript:alert(3))"},
        {"language": "en", "channel": "sms", "body": "<img src=x onerror=alert(4)> Call {{ hotline_number }}"}])
    for path in ("/content", f"/content/{message_id}", f"/content/{message_id}/history",
                 f"/content/{message_id}/preview?language=en"):
        text = client.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert 'href="javascript:' not in text, path
    with Session(engine) as s:
        message = s.get(Message, message_id)
        briefing = next(v.variant for v in svc.version_variants(session=s, version_id=message.current_version_id)
                        if v.variant.channel.value == "briefing")
    printable = client.get(f"/content/{message_id}/print/{briefing.id}").text
    assert "<h1>Note</h1>" in printable and "<script>alert(2)" not in printable and 'href="javascript:' not in printable


# --- The variant editor ----------------------------------------------------------------------------


def test_the_editor_saves_a_variant_as_a_new_version(client, personas, engine, carla):
    message_id = make_message(engine, personas)
    page = client.get(f"/content/{message_id}/variant?language=HT&channel=sms")
    assert page.status_code == 200
    assert 'data-channel="sms"' in page.text and static_url("js/content-editor.js") in page.text
    assert 'hx-post="/content/counter"' in page.text
    r = client.post(f"/content/{message_id}/variant", data={
        "csrf_token": carla, "language": "ht", "channel": "sms", "body": SMS_HT, "base_version": "1"})
    assert r.status_code == 303 and r.headers["location"] == f"/content/{message_id}#variant-ht-sms-"
    assert versions(engine, message_id) == [1, 2]
    assert "saved as version 2" in client.get(r.headers["location"]).text


def test_a_sandbox_refusal_comes_back_as_a_field_message_and_nothing_is_saved(client, personas, engine, carla):
    message_id = make_message(engine, personas)
    for body, words in (("Rele {{ hotline }}", "unknown variable &#39;hotline&#39;"),
                        ("{{ first_name.__class__.__mro__ }}", "attribute access"),
                        ("{{ organisation|attr(&#39;x&#39;) }}", "filter")):
        r = client.post(f"/content/{message_id}/variant", data={
            "csrf_token": carla, "language": "ht", "channel": "sms", "body": body.replace("&#39;", "'")})
        assert r.status_code == 400, body
        error = re.search(r'<p class="error" role="alert" id="body-error">(.*?)</p>', r.text, re.S)
        assert error and words in error.group(1), r.text[-3000:]
        assert "Allowed variables" in error.group(1) or "not allowed" in error.group(1)
        assert body.replace("&#39;", "'").replace("'", "&#39;") in r.text  # the text typed is kept
    assert versions(engine, message_id) == [1]


def test_the_counter_endpoint_returns_the_counter_fragment(client, personas, carla):
    r = client.post("/content/counter", headers={"HX-Request": "true", "X-CSRF-Token": carla},
                    data={"channel": "sms", "language": "ht", "body": "Òganizasyon {{ organisation }} ap ede viktim yo."})
    assert r.status_code == 200 and "<html" not in r.text
    assert "UCS-2" in r.text and "<code>Ò</code>" in r.text
    assert re.search(r"data-server-segments>2<", r.text)  # the longest organisation name takes it past 70
    r = client.post("/content/counter", headers={"X-CSRF-Token": carla},
                    data={"channel": "radio", "language": "fr", "target_seconds": "15", "body": "Appelez le 188."})
    assert "too short" in r.text and "words/min" in r.text
    r = client.post("/content/counter", headers={"X-CSRF-Token": carla},
                    data={"channel": "social", "platform": "twitter", "language": "en", "body": "x" * 300})
    assert "300</strong> / 280" in r.text and "accepts 280" in r.text
    r = client.post("/content/counter", headers={"X-CSRF-Token": carla},
                    data={"channel": "sms", "body": "{{ nope }}"})
    assert "unknown variable" in r.text
    assert client.post("/content/counter", data={"channel": "sms", "body": "x"}).status_code == 403  # no CSRF token


def test_an_upload_too_large_or_of_the_wrong_type_is_refused_with_a_clear_message(client, personas, engine, carla, settings):
    message_id = make_message(engine, personas)
    base = {"csrf_token": carla, "language": "ht", "channel": "social", "platform": "facebook",
            "body": "Trafik moun se yon krim.", "alt_text": "Bannyè"}
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (10 * 1024 * 1024 + 10)
    r = client.post(f"/content/{message_id}/variant", data=base, files={"files": ("banye.png", big, "image/png")})
    assert r.status_code == 400
    assert '"banye.png" is 10.0 MB; the maximum for a PNG image is 10 MB.' in html.unescape(r.text)
    assert "The files you chose were not saved" in r.text
    r = client.post(f"/content/{message_id}/variant", data=base, files={"files": ("law.pdf", PDF, "application/pdf")})
    assert r.status_code == 400 and "PDF files are not accepted for social" in r.text
    r = client.post(f"/content/{message_id}/variant", data=base, files={"files": ("photo.png", PDF, "image/png")})
    assert r.status_code == 400 and "does not look like a PNG image: its content is a PDF" in r.text
    r = client.post(f"/content/{message_id}/variant", data={**base, "alt_text": ""},
                    files={"files": ("banye.png", PNG, "image/png")})
    assert r.status_code == 400 and "Describe the image" in r.text
    assert versions(engine, message_id) == [1]
    with Session(engine) as s:
        assert s.exec(select(Attachment)).all() == []
    assert not (settings.data_dir / "attachments").exists()


def test_an_upload_is_stored_by_checksum_and_downloads_are_permission_checked(client, app, personas, engine, carla,
                                                                              settings):
    from starlette.testclient import TestClient

    message_id = make_message(engine, personas)
    r = client.post(f"/content/{message_id}/variant", data={
        "csrf_token": carla, "language": "fr", "channel": "briefing", "body": "# Note aux juges"},
        files=[("files", ("loi-2014.pdf", PDF, "application/pdf")), ("files", ("", b"", "application/octet-stream"))])
    assert r.status_code == 303, r.text[-2000:]
    with Session(engine) as s:
        attachment = s.exec(select(Attachment)).one()
    path = storage_for(settings).path(attachment.storage_name)
    assert path.read_bytes() == PDF and attachment.storage_name.startswith(attachment.sha256)
    got = client.get(f"/content/attachments/{attachment.id}?download=1")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert 'attachment; filename="loi-2014.pdf"' in got.headers["content-disposition"]
    for name, expected in (("eddy", 403), ("sonia", 200)):
        other = TestClient(app, base_url="http://testserver", follow_redirects=False)
        login(other, name)
        assert other.get(f"/content/attachments/{attachment.id}").status_code == expected, name
    anonymous = TestClient(app, base_url="http://testserver", follow_redirects=False)
    assert anonymous.get(f"/content/attachments/{attachment.id}").status_code == 401
    # Removing it from the variant is a new version; the file stays for the older one.
    r = client.post(f"/content/{message_id}/variant", data={
        "csrf_token": carla, "language": "fr", "channel": "briefing", "body": "# Note aux juges",
        "remove_attachment": str(attachment.id)})
    assert r.status_code == 303 and versions(engine, message_id) == [1, 2, 3]


# --- Review flow through the pages -----------------------------------------------------------------


def test_the_review_flow_per_role_through_the_pages(client, app, personas, engine, carla):
    from starlette.testclient import TestClient

    message_id = make_message(engine, personas, variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    clients = {}
    for name in ("leo", "sonia", "eddy", "alice"):
        c = TestClient(app, base_url="http://testserver", follow_redirects=False)
        clients[name] = (c, login(c, name))
    sonia, sonia_csrf = clients["sonia"]
    assert sonia.get(f"/content/{message_id}").status_code == 200  # supervisors read
    assert sonia.post(f"/content/{message_id}/submit", data={"csrf_token": sonia_csrf}).status_code == 403
    assert clients["eddy"][0].get(f"/content/{message_id}").status_code == 403
    leo, leo_csrf = clients["leo"]
    assert leo.post(f"/content/{message_id}/submit", data={"csrf_token": leo_csrf}).status_code == 403
    assert leo.post(f"/content/{message_id}/variant", data={
        "csrf_token": leo_csrf, "language": "ht", "channel": "sms", "body": "x"}).status_code == 403

    page = client.get(f"/content/{message_id}").text
    assert "Submit for review" in page and "Approve" not in page
    r = client.post(f"/content/{message_id}/submit", data={"csrf_token": carla, "version": "1"})
    assert r.status_code == 303 and status_of(engine, message_id) == MessageStatus.in_review
    assert "submitted for review" in client.get(r.headers["location"]).text
    assert client.post(f"/content/{message_id}/approve", data={"csrf_token": carla}).status_code == 403
    assert client.get("/content/review").status_code == 403

    queue = leo.get("/content/review").text
    assert "Restavèk: a child is not a servant" in queue and "<ins>" in queue and "Send back" in queue
    r = leo.post(f"/content/{message_id}/send-back", data={"csrf_token": leo_csrf, "version": "1", "comment": "",
                                                            "back": "/content/review"})
    assert r.status_code == 303 and "Say what should change" in leo.get(r.headers["location"]).text
    assert status_of(engine, message_id) == MessageStatus.in_review
    r = leo.post(f"/content/{message_id}/send-back", data={"csrf_token": leo_csrf, "version": "1",
                                                            "comment": "Mete 24/24 nan tèks la.", "back": "/content/review"})
    assert r.headers["location"] == "/content/review" and status_of(engine, message_id) == MessageStatus.draft
    assert "Mete 24/24 nan tèks la." in client.get(f"/content/{message_id}").text

    client.post(f"/content/{message_id}/variant", data={
        "csrf_token": carla, "language": "ht", "channel": "sms", "body": SMS_HT.replace("Li gratis", "24/24, li gratis")})
    client.post(f"/content/{message_id}/submit", data={"csrf_token": carla, "version": "2"})
    stale = leo.post(f"/content/{message_id}/approve", data={"csrf_token": leo_csrf, "version": "1"})
    assert "changed since you looked" in leo.get(stale.headers["location"]).text
    r = leo.post(f"/content/{message_id}/approve", data={"csrf_token": leo_csrf, "version": "2"})
    assert status_of(engine, message_id) == MessageStatus.approved
    history = client.get(f"/content/{message_id}/history").text
    for label in ("Submitted for review", "Sent back", "Approved"):
        assert label in history
    assert "<del>Li</del><ins>24/24, li</ins> gratis" in history
    diff = client.get(f"/content/{message_id}/history?a=1&b=2", headers={"HX-Request": "true"})
    assert 'id="diff"' in diff.text and "<html" not in diff.text


def test_the_preview_renders_a_language_for_a_sample_recipient(client, personas, engine, carla):
    message_id = make_message(engine, personas, variants=[
        {"language": "ht", "channel": "sms", "body": "Bonjou {{ first_name }}, rele {{ hotline_number }}."},
        {"language": "fr", "channel": "email", "subject": "Pour {{ first_name }}", "body": "Appelez le {{ hotline_number }}."},
        {"language": "fr", "channel": "briefing", "body": "# Note\n\n**{{ organisation }}**"}])
    r = client.get(f"/content/{message_id}/preview?language=ht&first_name=Wideline", headers={"HX-Request": "true"})
    assert "Bonjou Wideline, rele 188." in r.text and "GSM-7" in r.text
    r = client.get(f"/content/{message_id}/preview?language=fr&first_name=<b>Jo</b>")
    assert "Pour &lt;b&gt;Jo&lt;/b&gt;" in r.text and "<h1>Note</h1>" in r.text and "<strong>OIM Ayiti</strong>" in r.text
    r = client.get(f"/content/{message_id}/preview?language=es")
    assert "No Español variant" in r.text


def test_variables_and_the_segment_limit_are_managed_on_their_page(client, personas, engine, carla):
    r = client.post("/content/variables", data={"csrf_token": carla, "name": "office", "sample": "Okap",
                                                 "longest": "Fò Libète", "description": "Regional office"})
    assert r.status_code == 303
    assert "office" in client.get("/content/variables").text
    r = client.post("/content/variables", data={"csrf_token": carla, "name": "if", "sample": "x"})
    assert r.status_code == 400 and "reserved word" in r.text
    r = client.post("/content/settings", data={"csrf_token": carla, "sms_max_segments": "12"})
    assert r.status_code == 400 and "from 1 to 10" in r.text
    assert client.post("/content/settings", data={"csrf_token": carla, "sms_max_segments": "2"}).status_code == 303
    with Session(engine) as s:
        assert svc.sms_max_segments(session=s) == 2
    r = client.post("/content/variables/delete", data={"csrf_token": carla, "name": "office"})
    assert r.status_code == 303


def test_coverage_and_transfer_pages_answer(client, personas, engine, carla):
    make_message(engine, personas, variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    page = client.get("/content/coverage").text
    assert "fr · SMS" in page and "ht · Radio spot" in page
    page = client.get("/content/transfer").text
    assert "/content/export.json" in page
    r = client.post("/content/import", data={"csrf_token": carla},
                    files={"library": ("lib.json", b'{"format": "konbit-content-library", "format_version": 1, '
                                                   b'"messages": [{"uid": "u1", "status": "draft", "versions": '
                                                   b'[{"number": 1, "title": "T", "variants": [{"language": "xx_YY", '
                                                   b'"channel": "sms", "body": "x"}]}]}]}', "application/json")})
    assert r.status_code == 400
    assert "<code>messages[0].versions[0].variants[0].language</code>" in r.text and "Nothing was imported" in r.text
    r = client.post("/content/import", data={"csrf_token": carla}, files={"library": ("lib.json", b"{nope", "application/json")})
    assert r.status_code == 400 and "not valid JSON (line 1, column 2" in r.text


def test_odd_input_gets_an_answer_never_a_server_error(client, personas, engine, carla):
    message_id = make_message(engine, personas, variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    for path in ("/content?q=%00%27&language=%00x&theme=%00&status=x&segment=y&channel=fax", "/content/999",
                 f"/content/{message_id}/variant?language=&channel=sms",
                 f"/content/{message_id}/variant?language=ht&channel=social&platform=myspace",
                 f"/content/{message_id}/variant?language=ht&channel=fax",
                 f"/content/{message_id}?version=9", f"/content/{message_id}?version=-1",
                 f"/content/{message_id}/preview?language=%00&version=approved&first_name=%00",
                 f"/content/{message_id}/history?a=5&b=1", f"/content/{message_id}/history?a=0",
                 f"/content/{message_id}/print/999", "/content/attachments/abc", "/content/attachments/999"):
        r = client.get(path)
        assert 200 <= r.status_code < 500, (path, r.status_code)
    r = client.post(f"/content/{message_id}/variant", data={  # NUL: refused, naming the field (web/nul.py)
        "csrf_token": carla, "language": "ht", "channel": "sms", "body": "Rele\x00 {{ hotline_number }}\x07."})
    assert r.status_code == 422 and "body" in r.text
    r = client.post(f"/content/{message_id}/variant", data={  # other control characters: dropped
        "csrf_token": carla, "language": "ht", "channel": "sms", "body": "Rele {{ hotline_number }}\x07."})
    assert r.status_code == 303
    with Session(engine) as s:
        message = s.get(Message, message_id)
        views = svc.version_variants(session=s, version_id=message.current_version_id)
        assert views[0].variant.body == "Rele {{ hotline_number }}."
    r = client.post("/content", data={"csrf_token": carla, "title": "\x01\x02", "segments": ["\x03"]})
    assert r.status_code == 400 and "Give the message a title." in r.text
    r = client.post(f"/content/{message_id}/links", data={"csrf_token": carla, "item": "x:y"})
    assert r.status_code == 303
    r = client.post(f"/content/{message_id}/links", data={"csrf_token": carla, "item": "999:k_law"})
    assert "There is no survey 999" in client.get(r.headers["location"]).text


def test_overlong_fields_are_refused_with_a_message_not_a_database_error(client, personas, engine, carla):
    message_id = make_message(engine, personas)
    r = client.post(f"/content/{message_id}/variant", data={
        "csrf_token": carla, "language": "fr", "channel": "email", "subject": "S" * 300, "body": "Bonjour"})
    assert r.status_code == 400 and "Keep the subject under 200 characters." in r.text
    r = client.post("/content/variables", data={"csrf_token": carla, "name": "office", "sample": "x" * 250})
    assert r.status_code == 400 and "Keep values under 200 characters." in r.text
    r = client.post("/content", data={"csrf_token": carla, "title": "T" * 300})
    assert r.status_code == 400 and "Keep the title under 200 characters." in r.text
