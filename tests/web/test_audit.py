"""The audit log: who did what, filtered and paged, in the browser and over the API."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlmodel import Session

from tests.factories import bearer, login
from web.accounts.service import record_audit


def seed(engine, *events: tuple[str, str, str, str, datetime]) -> None:
    """(actor name, action, entity type, summary, at) rows, straight into the log."""
    with Session(engine) as s:
        for actor, action, entity_type, summary, at in events:
            event = record_audit(session=s, actor=None, actor_name=actor, action=action, entity_type=entity_type,
                                 entity_id="7" if entity_type else "", summary=summary, details={"n": summary})
            event.at = at
        s.commit()


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=timezone.utc)


@pytest.fixture
def events(engine):
    seed(
        engine,
        ("alice", "user.create", "user", "created nadia", at(1, 9)),
        ("alice", "user.update", "user", "deactivated eddy", at(1, 23, 59)),
        ("carla", "content.approve", "message", "approved a poster", at(2, 0, 0)),
        ("carla", "content.edit", "message", "edited a radio spot", at(2, 18)),
        ("sonia", "survey.review", "submission", "reviewed an interview", at(3, 8)),
        ("", "user_x.odd", "", "an action with an underscore", at(3, 9)),
    )


@pytest.fixture
def api(client, personas) -> dict[str, str]:
    return bearer(client, "alice")


def summaries(client, api, query: str = "") -> list[str]:
    r = client.get(f"/api/v1/audit?{query}", headers=api)
    assert r.status_code == 200, r.text
    # Only the seeded events of 2025: the personas' creation and alice's login are logged too, today.
    return [e["summary"] for e in r.json()["events"] if e["at"].startswith("2025-")]


def test_it_lists_events_newest_first(client, api, events):
    assert summaries(client, api) == [
        "an action with an underscore", "reviewed an interview", "edited a radio spot", "approved a poster",
        "deactivated eddy", "created nadia",
    ]


def test_it_filters_by_actor(client, api, events):
    assert summaries(client, api, "actor=carla") == ["edited a radio spot", "approved a poster"]
    assert summaries(client, api, "actor=car") == []  # a name, not a prefix


def test_it_filters_by_action_prefix(client, api, events):
    assert summaries(client, api, "action=user.") == ["deactivated eddy", "created nadia"]
    assert summaries(client, api, "action=content.approve") == ["approved a poster"]
    assert summaries(client, api, "action=approve") == []


def test_it_takes_the_action_prefix_literally(client, api, events):
    for wildcard in ("%", "_", "user_", "%.edit"):
        got = summaries(client, api, f"action={wildcard.replace('%', '%25')}")
        assert got == (["an action with an underscore"] if wildcard == "user_" else []), wildcard


def test_it_filters_by_record_type(client, api, events):
    assert summaries(client, api, "entity_type=message") == ["edited a radio spot", "approved a poster"]
    assert summaries(client, api, "entity_type=user&actor=alice&action=user.create") == ["created nadia"]


def test_it_filters_by_dates_including_the_whole_last_day(client, api, events):
    assert summaries(client, api, "since=2025-03-02&until=2025-03-02") == ["edited a radio spot", "approved a poster"]
    assert summaries(client, api, "until=2025-03-01") == ["deactivated eddy", "created nadia"]
    assert summaries(client, api, "since=2025-03-03") == ["an action with an underscore", "reviewed an interview"]
    assert summaries(client, api, "since=2025-03-04&until=2025-03-01") == []


def test_it_pages_the_api(client, api, engine):
    seed(engine, *(("leo", "seed.event", "", f"event {i:03d}", at(1 + i // 60, 10, i % 60)) for i in range(120)))
    r = client.get("/api/v1/audit?action=seed.&per_page=50&page=3", headers=api)
    body = r.json()
    assert (body["total"], body["page"], body["pages"]) == (120, 3, 3)
    assert [e["summary"] for e in body["events"]] == [f"event {i:03d}" for i in range(19, -1, -1)]
    first = client.get("/api/v1/audit?action=seed.&per_page=50", headers=api).json()
    assert first["events"][0]["summary"] == "event 119"
    beyond = client.get("/api/v1/audit?action=seed.&per_page=50&page=9", headers=api).json()
    assert (beyond["total"], beyond["events"]) == (120, [])


def test_it_keeps_the_order_of_events_at_the_same_moment(client, api, engine):
    seed(engine, *(("leo", "seed.same", "", f"same {i}", at(5)) for i in range(4)))
    assert summaries(client, api, "action=seed.same") == ["same 3", "same 2", "same 1", "same 0"]


def test_it_answers_the_api_in_its_documented_shape(client, api, events):
    body = client.get("/api/v1/audit?actor=sonia", headers=api).json()
    assert set(body) == {"total", "page", "pages", "events"}
    assert (body["total"], body["page"], body["pages"]) == (1, 1, 1)
    [event] = body["events"]
    assert set(event) == {"id", "at", "actor_name", "action", "entity_type", "entity_id", "summary", "details"}
    assert event["actor_name"] == "sonia"
    assert event["entity_id"] == "7"
    assert event["details"] == {"n": "reviewed an interview"}
    assert datetime.fromisoformat(event["at"].replace("Z", "+00:00")) == at(3, 8)


def test_it_logs_the_token_request_itself(client, api, personas):
    body = client.get("/api/v1/audit?action=auth.login", headers=api).json()
    [event] = body["events"]
    assert event["actor_name"] == "alice"
    assert event["entity_id"] == str(personas["alice"].id)


def test_it_refuses_malformed_filters_over_the_api(client, api):
    for query in ("since=yesterday", "until=2025-02-30", "page=0", "per_page=0", "per_page=501"):
        r = client.get(f"/api/v1/audit?{query}", headers=api)
        assert r.status_code == 422, query
        assert r.json()["detail"].startswith(query.split("=")[0] + ": ")


# --- The page ------------------------------------------------------------------------------------


def test_it_shows_the_log(client, personas, events):
    login(client, "alice")
    r = client.get("/audit")
    assert r.status_code == 200
    assert "<html" in r.text
    assert "deactivated eddy" in r.text
    assert "<code>survey.review</code>" in r.text
    assert "2025-03-01 23:59:00 UTC" in r.text


def test_it_keeps_the_filters_in_the_form(client, personas, events):
    login(client, "alice")
    r = client.get("/audit?actor=carla&action=content.&entity_type=message&since=2025-03-02&until=2025-03-02")
    assert 'name="actor" value="carla"' in r.text
    assert 'name="since" value="2025-03-02"' in r.text
    assert "2 events." in r.text
    assert "created nadia" not in r.text


def test_it_pages_the_log_keeping_the_filters(client, personas, engine):
    seed(engine, *(("leo", "seed.event", "", f"event {i:03d}", at(1 + i // 60, 10, i % 60)) for i in range(120)))
    login(client, "alice")
    r = client.get("/audit?actor=leo&action=seed.")
    assert "120 events." in r.text
    assert "Page 1 of 3" in r.text
    assert "event 119" in r.text and "event 069" not in r.text
    older = re.search(r'<a href="([^"]+)"[^>]*>Older', r.text).group(1)
    assert "actor=leo" in older and "action=seed." in older and older.endswith("page=2")
    assert "Newer" not in r.text
    last = client.get("/audit?actor=leo&action=seed.&page=3")
    assert "Page 3 of 3" in last.text
    assert "Older" not in last.text and "Newer" in last.text
    assert last.text.count("<code>seed.event</code>") == 20


def test_it_gives_htmx_only_the_results(client, personas, events):
    login(client, "alice")
    r = client.get("/audit?actor=carla", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="results"')
    assert "<html" not in r.text
    assert 'name="actor"' not in r.text
    assert "HX-Request" in r.headers["Vary"]


def test_it_gives_a_history_restore_the_whole_page(client, personas, events):
    login(client, "alice")
    r = client.get("/audit", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in r.text


def test_it_escapes_what_was_recorded(client, personas, engine):
    seed(engine, ("<b>mallory</b>", "user.create", "user", "<script>alert(1)</script>", at(1)))
    login(client, "alice")
    r = client.get("/audit")
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "<b>mallory</b>" not in r.text


def test_it_refuses_a_malformed_date_on_the_page(client, personas):
    login(client, "alice")
    r = client.get("/audit?since=yesterday")
    assert r.status_code == 422
    assert "since: " in r.text
    assert "<html" in r.text


def test_it_shows_the_log_to_admins_only(client, personas, events):
    for name in ("carla", "eddy", "sonia", "leo"):
        client.cookies.clear()
        login(client, name)
        r = client.get("/audit")
        assert r.status_code == 403, name
        assert "deactivated eddy" not in r.text
        r = client.get("/api/v1/audit", headers=bearer(client, name))
        assert r.status_code == 403, name
        assert "events" not in r.json()


def test_it_asks_an_anonymous_visitor_to_log_in(client, events):
    assert client.get("/audit").status_code == 401
    assert client.get("/api/v1/audit").status_code == 401
