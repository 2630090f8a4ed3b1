"""My account: the page, and changing my own password (which logs me out everywhere)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from tests.factories import PASSWORD, bearer, csrf_from, login
from web.accounts.models import AuditEvent, AuthSession, User

NEW_PASSWORD = "a-brand-new-passphrase"


def rows(engine, model, *where):
    with Session(engine) as s:
        return list(s.exec(select(model).where(*where)).all())


def change(client: TestClient, csrf: str, current: str = PASSWORD, new: str = NEW_PASSWORD,
           confirm: str | None = None, **kwargs):
    data = {"csrf_token": csrf, "current_password": current, "new_password": new,
            "confirm_password": new if confirm is None else confirm}
    return client.post("/account/password", data=data, **kwargs)


def can_log_in(client: TestClient, username: str, password: str) -> bool:
    r = client.post("/api/v1/token", data={"username": username, "password": password})
    return r.status_code == 200


def test_it_shows_my_account(client, personas):
    login(client, "sonia")
    r = client.get("/account")
    assert r.status_code == 200
    assert "sonia" in r.text
    assert "Supervisor" in r.text
    assert 'action="/account/password"' in r.text
    assert csrf_from(r.text)


def test_it_asks_an_anonymous_visitor_to_log_in(client):
    assert client.get("/account").status_code == 401
    assert client.post("/account/password", data={}).status_code == 401


BAD_CHANGES = [
    ("not-the-password", NEW_PASSWORD, NEW_PASSWORD, "The current password is not right."),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "The two new passwords differ."),
    (PASSWORD, "short", "short", "The password must have at least 10 characters."),
    (PASSWORD, PASSWORD, PASSWORD, "The new password must differ from the current one."),
    (PASSWORD, "", "", "The password must have at least 10 characters."),
]


def test_it_refuses_a_bad_change(client, personas, engine):
    csrf = login(client, "eddy")
    for current, new, confirm, message in BAD_CHANGES:
        r = change(client, csrf, current, new, confirm)
        assert r.status_code == 400, message
        assert message in r.text
    # Nothing changed: the old password still works and this session goes on.
    assert client.get("/account").status_code == 200
    assert can_log_in(client, "eddy", PASSWORD)
    assert rows(engine, AuditEvent, AuditEvent.action.startswith("user.password")) == []


def test_it_refuses_a_password_of_more_than_256_characters(client, personas):
    csrf = login(client, "eddy")
    r = change(client, csrf, new="x" * 257)
    assert r.status_code == 422
    assert "new_password" in r.text
    assert can_log_in(client, "eddy", PASSWORD)


def test_it_changes_my_password_and_logs_me_out_everywhere(app, client, personas, engine):
    csrf = login(client, "eddy")
    token = bearer(client, "eddy")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as phone:
        login(phone, "eddy")
        r = change(client, csrf)
        assert r.status_code == 303
        assert r.headers["location"] == "/login"
        assert "Your password was changed." in client.get("/login").text
        assert phone.get("/").status_code == 401
    assert client.get("/account").status_code == 401
    assert client.get("/api/v1/me", headers=token).status_code == 401
    assert rows(engine, AuthSession) == []
    assert not can_log_in(client, "eddy", PASSWORD)
    assert can_log_in(client, "eddy", NEW_PASSWORD)


def test_it_records_the_change(client, personas, engine):
    csrf = login(client, "eddy")
    before = rows(engine, User, User.username == "eddy")[0]
    change(client, csrf)
    [event] = rows(engine, AuditEvent, AuditEvent.action == "user.password_change")
    assert event.actor_name == "eddy"
    assert event.entity_type == "user"
    assert event.entity_id == str(personas["eddy"].id)
    assert NEW_PASSWORD not in event.summary and NEW_PASSWORD not in str(event.details)
    after = rows(engine, User, User.username == "eddy")[0]
    assert after.password_changed_at > before.password_changed_at
    assert after.auth_epoch == before.auth_epoch + 1


def test_it_does_not_end_other_users_sessions(app, client, personas):
    csrf = login(client, "eddy")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as other:
        login(other, "carla")
        assert change(client, csrf).status_code == 303
        assert other.get("/").status_code == 200


def test_it_gives_htmx_only_the_form_on_an_error(client, personas):
    csrf = login(client, "eddy")
    r = change(client, csrf, current="not-the-password", headers={"HX-Request": "true", "X-CSRF-Token": csrf})
    assert r.status_code == 400
    assert 'id="password-form"' in r.text
    assert "The current password is not right." in r.text
    assert "<html" not in r.text
    assert "<h1>My account</h1>" not in r.text


def test_it_sends_htmx_to_the_login_form_after_a_change(client, personas):
    csrf = login(client, "eddy")
    r = change(client, csrf, headers={"HX-Request": "true", "X-CSRF-Token": csrf})
    assert r.status_code == 204
    assert r.headers["HX-Redirect"] == "/login"


def test_it_does_not_change_the_password_without_csrf(client, personas):
    csrf = login(client, "eddy")
    r = change(client, "wrong-" + csrf)
    assert r.status_code == 403
    r = client.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                               "confirm_password": NEW_PASSWORD})
    assert r.status_code == 403
    assert client.get("/account").status_code == 200
    assert can_log_in(client, "eddy", PASSWORD)


# --- The same over the API ---------------------------------------------------------------


def test_it_changes_my_password_over_the_api(client, personas):
    token = bearer(client, "carla")
    r = client.post("/api/v1/me/password", headers=token,
                    json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 204
    assert client.get("/api/v1/me", headers=token).status_code == 401
    assert can_log_in(client, "carla", NEW_PASSWORD)


def test_it_refuses_a_bad_change_over_the_api(client, personas):
    token = bearer(client, "carla")
    cases = [("not-the-password", NEW_PASSWORD, "current_password"), (PASSWORD, "short", "password"),
             (PASSWORD, PASSWORD, "new_password")]
    for current, new, field in cases:
        r = client.post("/api/v1/me/password", headers=token, json={"current_password": current, "new_password": new})
        assert r.status_code == 400, field
        assert r.json()["detail"].startswith(f"{field}: ")
    assert client.get("/api/v1/me", headers=token).status_code == 200
    assert can_log_in(client, "carla", PASSWORD)


def test_it_does_not_take_a_cookie_on_the_api_without_csrf(client, personas):
    login(client, "carla")
    r = client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 403
    assert can_log_in(client, "carla", PASSWORD)
