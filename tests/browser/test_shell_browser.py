"""The web shell in a real browser: log in, see the role's navigation, change password, log out."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def _login(page, base, username, password=PASSWORD):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_it_logs_in_changes_password_and_logs_out(page, live_server, personas, output_dir):
    _login(page, live_server, "leo")
    page.wait_for_url(f"{live_server}/")
    assert page.locator("h1").inner_text().startswith("Bonjou")
    # The lead's navigation: no user administration.
    page.click(".menu-toggle")  # small phone screen: the menu is folded
    nav = page.locator("#main-nav")
    assert nav.get_by_role("link", name="My account").is_visible()
    assert nav.get_by_role("link", name="Users").count() == 0
    page.screenshot(path=str(output_dir / "home-lead.png"), full_page=True)

    nav.get_by_role("link", name="My account").click()
    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", "a-brand-new-password")
    page.fill("input[name=confirm_password]", "a-different-one-here")
    page.click("#password-form button[type=submit]")
    page.locator("#password-form .error").wait_for()
    assert "differ" in page.locator("#password-form .error").inner_text()

    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", "a-brand-new-password")
    page.fill("input[name=confirm_password]", "a-brand-new-password")
    page.click("#password-form button[type=submit]")
    page.wait_for_url(f"{live_server}/login")
    assert "password was changed" in page.locator(".flash").inner_text()

    _login(page, live_server, "leo", "a-brand-new-password")
    page.wait_for_url(f"{live_server}/")
    page.click(".menu-toggle")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server}/login")
    page.goto(f"{live_server}/account")
    assert page.locator("input[name=username]").is_visible()  # logged out: the login form again
    assert page.console_errors == [], page.console_errors


def test_it_shows_the_admin_the_user_pages(page, live_server, personas, output_dir):
    page.set_viewport_size({"width": 1280, "height": 800})
    _login(page, live_server, "alice")
    page.wait_for_url(f"{live_server}/")
    page.locator("#main-nav").get_by_role("link", name="Users", exact=True).click()
    page.fill("input[name=username]", "marie")
    page.fill("input[name=full_name]", "Marie Jeanty")
    page.select_option("#create-user select[name=role]", "enumerator")
    page.fill("#create-user input[name=password]", "kreyol-pale-kreyol")
    page.click("#create-user button[type=submit]")
    page.locator("#user-6").wait_for()
    assert "User marie created" in page.locator(".flash").inner_text()
    # HTMX inline role change, checked on the server side by reloading.
    page.select_option("#user-6 select[name=role]", "supervisor")
    page.wait_for_timeout(300)
    page.reload()
    assert page.locator("#user-6 select[name=role]").input_value() == "supervisor"
    page.screenshot(path=str(output_dir / "users-admin.png"), full_page=True)
    assert page.console_errors == [], page.console_errors


@pytest.mark.locale("fr-HT")
def test_a_phone_set_to_french_gets_french_pages_and_can_switch_to_kreyol(page, live_server, personas):
    page.goto(f"{live_server}/login")
    assert page.locator("html").get_attribute("lang") == "fr"  # fr-HT: French, from Accept-Language
    assert page.get_by_role("button", name="Se connecter").is_visible()
    page.select_option(".language-switch select[name=lang]", "ht")
    page.locator(".language-switch button[type=submit]").click()
    page.wait_for_function("document.documentElement.lang === 'ht'")
    _login(page, live_server, "leo")
    page.wait_for_url(f"{live_server}/")
    page.click(".menu-toggle")
    assert page.locator("#main-nav").get_by_role("link", name="Kont mwen").is_visible()
    assert page.console_errors == [], page.console_errors
