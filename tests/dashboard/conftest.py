"""Browser fixtures: Debian's chromium, headless, driven by Playwright; a server per module.

`make test` installs chromium where it can (root); elsewhere these tests skip with a message,
except under ``CI=true`` where a missing browser is a failure. Screenshots go under
``test-output/screenshots/`` (``FORECAST_TEST_OUTPUT`` moves it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import LiveServer, empty_database, in_ci, server_settings, start_server

CHROMIUM = os.environ.get("FORECAST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("FORECAST_TEST_OUTPUT", "test-output")) / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        reason = f"no chromium at {CHROMIUM}: install Debian's chromium (make test does, as root)"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        # --no-sandbox: chromium's sandbox refuses to run as root, as tests here do.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("dashboard")
    with empty_database("sqlite", tmp) as url:
        live = start_server(server_settings(url, tmp / "models", workers=1))
        yield live
        live.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"the page raised: {errors}"


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
