"""Factories and helpers that build real rows and real logged-in clients."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session
from starlette.testclient import TestClient

from web.accounts.models import Role, User, UserCreate
from web.accounts.service import create_user

PASSWORD = "correct-horse-battery"

# One persona per role, as in every test that speaks of "alice" or "eddy".
PERSONAS: dict[str, Role] = {
    "alice": Role.admin,
    "carla": Role.communications,
    "eddy": Role.enumerator,
    "sonia": Role.supervisor,
    "leo": Role.lead,
}
ROLE_PERSONA = {role: name for name, role in PERSONAS.items()}


def make_user(engine: Engine, *, username: str, role: Role, password: str = PASSWORD, **extra) -> User:
    with Session(engine, expire_on_commit=False) as session:
        user = create_user(session=session, user_create=UserCreate(username=username, role=role, password=password, **extra),
                           actor=None)
        session.commit()
        return user


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not match:
        raise AssertionError("no csrf_token field in the page")
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log ``client`` in through the real form; return the CSRF token of the session."""
    page = client.get("/login")
    response = client.post("/login", data={"username": username, "password": password, "next": "/",
                                           "csrf_token": csrf_from(page.text)})
    if response.status_code != 303:
        raise AssertionError(f"login of {username} failed: {response.status_code} {response.text[:300]}")
    return csrf_from(client.get("/account").text)


def bearer(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/token", data={"username": username, "password": password})
    if response.status_code != 200:
        raise AssertionError(f"token for {username} failed: {response.status_code} {response.text}")
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@contextmanager
def scratch_database(server: str, prefix: str) -> Iterator[str]:
    """A uniquely named database made on the PostgreSQL ``server`` for a while, dropped afterwards."""
    url = make_url(server.replace("postgresql://", "postgresql+psycopg://", 1) if server.startswith("postgresql://") else server)
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
