"""The dashboard in a real browser against a real server: what a person does with it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import LiveServer, empty_database, server_settings, start_server
from tests.dashboard.conftest import screenshot
from tests.training.helpers import TINY, eventually, flat_tail_csv

pytestmark = pytest.mark.slow
API_KEY = "s3cret"

DROP_FILE = """([name, text]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, { type: "text/csv" }));
  const zone = document.querySelector("#drop-zone");
  for (const type of ["dragenter", "drop"]) {
    const event = { dataTransfer: data, bubbles: true, cancelable: true };
    zone.dispatchEvent(new DragEvent(type, event));
  }
}"""


def test_upload_train_promote_and_forecast(page: Page, server: LiveServer) -> None:
    outside = []
    ours = (server.base_url, f"blob:{server.base_url}/")  # blob: the page's own images
    page.on("request", lambda r: None if r.url.startswith(ours) else outside.append(r.url))
    page.goto(server.base_url + "/")
    expect(page).to_have_url(server.base_url + "/ui/")

    # Upload by dropping a file; the name comes from the file's.
    page.evaluate(DROP_FILE, ["flat.csv", flat_tail_csv()])
    expect(page.locator("#upload-form [name=name]")).to_have_value("flat")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-result")).to_contain_text("Stored flat")
    expect(page.locator("#upload-result")).to_contain_text("300 rows")
    expect(page.locator("#series-table tbody tr")).to_have_count(1)
    screenshot(page, "series")

    # Train from the jobs view and watch it finish.
    page.locator("#series-table").get_by_role("link", name="Train").click()
    page.locator("#train-form [name=spec]").fill(json.dumps(TINY))
    page.get_by_role("button", name="Start training").click()
    expect(page.locator("#jobs-table tbody tr[data-status=succeeded]")).to_have_count(
        1, timeout=120_000
    )
    # 2 epochs of the probe network the leaning is fitted on, then 2 of the served one
    expect(page.locator("#jobs-table tbody tr").first).to_contain_text("4/4")
    screenshot(page, "jobs")

    # The gate refuses (naive is exact on the holdout) and says why, with the numbers.
    page.locator("#jobs-table").get_by_role("link", name="flat-lstm v1").click()
    expect(page.locator("#versions-table tbody tr")).to_have_count(1)
    page.locator("#promote-form").get_by_label("Compared by").select_option("mae")
    page.get_by_role("button", name="Promote").click()
    refusal = page.locator("#promote-form .problem")
    expect(refusal).to_contain_text("Promotion refused by its rule (409)")
    expect(refusal).to_contain_text("beats_naive")
    expect(refusal.locator("table.checks tr.warn")).to_have_count(1)
    expect(refusal.locator("table.checks tr.warn td").nth(2)).to_have_text("mae")  # as chosen
    screenshot(page, "models-refused")
    # Without the naive rule it moves, and the table shows the alias.
    page.locator("#promote-form").get_by_label("must beat naive").uncheck()
    page.get_by_role("button", name="Promote").click()
    expect(page.locator("#promote-result")).to_contain_text("champion → v1 (was unset)")
    expect(refusal).to_be_hidden()
    expect(page.locator("#versions-table tbody tr").first).to_contain_text("champion")

    # The forecast chart draws history, forecast and both bands; the report sits below.
    page.locator("#versions-table").get_by_role("link", name="Forecast").click()
    chart = page.locator("#forecast-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    legend = ["History", "Forecast", "95 % high", "95 % low", "80 % high", "80 % low"]
    expect(chart.locator(".u-legend .u-series th")).to_contain_text(legend)
    expect(page.locator("#forecast-table tbody tr")).to_have_count(10)
    expect(page.locator("#report-table")).to_contain_text("naive")
    screenshot(page, "forecast")

    # The next day arrives: the forecast served above is scored, and the view shows it.
    with httpx.Client(base_url=server.base_url) as api:
        eventually(  # the served forecast reached the ledger
            lambda: api.get("/v1/models/flat-lstm/accuracy").json()["total"]["pending"],
            lambda pending: pending > 0,
        )
        series_id = api.get("/v1/series").json()["items"][0]["id"]
        day = {"observations": [{"date": "2020-02-26", "close": 41.0}]}
        assert api.post(f"/v1/series/{series_id}/observations", json=day).status_code == 200
    page.get_by_role("button", name="Forecast").click()
    expect(page.locator("#forecast-caption")).to_contain_text("after 2020-02-26")
    step1 = page.locator('#realized-table tr[data-step="1"]')
    expect(step1.locator("td").nth(1)).to_have_text("1")
    expect(page.locator("#realized-plot")).to_be_visible()
    assert page.evaluate("document.querySelector('#realized-plot').naturalWidth") > 100
    screenshot(page, "forecast-realized")

    # Readable on a phone: nothing wider than the screen but the tables' own scrollers.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "forecast-phone")
    assert outside == []


def test_problems_are_shown_next_to_the_form(page: Page, server: LiveServer) -> None:
    page.goto(server.base_url + "/ui/#series")
    page.locator("#upload-file").set_input_files(
        files=[{"name": "bad.csv", "mimeType": "text/csv",
                "buffer": b"date,close\n2020-01-02,10\n2020-01-03,abc\n2020-01-06,11\n"}]
    )  # fmt: skip
    page.get_by_role("button", name="Upload").click()
    problem = page.locator("#upload-form .problem")
    expect(problem).to_contain_text("Invalid upload (422)")
    expect(problem.locator("li")).to_contain_text(["row 3, column close"])
    screenshot(page, "upload-refused")
    # Monthly dates written day first: refused until the form says which comes first.
    page.locator("#upload-file").set_input_files(
        files=[{"name": "eu.csv", "mimeType": "text/csv",
                "buffer": b"date,close\n01/02/2020,10\n01/03/2020,11\n01/04/2020,12\n"}]
    )  # fmt: skip
    page.get_by_role("button", name="Upload").click()
    expect(problem).to_contain_text("ambiguous date '01/02/2020'")
    page.locator("#upload-form").get_by_label("Dates like 01/02/2020").select_option("day_first")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-result")).to_contain_text("2020-02-01 → 2020-04-01, frequency MS")


def test_a_lost_connection_offers_a_retry(page: Page, server: LiveServer) -> None:
    series_list = re.compile(r"/v1/series\?")
    page.route(series_list, lambda route: route.abort("connectionrefused"))
    page.goto(server.base_url + "/ui/#series")
    banner = page.locator("#connection")
    expect(banner).to_contain_text("cannot be reached")
    page.unroute(series_list)
    page.get_by_role("button", name="Retry").click()
    expect(banner).to_be_hidden()
    expect(page.locator("#series-table")).to_be_visible()


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose reads need the API key too (``FORECAST_PROTECT_READS``)."""
    tmp = tmp_path_factory.mktemp("locked")
    with empty_database("sqlite", tmp) as url:
        live = start_server(
            server_settings(url, tmp / "models", api_key=API_KEY, protect_reads=True)
        )
        yield live
        live.stop()


def use_key(page: Page) -> None:
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Use").click()
    expect(page.locator("#key-state")).to_have_text("key set for this tab")


def test_the_api_key_is_typed_once_and_kept_for_the_tab(
    browser: Browser, locked: LiveServer
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(locked.base_url + "/ui/#series")  # the page itself needs no key
    banner = page.locator("#connection")
    expect(banner).to_contain_text("Unauthorized (401)")
    expect(banner).to_contain_text("Type the API key")
    use_key(page)
    expect(banner).to_be_hidden()
    page.reload()
    expect(page.locator("#key-state")).to_have_text("key set for this tab")
    expect(page.locator("#series-table")).to_be_visible()
    expect(banner).to_be_hidden()
    # Another tab (here: another browser context) starts without it.
    other = browser.new_context().new_page()
    other.goto(locked.base_url + "/ui/#series")
    expect(other.locator("#connection")).to_contain_text("Unauthorized (401)")
    context.close()
    other.context.close()


def test_a_download_sends_the_key(page: Page, locked: LiveServer) -> None:
    """The leaderboard's CSV is fetched with the key: a plain link could not send it."""
    days = pd.bdate_range("2020-01-02", periods=80)
    rows = "".join(f"AAA,{day.date()},{10 + i % 7}\n" for i, day in enumerate(days))
    with httpx.Client(base_url=locked.base_url, headers={"X-API-Key": API_KEY}) as api:
        response = api.post(
            "/v1/collections/desk/series",
            files={"file": ("desk.csv", "symbol,date,close\n" + rows)},
        )
        assert response.status_code == 201, response.text
        batch = api.post("/v1/training-batches", json={"collection": "desk", **TINY}).json()
        api.post(f"/v1/training-batches/{batch['id']}/cancel").raise_for_status()
        eventually(
            lambda: api.get(f"/v1/training-batches/{batch['id']}").json()["status"],
            lambda status: status == "done",
        )
        expected = api.get(f"/v1/training-batches/{batch['id']}/leaderboard?format=csv").content
    page.goto(locked.base_url + f"/ui/#batch?id={batch['id']}")
    use_key(page)
    page.reload()
    expect(page.locator("#leaderboard-summary")).to_contain_text("beat naive")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as CSV").click()
    assert download.value.suggested_filename == f"batch-{batch['id']}-leaderboard.csv"
    assert Path(download.value.path()).read_bytes() == expected


def test_the_series_list_shows_one_collection_at_a_time(page: Page, server: LiveServer) -> None:
    rows = "".join(f"{s},2020-01-0{d},{d}\n" for s in ("AAA", "BBB") for d in (2, 3))
    response = httpx.post(
        f"{server.base_url}/v1/collections/desk/series",
        files={"file": ("desk.csv", "symbol,date,close\n" + rows)},
    )
    assert response.status_code == 201, response.text
    page.goto(server.base_url + "/ui/#series")
    expect(page.locator("#collection-names option[value=desk]")).to_have_count(1)  # suggested
    search = page.locator("#series-search")
    search.get_by_label("Collection").fill("desk")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"#series\?collection=desk$"))
    table = page.locator("#series-table tbody tr")
    expect(table).to_have_count(2)
    expect(table).to_contain_text(["desk:AAA", "desk:BBB"])
    search.get_by_label("Name or symbol starts with").fill("BB")
    page.get_by_role("button", name="Show").click()
    expect(table).to_have_count(1)
    search.get_by_label("Collection").fill("")
    search.get_by_label("Name or symbol starts with").fill("")
    page.get_by_role("button", name="Show").click()
    expect(table).not_to_have_count(2)  # the other tests' series are back


def test_a_global_model_forecasts_the_member_picked(page: Page, server: LiveServer) -> None:
    rows = [
        f"{symbol},{day.date()},{level * (1 + 0.01 * ((i * 7) % 5 - 2))}\n"
        for symbol, level in (("LOW", 5.0), ("HIGH", 500.0))
        for i, day in enumerate(pd.bdate_range("2020-01-02", periods=80))
    ]
    with httpx.Client(base_url=server.base_url, timeout=30) as api:
        response = api.post(
            "/v1/collections/book/series",
            files={"file": ("book.csv", "symbol,date,close\n" + "".join(rows))},
        )
        assert response.status_code == 201, response.text
        body = {"collection": "book", "scope": "global", **TINY}
        batch = api.post("/v1/training-batches", json=body).json()
        eventually(
            lambda: api.get(f"/v1/training-batches/{batch['id']}").json()["status"],
            lambda status: status == "done",
            timeout=120,
        )
    page.goto(server.base_url + "/ui/#forecast?model=book-global-lstm&version=1")
    picker = page.locator("#forecast-series select")
    expect(picker.locator("option")).not_to_have_count(0)
    # The series picker searches every series on the server (a global model forecasts any).
    page.locator("#forecast-form").get_by_label("Find a series").fill("book:")
    expect(picker.locator("option")).to_have_count(2)
    first = page.locator("#forecast-table tbody tr").first.locator("td").nth(2)

    def step_one() -> float:
        text = first.inner_text() if first.count() else ""
        return float(text) if re.fullmatch(r"[0-9.]+", text) else float("nan")

    for name, level in (("book:HIGH", 500), ("book:LOW", 5)):
        expect(page.locator("#view-forecast")).not_to_have_attribute("aria-busy", "true")
        picker.select_option(label=name)
        page.get_by_role("button", name="Forecast").click()
        # The member's own price level: the table shows the series picked.
        eventually(step_one, lambda v, lv=level: 0.5 * lv < v < 2 * lv)
    screenshot(page, "forecast-global")

    # The batch's page: the global model's members next to naive, each a link to its forecast.
    page.goto(server.base_url + f"/ui/#batch?id={batch['id']}")
    members = page.locator("#batch-members-table tbody tr")
    expect(members).to_have_count(2)
    expect(page.locator("#batch-members-summary")).to_contain_text("book-global-lstm v1")
    expect(page.locator("#leaderboard-table tbody tr")).to_have_count(2)
    members.filter(has_text="book:LOW").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"#forecast\?model=book-global-lstm&version=1&series=\d+$"))
    expect(page.locator("#forecast-series select option:checked")).to_have_text("book:LOW")
    screenshot(page, "batch-global")
