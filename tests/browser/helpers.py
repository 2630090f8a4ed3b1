"""What several browser tests do the same way."""

from __future__ import annotations

from tests.factories import PASSWORD


def login(page, base: str, username: str) -> None:
    """Sign ``username`` in through the login form and wait for the home page."""
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def settled(page) -> None:
    """Wait until htmx has finished its requests and processed what it swapped in.

    htmx inserts new content, then attaches its listeners to it a settle delay (20 ms) later:
    a change or click in that gap reaches no htmx handler. A person cannot act that fast; a
    test can, so it waits for this after each swap before touching the new content.
    """
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')")
