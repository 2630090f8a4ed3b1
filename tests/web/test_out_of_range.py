"""No request answers 500 for a number the database cannot hold: every route is walked with ids
beyond 64 bits in its path, as the administrator (who passes every permission check), on SQLite
and PostgreSQL; the answer is a 4xx in the one error model."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.factories import login
from web.app import iter_routes

HUGE = "99999999999999999999999"  # beyond 64 bits
BIG = "4294967296"  # beyond PostgreSQL's integer, within 64 bits


def test_every_route_answers_huge_ids_with_a_client_error(app, personas):
    client = TestClient(app, base_url="http://testserver", follow_redirects=False, raise_server_exceptions=False)
    csrf = login(client, "alice")
    walked = 0
    for method, route in iter_routes(app):
        if "{" not in route.path:
            continue
        for number in (HUGE, BIG):
            path = re.sub(r"\{[^}:]+(:int)?\}", number, route.path)
            path = re.sub(r"\{[^}]+:path\}", "x", path)
            r = client.request(method, path, headers={"X-CSRF-Token": csrf})
            assert r.status_code < 500, f"{method} {path}: {r.status_code} {r.text[:300]}"
            if r.headers.get("content-type", "").startswith("application/json") and r.status_code >= 400:
                body = r.json()
                assert isinstance(body.get("detail"), str), f"{method} {path}: {body}"
            walked += 1
    assert walked > 100


def test_the_named_cases_of_issue_11(client, personas):
    csrf = login(client, "alice")
    headers = {"X-CSRF-Token": csrf}
    assert client.get(f"/api/v1/surveys/{HUGE}/versions/1/xlsform").status_code in (404, 422)
    assert client.post(f"/api/v1/content/messages/{HUGE}/restore", headers=headers).status_code in (404, 422)
    r = client.post("/api/v1/submissions/review", headers=headers, json={"ids": [int(HUGE)], "status": "approved"})
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)
    r = client.post("/api/v1/power", headers=headers, json={"p1": 5e-324, "n": 100})
    assert r.status_code == 200 and r.json()["p2_decrease"] is None
    r = client.post("/api/v1/power", headers=headers, json={"p1": 0.3, "p2": 0.3000000000000001})
    assert r.status_code == 422 and "too close" in r.json()["detail"]
