"""Issue 11: NUL (U+0000) in text answered 500 on PostgreSQL (``GET /api/v1/audit?q=%00``, contact
search) or, once the out-of-range handler caught psycopg's DataError, a wrong "number out of
range" message. Now refused at the door with 422 naming the field, the same on both databases, and
nothing is stored."""

from __future__ import annotations

import pytest
from sqlmodel import select

from content.models import Message
from tests.factories import bearer, login
from web.nul import nul_field


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/audit?q=a%00b", "q"),
    ("/api/v1/audit?action=%00", "action"),
    ("/api/v1/campaigns/contacts?q=%00", "q"),
    ("/api/v1/content/messages?q=x%00", "q"),
])
def test_a_nul_in_the_query_string_is_refused_with_the_field(client, personas, url, field):
    r = client.get(url, headers=bearer(client, "alice"))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["type"] == "nul_character"
    assert "NUL" in body["detail"] and "out of range" not in body["detail"]


def test_a_nul_in_a_json_body_names_its_path_and_stores_nothing(client, personas, session):
    headers = bearer(client, "carla")
    r = client.post("/api/v1/content/messages", headers=headers,
                    json={"title": "Lalwa\u0000 2014", "objective": "x", "themes": ["law"], "segments": ["judges"]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "title"
    assert session.exec(select(Message).where(Message.title.startswith("Lalwa"))).first() is None


def test_a_nul_in_a_browser_form_gets_the_error_page(client, personas, session):
    token = login(client, "carla")
    r = client.post("/content", data={"title": "Tit\u0000re", "objective": "", "themes": "", "csrf_token": token})
    assert r.status_code == 422
    assert "text/html" in r.headers["content-type"]
    assert "NUL" in r.text and "title" in r.text
    assert "Traceback" not in r.text
    assert session.exec(select(Message).where(Message.title.startswith("Tit"))).first() is None


def test_text_without_nul_passes_through_untouched(client, personas):
    r = client.get("/api/v1/audit?q=%C3%A9l%C3%A8v", headers=bearer(client, "alice"))
    assert r.status_code == 200


def test_nul_field_is_pure_and_finds_nested_json():
    body = b'{"answers": {"name": "ok", "notes": ["a", "b\\u0000"]}}'
    assert nul_field(path="/x", query=b"", content_type="application/json", body=body) == "answers.notes.1"
    assert nul_field(path="/x", query=b"a=1&b=%00", content_type="", body=b"") == "b"
    assert nul_field(path="/x", query=b"", content_type="application/x-www-form-urlencoded", body=b"t=%00") == "t"
    assert nul_field(path="/x", query=b"", content_type="multipart/form-data; boundary=z", body=b"\x00") is None
    assert nul_field(path="/x", query=b"a=%2500", content_type="", body=b"") is None  # a literal "%00", not NUL
