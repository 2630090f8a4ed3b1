"""Administrators manage users, in the browser (with CSRF) and over the API."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from tests.factories import PASSWORD, bearer, login
from web.accounts.models import AuditEvent, AuthSession, Role, User

NEW_PASSWORD = "a-brand-new-passphrase"


def rows(engine, model, *where):
    with Session(engine) as s:
        return list(s.exec(select(model).where(*where)).all())


def user(engine, username: str) -> User:
    [found] = rows(engine, User, User.username == username)
    return found


def audit(engine, action: str) -> list[AuditEvent]:
    return sorted(rows(engine, AuditEvent, AuditEvent.action == action), key=lambda e: e.id)


def can_log_in(client: TestClient, username: str, password: str = PASSWORD) -> bool:
    return client.post("/api/v1/token", data={"username": username, "password": password}).status_code == 200


@pytest.fixture
def admin(client, personas) -> str:
    """``client`` logged in as alice; returns the CSRF token."""
    return login(client, "alice")


@pytest.fixture
def eddy_browser(app, personas):
    """A second browser, logged in as eddy."""
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as other:
        login(other, "eddy")
        yield other


def new_user(**fields) -> dict:
    return {"username": "nadia", "full_name": "Nadia Joseph", "email": "nadia@example.org", "role": "communications",
            "password": NEW_PASSWORD, **fields}


# --- The list ------------------------------------------------------------------------------


def test_it_lists_users(client, admin):
    r = client.get("/users")
    assert r.status_code == 200
    for name in ("alice", "carla", "eddy", "sonia", "leo"):
        assert f"<strong>{name}</strong>" in r.text
    assert "HX-Request" in r.headers["Vary"]


FILTERS = [
    ("q=edd", ["eddy"], ["alice", "carla"]),
    ("role=supervisor", ["sonia"], ["eddy", "alice"]),
    ("status=active", ["alice", "eddy"], []),
    ("status=inactive", [], ["alice", "eddy"]),
    ("role=nonsense", ["alice", "leo"], []),  # an unknown role filters nothing out
]


def test_it_filters_users(client, admin):
    for query, shown, hidden in FILTERS:
        r = client.get(f"/users?{query}")
        assert r.status_code == 200
        for name in shown:
            assert f"<strong>{name}</strong>" in r.text, (query, name)
        for name in hidden:
            assert f"<strong>{name}</strong>" not in r.text, (query, name)


def test_it_gives_htmx_only_the_results(client, admin):
    r = client.get("/users?q=edd", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="results"')
    assert "<html" not in r.text
    assert "Add a user" not in r.text


def test_it_forbids_the_page_to_non_admins(app, personas, engine):
    for name in ("carla", "eddy", "sonia", "leo"):
        with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
            csrf = login(client, name)
            assert client.get("/users").status_code == 403, name
            r = client.post("/users", data={**new_user(), "csrf_token": csrf})
            assert r.status_code == 403, name
            assert "Your role does not allow this." in r.text
            r = client.post(f"/users/{personas['alice'].id}", data={"is_active": "false", "csrf_token": csrf})
            assert r.status_code == 403, name
    assert rows(engine, User, User.username == "nadia") == []
    assert user(engine, "alice").is_active is True


# --- Creating ----------------------------------------------------------------------------------


def test_it_creates_a_user(client, admin, engine, personas):
    r = client.post("/users", data={**new_user(), "csrf_token": admin})
    assert r.status_code == 303
    assert r.headers["location"] == "/users"
    page = client.get("/users")
    assert "User nadia created as Communications." in page.text
    assert "<strong>nadia</strong>" in page.text
    nadia = user(engine, "nadia")
    assert (nadia.full_name, nadia.email, nadia.role, nadia.is_active) == ("Nadia Joseph", "nadia@example.org",
                                                                         Role.communications, True)
    assert NEW_PASSWORD not in nadia.password_hash
    assert can_log_in(client, "nadia", NEW_PASSWORD)
    [event] = [e for e in audit(engine, "user.create") if e.entity_id == str(nadia.id)]
    assert event.actor_name == "alice"
    assert event.actor_id == personas["alice"].id
    assert event.details == {"role": "communications"}
    assert NEW_PASSWORD not in event.summary


def test_it_creates_a_user_through_htmx(client, admin, engine):
    r = client.post("/users", data=new_user(), headers={"HX-Request": "true", "X-CSRF-Token": admin})
    assert r.status_code == 204
    assert r.headers["HX-Redirect"] == "/users"
    assert user(engine, "nadia").role == Role.communications


def test_it_trims_the_user_name(client, admin, engine):
    r = client.post("/users", data={**new_user(username="  nadia  "), "csrf_token": admin})
    assert r.status_code == 303
    assert user(engine, "nadia")


BAD_FIELDS = [
        ({"username": "n"}, "username", "at least 2 characters"),
        ({"username": "nadia joseph"}, "username", "should match pattern"),
        ({"username": "<b>nadia</b>"}, "username", "should match pattern"),
        ({"username": "n" * 65}, "username", "at most 64 characters"),
        ({"password": "short"}, "password", "at least 10 characters"),
        ({"role": ""}, "role", "Input should be"),
        ({"role": "superuser"}, "role", "Input should be"),
        ({"full_name": "x" * 121}, "full_name", "at most 120 characters"),
        ({"username": "nadia12345", "password": "NADIA12345"}, "password", "must not be the user name"),
]


def test_it_names_the_field_that_is_wrong(client, admin, engine):
    for fields, field, message in BAD_FIELDS:
        r = client.post("/users", data={**new_user(**fields), "csrf_token": admin})
        assert r.status_code == 400, fields
        assert f"{field}: " in r.text, fields
        assert message in r.text, fields
        assert 'value="nadia@example.org"' in r.text  # what was typed is kept
        assert NEW_PASSWORD not in r.text  # but never the password
    assert len(rows(engine, User)) == 5
    assert all(e.actor_id is None for e in audit(engine, "user.create"))  # only the personas' creation


def test_it_gives_htmx_only_the_form_on_an_error(client, admin):
    r = client.post("/users", data=new_user(username="x"), headers={"HX-Request": "true", "X-CSRF-Token": admin})
    assert r.status_code == 400
    assert r.text.lstrip().startswith('<section class="card" id="create-user">')
    assert "username: " in r.text
    assert "<html" not in r.text


def test_it_refuses_a_user_name_that_is_taken(client, admin, engine):
    for taken in ("eddy", "EDDY", " Eddy "):
        r = client.post("/users", data={**new_user(username=taken), "csrf_token": admin})
        assert r.status_code == 400, taken
        assert "username: " in r.text
        assert "is already taken" in r.text
    assert len(rows(engine, User)) == 5
    assert user(engine, "eddy").role == Role.enumerator


def test_it_does_not_create_without_csrf(client, admin, engine):
    r = client.post("/users", data=new_user())
    assert r.status_code == 403
    r = client.post("/users", data={**new_user(), "csrf_token": "forged"})
    assert r.status_code == 403
    assert rows(engine, User, User.username == "nadia") == []


# --- Changing, deactivating, reactivating ---------------------------------------------------


def test_it_deactivates_a_user_and_ends_their_sessions(client, admin, engine, personas, eddy_browser):
    token = bearer(client, "eddy")
    eddy_id = personas["eddy"].id
    r = client.post(f"/users/{eddy_id}", data={"is_active": "false", "csrf_token": admin})
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<tr id="user-{eddy_id}" class="inactive">')
    assert "Reactivate" in r.text
    assert "<html" not in r.text
    assert user(engine, "eddy").is_active is False
    assert rows(engine, AuthSession, AuthSession.user_id == eddy_id) == []
    assert eddy_browser.get("/").status_code == 401
    assert client.get("/api/v1/me", headers=token).status_code == 401
    r = client.post("/api/v1/token", data={"username": "eddy", "password": PASSWORD})
    assert r.status_code == 401
    assert "deactivated" in r.json()["detail"]
    [event] = audit(engine, "user.update")
    assert (event.actor_name, event.entity_id) == ("alice", str(eddy_id))
    assert event.details == {"is_active": [True, False]}
    # The admin's own session goes on.
    assert client.get("/users").status_code == 200


def test_it_reactivates_a_user(client, admin, engine, personas):
    eddy_id = personas["eddy"].id
    client.post(f"/users/{eddy_id}", data={"is_active": "false", "csrf_token": admin})
    r = client.post(f"/users/{eddy_id}", data={"is_active": "true", "csrf_token": admin})
    assert r.status_code == 200
    assert "Deactivate" in r.text
    assert user(engine, "eddy").is_active is True
    assert can_log_in(client, "eddy")
    assert [e.details for e in audit(engine, "user.update")] == [{"is_active": [True, False]},
                                                                 {"is_active": [False, True]}]


def test_it_changes_a_role_and_ends_the_users_sessions(client, admin, engine, personas, eddy_browser):
    eddy_id = personas["eddy"].id
    r = client.post(f"/users/{eddy_id}", data={"role": "supervisor", "csrf_token": admin})
    assert r.status_code == 200
    assert '<option value="supervisor" selected>' in r.text
    assert user(engine, "eddy").role == Role.supervisor
    assert eddy_browser.get("/").status_code == 401
    [event] = audit(engine, "user.update")
    assert event.details == {"role": ["enumerator", "supervisor"]}


def test_it_records_nothing_when_nothing_changes(client, admin, engine, personas, eddy_browser):
    r = client.post(f"/users/{personas['eddy'].id}", data={"role": "enumerator", "csrf_token": admin})
    assert r.status_code == 200
    assert audit(engine, "user.update") == []
    assert eddy_browser.get("/").status_code == 200


def test_it_refuses_an_unknown_role(client, admin, engine, personas):
    r = client.post(f"/users/{personas['eddy'].id}", data={"role": "superuser", "csrf_token": admin})
    assert r.status_code == 400
    assert "role: " in r.text
    assert user(engine, "eddy").role == Role.enumerator
    assert audit(engine, "user.update") == []


def test_it_does_not_let_an_admin_deactivate_or_demote_themself(client, admin, engine, personas):
    for data in ({"is_active": "false"}, {"role": "lead"}):
        r = client.post(f"/users/{personas['alice'].id}", data={**data, "csrf_token": admin})
        assert r.status_code == 400, data
        assert "You cannot deactivate yourself or change your own role." in r.text
    alice = user(engine, "alice")
    assert (alice.is_active, alice.role) == (True, Role.admin)
    assert audit(engine, "user.update") == []
    assert client.get("/users").status_code == 200


def test_it_does_not_change_a_user_without_csrf(client, admin, engine, personas):
    r = client.post(f"/users/{personas['eddy'].id}", data={"is_active": "false"})
    assert r.status_code == 403
    assert user(engine, "eddy").is_active is True


def test_it_says_when_the_user_does_not_exist(client, admin):
    r = client.post("/users/99999", data={"is_active": "false", "csrf_token": admin})
    assert r.status_code == 404
    assert "There is no user 99999." in r.text
    assert "Log out" in r.text  # the error page is in the layout, for the admin still logged in
    assert client.get("/users").status_code == 200


# --- Resetting a password ---------------------------------------------------------------------


def test_it_resets_a_password_and_ends_the_users_sessions(client, admin, engine, personas, eddy_browser):
    eddy_id = personas["eddy"].id
    r = client.post(f"/users/{eddy_id}/password", data={"password": NEW_PASSWORD, "csrf_token": admin})
    assert r.status_code == 200
    assert "Password of eddy reset; their sessions ended." in r.text
    assert NEW_PASSWORD not in r.text
    assert eddy_browser.get("/").status_code == 401
    assert not can_log_in(client, "eddy", PASSWORD)
    assert can_log_in(client, "eddy", NEW_PASSWORD)
    [event] = audit(engine, "user.password_reset")
    assert (event.actor_name, event.entity_id) == ("alice", str(eddy_id))
    assert NEW_PASSWORD not in event.summary + str(event.details)


def test_it_refuses_a_short_reset_password(client, admin, personas, eddy_browser):
    r = client.post(f"/users/{personas['eddy'].id}/password", data={"password": "short", "csrf_token": admin})
    assert r.status_code == 400
    assert "The password must have at least 10 characters." in r.text
    assert eddy_browser.get("/").status_code == 200
    assert can_log_in(eddy_browser, "eddy", PASSWORD)


def test_it_does_not_reset_a_password_without_csrf(client, admin, personas):
    r = client.post(f"/users/{personas['eddy'].id}/password", data={"password": NEW_PASSWORD})
    assert r.status_code == 403
    assert can_log_in(client, "eddy", PASSWORD)


# --- The API -------------------------------------------------------------------------------------


@pytest.fixture
def api(client, personas) -> dict[str, str]:
    return bearer(client, "alice")


def test_it_lists_users_over_the_api(client, api):
    r = client.get("/api/v1/users", headers=api)
    assert r.status_code == 200
    users = r.json()
    assert [u["username"] for u in users] == ["alice", "carla", "eddy", "leo", "sonia"]
    assert set(users[0]) == {"id", "username", "full_name", "email", "role", "is_active", "created_at", "last_login_at",
                             "language"}
    assert client.get("/api/v1/users?role=lead", headers=api).json()[0]["username"] == "leo"


def test_it_creates_a_user_over_the_api(client, api, engine):
    r = client.post("/api/v1/users", headers=api, json=new_user())
    assert r.status_code == 201
    body = r.json()
    assert body["username"] == "nadia"
    assert body["role"] == "communications"
    assert "password" not in body and "password_hash" not in body
    assert client.get(f"/api/v1/users/{body['id']}", headers=api).json()["email"] == "nadia@example.org"
    assert [e.actor_name for e in audit(engine, "user.create") if e.entity_id == str(body["id"])] == ["alice"]


def test_it_names_the_field_that_is_wrong_over_the_api(client, api, engine):
    cases = [({"username": "n"}, "username"), ({"username": "nadia joseph"}, "username"),
             ({"password": "short"}, "password"), ({"role": "superuser"}, "role"), ({"email": "x" * 255}, "email")]
    for fields, field in cases:
        r = client.post("/api/v1/users", headers=api, json=new_user(**fields))
        assert r.status_code == 422, fields
        body = r.json()
        assert body["detail"].startswith(f"{field}: "), body
        assert [e["field"] for e in body["errors"]] == [field]
    assert rows(engine, User, User.username == "nadia") == []


def test_it_refuses_a_missing_field_over_the_api(client, api):
    r = client.post("/api/v1/users", headers=api, json={"username": "nadia", "password": NEW_PASSWORD})
    assert r.status_code == 422
    assert "role: Field required" in r.json()["detail"]


def test_it_refuses_a_taken_user_name_over_the_api(client, api, engine):
    r = client.post("/api/v1/users", headers=api, json=new_user(username="Eddy"))
    assert r.status_code == 409
    assert r.json()["detail"].startswith("username: ")
    assert len(rows(engine, User)) == 5


def test_it_refuses_the_user_name_as_password_over_the_api(client, api):
    r = client.post("/api/v1/users", headers=api, json=new_user(username="nadia12345", password="nadia12345"))
    assert r.status_code == 400
    assert r.json()["detail"] == "password: The password must not be the user name."


def test_it_changes_a_user_over_the_api(client, api, engine, personas):
    eddy_token = bearer(client, "eddy")
    eddy_id = personas["eddy"].id
    r = client.patch(f"/api/v1/users/{eddy_id}", headers=api, json={"role": "lead", "full_name": "Eddy Pierre"})
    assert r.status_code == 200
    assert (r.json()["role"], r.json()["full_name"]) == ("lead", "Eddy Pierre")
    assert client.get("/api/v1/me", headers=eddy_token).status_code == 401
    [event] = audit(engine, "user.update")
    assert event.details == {"full_name": ["", "Eddy Pierre"], "role": ["enumerator", "lead"]}


def test_it_keeps_sessions_when_only_the_name_changes(client, api, personas):
    eddy_token = bearer(client, "eddy")
    r = client.patch(f"/api/v1/users/{personas['eddy'].id}", headers=api, json={"full_name": "Eddy Pierre"})
    assert r.status_code == 200
    assert client.get("/api/v1/me", headers=eddy_token).status_code == 200


def test_it_deactivates_a_user_over_the_api(client, api, engine, personas):
    eddy_token = bearer(client, "eddy")
    r = client.patch(f"/api/v1/users/{personas['eddy'].id}", headers=api, json={"is_active": False})
    assert r.status_code == 200
    assert r.json()["is_active"] is False
    assert client.get("/api/v1/me", headers=eddy_token).status_code == 401
    assert not can_log_in(client, "eddy")


def test_it_does_not_let_an_admin_deactivate_themself_over_the_api(client, api, engine, personas):
    r = client.patch(f"/api/v1/users/{personas['alice'].id}", headers=api, json={"is_active": False})
    assert r.status_code == 400
    assert "You cannot deactivate yourself" in r.json()["detail"]
    assert user(engine, "alice").is_active is True
    assert client.get("/api/v1/me", headers=api).status_code == 200


def test_it_refuses_a_bad_change_over_the_api(client, api, personas):
    r = client.patch(f"/api/v1/users/{personas['eddy'].id}", headers=api, json={"role": "superuser"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("role: ")


def test_it_resets_a_password_over_the_api(client, api, engine, personas):
    eddy_token = bearer(client, "eddy")
    r = client.post(f"/api/v1/users/{personas['eddy'].id}/password", headers=api, json={"password": NEW_PASSWORD})
    assert r.status_code == 204
    assert client.get("/api/v1/me", headers=eddy_token).status_code == 401
    assert can_log_in(client, "eddy", NEW_PASSWORD)
    assert len(audit(engine, "user.password_reset")) == 1


def test_it_refuses_a_short_password_reset_over_the_api(client, api, personas):
    r = client.post(f"/api/v1/users/{personas['eddy'].id}/password", headers=api, json={"password": "short"})
    assert r.status_code == 400
    assert r.json()["detail"] == "password: The password must have at least 10 characters."
    assert can_log_in(client, "eddy")


def test_it_says_when_the_user_does_not_exist_over_the_api(client, api):
    for method, path, body in [("GET", "/api/v1/users/99999", None), ("PATCH", "/api/v1/users/99999", {"role": "lead"}),
                               ("POST", "/api/v1/users/99999/password", {"password": NEW_PASSWORD})]:
        r = client.request(method, path, headers=api, json=body)
        assert r.status_code == 404, path
        assert r.json() == {"detail": "There is no user 99999.", "errors": []}


def test_it_forbids_the_api_to_non_admins(client, personas):
    token = bearer(client, "leo")
    assert client.get("/api/v1/users", headers=token).status_code == 403
    r = client.post("/api/v1/users", headers=token, json=new_user())
    assert r.status_code == 403
    assert r.json() == {"detail": "Your role does not allow this.", "errors": []}
    r = client.patch(f"/api/v1/users/{personas['leo'].id}", headers=token, json={"role": "admin"})
    assert r.status_code == 403
    assert client.get("/api/v1/me", headers=token).json()["role"] == "lead"
