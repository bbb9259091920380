"""The ``forecast`` command line against a live server over real HTTP."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import Result

from app.cli.problems import (
    EXIT_BAD_REQUEST,
    EXIT_GATE_REFUSED,
    EXIT_NOT_FOUND,
    EXIT_UNAVAILABLE,
    EXIT_UNSUCCESSFUL,
)
from tests.cli import helpers
from tests.conftest import LiveServer
from tests.training.helpers import (
    TINY,
    eventually,
    flat_tail_csv,
    random_walk_series,
    start_job,
)

pytestmark = pytest.mark.sqlite_only


def forecast(server: LiveServer, *args: str) -> Result:
    return helpers.forecast(server.base_url, *args)


def test_upload_train_forecast_report_and_promote(
    live_server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    data = tmp_path / "flat.csv"
    data.write_text(flat_tail_csv())
    uploaded = forecast(live_server, "upload", str(data))
    assert uploaded.exit_code == 0, uploaded.output
    assert "flat: 300 rows 2019-01-02 → " in uploaded.output
    series_id = client.get("/v1/series").json()["items"][0]["id"]

    trained = forecast(
        live_server, "train", str(series_id), "--spec", json.dumps(TINY), "--set", "epochs=1",
        "--model-name", "cli", "--wait",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "succeeded: cli version 1" in trained.output
    assert client.get("/v1/models/cli/versions/1").json()["spec"]["epochs"] == 1

    printed = forecast(live_server, "predict", "cli", "--horizon", "3", "--format", "csv")
    assert printed.exit_code == 0, printed.output
    rows = list(csv.DictReader(io.StringIO(printed.output)))
    served = client.get("/v1/forecast", params={"model": "cli", "horizon": 3}).json()["points"]
    assert [float(r["value"]) for r in rows] == [p["value"] for p in served]
    assert [r["date"] for r in rows] == [p["date"] for p in served]
    assert float(rows[0]["lo_95"]) <= float(rows[0]["lo_80"]) <= float(rows[0]["value"])

    realized = eventually(  # the ledger writes what was served within FORECAST_LEDGER_FLUSH_S
        lambda: forecast(live_server, "accuracy", "cli", "--format", "csv"),
        lambda result: result.exit_code != 0 or len(result.output.splitlines()) > 2,
    )
    assert realized.exit_code == 0, realized.output
    by_step = list(csv.DictReader(io.StringIO(realized.output)))
    assert [r["group"] for r in by_step] == ["all", "1", "2", "3"]  # the forecast printed above
    assert by_step[0]["pending"] == "3"

    plot = tmp_path / "report.png"
    reported = forecast(live_server, "report", "cli", "1", "--format", "png", "-o", str(plot))
    assert reported.exit_code == 0, reported.output
    assert plot.read_bytes().startswith(b"\x89PNG")
    numbers = forecast(live_server, "report", "cli", "1")
    forecasters = {line.split()[0] for line in numbers.output.splitlines()[2:]}
    assert {"model", "naive", "drift"} <= forecasters

    # Naive is exact on this holdout: the gate refuses with its numbers, and exit 6 says so.
    refused = forecast(live_server, "promote", "cli", "1")
    assert refused.exit_code == EXIT_GATE_REFUSED
    assert "Promotion refused by its rule (409)" in refused.stderr
    assert "beats_naive fails: rmse" in refused.stderr
    promoted = forecast(live_server, "promote", "cli", "1", "--no-beats-naive")
    assert promoted.exit_code == 0, promoted.output
    assert "champion → version 1 (was unset)" in promoted.output
    assert client.get("/v1/models/cli").json()["aliases"] == {"champion": 1}


def test_following_a_job_that_does_not_succeed_exits_8(
    live_server: LiveServer, client: httpx.Client
) -> None:
    series_id = random_walk_series(client)
    job = start_job(client, series_id=series_id, **TINY)
    assert client.post(f"/v1/training-jobs/{job['id']}/cancel").status_code == 200
    followed = forecast(live_server, "jobs", str(job["id"]), "--wait")
    assert followed.exit_code == EXIT_UNSUCCESSFUL, followed.output
    assert f"job {job['id']} cancelled" in followed.output


def test_refusals_and_outages_have_their_exit_codes(
    live_server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,close\n2020-01-02,10\n2020-01-03,abc\n")
    refused = forecast(live_server, "upload", str(bad))
    assert refused.exit_code == EXIT_BAD_REQUEST
    assert "Invalid upload (422)" in refused.stderr
    assert "row 3, column close:" in refused.stderr
    assert client.get("/v1/series").json()["total"] == 0

    missing = forecast(live_server, "predict", "nope")
    assert missing.exit_code == EXIT_NOT_FOUND
    assert "(404)" in missing.stderr

    usage = forecast(live_server, "train", "1", "--spec", "[1]")
    assert usage.exit_code == 2
    assert "must be a JSON object" in usage.stderr

    down = helpers.forecast("http://127.0.0.1:9", "--retry-deadline", "0", "series")
    assert down.exit_code == EXIT_UNAVAILABLE
    assert "cannot reach http://127.0.0.1:9" in down.stderr


def test_the_command_is_installed_with_the_package() -> None:
    script = Path(sys.executable).with_name("forecast")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Exit codes:" in done.stdout


def test_shell_completion_as_documented() -> None:
    """docs/cli.md: `eval "$(_FORECAST_COMPLETE=bash_source forecast)"`; the script it prints asks
    the command itself for the words that fit."""
    script = Path(sys.executable).with_name("forecast")
    source = subprocess.run(
        [str(script)], env={"_FORECAST_COMPLETE": "bash_source"}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert "complete -o nosort -F _forecast_completion forecast" in source.stdout
    words = subprocess.run(
        [str(script)],
        env={"_FORECAST_COMPLETE": "bash_complete", "COMP_WORDS": "forecast batches st",
             "COMP_CWORD": "2"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert words.stdout.split() == ["plain,status"]


def test_the_progress_bar_says_what_it_counts() -> None:
    from app.cli.job_commands import _epochs

    epochs = {"epoch": 3, "epochs": 10, "loss": 0.25, "eta_s": 7.0, "stage": None}
    assert _epochs({"id": 4, "progress": epochs}) == (3, 10, "job 4 epoch 3/10 loss 0.25 eta 7s")
    auto = {"epoch": 2, "epochs": 12, "loss": None, "eta_s": 30.0, "stage": "auto: arima"}
    assert _epochs({"id": 5, "progress": auto}) == (2, 12, "job 5 auto: arima (2/12) eta 30s")
    assert _epochs({"id": 6, "progress": None, "status": "queued"}) == (0, 1, "job 6 queued")
