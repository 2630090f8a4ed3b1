"""What the app does with requests it should not act on: no CSRF token, broken bodies,
bodies too large, unknown addresses, and its own unexpected errors. Also the headers every
response carries."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Annotated

import pytest
from fastapi import HTTPException
from sqlmodel import Session, select
from starlette.testclient import TestClient

from tests.factories import PASSWORD, bearer, login
from web.accounts.models import User
from web.app import create_app
from web.deps import Allow
from web.settings import load_settings

NEW_USER = {"username": "nadia", "role": "communications", "password": "a-brand-new-passphrase"}


@pytest.fixture
def make_app(settings, engine):
    """An app of its own, with some settings changed; its clients are closed after the test."""
    with contextlib.ExitStack() as stack:

        def make(**overrides):
            app = create_app(load_settings(**{**settings.model_dump(), **overrides}), engine=engine)

            def client(**kwargs) -> TestClient:
                kwargs.setdefault("follow_redirects", False)
                return stack.enter_context(TestClient(app, base_url="http://testserver", **kwargs))

            app.state.test_client = client
            return app

        yield make


def usernames(engine) -> list[str]:
    with Session(engine) as s:
        return sorted(s.exec(select(User.username)).all())


# --- CSRF ----------------------------------------------------------------------------------------


def test_it_refuses_a_form_post_without_a_csrf_token(client, personas, engine):
    login(client, "alice")
    r = client.post("/users", data=NEW_USER)
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert "<html" in r.text
    assert "nadia" not in usernames(engine)


def test_it_refuses_an_htmx_post_without_a_csrf_token(client, personas, engine):
    login(client, "alice")
    r = client.post("/users", data=NEW_USER, headers={"HX-Request": "true"})
    assert r.status_code == 403
    assert "<html" not in r.text
    assert "nadia" not in usernames(engine)


@pytest.mark.parametrize("where", ["form", "header"])
def test_it_refuses_a_wrong_csrf_token(client, personas, engine, where):
    csrf = login(client, "alice")
    forged = csrf[:-4] + ("AAAA" if not csrf.endswith("AAAA") else "BBBB")
    if where == "form":
        r = client.post("/users", data={**NEW_USER, "csrf_token": forged})
    else:
        r = client.post("/users", data=NEW_USER, headers={"HX-Request": "true", "X-CSRF-Token": forged})
    assert r.status_code == 403
    assert "nadia" not in usernames(engine)


def test_it_refuses_the_csrf_token_of_another_session(app, client, personas, engine):
    login(client, "alice")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as other:
        other_csrf = login(other, "alice")
    r = client.post("/users", data={**NEW_USER, "csrf_token": other_csrf})
    assert r.status_code == 403
    assert "nadia" not in usernames(engine)


def test_it_refuses_a_cookie_authenticated_api_call_without_csrf(client, personas, engine):
    login(client, "alice")
    r = client.post("/api/v1/users", json=NEW_USER)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/json")
    assert "CSRF" in r.json()["detail"]
    assert "nadia" not in usernames(engine)


def test_it_accepts_a_cookie_authenticated_api_call_with_the_csrf_header(client, personas, engine):
    csrf = login(client, "alice")
    r = client.post("/api/v1/users", json=NEW_USER, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert "nadia" in usernames(engine)


def test_it_exempts_bearer_calls_from_csrf(client, personas, engine):
    r = client.post("/api/v1/users", json=NEW_USER, headers=bearer(client, "alice"))
    assert r.status_code == 201
    assert "nadia" in usernames(engine)


def test_it_does_not_let_a_bearer_call_borrow_a_session_cookie(client, personas, engine):
    """A bad bearer token is refused even when a valid session cookie rides along."""
    login(client, "alice")
    r = client.post("/api/v1/users", json=NEW_USER, headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401
    assert "nadia" not in usernames(engine)


def test_it_does_not_check_csrf_on_safe_methods(client, personas):
    login(client, "alice")
    assert client.get("/users").status_code == 200


# --- Broken bodies ----------------------------------------------------------------------------------


def test_it_answers_malformed_json_with_a_422_message(client, personas, engine):
    headers = {**bearer(client, "alice"), "Content-Type": "application/json"}
    for body in (b"{not json", b'{"username": "nadia",', b"\xff\xfe"):
        r = client.post("/api/v1/users", content=body, headers=headers)
        _assert_malformed_json_refused(r, engine)


def _assert_malformed_json_refused(r, engine) -> None:
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert detail.startswith("body: JSON decode error: ")  # not the character position as if it were a field
    assert r.json()["errors"][0]["field"] == "body"
    assert "Traceback" not in r.text
    assert "nadia" not in usernames(engine)


def test_it_answers_a_json_body_of_the_wrong_shape_with_a_422_message(client, personas):
    r = client.post("/api/v1/users", json=["nadia"], headers=bearer(client, "alice"))
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], str)


def test_it_answers_a_bad_path_parameter_with_a_422_naming_it(client, personas):
    r = client.get("/api/v1/users/not-a-number", headers=bearer(client, "alice"))
    assert r.status_code == 422
    assert r.json()["detail"].startswith("user_id: ")


def test_it_refuses_a_body_larger_than_allowed(make_app, personas, engine):
    app = make_app(max_body_bytes=2048)
    client = app.state.test_client()
    r = client.post("/api/v1/users", headers=bearer(client, "alice"),
                    json={**NEW_USER, "full_name": "x" * 4000})
    assert r.status_code == 413
    assert "larger than" in r.json()["detail"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "nadia" not in usernames(engine)


@pytest.mark.parametrize("kind", ["json", "form"])
def test_it_refuses_a_streamed_body_larger_than_allowed(make_app, personas, engine, kind):
    """No Content-Length to judge by: the limit applies while the body arrives."""
    app = make_app(max_body_bytes=2048)
    client = app.state.test_client()

    def chunks():
        yield b'{"username": "nadia", "role": "lead", "password": "a-brand-new-passphrase", "full_name": "'
        for _ in range(8):
            yield b"x" * 512
        yield b'"}'

    if kind == "json":
        headers = {**bearer(client, "alice"), "Content-Type": "application/json"}
        r = client.post("/api/v1/users", content=chunks(), headers=headers)
    else:
        csrf = login(client, "alice")
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf}
        r = client.post("/users", content=chunks(), headers=headers)
    assert "content-length" not in r.request.headers
    assert r.status_code == 413
    assert "larger than" in r.text
    assert "nadia" not in usernames(engine)


def test_it_accepts_a_body_within_the_limit(make_app, personas, engine):
    app = make_app(max_body_bytes=4096)
    client = app.state.test_client()
    r = client.post("/api/v1/users", headers=bearer(client, "alice"), json=NEW_USER)
    assert r.status_code == 201


# --- Unknown addresses --------------------------------------------------------------------------------


def test_it_shows_a_not_found_page_in_the_layout(client, personas):
    login(client, "eddy")
    r = client.get("/no/such/page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text
    assert "There is nothing at this address." in r.text
    assert 'class="topbar"' in r.text and 'class="footer"' in r.text  # the layout


def test_it_shows_the_not_found_page_to_anonymous_visitors_too(client):
    r = client.get("/no/such/page")
    assert r.status_code == 404
    assert "<html" in r.text


def test_it_answers_an_unknown_api_address_with_json(client):
    r = client.get("/api/v1/no/such/thing")
    assert r.status_code == 404
    assert r.json() == {"detail": "There is nothing at this address.", "errors": []}


def test_it_answers_a_wrong_method_with_405(client):
    r = client.delete("/healthz")
    assert r.status_code == 405
    assert r.json() == {"detail": "This address does not accept that method.", "errors": []}
    r = client.put("/login")
    assert r.status_code == 405
    assert "<html" in r.text


# --- Headers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/v1/me", "/no/such/page", "/static/css/konbit.css", "/docs"])
def test_it_sends_security_headers_on_every_response(client, path):
    r = client.get(path)
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert "script-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-frame-options"] == "DENY"


def test_it_has_no_inline_script_in_the_layout(client, personas):
    login(client, "alice")
    for path in ("/", "/users", "/audit", "/account", "/login"):
        html = client.get(path).text
        assert "<script>" not in html and "onclick=" not in html, path


def test_it_says_pages_vary_by_hx_request(client, personas):
    # and by Accept-Encoding (the page is gzipped for the browsers that accept it) and its language
    vary = client.get("/login").headers["vary"]
    assert {"HX-Request", "Accept-Encoding", "Accept-Language"} <= set(vary.split(", ")), vary
    login(client, "alice")
    for path in ("/", "/users", "/audit", "/account"):
        r = client.get(path)
        assert {"HX-Request", "Accept-Encoding", "Accept-Language"} <= set(r.headers["vary"].split(", ")), path
        assert r.headers["cache-control"] == "no-store", path


def test_it_gives_htmx_only_the_block(client, personas):
    login(client, "alice")
    r = client.get("/users", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.text
    assert "<body" not in r.text
    assert 'id="results"' in r.text
    full = client.get("/users")
    assert full.text.lstrip().startswith("<!doctype html>")


# --- Unexpected errors -------------------------------------------------------------------------------


@pytest.fixture
def failing_app(make_app):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("database password is hunter2")

    @app.get("/api/v1/boom")
    def api_boom():
        raise RuntimeError("database password is hunter2")

    @app.get("/boom-for-users")
    def boom_for_users(user: Annotated[User, Allow("home.view")]):
        raise RuntimeError("database password is hunter2")

    @app.get("/teapot")
    def teapot():
        raise HTTPException(418, "I am a teapot.")

    return app


def test_it_answers_an_unexpected_error_with_a_500_page_without_traceback(failing_app, caplog):
    client = failing_app.state.test_client(raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="konbit.web"):
        r = client.get("/boom")
    assert r.status_code == 500
    assert "<html" in r.text
    assert "Something went wrong" in r.text
    assert "Traceback" not in r.text
    assert "hunter2" not in r.text
    assert "RuntimeError" not in r.text
    reference = r.text.split("(reference ")[1].split(")")[0]
    assert any(reference in rec.getMessage() for rec in caplog.records)  # the log has what the page hides


def test_it_answers_an_unexpected_api_error_with_json_without_traceback(failing_app):
    client = failing_app.state.test_client(raise_server_exceptions=False)
    r = client.get("/api/v1/boom")
    assert r.status_code == 500
    assert set(r.json()) == {"detail"}
    assert "reference" in r.json()["detail"]
    assert "hunter2" not in r.text and "Traceback" not in r.text


def test_it_sends_security_headers_with_an_unexpected_error(failing_app):
    client = failing_app.state.test_client(raise_server_exceptions=False)
    r = client.get("/boom")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_it_shows_the_500_page_in_the_layout_of_a_logged_in_user(failing_app, personas):
    client = failing_app.state.test_client(raise_server_exceptions=False)
    login(client, "eddy")
    r = client.get("/boom-for-users")
    assert r.status_code == 500
    assert "Log out" in r.text
    assert "hunter2" not in r.text


def test_it_shows_other_http_errors_with_their_message(failing_app):
    client = failing_app.state.test_client()
    r = client.get("/teapot")
    assert r.status_code == 418
    assert "I am a teapot." in r.text


def test_it_never_echoes_a_submitted_password(client, personas):
    r = client.post("/api/v1/users", headers=bearer(client, "alice"),
                    json={**NEW_USER, "username": "x", "password": PASSWORD + "-secret"})
    assert r.status_code == 422
    assert PASSWORD + "-secret" not in r.text
    assert "input" not in json.dumps(r.json()["errors"])
