"""The content JSON API under /api/v1/content: messages, variants, versions, transitions,
attachments, variables, the counter, with bearer tokens per role."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from content import service as svc
from tests.factories import bearer

SMS_HT = "Si w wè yon timoun restavèk k ap soufri, rele {{ hotline_number }}. Li gratis."
NEW = {
    "title": "Victims of trafficking have rights",
    "objective": "Victims know they are protected.",
    "themes": ["victims' rights"],
    "segments": ["vulnerable_groups", "social_workers"],
    "variants": [
        {"language": "ht", "channel": "sms", "body": SMS_HT},
        {"language": "fr", "channel": "radio", "target_seconds": 15,
         "body": "Vous êtes victime de traite ? Vous avez droit à la protection, aux soins et à l'aide juridique. "
                 "Appelez le {{ hotline_number }}, c'est gratuit et confidentiel."},
    ],
}


@pytest.fixture
def tokens(client, personas):
    return {name: bearer(client, name) for name in ("carla", "leo", "sonia", "eddy", "alice")}


def create(client, tokens, body=None):
    r = client.post("/api/v1/content/messages", json=body or NEW, headers=tokens["carla"])
    assert r.status_code == 201, r.text
    return r.json()


def test_api_create_read_update_and_list(client, tokens):
    created = create(client, tokens)
    assert created["current_version"] == 1 and created["status"] == "draft" and created["approved_version"] is None
    assert [(v["language"], v["channel"]) for v in created["variants"]] == [("ht", "sms"), ("fr", "radio")]
    message_id = created["id"]
    got = client.get(f"/api/v1/content/messages/{message_id}", headers=tokens["sonia"]).json()
    assert got["uid"] == created["uid"] and got["languages"] == ["ht", "fr"] and got["channels"] == ["sms", "radio"]
    r = client.patch(f"/api/v1/content/messages/{message_id}", headers=tokens["carla"],
                     json={"title": "Viktim yo gen dwa", "base_version": 1})
    assert r.status_code == 200 and r.json()["current_version"] == 2 and r.json()["title"] == "Viktim yo gen dwa"
    r = client.patch(f"/api/v1/content/messages/{message_id}", headers=tokens["carla"],
                     json={"title": "Late", "base_version": 1})
    assert r.status_code == 409 and "Someone saved version 2" in r.json()["detail"]
    listed = client.get("/api/v1/content/messages?language=fr&channel=radio&segment=social_workers",
                        headers=tokens["leo"]).json()
    assert [m["id"] for m in listed] == [message_id]
    assert client.get("/api/v1/content/messages?status=approved", headers=tokens["leo"]).json() == []
    assert client.get("/api/v1/content/messages/999", headers=tokens["leo"]).status_code == 404


def test_api_refuses_bad_input_naming_the_field(client, tokens):
    bad = {**NEW, "variants": [NEW["variants"][0], {"language": "ht", "channel": "sms", "body": "{{ hotline.number }}"}]}
    r = client.post("/api/v1/content/messages", json=bad, headers=tokens["carla"])
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert "attribute access '.number' is not allowed" in errors["variants[1].body"]
    r = client.post("/api/v1/content/messages", json={**NEW, "variants": [], "segments": ["aliens"]}, headers=tokens["carla"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "segments"
    r = client.post("/api/v1/content/messages", json={"title": "x", "variants": [{"language": "ht", "channel": "fax"}]},
                    headers=tokens["carla"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "variants.0.channel"
    r = client.post("/api/v1/content/messages", content=b"{not json", headers={**tokens["carla"],
                                                                              "content-type": "application/json"})
    assert r.status_code == 422
    assert client.get("/api/v1/content/messages", headers=tokens["carla"]).json() == []


def test_api_variants_versions_and_diffs(client, tokens):
    message_id = create(client, tokens)["id"]
    url = f"/api/v1/content/messages/{message_id}"
    r = client.put(f"{url}/variants?base_version=1", headers=tokens["carla"], json={
        "language": "en", "channel": "social", "platform": "twitter",
        "body": "Trafficking victims have rights. Call {{ hotline_number }}. " + "#EndTrafficking " * 20})
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["version"] == 2 and saved["variant"]["platform"] == "x"
    assert saved["blocking"] and "x accepts 280" in saved["blocking"][0]
    r = client.put(f"{url}/variants", headers=tokens["carla"], json={
        "language": "en", "channel": "social", "platform": "x", "body": "Trafficking victims have rights. Call {{ hotline_number }}."})
    assert r.json()["version"] == 3 and r.json()["blocking"] == []
    again = client.put(f"{url}/variants", headers=tokens["carla"], json={
        "language": "en", "channel": "social", "platform": "x", "body": "Trafficking victims have rights. Call {{ hotline_number }}."})
    assert again.json()["version"] is None  # nothing changed
    r = client.delete(f"{url}/variants?language=fr&channel=radio", headers=tokens["carla"])
    assert r.status_code == 200 and r.json()["number"] == 4
    assert [(v["language"], v["channel"]) for v in r.json()["variants"]] == [("ht", "sms"), ("en", "social")]
    assert client.delete(f"{url}/variants?language=es&channel=sms", headers=tokens["carla"]).status_code == 422
    versions = client.get(f"{url}/versions", headers=tokens["sonia"]).json()
    assert [v["number"] for v in versions] == [4, 3, 2, 1]
    assert [v["created_by"] for v in versions] == ["carla"] * 4
    assert client.get(f"{url}/versions/1", headers=tokens["sonia"]).json()["variants"][1]["channel"] == "radio"
    diff = client.get(f"{url}/versions/3/diff", headers=tokens["sonia"]).json()
    assert diff["old"] == 2 and diff["new"] == 3
    assert diff["variants"][0]["variant"] == "en · Social post (x)" and diff["variants"][0]["change"] == "changed"
    assert "<del>" in diff["variants"][0]["fields"][0]["html"]
    diff = client.get(f"{url}/versions/4/diff?against=1", headers=tokens["sonia"]).json()
    assert {v["variant"]: v["change"] for v in diff["variants"]} == {"fr · Radio spot": "removed",
                                                                    "en · Social post (x)": "added"}
    assert client.get(f"{url}/versions/9", headers=tokens["sonia"]).status_code == 404


def test_api_transitions_and_their_permissions(client, tokens, engine):
    message_id = create(client, tokens)["id"]
    url = f"/api/v1/content/messages/{message_id}"
    assert client.post(f"{url}/submit", headers=tokens["leo"]).status_code == 403
    assert client.post(f"{url}/submit", headers=tokens["eddy"]).status_code == 403
    assert client.post(f"{url}/approve", headers=tokens["carla"]).status_code == 403
    r = client.post(f"{url}/approve", headers=tokens["leo"])
    assert r.status_code == 409 and "draft cannot be approved" in r.json()["detail"]
    r = client.post(f"{url}/submit", headers=tokens["carla"], json={"version": 1})
    assert r.status_code == 200 and r.json()["status"] == "in_review"
    r = client.post(f"{url}/send-back", headers=tokens["leo"], json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "comment"
    r = client.post(f"{url}/send-back", headers=tokens["leo"], json={"comment": "Ajoute « 24/24 »."})
    assert r.json()["status"] == "draft"
    client.put(f"{url}/variants", headers=tokens["carla"], json={"language": "ht", "channel": "sms", "body": SMS_HT + " 24/24."})
    client.post(f"{url}/submit", headers=tokens["carla"])
    review = client.get("/api/v1/content/review", headers=tokens["leo"]).json()
    assert [item["message"]["id"] for item in review] == [message_id]
    assert review[0]["compared_with"] == 1 and review[0]["diff"]["variants"][0]["variant"] == "ht · SMS"
    assert client.get("/api/v1/content/review", headers=tokens["carla"]).status_code == 403
    r = client.post(f"{url}/approve", headers=tokens["leo"], json={"version": 2, "comment": "Bon."})
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["approved_version"] == 2
    steps = client.get(f"{url}/transitions", headers=tokens["sonia"]).json()
    assert [(t["action"], t["actor"]) for t in steps] == [("approve", "leo"), ("submit", "carla"),
                                                          ("send_back", "leo"), ("submit", "carla")]
    with Session(engine) as s:
        variant = svc.approved_variant(session=s, message_id=message_id, language="ht", channel="sms")
        assert variant.body.endswith("24/24.")
    r = client.delete(url, headers=tokens["carla"])
    assert r.status_code == 409 and "retire" in r.json()["detail"]
    assert client.post(f"{url}/retire", headers=tokens["leo"]).json()["status"] == "retired"
    assert client.post(f"{url}/restore", headers=tokens["alice"]).json()["status"] == "approved"


def test_api_attachments_upload_reference_and_download(client, tokens):
    message_id = create(client, tokens)["id"]
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 300
    r = client.post("/api/v1/content/attachments?channel=social", headers=tokens["carla"],
                    files={"file": ("banye.png", png, "image/png")})
    assert r.status_code == 201, r.text
    attachment = r.json()
    r = client.post("/api/v1/content/attachments?channel=radio", headers=tokens["carla"],
                    files={"file": ("banye.png", png, "image/png")})
    assert r.status_code == 422 and "not accepted for radio" in r.json()["errors"][0]["message"]
    assert r.json()["errors"][0]["field"] == "file"
    r = client.put(f"/api/v1/content/messages/{message_id}/variants", headers=tokens["carla"], json={
        "language": "ht", "channel": "social", "platform": "instagram", "body": "Viktim yo gen dwa.",
        "alt_text": "Bannyè ble ak jòn", "attachment_ids": [attachment["id"]]})
    assert r.status_code == 200 and r.json()["variant"]["attachments"][0]["sha256"] == attachment["sha256"]
    r = client.put(f"/api/v1/content/messages/{message_id}/variants", headers=tokens["carla"], json={
        "language": "fr", "channel": "social", "platform": "instagram", "body": "x", "attachment_ids": [9999]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "attachment_ids"
    got = client.get(attachment["url"], headers=tokens["sonia"])
    assert got.status_code == 200 and got.content == png
    assert client.get(attachment["url"], headers=tokens["eddy"]).status_code == 403
    assert client.get(attachment["url"]).status_code == 401


def test_api_variables_counter_preview_and_coverage(client, tokens):
    r = client.put("/api/v1/content/variables/office", headers=tokens["carla"],
                   json={"name": "ignored", "sample": "Okap", "longest": "Fò Libète"})
    assert r.status_code == 200 and r.json() == {"name": "office", "sample": "Okap", "longest": "Fò Libète",
                                                 "description": "", "standard": False}
    r = client.put("/api/v1/content/variables/hotline_number", headers=tokens["alice"],
                   json={"name": "x", "sample": "188", "longest": "+509 2813 1188"})
    assert r.json()["standard"] is True and r.json()["longest"] == "+509 2813 1188"
    assert client.put("/api/v1/content/variables/office", headers=tokens["leo"], json={"name": "office"}).status_code == 403
    names = [v["name"] for v in client.get("/api/v1/content/variables", headers=tokens["sonia"]).json()]
    assert names == ["hotline_number", "campaign_name", "first_name", "organisation", "office"]
    counted = client.post("/api/v1/content/counter", headers=tokens["carla"], json={
        "channel": "sms", "language": "fr", "body": "Bureau {{ office }} : appelez le {{ hotline_number }}."}).json()
    assert counted["sms_longest"]["encoding"] == "GSM-7"  # ò and è are in the GSM alphabet
    assert counted["sms_longest"]["units"] == len("Bureau Fò Libète : appelez le +509 2813 1188.")
    assert counted["variables_used"] == ["office", "hotline_number"] and counted["errors"] == {}
    counted = client.post("/api/v1/content/counter", headers=tokens["carla"], json={
        "channel": "radio", "language": "ht", "target_seconds": 15, "body": "Rele {{ hotline_number }}."}).json()
    assert counted["words"] == 12 and counted["warnings"]  # the longest number is read digit by digit
    message_id = create(client, tokens)["id"]
    r = client.post(f"/api/v1/content/messages/{message_id}/preview", headers=tokens["sonia"],
                    json={"language": "ht", "values": {"hotline_number": "133"}})
    assert r.status_code == 200 and r.json()[0]["text"] == SMS_HT.replace("{{ hotline_number }}", "133")
    gaps = client.get(f"/api/v1/content/messages/{message_id}/coverage", headers=tokens["sonia"]).json()
    assert {g["segment"]: g["missing"] for g in gaps} == {
        "social_workers": [["ht", "briefing"], ["fr", "briefing"], ["fr", "sms"]],
        "vulnerable_groups": [["ht", "radio"]]}
