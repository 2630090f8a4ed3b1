"""Attendance on the day in a real browser: ticking an invitee's box records them present at once
(HTMX swaps the row), unticking records them absent, and a reload shows what was stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from campaign import trainings as tr
from tests.campaign.training_factories import around_today, training_setup
from tests.browser.helpers import login, settled
from web.accounts.models import utcnow

pytestmark = pytest.mark.browser


def test_it_records_attendance_by_ticking_boxes(page, live_server, engine, personas):
    with Session(engine, expire_on_commit=False) as s:
        campaign, _, past, _, judges, _ = training_setup(s, personas, **around_today())
        info = tr.get_training(session=s, campaign=campaign, session_id=past.id)
        tr.invite(session=s, info=info, contact_ids=[c.id for c in judges[:3]], actor=personas["carla"],
                  now=utcnow() - timedelta(days=40))
        s.commit()
    login(page, live_server, "carla")
    page.goto(f"{live_server}/campaigns/{campaign.id}/trainings/{past.id}")
    row = page.locator(f"#invitee-{judges[1].id}")
    row.locator("input[type=checkbox]").check()
    page.locator(f"#invitee-{judges[1].id}", has_text="present,").wait_for()
    settled(page)
    page.locator(f"#invitee-{judges[1].id} input[type=checkbox]").uncheck()
    page.locator(f"#invitee-{judges[1].id}", has_text="absent,").wait_for()
    settled(page)
    page.locator(f"#invitee-{judges[2].id} input[type=checkbox]").check()
    page.locator(f"#invitee-{judges[2].id}", has_text="present,").wait_for()
    settled(page)
    page.reload()
    assert page.locator(f"#invitee-{judges[2].id} input[type=checkbox]").is_checked()
    assert not page.locator(f"#invitee-{judges[1].id} input[type=checkbox]").is_checked()
    assert "absent" in page.locator(f"#invitee-{judges[1].id}").inner_text()
    assert page.console_errors == []
    with Session(engine) as s:
        counts = tr.get_training(session=s, campaign=campaign, session_id=past.id).counts
        assert (counts.present, counts.absent, counts.unrecorded) == (1, 1, 1)
