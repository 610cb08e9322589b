"""Headless Chromium (Debian's ``chromium``) driven by Playwright, against the session's real controller.

No browser is ever downloaded: Playwright launches the system binary. JavaScript is off in
every page, so the tests also prove the web UI works without it.
"""
from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test-packages.txt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, live_server, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies), JavaScript disabled, opening pages of the live controller."""
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False,
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def signed_up(page):  # type: ignore[no-untyped-def]
    """A page logged in as a newly registered user (registered through the form)."""
    username = unique("webuser")
    page.goto("/register")
    page.fill("#username", username)
    page.fill("#email", f"{username}@example.test")
    page.fill("#password", "web-pw-1")
    page.click("text=Create account")
    page.wait_for_url("**/apps")
    page.username = username
    page.password = "web-pw-1"
    return page


def keep_screenshot(path: Path) -> None:
    """Copy a screenshot to APP_LAYER_SCREENSHOTS (if set) for a person to look at."""
    import os

    target = os.environ.get("APP_LAYER_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
