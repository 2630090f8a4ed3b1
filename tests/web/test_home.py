"""The home page: each role sees its own next work, with counts; the menu leads to each role's queues."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session

from content import service as content_svc
from content.models import MessageCreate, VariantIn
from surveys import service as survey_svc
from surveys.models import SubmissionStatus
from tests.factories import login
from tests.surveys.factories import make_payload, make_survey
from web.accounts.models import LoginAttempt, utcnow

SMS = [VariantIn(language="ht", channel="sms", body="Trafik moun se yon krim. Rele 188.")]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _card(html: str, key: str) -> str:
    found = re.search(rf'<section class="card" id="card-{key}">(.*?)</section>', html, re.S)
    assert found, f"no card {key}"
    return found.group(1)


@pytest.fixture
def world(engine, personas):
    """A message in review, one sent back; an interview waiting (too short), one sent back to eddy."""
    kap = make_survey(engine, title="KAP <Nord> 2026")
    with Session(engine, expire_on_commit=False) as s:
        carla, leo, eddy, sonia = (s.merge(personas[n]) for n in ("carla", "leo", "eddy", "sonia"))
        waiting = content_svc.create_message(session=s, actor=carla, data=MessageCreate(title="Job offers abroad", variants=SMS))
        content_svc.transition(session=s, message=waiting, action="submit", actor=carla)
        back = content_svc.create_message(session=s, actor=carla, data=MessageCreate(title="Restavèk is exploitation", variants=SMS))
        content_svc.transition(session=s, message=back, action="submit", actor=carla)
        content_svc.transition(session=s, message=back, action="send_back", actor=leo, comment="Cite article 11.")
        survey, wave = s.merge(kap.survey), s.merge(kap.baseline)
        survey_svc.submit(session=s, survey=survey, wave=wave, payload=make_payload(minutes=0.5), enumerator=eddy)
        returned, _ = survey_svc.submit(session=s, survey=survey, wave=wave, payload=make_payload(cluster="Jacmel"),
                                        enumerator=eddy)
        survey_svc.review_submissions(session=s, submissions=[returned], status=SubmissionStatus.has_issues,
                                      comment="Check the age.", actor=sonia)
        for _ in range(5):
            s.add(LoginAttempt(username="ghost", success=False, reason="bad_password", at=utcnow() - timedelta(minutes=1)))
        s.commit()
    return kap


def test_it_shows_the_lead_the_content_waiting_for_approval_and_a_menu_entry_with_its_count(client, world):
    login(client, "leo")
    html = client.get("/").text
    assert "Job offers abroad" in _card(html, "approve")
    assert "Restavèk" not in _card(html, "approve")
    assert re.search(r'href="/content/review"[^>]*>Content review <span class="count"[^>]*>1</span>', html)
    assert "card-dashboards" in html


def test_it_shows_communications_the_content_sent_back_and_not_the_approval_queue(client, world):
    login(client, "carla")
    html = client.get("/").text
    sent_back = _card(html, "sent_back")
    assert "Restavèk is exploitation" in sent_back and "Cite article 11." in sent_back
    assert "card-approve" not in html and 'href="/content/review"' not in html
    assert "card-upcoming" in html and "card-failures" in html


def test_it_shows_the_supervisor_the_review_queue_and_flags_by_enumerator_with_titles_not_uuids(client, world):
    login(client, "sonia")
    html = client.get("/").text
    review = _card(html, "review")
    assert "KAP &lt;Nord&gt; 2026" in review and "<Nord>" not in review  # escaped user text
    assert "eddy" in _card(html, "flags") and "too short" in _card(html, "flags")
    activity = _card(html, "activity")
    assert "Sent back an interview of KAP &lt;Nord&gt; 2026 · baseline (cluster Jacmel)" in activity
    assert not UUID.search(activity)
    assert re.search(r'href="/review"[^>]*>Review <span class="count"[^>]*>1</span>', html)


def test_it_shows_the_enumerator_the_open_waves_and_what_was_sent_back(client, world):
    login(client, "eddy")
    html = client.get("/").text
    assert "/collect/" in _card(html, "open_waves") and "baseline" in _card(html, "open_waves")
    assert "<h2>Open waves" in _card(html, "open_waves")  # every open wave: none is assigned to anyone
    assert "card-assigned" not in html and "Surveys to collect" not in html
    returned = _card(html, "returned")
    assert "Check the age." in returned and "/collect/submissions/" in returned
    assert 'data-phone-queue' in html  # the phone's unsent interviews, counted by home.js
    assert "card-review" not in html


def test_it_shows_the_admin_users_locked_accounts_and_system_health(client, world):
    login(client, "alice")
    html = client.get("/").text
    assert "ghost" in _card(html, "locked")
    health = _card(html, "health")
    assert "Database" in health and "Scheduler" in health and "Outbox backlog" in health
    assert "Programme lead" in _card(html, "users")


def test_the_home_api_gives_the_same_cards(client, world):
    login(client, "leo")
    body = client.get("/api/v1/home").json()
    assert body["role"] == "lead"
    approve = next(c for c in body["cards"] if c["key"] == "approve")
    assert approve["count"] == 1 and approve["rows"][0]["text"] == "Job offers abroad"
