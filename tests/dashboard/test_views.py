"""The dashboard's views for a book of models, in a real browser against a real server: every
view opens from its URL, problems are announced and shown next to their field."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.dashboard.conftest import screenshot
from tests.training.helpers import eventually, random_walk_series

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        yield client


def finished(api: httpx.Client, job: dict[str, object]) -> None:
    eventually(
        lambda: api.get(f"/v1/training-jobs/{job['id']}").json()["status"],
        lambda status: status in ("succeeded", "failed"),
        timeout=60,
    )


@pytest.fixture(scope="module")
def walk(api: httpx.Client) -> str:
    """A random walk with a drift model (it trains at once), v1 the champion."""
    series_id = random_walk_series(api, "walk")
    response = api.post("/v1/training-jobs", json={"series_id": series_id, "architecture": "drift"})
    assert response.status_code == 202, response.text
    finished(api, response.json())
    response = api.put("/v1/models/walk-drift/aliases/champion", json={"version": 1})
    assert response.status_code == 200, response.text
    return "walk-drift"


def test_every_view_opens_from_its_url_and_back_goes_back(
    page: Page, server: LiveServer, walk: str
) -> None:
    ui = server.base_url + "/ui/"
    # A link to a model's forecast draws it: its first alias, the default horizon.
    page.goto(ui + f"#forecast?model={walk}")
    expect(page.locator("#forecast-caption")).to_contain_text(f"{walk} v1")
    expect(page.locator("#forecast-form [name=pick]")).to_have_value("alias:champion")
    expect(page.locator("#forecast-table tbody tr")).to_have_count(10)

    page.goto(ui + f"#models?model={walk}")
    expect(page.locator("#versions-table tbody tr")).to_have_count(1)
    page.locator("#versions-table").get_by_role("link", name="Forecast").click()
    expect(page).to_have_url(ui + f"#forecast?model={walk}&version=1")
    expect(page.locator("#forecast-table tbody tr")).to_have_count(10)
    # Sending the form goes to the URL of what it asks for.
    page.locator("#forecast-form [name=horizon]").fill("5")
    page.get_by_role("button", name="Forecast").click()
    expect(page).to_have_url(ui + f"#forecast?model={walk}&version=1&horizon=5")
    expect(page.locator("#forecast-table tbody tr")).to_have_count(5)

    page.go_back()
    expect(page.locator("#forecast-table tbody tr")).to_have_count(10)
    page.go_back()
    expect(page.locator("#view-models")).to_be_visible()
    expect(page.locator("#versions-table tbody tr")).to_have_count(1)
    page.go_forward()
    expect(page.locator("#view-forecast")).to_be_visible()
    expect(page.locator("#forecast-table tbody tr")).to_have_count(10)


def test_a_problem_is_announced_and_shown_next_to_its_field(
    page: Page, server: LiveServer, walk: str
) -> None:
    page.goto(server.base_url + f"/ui/#forecast?model={walk}&horizon=31")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("(422)")
    horizon = page.locator("#forecast-form [name=horizon]")
    expect(horizon).to_have_attribute("aria-invalid", "true")
    note = page.locator("#forecast-form .field-problem")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("at most 30")
    assert note.get_attribute("id") in (horizon.get_attribute("aria-describedby") or "")
    # A problem the spec box holds (a field sent inside the JSON spec) goes under it.
    page.goto(server.base_url + "/ui/#jobs")
    expect(page.locator("#train-form [name=series_id] option")).not_to_have_count(0)
    page.locator("#train-form [name=spec]").fill('{"architecture": "drift", "epochs": 100000}')
    page.get_by_role("button", name="Start training").click()
    spec_note = page.locator("#train-form .field-problem")
    expect(spec_note).to_contain_text("epochs")
    expect(page.get_by_role("alert")).to_contain_text("(422)")
    screenshot(page, "field-problem")
    # Fixing it clears the notes.
    page.locator("#train-form [name=spec]").fill('{"architecture": "drift"}')
    page.get_by_role("button", name="Start training").click()
    expect(spec_note).to_have_count(0)
    expect(page.locator("#jobs-table tbody tr")).not_to_have_count(0)
