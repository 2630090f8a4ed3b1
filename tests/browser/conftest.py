"""Debian's Chromium driven by Playwright (the live server is in tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def chromium():
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        if os.environ.get("KONBIT_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing (install Debian's chromium package)")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request):
    """A 390 px phone. Its language is English unless the test is marked ``@pytest.mark.locale("fr-HT")``:
    the app answers in the browser's language (Accept-Language), and these tests read English labels."""
    marker = request.node.get_closest_marker("locale")
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale=marker.args[0] if marker else "en-US")
    page = context.new_page()
    errors: list[str] = []
    # A 4xx answer to a form is expected (validation messages); anything else in the console is a fault.
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "the server responded with a status of 4" not in msg.text else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


@pytest.fixture
def output_dir(request) -> Path:
    """Where a browser test leaves its screenshots: test-results/<test name>/."""
    path = Path(__file__).resolve().parents[2] / "test-results" / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path
