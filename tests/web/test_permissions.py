"""Walk every route against every role, using the one declared permissions table.

Allowed means neither 401 nor 403; forbidden means 403; nobody logged in means 401.
A route that names no permission and is not declared public fails the walk.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from tests.factories import PERSONAS, login
from web.accounts.permissions import PERMISSIONS, PUBLIC_ROUTES
from web.app import iter_routes


def _permission_of(route: APIRoute) -> str | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        permission = getattr(dep.call, "permission", None)
        if permission:
            return permission
        stack.extend(dep.dependencies)
    return None


def _routes(app):
    routes = list(iter_routes(app))
    assert len(routes) > 10
    yield from routes


def _sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_it_declares_a_permission_on_every_route(app):
    undeclared = []
    for method, route in _routes(app):
        if (method, route.path) in PUBLIC_ROUTES:
            assert _permission_of(route) is None, f"{method} {route.path} is public and checked"
            continue
        permission = _permission_of(route)
        if permission is None:
            undeclared.append(f"{method} {route.path}")
        else:
            assert permission in PERMISSIONS
    assert not undeclared, f"routes without a permission: {undeclared}"


def test_it_enforces_the_table_for_every_route_and_role(app, personas):
    clients: dict[str, tuple[TestClient, str]] = {}
    for name in PERSONAS:
        client = TestClient(app, base_url="http://testserver", follow_redirects=False)
        clients[name] = (client, login(client, name))
    anonymous = TestClient(app, base_url="http://testserver", follow_redirects=False)
    checked = 0
    for method, route in _routes(app):
        permission = _permission_of(route)
        if permission is None:
            continue
        path = _sample_path(route.path)
        r = anonymous.request(method, path)
        assert r.status_code == 401, f"anonymous {method} {path}: {r.status_code}"
        for name, role in PERSONAS.items():
            client, csrf = clients[name]
            r = client.request(method, path, headers={"X-CSRF-Token": csrf})
            if role in PERMISSIONS[permission]:
                assert r.status_code not in (401, 403), f"{name} ({role.value}) {method} {path}: {r.status_code} {r.text[:200]}"
            else:
                assert r.status_code == 403, f"{name} ({role.value}) {method} {path}: {r.status_code}"
            checked += 1
    assert checked >= 5 * 10


@pytest.mark.parametrize("name", list(PERSONAS))
def test_it_shows_each_role_only_its_navigation(client, personas, name):
    login(client, name)
    html = client.get("/").text
    nav = html.split('<nav id="main-nav"', 1)[1].split("</nav>", 1)[0]
    assert ('href="/users"' in nav) == (name == "alice")
    assert ('href="/audit"' in nav) == (name == "alice")
    assert 'href="/account"' in nav
