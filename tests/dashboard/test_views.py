"""The dashboard's views for a book of models, in a real browser against a real server: every
view opens from its URL, problems are announced and shown next to their field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.dashboard.conftest import screenshot
from tests.training.helpers import TINY, eventually, random_walk_series, upload_prices

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
    spec = {"series_id": series_id, "architecture": "drift", "references": []}
    response = api.post("/v1/training-jobs", json=spec)
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


def test_the_forecast_chart_has_a_time_axis_round_ticks_a_legend_and_values_on_hover(
    page: Page, server: LiveServer, walk: str
) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/observations" in r.url else None)
    page.goto(server.base_url + f"/ui/#forecast?model={walk}&horizon=20")
    chart = page.locator("#forecast-chart")
    expect(chart).to_have_attribute("data-y-ticks", re.compile(r"\d"))
    # Only the tail drawn is fetched: 4 × the horizon, up to the forecast's origin.
    assert len(asked) == 1, asked
    assert "tail=80" in asked[0], asked
    # A time axis: month and day labels, the year where it starts or changes.
    x_ticks = (chart.get_attribute("data-x-ticks") or "").split("|")
    date = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)( \d{1,2})?(, \d{4})?$")
    assert len(x_ticks) >= 3, x_ticks
    assert all(date.match(t) for t in x_ticks), x_ticks
    assert re.search(r"\d{4}$", x_ticks[0]), x_ticks
    # Round ticks: evenly spaced by 1, 2, 2.5 or 5 × a power of ten, no long decimals.
    y_ticks = [
        float(t.replace(",", "")) for t in (chart.get_attribute("data-y-ticks") or "").split("|")
    ]
    steps = {round(b - a, 9) for a, b in zip(y_ticks, y_ticks[1:], strict=False)}
    assert len(y_ticks) >= 3, y_ticks
    assert len(steps) == 1, y_ticks
    mantissa = steps.pop() / 10 ** np.floor(np.log10(y_ticks[1] - y_ticks[0]))
    assert any(abs(mantissa - m) < 1e-6 for m in (1, 2, 2.5, 5)), y_ticks
    # The legend names each line and shows the values under the cursor.
    legend = chart.locator(".u-legend")
    expect(legend.locator(".u-series th")).to_contain_text(["History", "Forecast", "80 % high"])
    overlay = chart.locator(".u-over")
    box = overlay.bounding_box()
    assert box is not None
    history_value = legend.locator(".u-series").nth(1).locator(".u-value")
    forecast_value = legend.locator(".u-series").nth(2).locator(".u-value")
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    expect(history_value).to_have_text(re.compile(r"^\d+\.\d+$"))
    expect(forecast_value).to_have_text("–")
    page.mouse.move(box["x"] + box["width"] * 0.97, box["y"] + box["height"] / 2)
    expect(forecast_value).to_have_text(re.compile(r"^\d+\.\d+$"))
    expect(legend.locator(".u-series").first.locator(".u-value")).to_have_text(date)
    screenshot(page, "forecast-chart")


def press_twice(page: Page, button: str) -> None:
    """Two clicks in one task, as a quick double click gives: the second finds the first's
    request in flight (Playwright's own clicks wait for the button to be enabled again)."""
    page.evaluate(
        "(b) => { const button = document.querySelector(b); button.click(); button.click(); }",
        button,
    )


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
    # Fixing it clears the notes; a double click starts one job.
    jobs_before = httpx.get(f"{server.base_url}/v1/training-jobs").json()["total"]
    page.locator("#train-form [name=spec]").fill('{"architecture": "drift", "references": []}')
    press_twice(page, "#train-form button[type=submit]")
    expect(spec_note).to_have_count(0)
    expect(page.locator("#jobs-table tbody tr")).not_to_have_count(0)
    expect(page.get_by_role("button", name="Start training")).to_be_enabled()
    page.wait_for_timeout(1500)  # a second POST would have been answered by now
    assert httpx.get(f"{server.base_url}/v1/training-jobs").json()["total"] == jobs_before + 1


BOOK_SIZE = 2000


@pytest.fixture(scope="module")
def big_book(api: httpx.Client) -> str:
    """A 2,000-series collection, uploaded as one long-format CSV (12 business days each)."""
    dates = [f"2024-01-{d:02d}" for d in (2, 3, 4, 5, 8, 9, 10, 11, 12, 15, 16, 17)]
    lines = ["symbol,date,close"]
    for i in range(BOOK_SIZE):
        lines += [f"S{i:04d},{day},{10 + i % 7 + k * 0.1:.2f}" for k, day in enumerate(dates)]
    response = api.post(
        "/v1/collections/big/series", files={"file": ("big.csv", "\n".join(lines) + "\n")}
    )
    assert response.status_code == 201, response.text[:500]
    assert response.json()["series_count"] == BOOK_SIZE
    return "big"


def test_the_last_member_of_a_2000_series_collection_is_reached(
    page: Page, server: LiveServer, big_book: str
) -> None:
    page.goto(server.base_url + "/ui/#collections")
    row = page.locator(f'#collections-table tr[data-collection="{big_book}"]')
    expect(row).to_contain_text(str(BOOK_SIZE))
    row.get_by_role("link", name=big_book).click()
    members = page.locator("#members-table tbody tr")
    expect(members).to_have_count(50)  # one page, not the whole collection
    expect(members.first).to_contain_text("S0000")
    expect(page.locator("#members-pager")).to_contain_text(f"1–50 of {BOOK_SIZE}")
    # By paging: the last page holds the last member, with its quality.
    page.locator("#members-pager").get_by_role("link", name="Last »").click()
    expect(page).to_have_url(re.compile(r"#collection\?name=big&offset=1950$"))
    expect(members).to_have_count(50)
    expect(members.last.locator("td").first).to_have_text("S1999")
    expect(members.last).to_contain_text("clean")
    expect(page.locator("#members-pager")).to_contain_text(f"1951–2000 of {BOOK_SIZE}")
    # By searching on the server.
    page.get_by_label("Symbol or name starts with").fill("S1999")
    page.get_by_role("button", name="Search").click()
    expect(members).to_have_count(1)
    expect(members.first).to_contain_text("S1999")
    expect(page.locator("#collection-summary")).to_contain_text("1 match")
    # Sorted on the server: the last symbol first.
    page.get_by_label("Symbol or name starts with").fill("")
    page.locator("#member-search [name=sort]").select_option("-symbol")
    expect(members.first.locator("td").first).to_have_text("S1999")
    # Back: the search again, from its URL.
    page.go_back()
    expect(members).to_have_count(1)
    screenshot(page, "collection-members")


def test_a_long_format_upload_shows_each_symbols_result(page: Page, server: LiveServer) -> None:
    page.goto(server.base_url + "/ui/#collections")
    form = page.locator("#collection-upload-new")
    # A name the service would refuse is stopped in the page, its rule shown.
    form.get_by_label("Collection").fill("my book/ü")
    refused = form.get_by_label("Collection").evaluate("(box) => box.validity.patternMismatch")
    assert refused is True
    typed = (
        "(box) => { box.value = 'a b/ü'; const wrong = box.validity.patternMismatch; "
        "box.value = ''; return wrong; }"
    )
    for field in ("model_name", "model_prefix", "promote_to"):  # every name the batch form sends
        assert page.locator(f"#batch-form [name={field}]").evaluate(typed) is True, field
    form.get_by_label("Collection").fill("desk")
    first = "symbol,date,close\nAAA,2024-01-02,1\nAAA,2024-01-03,2\nBBB,2024-01-02,3\n"
    form.locator("[name=file]").set_input_files(
        files=[{"name": "desk.csv", "mimeType": "text/csv", "buffer": first.encode()}]
    )
    form.get_by_role("button", name="Upload").click()
    result = form.locator(".result")
    expect(result).to_contain_text("2 series created, 0 appended")
    expect(result.locator('tr[data-symbol="AAA"]')).to_contain_text("created")
    expect(page.locator('#collections-table tr[data-collection="desk"]')).to_contain_text("2")
    # A bad row is refused with its symbol and row, announced.
    bad = "symbol,date,close\nAAA,2024-01-04,2\nBBB,2024-01-04,x\n"
    form.locator("[name=file]").set_input_files(
        files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    form.get_by_role("button", name="Upload").click()
    expect(form.get_by_role("alert")).to_contain_text("Invalid upload (422)")
    expect(form.get_by_role("alert").locator("li")).to_contain_text(["row 3, column close"])
    # From the collection's own page: one symbol appended, a new one created.
    page.goto(server.base_url + "/ui/#collection?name=desk")
    expect(page.locator("#members-table tbody tr")).to_have_count(2)
    more = "symbol,date,close\nAAA,2024-01-04,2.5\nCCC,2024-01-02,9\n"
    own = page.locator("#collection-upload")
    own.locator("[name=file]").set_input_files(
        files=[{"name": "more.csv", "mimeType": "text/csv", "buffer": more.encode()}]
    )
    own.get_by_role("button", name="Upload").click()
    expect(own.locator('.result tr[data-symbol="AAA"]')).to_contain_text("appended")
    expect(own.locator('.result tr[data-symbol="CCC"]')).to_contain_text("created")
    expect(page.locator("#members-table tbody tr")).to_have_count(3)
    screenshot(page, "collection-upload")


@pytest.fixture(scope="module")
def trio(api: httpx.Client) -> str:
    """Three random walks of 80 business days in one collection."""
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2020-01-02", periods=80).strftime("%Y-%m-%d")
    lines = ["symbol,date,close"]
    for symbol in ("AAA", "BBB", "CCC"):
        prices = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
        lines += [f"{symbol},{day},{price:.4f}" for day, price in zip(days, prices, strict=True)]
    response = api.post(
        "/v1/collections/trio/series", files={"file": ("trio.csv", "\n".join(lines) + "\n")}
    )
    assert response.status_code == 201, response.text
    return "trio"


def test_a_missing_thing_is_said_and_nothing_stale_is_shown(
    page: Page, server: LiveServer, trio: str
) -> None:
    ui = server.base_url + "/ui/"
    banner = page.locator("#connection")
    page.goto(ui + f"#collection?name={trio}")
    members = page.locator("#members-table tbody tr")
    expect(members).to_have_count(3)
    page.goto(ui + "#collection?name=gone")
    expect(banner).to_contain_text("(404)")
    expect(members).to_have_count(0)  # not trio's members under the title "Collection gone"
    expect(page.locator("#collection-summary")).to_have_text("")
    # A series that does not exist: said, and stays said while the rest of the view loads.
    page.goto(ui + "#jobs?series=99999")
    expect(banner).to_contain_text("(404)")
    expect(page.locator("#train-form [name=series_id] option")).not_to_have_count(0)
    page.wait_for_timeout(1500)  # the view's next requests have been answered
    expect(banner).to_contain_text("(404)")
    page.goto(ui + "#jobs")  # another URL: its own state
    expect(banner).to_be_hidden()
    # A refused URL says what in it was wrong, not only "see errors".
    page.goto(ui + "#batch?id=abc")
    expect(banner).to_contain_text("(422)")
    expect(banner).to_contain_text("path.batch_id")
    # A skill level with naive at the decimal shown is neither ahead nor behind.
    shown = page.evaluate(
        """async () => { const dom = await import("./dom.js");
        return [-6e-9, 0, 0.0004, -0.0006, 0.25]
          .map((s) => [dom.percent(s), dom.skillClass(s)]); }"""
    )
    assert shown == [["0.0 %", "num"], ["0.0 %", "num"], ["0.0 %", "num"],
                     ["-0.1 %", "num warn"], ["25.0 %", "num ok"]]  # fmt: skip


def test_a_batch_is_started_watched_and_its_leaderboard_sorted(
    page: Page, server: LiveServer, trio: str
) -> None:
    page.goto(server.base_url + f"/ui/#collection?name={trio}")
    page.get_by_role("link", name="Train this collection").click()
    form = page.locator("#batch-form")
    expect(form.get_by_label("Collection")).to_have_value(trio)
    form.get_by_label("Architecture").select_option("drift")
    form.locator("[name=spec]").fill('{"references": []}')  # no statistical models: quick
    form.get_by_role("button", name="Start the batch").click()
    expect(page).to_have_url(re.compile(r"#batch\?id=\d+$"))
    expect(page.locator("#batch-status")).to_contain_text("done", timeout=30_000)
    expect(page.locator("#batch-status progress")).to_have_attribute("value", "3")
    rows = page.locator("#leaderboard-table tbody tr")
    expect(rows).to_have_count(3)

    def column(index: int) -> list[str]:
        return [row.locator("td").nth(index).inner_text() for row in rows.all()]

    def skills() -> list[float]:
        return [float(text.removesuffix(" %")) for text in column(5)]

    header = page.locator("#leaderboard-table th", has_text="Skill vs naive")
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    assert skills() == sorted(skills(), reverse=True)
    page.keyboard.press("Enter")  # the keyboard stays on the heading: again, the other way
    expect(header).to_have_attribute("aria-sort", "ascending")
    assert skills() == sorted(skills())
    page.locator("#leaderboard-table th", has_text="Series").get_by_role("button").click()
    assert column(0) == ["AAA", "BBB", "CCC"]
    screenshot(page, "batch")
    # The CSV is the service's own, downloaded as a file.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0].startswith("series_id,series,symbol")
    assert len(text.splitlines()) == 4
    # Its jobs: the jobs view filtered on the server.
    page.get_by_role("link", name="Its jobs").click()
    expect(page.locator("#jobs-table tbody tr")).to_have_count(3)
    expect(page.locator("#jobs-filter")).to_contain_text("Jobs of batch")
    # A batch that does not exist: said, and none of the last one's leaderboard under its title.
    page.goto(server.base_url + "/ui/#batch?id=999999")
    expect(page.locator("#connection")).to_contain_text("(404)")
    expect(page.locator("#batch-title")).to_have_text("Batch 999999")
    expect(rows).to_have_count(0)


def test_a_running_batch_is_cancelled(page: Page, server: LiveServer, trio: str) -> None:
    page.goto(server.base_url + "/ui/#batches")
    form = page.locator("#batch-form")
    form.get_by_label("Collection").fill(trio)
    form.get_by_label("Architecture").select_option("lstm")
    form.locator("[name=spec]").fill('{"epochs": 100000}')
    form.get_by_role("button", name="Start the batch").click()
    # Too many epochs: refused, under the spec box that held them.
    expect(form.locator(".field-problem")).to_contain_text("epochs")
    form.locator("[name=spec]").fill(json.dumps({**TINY, "epochs": 50}))
    batches_before = httpx.get(f"{server.base_url}/v1/training-batches").json()["total"]
    press_twice(page, "#batch-form button[type=submit]")  # one batch
    expect(page).to_have_url(re.compile(r"#batch\?id=\d+$"))
    page.wait_for_timeout(1000)  # the batch page polls: no network idle to wait for
    assert httpx.get(f"{server.base_url}/v1/training-batches").json()["total"] == batches_before + 1
    expect(page.locator("#batch-status progress")).to_have_attribute(
        "aria-label", re.compile(r"of 3 jobs finished")
    )
    page.get_by_role("button", name="Cancel the batch").click()
    expect(page.locator("#batch-status")).to_contain_text("done", timeout=30_000)
    expect(page.locator("#batch-status")).not_to_contain_text("cancelled 0")
    expect(page.get_by_role("button", name="Cancel the batch")).to_be_hidden()
    # The list shows it, with the others.
    page.get_by_role("link", name="All batches").click()
    expect(page.locator("#batches-table tbody tr[data-status=done]")).not_to_have_count(0)


@pytest.fixture(scope="module")
def scored(api: httpx.Client) -> None:
    """Two drift models on one rising line, each `champion`; after their forecasts were served,
    one line keeps rising (drift beats naive: rise-drift) and the other falls (drift loses to
    naive: turn-drift, after rise-drift by name). The ledger scores both. A third drift model
    on the rising line, solo-drift, has no alias."""
    days = pd.bdate_range("2020-01-02", periods=60)
    line = 50 + 0.5 * np.arange(60) + 0.05 * (-1) ** np.arange(60)
    after = pd.bdate_range(days[-1], periods=4)[1:].strftime("%Y-%m-%d")
    futures = {"rise": line[-1] + 0.5 * np.arange(1, 4), "turn": line[-1] - 2.0 * np.arange(1, 4)}
    for name, future in futures.items():
        series_id = upload_prices(api, name, days, line)
        spec = {"series_id": series_id, "architecture": "drift", "references": []}
        finished(api, api.post("/v1/training-jobs", json=spec).json())
        params: dict[str, str | int] = {"model": f"{name}-drift", "horizon": 3, "version": 1}
        assert api.get("/v1/forecast", params=params).status_code == 200
        eventually(
            lambda n=name: api.get(f"/v1/models/{n}-drift/accuracy").json()["total"]["pending"],
            lambda pending: pending == 3,
        )
        rows = [{"date": d, "close": float(v)} for d, v in zip(after, future, strict=True)]
        response = api.post(f"/v1/series/{series_id}/observations", json={"observations": rows})
        assert response.status_code == 200, response.text
        eventually(
            lambda n=name: api.get(f"/v1/models/{n}-drift/accuracy").json()["total"]["scored"],
            lambda count: count == 3,
        )
        response = api.put(f"/v1/models/{name}-drift/aliases/champion", json={"version": 1})
        assert response.status_code == 200, response.text
    plain = {**spec, "model_name": "solo-drift"}
    finished(api, api.post("/v1/training-jobs", json=plain).json())


@pytest.mark.usefixtures("scored")
def test_the_accuracy_overview_ranks_the_whole_book_losing_to_naive_first(
    page: Page, server: LiveServer, api: httpx.Client, walk: str
) -> None:
    ui = server.base_url + "/ui/"
    # One row a page: turn-drift is on a later page of models (by name), yet it comes first:
    # the service ranks the whole book, not the page.
    models = [m["name"] for m in api.get("/v1/models", params={"limit": 50}).json()["items"]]
    assert models.index("turn-drift") > 0
    page.goto(ui + "#accuracy?limit=1")
    rows = page.locator("#accuracy-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-model", "turn-drift")
    expect(rows.first).to_contain_text("champion (v1)")
    expect(rows.first).to_contain_text("loses to naive")
    pager = page.locator("#accuracy-pager")
    pager.get_by_role("link", name="Next ›").click()
    expect(page).to_have_url(re.compile(r"#accuracy\?limit=1&offset=1$"))
    expect(rows.first).to_have_attribute("data-model", "rise-drift")
    expect(rows.first.locator("td.ok")).to_have_count(1)  # beats naive
    # The whole list: the unscored after every scored one; no alias, not listed (the note says).
    page.goto(ui + "#accuracy")
    expect(rows.first).to_have_attribute("data-model", "turn-drift")
    expect(page.locator(f'#accuracy-table tr[data-model="{walk}"]')).to_contain_text("–")
    listed = [row.get_attribute("data-model") for row in rows.all()]
    assert listed.index("rise-drift") < listed.index(walk)
    assert "solo-drift" not in listed
    expect(page.locator("#accuracy-unaliased")).to_contain_text("no alias")
    expect(page.locator("#accuracy-summary")).to_contain_text("1 losing to naive")
    screenshot(page, "accuracy")
    # Sorted on the service by a heading; again: the other way; the URL keeps it.
    heading = page.locator("#accuracy-table th", has_text="Model")
    heading.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"#accuracy\?sort=model$"))
    expect(heading).to_have_attribute("aria-sort", "ascending")
    expect(rows.first).not_to_have_attribute("data-model", "turn-drift")
    by_name = [row.get_attribute("data-model") or "" for row in rows.all()]
    assert by_name == sorted(by_name)
    heading.get_by_role("link").click()
    expect(heading).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_have_attribute("data-model", max(by_name))
    # Searched on the service, keeping the order; each row links to its alias's forecast and
    # its ledger.
    page.get_by_label("Model name starts with").fill("turn")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"#accuracy\?prefix=turn&sort=-model$"))
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name="Detail").click()
    expect(page).to_have_url(re.compile(r"#forecast\?model=turn-drift&alias=champion$"))
    for step in (1, 2, 3):  # scored (drawing it served another forecast: pending)
        scored_cell = page.locator(f'#realized-table tr[data-step="{step}"] td').nth(1)
        expect(scored_cell).to_have_text("1")


@pytest.mark.usefixtures("scored")
def test_a_models_policy_is_shown_and_edited(page: Page, server: LiveServer) -> None:
    page.goto(server.base_url + "/ui/#models?model=rise-drift")
    form = page.locator("#policy-form")
    state = page.locator("#policy-state")
    expect(state).to_contain_text("No retrain policy")
    below = form.get_by_label("Retrain when realized skill vs naive falls below")
    below.fill("2")  # skill is at most 1: refused, under the field
    form.get_by_role("button", name="Save the policy").click()
    expect(form.locator(".field-problem")).to_have_count(1)
    expect(below).to_have_attribute("aria-invalid", "true")
    below.fill("0")
    form.get_by_label("once this many points are scored").fill("5")
    form.get_by_label("Promote the new version to").fill("champion")
    form.get_by_role("button", name="Save the policy").click()
    expect(state).to_contain_text("Policy set")
    expect(form.locator(".field-problem")).to_have_count(0)
    page.reload()
    expect(state).to_contain_text("Policy set")
    expect(below).to_have_value("0")
    expect(form.get_by_label("once this many points are scored")).to_have_value("5")
    expect(form.get_by_label("Promote the new version to")).to_have_value("champion")
    screenshot(page, "policy")
    form.get_by_role("button", name="Remove the policy").click()
    expect(state).to_contain_text("No retrain policy")
    assert httpx.get(f"{server.base_url}/v1/models/rise-drift/policy").status_code == 404


@pytest.mark.usefixtures("scored")
def test_lists_and_pickers_page_and_search_on_the_server(
    page: Page, server: LiveServer, trio: str
) -> None:
    ui = server.base_url + "/ui/"
    # The jobs view pages (here one job a page), newest first.
    page.goto(ui + "#jobs?limit=1")
    rows = page.locator("#jobs-table tbody tr")
    expect(rows).to_have_count(1)
    newest = rows.first.get_attribute("data-job")
    page.locator("#jobs-pager").get_by_role("link", name="Next ›").click()
    expect(page).to_have_url(re.compile(r"#jobs\?limit=1&offset=1$"))
    expect(rows.first).not_to_have_attribute("data-job", newest or "")
    assert int(rows.first.get_attribute("data-job") or 0) < int(newest or 0)
    # The train form's series picker searches every series on the server.
    page.locator("#train-form").get_by_label("Find a series").fill(f"{trio}:")
    expect(page.locator("#train-form [name=series_id] option")).to_have_count(3)
    expect(page.locator("#train-series-note")).to_have_text("3 matching")
    expect(page.locator("#train-form [name=target] option")).to_contain_text(["close"])
    # The models picker lists a collection's models and searches them.
    page.goto(ui + f"#models?collection={trio}")
    choices = page.locator("#model-select option")
    expect(choices).not_to_have_count(0)
    assert all(name.startswith(f"{trio}.") for name in choices.all_inner_texts())
    find = page.locator("#model-pick").get_by_label("Find a model")
    find.fill(f"{trio}.BBB-d")
    expect(choices).to_have_count(1)
    find.press("Enter")
    expect(page).to_have_url(re.compile(rf"#models\?model={trio}\.BBB-drift&collection={trio}$"))
    expect(page.locator("#versions-table tbody tr")).to_have_count(1)
    # The forecast view's model picker too; the version picked follows the model.
    page.goto(ui + "#forecast")
    page.locator("#forecast-form").get_by_label("Find a model").fill("rise")
    expect(page.locator("#forecast-form [name=model] option")).to_have_count(1)
    expect(page.locator("#forecast-form [name=pick] option").first).to_have_text("champion (v1)")
    page.get_by_role("button", name="Forecast").click()
    expect(page).to_have_url(re.compile(r"#forecast\?model=rise-drift&alias=champion&horizon=10$"))
    expect(page.locator("#forecast-table tbody tr")).to_have_count(10)
    # Another model searched after a numbered version was shown: its first alias is picked,
    # not the version number left over (both models have a version 1).
    page.goto(ui + "#forecast?model=solo-drift&version=1")
    expect(page.locator("#forecast-form [name=pick]")).to_have_value("version:1")
    page.locator("#forecast-form").get_by_label("Find a model").fill("turn")
    expect(page.locator("#forecast-form [name=model] option")).to_have_count(1)
    expect(page.locator("#forecast-form [name=pick]")).to_have_value("alias:champion")
