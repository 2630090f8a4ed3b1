"""Planning in a real browser: a placement is checked live as the form is filled in (HTMX),
saved, and found on the calendar, whose filters and navigation swap only the calendar."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlmodel import Session

from campaign.models import Campaign, ChannelConfig, ChannelKind
from tests.campaign.factories import approved_message, contacts, segment
from tests.browser.helpers import login as _login, settled

pytestmark = pytest.mark.browser


def _plan(engine, personas) -> tuple[int, int, int]:
    with Session(engine, expire_on_commit=False) as s:
        message = approved_message(s, author=personas["carla"], approver=personas["leo"], title="Trafik moun se yon krim")
        campaign = Campaign(name="Konbit kont trafik", start_date=date(2027, 3, 1), end_date=date(2027, 4, 30),
                            languages=["ht", "fr"], regions=["Ouest"])
        channel = ChannelConfig(name="Digicel SMS", kind=ChannelKind.sms, provider="generic_http",
                                settings={"url": "http://127.0.0.1:9/send"}, send_days=[0, 1, 2, 3, 4])
        s.add_all([campaign, channel])
        s.flush()
        contacts(s, 25, seg=segment(s, "general_public"))
        s.commit()
        return campaign.id, message.id, channel.id


def test_a_placement_checked_live_is_saved_and_shown_on_the_calendar(page, live_server, engine, personas, output_dir):
    campaign_id, message_id, channel_id = _plan(engine, personas)
    _login(page, live_server, "carla")
    page.goto(f"{live_server}/campaigns/{campaign_id}/placements/new")
    page.fill("input[name=name]", "Mèkredi maten")
    page.select_option("select[name=message_id]", str(message_id))
    page.select_option("select[name=channel_id]", str(channel_id))
    page.check("input[name=segments][value=general_public]")
    page.check("input[name=timing][value=once]")
    # Saturday: the channel does not send then, and the live check says so before anything is saved.
    page.fill("input[name=starts_local]", "2027-03-06T08:00")
    page.locator("#check .error").filter(has_text="does not send").wait_for()
    page.fill("input[name=starts_local]", "2027-03-10T08:00")
    page.locator("#check .ok").wait_for()
    assert "25" in page.locator("#check").inner_text()  # recipients each time
    page.screenshot(path=str(output_dir / "placement-check.png"), full_page=True)
    page.get_by_role("button", name="Save placement").click()
    page.wait_for_url(f"**/campaigns/{campaign_id}/placements/*")

    page.goto(f"{live_server}/campaigns/calendar?view=month&date=2027-03-01")
    event = page.locator("li.event", has_text="Mèkredi maten")
    event.wait_for()
    assert event.locator("time").get_attribute("datetime") == "2027-03-10T08:00:00"
    # Filters and navigation swap the calendar in place (HTMX): the page is not reloaded.
    page.evaluate("window.__kept = 'yes'")
    page.select_option("#calendar select[name=segment]", "judges")
    page.locator("#calendar h2", has_text="0 item(s)").wait_for()
    settled(page)
    page.select_option("#calendar select[name=segment]", "general_public")
    page.locator("#calendar h2", has_text="1 item(s)").wait_for()
    settled(page)
    page.get_by_role("link", name="Week").click()
    page.locator("#calendar li.event", has_text="Mèkredi maten").wait_for(state="detached")  # week of 1 March
    settled(page)
    page.get_by_role("link", name="Next →").click()
    page.locator("#calendar li.event", has_text="Mèkredi maten").wait_for()
    assert page.evaluate("window.__kept") == "yes"
    assert "segment=general_public" in page.url and "view=week" in page.url
    page.screenshot(path=str(output_dir / "calendar-week.png"), full_page=True)
    assert page.console_errors == []  # type: ignore[attr-defined]
