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


# Run sheets, airing confirmations and calendar feeds (campaign planning, issue 12): the walk above
# checks every role against these; this pins which permission each one names.
SHEET_ROUTES = {
    ("POST", "/campaigns/channels/{channel_id:int}/feed/reset"): "campaign.channels",
    ("GET", "/campaigns/stations/{channel_id:int}/runsheet"): "campaign.view",
    ("GET", "/campaigns/stations/{channel_id:int}/runsheet.csv"): "campaign.view",
    ("GET", "/campaigns/stations/{channel_id:int}/confirm"): "campaign.deliver",
    ("POST", "/campaigns/stations/{channel_id:int}/confirm"): "campaign.deliver",
    ("POST", "/campaigns/stations/{channel_id:int}/confirm/upload"): "campaign.deliver",
    ("GET", "/campaigns/feeds"): "campaign.view",
    ("GET", "/campaigns/channels/{channel_id:int}/calendar.ics"): "campaign.view",
    ("GET", "/campaigns/facilitators/calendar.ics"): "campaign.view",
    ("GET", "/api/v1/campaigns/stations/{channel_id:int}/runsheet"): "campaign.view",
    ("GET", "/api/v1/campaigns/stations/{channel_id:int}/runsheet.csv"): "campaign.view",
    ("POST", "/api/v1/campaigns/stations/{channel_id:int}/confirmations"): "campaign.deliver",
    ("POST", "/api/v1/campaigns/stations/{channel_id:int}/confirmations/upload"): "campaign.deliver",
    ("GET", "/api/v1/campaigns/channels/{channel_id:int}/calendar.ics"): "campaign.view",
    ("GET", "/api/v1/campaigns/facilitators/calendar.ics"): "campaign.view",
    ("GET", "/api/v1/campaigns/facilitators"): "campaign.view",
}


def test_run_sheet_and_feed_routes_name_their_permission(app):
    found = {(method, route.path): _permission_of(route) for method, route in _routes(app)
             if (method, route.path) in SHEET_ROUTES}
    assert found == SHEET_ROUTES


# Training pages and API (campaign/trainings.py, web/routes/trainings.py): contacts' names and phones
# need campaign.contacts, attendance campaign.deliver, counts and rates campaign.view.
TRAININGS = "/campaigns/{campaign_id}/trainings/{session_id}"
TRAININGS_API = "/api/v1/campaigns/{campaign_id}/trainings/{session_id}"
TRAINING_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/campaigns/trainings"): "campaign.view",
    ("GET", "/campaigns/{campaign_id}/trainings"): "campaign.view",
    ("GET", TRAININGS): "campaign.view",
    ("GET", f"{TRAININGS}/invitations"): "campaign.contacts",
    ("POST", f"{TRAININGS}/invitations"): "campaign.contacts",
    ("POST", f"{TRAININGS}/invitations/{{contact_id}}/delete"): "campaign.contacts",
    ("GET", f"{TRAININGS}/sheet"): "campaign.contacts",
    ("GET", f"{TRAININGS}/sheet.csv"): "campaign.contacts",
    ("POST", f"{TRAININGS}/attendance"): "campaign.deliver",
    ("POST", f"{TRAININGS}/attendance/{{contact_id}}"): "campaign.deliver",
    ("POST", f"{TRAININGS}/attendance/sheet"): "campaign.deliver",
    ("POST", f"{TRAININGS}/walk-ins"): "campaign.deliver",
    ("GET", "/api/v1/campaigns/trainings"): "campaign.view",
    ("GET", "/api/v1/campaigns/{campaign_id}/trainings"): "campaign.view",
    ("GET", "/api/v1/campaigns/{campaign_id}/trainings/summary"): "campaign.view",
    ("GET", TRAININGS_API): "campaign.view",
    ("GET", f"{TRAININGS_API}/rates"): "campaign.view",
    ("GET", f"{TRAININGS_API}/invitations"): "campaign.contacts",
    ("POST", f"{TRAININGS_API}/invitations"): "campaign.contacts",
    ("DELETE", f"{TRAININGS_API}/invitations/{{contact_id}}"): "campaign.contacts",
    ("PUT", f"{TRAININGS_API}/attendance"): "campaign.deliver",
    ("POST", f"{TRAININGS_API}/attendance/sheet"): "campaign.deliver",
    ("POST", f"{TRAININGS_API}/walk-ins"): "campaign.deliver",
}


def test_it_guards_the_training_routes_with_the_expected_permissions(app):
    found = {(method, re.sub(r":int}", "}", route.path)): _permission_of(route) for method, route in _routes(app)
             if "/trainings" in route.path}
    assert found == TRAINING_ROUTES
    # Enumerators and supervisors hold none of them: they see nothing of trainings' contacts.
    for permission in set(TRAINING_ROUTES.values()):
        assert not {PERSONAS["eddy"], PERSONAS["sonia"]} & PERMISSIONS[permission]


def test_it_lets_the_public_hook_routes_in_only_with_their_own_credentials(app, personas):
    """Gateways' callbacks are public routes with their own token: without it, 401 for everyone,
    a logged-in user included (a session is not a gateway's credential); never a 500."""
    hooks = sorted(path for method, path in PUBLIC_ROUTES if path.startswith("/hooks/"))
    assert hooks == ["/hooks/channels/{channel_id:int}/inbound", "/hooks/channels/{channel_id:int}/receipts"]
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    csrf = login(client, "alice")
    anonymous = TestClient(app, base_url="http://testserver", follow_redirects=False)
    for path in hooks:
        sample = path.replace("{channel_id:int}", "1")
        assert anonymous.post(sample, data={"From": "+50930000001", "Body": "STOP"}).status_code == 401
        assert client.post(sample, data={"csrf_token": csrf, "Body": "STOP"}, headers={"X-CSRF-Token": csrf}).status_code == 401
        assert anonymous.post(sample + "?token=guess").status_code == 403
    assert anonymous.get("/unsubscribe/1").status_code == 404
    assert anonymous.post("/unsubscribe/1").status_code == 404
