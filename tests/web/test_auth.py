"""Logging in and out in the browser, sessions that end, and the API's bearer tokens."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from itsdangerous import Signer
from sqlalchemy import update
from sqlmodel import Session, select
from starlette.testclient import TestClient

from tests.factories import PASSWORD, bearer, csrf_from, login
from web.accounts.models import AuditEvent, AuthSession, LoginAttempt, User, utcnow
from web.app import create_app
from web.deps import CSRF_COOKIE, SESSION_COOKIE
from web.settings import load_settings

NEW_PASSWORD = "a-brand-new-passphrase"


@pytest.fixture
def make_client(settings, engine):
    """A client for an app built with some settings changed."""
    with contextlib.ExitStack() as stack:

        def make(base_url: str = "http://testserver", **overrides) -> TestClient:
            changed = load_settings(**{**settings.model_dump(), **overrides})
            app = create_app(changed, engine=engine)
            return stack.enter_context(TestClient(app, base_url=base_url, follow_redirects=False))

        yield make


def rows(engine, model, *where):
    with Session(engine) as s:
        return list(s.exec(select(model).where(*where)).all())


def attempt(client: TestClient, username: str, password: str, next: str = "/"):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "next": next,
                                       "csrf_token": csrf_from(page.text)})


def set_cookies(response) -> dict[str, str]:
    """Each Set-Cookie header of ``response`` by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def shift_attempts(engine, seconds: float) -> None:
    """Move every recorded login attempt ``seconds`` into the past, as if that time had passed."""
    with Session(engine) as s:
        for row in s.exec(select(LoginAttempt)).all():
            row.at = row.at - timedelta(seconds=seconds)
            s.add(row)
        s.commit()


# --- The login form ----------------------------------------------------------------------


def test_it_serves_the_login_form_with_a_csrf_cookie(client):
    r = client.get("/login")
    assert r.status_code == 200
    assert 'name="csrf_token"' in r.text
    cookie = set_cookies(r)[CSRF_COOKIE]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie


def test_it_logs_in_and_redirects_to_next(client, personas):
    r = attempt(client, "alice", PASSWORD, next="/users?role=admin")
    assert r.status_code == 303
    assert r.headers["location"] == "/users?role=admin"
    assert client.get("/users").status_code == 200
    [row] = rows(client.app.state.engine, AuthSession)
    assert row.kind == "browser"
    assert row.user_id == personas["alice"].id


def test_it_accepts_the_username_in_any_case(client, personas):
    r = attempt(client, "  ALICE ", PASSWORD)
    assert r.status_code == 303


def test_it_records_the_login_in_the_audit_log_and_on_the_user(client, personas, engine):
    login(client, "alice")
    [event] = rows(engine, AuditEvent, AuditEvent.action == "auth.login")
    assert event.actor_name == "alice"
    assert event.entity_id == str(personas["alice"].id)
    [user] = rows(engine, User, User.username == "alice")
    assert user.last_login_at is not None


def test_it_sets_the_session_cookie_httponly_and_samesite_lax(client, personas):
    r = attempt(client, "alice", PASSWORD)
    cookie = set_cookies(r)[SESSION_COOKIE]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Path=/" in cookie
    assert "Secure" not in cookie


def test_it_marks_cookies_secure_behind_https(make_client, personas):
    client = make_client(base_url="https://testserver", https=True)
    page = client.get("/login")
    assert "Secure" in set_cookies(page)[CSRF_COOKIE]
    r = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_from(page.text)})
    assert r.status_code == 303
    cookie = set_cookies(r)[SESSION_COOKIE]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


def test_it_does_not_keep_the_raw_token_in_the_cookie_or_the_database(client, personas, settings):
    r = attempt(client, "alice", PASSWORD)
    raw = Signer(settings.secret_key, salt="session").unsign(client.cookies[SESSION_COOKIE]).decode()
    [row] = rows(client.app.state.engine, AuthSession)
    assert row.token_hash != raw
    assert len(row.token_hash) == 64
    assert raw not in r.text


def test_it_refuses_a_wrong_password(client, personas, engine):
    r = attempt(client, "alice", "not-the-password")
    assert r.status_code == 400
    assert "Unknown user name or wrong password." in r.text
    assert 'value="alice"' in r.text  # the user name is kept in the form
    assert SESSION_COOKIE not in set_cookies(r)
    assert rows(engine, AuthSession) == []
    assert client.get("/").status_code == 401


def test_it_refuses_an_unknown_user_with_the_same_message(client, personas, engine):
    r = attempt(client, "mallory", PASSWORD)
    assert r.status_code == 400
    assert "Unknown user name or wrong password." in r.text
    assert rows(engine, AuthSession) == []


def test_it_refuses_an_empty_form(client, personas):
    r = attempt(client, "", "")
    assert r.status_code == 400
    assert "Unknown user name or wrong password." in r.text


def test_it_refuses_an_inactive_user(client, personas, engine):
    with Session(engine) as s:
        s.exec(update(User).where(User.username == "eddy").values(is_active=False))
        s.commit()
    r = attempt(client, "eddy", PASSWORD)
    assert r.status_code == 400
    assert "deactivated" in r.text
    assert rows(engine, AuthSession) == []


def test_it_does_not_reveal_inactivity_to_a_wrong_password(client, personas, engine):
    with Session(engine) as s:
        s.exec(update(User).where(User.username == "eddy").values(is_active=False))
        s.commit()
    r = attempt(client, "eddy", "not-the-password")
    assert r.status_code == 400
    assert "deactivated" not in r.text
    assert "Unknown user name or wrong password." in r.text


def test_it_records_every_attempt(client, personas, engine):
    with Session(engine) as s:
        s.exec(update(User).where(User.username == "eddy").values(is_active=False))
        s.commit()
    attempt(client, "alice", "not-the-password")
    attempt(client, "nobody", PASSWORD)
    attempt(client, "eddy", PASSWORD)
    attempt(client, "alice", PASSWORD)
    client.post("/api/v1/token", data={"username": "carla", "password": PASSWORD})
    got = [(a.username, a.success, a.reason, a.channel) for a in sorted(rows(engine, LoginAttempt), key=lambda a: a.id)]
    assert got == [
        ("alice", False, "bad_password", "browser"),
        ("nobody", False, "unknown_user", "browser"),
        ("eddy", False, "inactive", "browser"),
        ("alice", True, "", "browser"),
        ("carla", True, "", "api"),
    ]
    assert all(a.ip == "testclient" for a in rows(engine, LoginAttempt))


def test_it_refuses_a_login_post_without_csrf(client, personas, engine):
    client.get("/login")
    r = client.post("/login", data={"username": "alice", "password": PASSWORD, "next": "/"})
    assert r.status_code == 403
    assert rows(engine, AuthSession) == []
    assert SESSION_COOKIE not in set_cookies(r)


def test_it_refuses_a_login_post_with_a_csrf_token_but_no_cookie(client, personas, engine):
    token = csrf_from(client.get("/login").text)
    client.cookies.clear()
    r = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 403
    assert rows(engine, AuthSession) == []


def test_it_sends_a_logged_in_user_away_from_the_login_form(client, personas):
    login(client, "alice")
    r = client.get("/login?next=/audit")
    assert r.status_code == 303
    assert r.headers["location"] == "/audit"


# --- Lockout -----------------------------------------------------------------------------


def test_it_locks_the_user_name_after_repeated_failures(make_client, personas, engine):
    client = make_client(login_max_failures=3, login_lockout_seconds=600)
    for _ in range(3):
        assert attempt(client, "alice", "not-the-password").status_code == 400
    r = attempt(client, "alice", PASSWORD)  # even the right password
    assert r.status_code == 429
    assert "Too many failed attempts" in r.text
    retry = int(r.headers["Retry-After"])
    assert 0 < retry <= 601
    assert SESSION_COOKIE not in set_cookies(r)
    assert rows(engine, AuthSession) == []
    assert rows(engine, LoginAttempt, LoginAttempt.reason == "locked")[0].success is False


def test_it_locks_whatever_the_case_of_the_user_name(make_client, personas):
    client = make_client(login_max_failures=2)
    attempt(client, "Alice", "not-the-password")
    attempt(client, "ALICE", "not-the-password")
    assert attempt(client, "alice", PASSWORD).status_code == 429


def test_it_does_not_lock_other_users(make_client, personas):
    client = make_client(login_max_failures=2)
    attempt(client, "alice", "not-the-password")
    attempt(client, "alice", "not-the-password")
    assert attempt(client, "carla", PASSWORD).status_code == 303


def test_it_does_not_lock_on_fewer_failures_than_the_limit(make_client, personas):
    client = make_client(login_max_failures=3)
    attempt(client, "alice", "not-the-password")
    attempt(client, "alice", "not-the-password")
    assert attempt(client, "alice", PASSWORD).status_code == 303


def test_it_locks_the_token_endpoint_too(make_client, personas):
    client = make_client(login_max_failures=2)
    attempt(client, "alice", "not-the-password")  # failures in the browser count for the API
    r = client.post("/api/v1/token", data={"username": "alice", "password": "not-the-password"})
    assert r.status_code == 401
    r = client.post("/api/v1/token", data={"username": "alice", "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in r.json()["detail"]


def test_it_forgets_failures_older_than_the_window(make_client, personas, engine):
    client = make_client(login_max_failures=2, login_lockout_seconds=60)
    attempt(client, "alice", "not-the-password")
    attempt(client, "alice", "not-the-password")
    shift_attempts(engine, 61)
    assert attempt(client, "alice", PASSWORD).status_code == 303


def test_it_lets_the_user_in_once_retry_after_has_passed(make_client, personas, engine):
    client = make_client(login_max_failures=2, login_lockout_seconds=60)
    attempt(client, "alice", "not-the-password")
    shift_attempts(engine, 20)
    attempt(client, "alice", "not-the-password")
    shift_attempts(engine, 10)
    # Locked: the user keeps trying every few seconds, as people do.
    for _ in range(3):
        r = attempt(client, "alice", PASSWORD)
        assert r.status_code == 429
        shift_attempts(engine, 5)
    r = attempt(client, "alice", PASSWORD)
    assert r.status_code == 429
    retry = int(r.headers["Retry-After"])
    shift_attempts(engine, retry - 2)
    assert attempt(client, "alice", PASSWORD).status_code == 429  # not yet
    shift_attempts(engine, 2)
    assert attempt(client, "alice", PASSWORD).status_code == 303  # the promised time has come


# --- Logging out ----------------------------------------------------------------------------


def test_it_logs_out(client, personas, engine):
    csrf = login(client, "alice")
    r = client.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    cookie = set_cookies(r)[SESSION_COOKIE]
    assert "Max-Age=0" in cookie or "expires=Thu, 01 Jan 1970" in cookie
    assert rows(engine, AuthSession) == []
    page = client.get("/login")
    assert "You are logged out." in page.text
    assert client.get("/").status_code == 401


def test_it_does_not_log_out_without_csrf(client, personas, engine):
    login(client, "alice")
    r = client.post("/logout")
    assert r.status_code == 403
    assert len(rows(engine, AuthSession)) == 1
    assert client.get("/").status_code == 200


def test_it_ends_only_the_session_that_logs_out(app, client, personas):
    csrf = login(client, "alice")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as other:
        login(other, "alice")
        client.post("/logout", data={"csrf_token": csrf})
        assert client.get("/").status_code == 401
        assert other.get("/").status_code == 200


# --- Sessions that end on their own -------------------------------------------------------


def test_it_asks_an_anonymous_visitor_to_log_in(client):
    r = client.get("/users?role=admin")
    assert r.status_code == 401
    assert "<html" in r.text
    assert 'name="next" value="/users?role=admin"' in r.text
    assert "expired" not in r.text


def test_it_redirects_htmx_requests_to_the_login_form(client):
    r = client.get("/users", headers={"HX-Request": "true"})
    assert r.status_code == 401
    assert r.headers["HX-Redirect"] == "/login?next=/users"


def test_it_expires_a_session_past_its_lifetime(client, personas, engine):
    login(client, "alice")
    with Session(engine) as s:
        s.exec(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    r = client.get("/")
    assert r.status_code == 401
    assert "expired" in r.text
    assert rows(engine, AuthSession) == []


def test_it_expires_an_idle_session(client, personas, engine, settings):
    login(client, "alice")
    with Session(engine) as s:
        s.exec(update(AuthSession).values(last_seen_at=utcnow() - timedelta(seconds=settings.session_idle_timeout + 1)))
        s.commit()
    r = client.get("/account")
    assert r.status_code == 401
    assert "expired" in r.text
    assert rows(engine, AuthSession) == []


def test_it_keeps_a_session_in_use_alive(client, personas, engine, settings):
    login(client, "alice")
    before = utcnow() - timedelta(seconds=settings.session_idle_timeout - 30)
    with Session(engine) as s:
        s.exec(update(AuthSession).values(last_seen_at=before))
        s.commit()
    assert client.get("/").status_code == 200
    [row] = rows(engine, AuthSession)
    assert row.last_seen_at > before + timedelta(seconds=60)


def test_it_ignores_a_forged_session_cookie(client, personas):
    login(client, "alice")
    client.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE][:-2] + "xx")
    assert client.get("/").status_code == 401


# --- Open redirects ----------------------------------------------------------------------------


EVIL = ["//evil.com", "https://evil.com", "http://evil.com/path", "///evil.com", "/\\evil.com",
        "evil.com", "javascript:alert(1)", "https:/evil.com"]


def _lands_on_this_site(location: str) -> bool:
    # Browsers read a backslash as a slash; after that, nothing may name another host.
    parts = urlsplit(location.replace("\\", "/"))
    return not parts.scheme and not parts.netloc and location.startswith("/") and not location.startswith("//")


def test_it_refuses_to_redirect_a_login_to_another_site(client, personas):
    for target in EVIL:
        client.cookies.clear()
        r = attempt(client, "alice", PASSWORD, next=target)
        assert r.status_code == 303, target
        location = r.headers["location"]
        assert _lands_on_this_site(location), (target, location)
        assert "evil.com" not in location or location.startswith("/%5C"), (target, location)


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com"])
def test_it_does_not_put_a_foreign_next_into_the_form(client, target):
    r = client.get("/login", params={"next": target})
    assert 'name="next" value="/"' in r.text
    assert "evil.com" not in r.text


def test_it_does_not_redirect_a_logged_in_user_to_another_site(client, personas):
    login(client, "alice")
    for target in EVIL:
        r = client.get("/login", params={"next": target})
        assert r.status_code == 303, target
        assert _lands_on_this_site(r.headers["location"]), (target, r.headers["location"])


# --- API tokens --------------------------------------------------------------------------------


def test_it_issues_a_bearer_token(client, personas, settings, engine):
    r = client.post("/api/v1/token", data={"username": "eddy", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.api_token_max_age
    [row] = rows(engine, AuthSession)
    assert row.kind == "api"
    assert row.token_hash != body["access_token"]
    assert SESSION_COOKIE not in set_cookies(r)


def test_it_serves_me_to_a_bearer(client, personas):
    r = client.get("/api/v1/me", headers=bearer(client, "eddy"))
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == "eddy"
    assert body["role"] == "enumerator"
    assert body["is_active"] is True
    assert "password_hash" not in body
    assert "password" not in body


def test_it_refuses_a_token_for_a_wrong_password(client, personas, engine):
    r = client.post("/api/v1/token", data={"username": "eddy", "password": "not-the-password"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert r.json() == {"detail": "Unknown user name or wrong password.", "errors": []}
    assert rows(engine, AuthSession) == []
    [a] = rows(engine, LoginAttempt)
    assert (a.channel, a.success, a.reason) == ("api", False, "bad_password")


def test_it_refuses_a_token_for_an_unknown_user(client, personas):
    r = client.post("/api/v1/token", data={"username": "nobody", "password": PASSWORD})
    assert r.status_code == 401
    assert r.json()["detail"] == "Unknown user name or wrong password."


def test_it_refuses_a_token_request_without_credentials(client):
    r = client.post("/api/v1/token", data={})
    assert r.status_code == 422
    assert "username" in r.json()["detail"]


def test_it_refuses_the_api_without_credentials(client):
    r = client.get("/api/v1/me")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "log in" in r.json()["detail"]


def test_it_refuses_a_bad_token(client, personas):
    bearer(client, "eddy")  # a real token exists; these are not it
    for header in ("Bearer nonsense", "Bearer " + "A" * 43, "bearer x.y.z"):
        r = client.get("/api/v1/me", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert "/api/v1/token" in r.json()["detail"]


def test_it_refuses_an_expired_token(client, personas, engine):
    headers = bearer(client, "eddy")
    with Session(engine) as s:
        s.exec(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]
    assert rows(engine, AuthSession) == []


def test_it_does_not_let_a_token_idle_out_like_a_session(client, personas, engine, settings):
    headers = bearer(client, "eddy")
    with Session(engine) as s:
        s.exec(update(AuthSession).values(last_seen_at=utcnow() - timedelta(seconds=settings.session_idle_timeout + 5)))
        s.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_it_does_not_accept_a_browser_session_as_a_bearer_token(client, personas, settings):
    login(client, "eddy")
    raw = Signer(settings.secret_key, salt="session").unsign(client.cookies[SESSION_COOKIE]).decode()
    client.cookies.clear()
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert r.status_code == 401


def test_it_does_not_accept_a_bearer_token_as_a_session_cookie(client, personas, settings):
    token = bearer(client, "eddy")["Authorization"].split(" ", 1)[1]
    client.cookies.set(SESSION_COOKIE, Signer(settings.secret_key, salt="session").sign(token).decode())
    assert client.get("/").status_code == 401


def test_it_ends_every_session_and_token_on_a_password_change(app, client, personas, engine):
    token = bearer(client, "eddy")
    other_token = bearer(client, "eddy")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as browser:
        login(browser, "eddy")
        r = client.post("/api/v1/me/password", headers=token,
                        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        assert r.status_code == 204
        assert client.get("/api/v1/me", headers=token).status_code == 401
        assert client.get("/api/v1/me", headers=other_token).status_code == 401
        assert browser.get("/").status_code == 401
    assert rows(engine, AuthSession) == []
    r = client.post("/api/v1/token", data={"username": "eddy", "password": PASSWORD})
    assert r.status_code == 401
    assert client.get("/api/v1/me", headers=bearer(client, "eddy", NEW_PASSWORD)).status_code == 200


def test_it_does_not_end_other_users_sessions_on_a_password_change(client, personas):
    eddy = bearer(client, "eddy")
    carla = bearer(client, "carla")
    r = client.post("/api/v1/me/password", headers=eddy,
                    json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 204
    assert client.get("/api/v1/me", headers=carla).status_code == 200
