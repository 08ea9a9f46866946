"""Headless Chromium for the web page's tests: Debian's /usr/bin/chromium, never a browser download."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# The README's screenshots are refreshed on request (MNEMO_UI_SCREENSHOTS=1), so a test run leaves
# the working tree as it was; otherwise they are taken all the same, into a temporary folder.
README_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "ui"
SHOTS = (
    README_SHOTS
    if os.environ.get("MNEMO_UI_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "mnemo-ui-screenshots"
)


def require_chromium() -> None:
    """Skip without Chromium on a workstation; in CI (CI=true) its absence is a failure."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(
            "CI must run the web page's tests, but /usr/bin/chromium is missing (.ci/run installs it)"
        )
    pytest.skip("the web page's tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)")


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the length of the block."""
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> None:
    """The page as the README shows it: docs/ui/<name>.png (with MNEMO_UI_SCREENSHOTS=1)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.getElementById('toasts')?.replaceChildren()")  # passing notices, not the view
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
