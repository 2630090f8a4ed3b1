"""The content editor in a real browser: a Kreyòl SMS whose encoding flips to UCS-2 as a
letter outside the GSM alphabet is typed, saved as a new version and submitted for review."""

from __future__ import annotations

import pytest

from tests.browser.helpers import login as _login

pytestmark = pytest.mark.browser

GSM_PART = "Si w wè yon timoun restavèk k ap soufri, rele {{ hotline_number }}."
UCS2_PART = " Òganizasyon Entènasyonal pou Migrasyon ap ede w."


def test_it_counts_a_kreyol_sms_live_then_saves_and_submits_it(page, live_server, personas, output_dir):
    _login(page, live_server, "carla")
    page.click(".menu-toggle")
    page.locator("#main-nav").get_by_role("link", name="Content").click()
    page.get_by_role("link", name="New message").click()
    page.fill("input[name=title]", "Restavèk: yon timoun pa yon sèvant")
    page.fill("textarea[name=objective]", "Vwazen yo rekonèt yon timoun yo esplwate epi yo rele liy gratis la.")
    page.fill("input[name=themes]", "restavèk, pwoteksyon timoun")
    page.check("input[name=segments][value=general_public]")
    page.get_by_role("button", name="Create message").click()
    page.locator(".flash").wait_for()
    assert "Now add its variants" in page.locator(".flash").inner_text()

    page.select_option("#add-variant select[name=language]", "ht")
    page.select_option("#add-variant select[name=channel]", "sms")
    page.get_by_role("button", name="Write or edit this variant").click()
    page.wait_for_url("**/variant?**")

    body = page.locator("textarea#body")
    live = page.locator("#live-counter")
    body.fill(GSM_PART)
    assert live.locator("[data-encoding]").inner_text() == "GSM-7"
    assert live.locator("[data-segments]").inner_text() == "1"
    page.locator("#server-counter [data-server-segments]").wait_for()

    body.press_sequentially(UCS2_PART[:3], delay=20)  # " Òg": the Ò is not in the GSM alphabet
    assert live.locator("[data-encoding]").inner_text() == "UCS-2"
    assert live.locator("[data-segments]").inner_text() == "1"
    assert "Ò" in live.locator("[data-non-gsm]").inner_text()
    body.press_sequentially(UCS2_PART[3:], delay=10)
    assert live.locator("[data-encoding]").inner_text() == "UCS-2"
    assert live.locator("[data-segments]").inner_text() == "2"  # 100 UTF-16 units: two parts of 67
    # the server's count (HTMX), with the variables at their longest values, agrees a moment later
    page.wait_for_function(
        "() => (document.querySelector('#server-counter [data-server-segments]') || {}).textContent === '2'")
    assert "UCS-2" in page.locator("#server-counter").inner_text()
    page.screenshot(path=str(output_dir / "sms-editor-ucs2.png"), full_page=True)

    page.get_by_role("button", name="Save (new version)").click()
    page.locator(".flash").wait_for()
    assert "ht · SMS saved as version 2" in page.locator(".flash").inner_text()
    variant = page.locator("#variant-ht-sms-")
    assert "Òganizasyon Entènasyonal" in variant.inner_text()
    assert "UCS-2 · 2 segments" in variant.inner_text()
    # the preview renders it for the sample recipient (the hotline's sample value)
    preview = page.locator("#preview .preview-sms .bubble")
    preview.wait_for()
    assert preview.inner_text().startswith("Si w wè yon timoun restavèk k ap soufri, rele 188.")
    page.fill("#preview-form input[name=hotline_number]", "133")
    page.wait_for_function("() => document.querySelector('#preview .bubble').textContent.includes('rele 133')")

    page.get_by_role("button", name="Submit for review").click()
    page.locator(".flash").wait_for()
    assert "submitted for review" in page.locator(".flash").inner_text()
    assert page.locator(".page-head .badge").inner_text() == "In review"
    page.screenshot(path=str(output_dir / "message-in-review.png"), full_page=True)
    assert page.console_errors == [], page.console_errors
