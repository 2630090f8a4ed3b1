"""An enumerator's home page in Chromium: the open waves, and the interviews waiting on the phone."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from surveys.models import Submission
from tests.browser.helpers import login
from tests.surveys.factories import make_payload, make_survey

pytestmark = pytest.mark.browser

QUEUE = """([url, payload]) => KonbitQueue.finish(null, {
  key: payload.uuid, uuid: payload.uuid, kind: 'create', method: 'POST', url: url, payload: payload,
  username: 'eddy', label: {survey: 'KAP', wave: 'baseline', respondent: '', segment: payload.segment}})"""


def test_the_home_page_counts_the_interviews_queued_on_the_phone(page, live_server, engine, personas, output_dir):
    made = make_survey(engine, actor=personas["alice"], title="KAP <Sid>")
    login(page, live_server, "eddy")
    card = page.locator("#card-open_waves")
    assert card.locator("h2").inner_text().startswith("Open waves")
    assert card.get_by_role("link", name="KAP <Sid> · baseline").count() == 1
    phone = page.locator("#card-phone")
    page.wait_for_function("() => window.KonbitQueue")
    assert not phone.is_visible()  # nothing on this phone yet

    # An interview finished while offline, as the collect page stores it (offline-queue.js).
    payload = make_payload(wave=made.baseline.id, uuid=str(uuid.uuid4()))
    page.evaluate(QUEUE, [f"/api/v1/surveys/{made.id}/submissions", json.loads(json.dumps(payload))])
    page.locator("#card-phone [data-phone-waiting]", has_text="1").wait_for()  # home.js heard the change
    assert phone.is_visible()

    page.reload()  # counted from the phone's store, not from the server
    page.locator("#card-phone [data-phone-waiting]", has_text="1").wait_for()
    assert phone.is_visible() and "wait for a connection" in phone.inner_text()
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Submission)).one() == 0  # the home page sends nothing
    page.screenshot(path=str(output_dir / "home-enumerator-queue.png"), full_page=True)
    assert page.console_errors == [], page.console_errors
