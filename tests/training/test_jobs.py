"""Training jobs end to end through the embedded worker pool, on both databases."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import zipfile

import httpx
import numpy as np
import pytest

from tests.conftest import LiveServer
from tests.series.helpers import assert_problem
from tests.training.helpers import (
    TINY,
    cancel_and_wait,
    random_walk_series,
    start_job,
    wait_for,
    wait_for_attempt,
    wait_for_progress,
    wait_until,
)


def observed_closes(client: httpx.Client, series_id: int) -> np.ndarray:
    rows = client.get(f"/v1/series/{series_id}/observations").json()["observations"]
    return np.array([r["close"] for r in rows])


def test_tiny_job_end_to_end(client: httpx.Client, live_server: LiveServer) -> None:
    series_id = random_walk_series(client)
    job = start_job(client, series_id=series_id, **TINY)
    assert job["status"] == "queued"
    assert job["model_name"] == "walk-lstm"
    assert job["target"] == "close"
    done = wait_for(client, job["id"])
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 1
    # two trainings of 2 epochs: the probe the leaning toward naive is fitted on, then the
    # network that is served (app.ml.shrinkage.probe_windows)
    assert done["progress"]["epoch"] == done["progress"]["epochs"] == 4
    assert done["started_at"] >= done["created_at"]
    assert done["model_version"] == {
        "name": "walk-lstm",
        "version": 1,
        "url": "/v1/models/walk-lstm/versions/1",
    }

    version = client.get("/v1/models/walk-lstm/versions/1").json()
    assert version["status"] == "ready"
    assert version["job_id"] == job["id"]
    assert version["series_id"] == series_id
    assert version["epochs_run"] == 2
    assert version["bundle"]["window"] == 10
    assert version["bundle"]["target_transform"] == "log_return"
    assert version["bundle"]["onnx_max_abs_diff"] <= 1e-5
    # The naive baseline is recomputed here from the data: RMSE of p[t-1] vs p[t] on the holdout.
    prices = observed_closes(client, series_id)
    holdout = version["metrics"]["holdout"]["points"]
    naive = np.sqrt(np.mean((prices[-holdout:] - prices[-holdout - 1 : -1]) ** 2))
    assert version["metrics"]["naive"]["rmse"] == pytest.approx(naive, rel=1e-12)
    model_rmse = version["metrics"]["model"]["rmse"]
    assert version["metrics"]["skill"] == pytest.approx(1 - model_rmse / naive)

    artifact = client.get("/v1/models/walk-lstm/versions/1/artifact")
    assert artifact.status_code == 200
    assert artifact.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(artifact.content)) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("bundle.json"))
        scaler = json.loads(archive.read("scaler.json"))
    assert names == {
        "bundle.json",
        "evaluation.json",
        "network.keras",
        "network.onnx",
        "scaler.json",
        "version.json",  # the registry's record, for an import elsewhere
    }
    assert set(manifest["files"]) == names - {"bundle.json", "version.json"}
    assert scaler["kind"] == "standard"
    assert manifest["training_rows_sha256"] == version["training_rows_sha256"]
    bundle_dir = live_server.settings.model_dir / "walk-lstm" / "1"
    assert sorted(p.name for p in bundle_dir.iterdir()) == sorted(names - {"version.json"})


@pytest.mark.sqlite_only
def test_tutorial_recipes_are_expressible(client: httpx.Client) -> None:
    series_id = random_walk_series(client, n=120)
    lstm = start_job(
        client, series_id=series_id, architecture="lstm", layers=4, units=50, dropout=0.2,
        window=60, optimizer="rmsprop", epochs=1, batch_size=32, scaler="minmax",
        target_transform="level", ensemble=1, patience=0, validation_fraction=0,
        autoregression=False, shuffle=True,
    )  # fmt: skip
    gru = start_job(
        client, series_id=series_id, architecture="gru", layers=4, units=50, dropout=0.2,
        window=60, optimizer="sgd", learning_rate=0.01, momentum=0.9, epochs=1,
        batch_size=150, scaler="minmax", target_transform="level", patience=0,
        ensemble=1, validation_fraction=0, autoregression=False, shuffle=True,
    )  # fmt: skip
    for job in (lstm, gru):
        assert wait_for(client, job["id"])["status"] == "succeeded"
    version = client.get("/v1/models/walk-gru/versions/1").json()
    assert version["spec"]["momentum"] == 0.9
    assert version["spec"]["autoregression"] is False
    assert version["spec"]["shuffle"] is True
    assert version["spec"]["ensemble"] == 1
    assert version["bundle"]["scaler"]["kind"] == "minmax"


@pytest.mark.parametrize("architecture", ["gru", "rnn", "mlp"])
@pytest.mark.sqlite_only
def test_other_architectures_train_and_export(client: httpx.Client, architecture: str) -> None:
    series_id = random_walk_series(client)
    job = start_job(
        client, series_id=series_id, architecture=architecture, layers=2, dropout=0.1,
        target_transform="relative", scaler="minmax", **TINY,
    )  # fmt: skip
    done = wait_for(client, job["id"])
    assert done["status"] == "succeeded", done
    version = client.get(f"/v1/models/walk-{architecture}/versions/1").json()
    assert version["bundle"]["onnx_max_abs_diff"] <= 1e-5


def test_two_concurrent_jobs_for_one_model_get_versions_1_and_2(client: httpx.Client) -> None:
    series_id = random_walk_series(client)
    jobs = [
        start_job(client, series_id=series_id, model_name="one-model", **TINY) for _ in range(2)
    ]
    finished = [wait_for(client, j["id"]) for j in jobs]
    assert all(j["status"] == "succeeded" for j in finished), finished
    assert sorted(j["model_version"]["version"] for j in finished) == [1, 2]
    versions = client.get("/v1/models/one-model/versions").json()
    assert [v["version"] for v in versions["items"]] == [1, 2]
    assert versions["total"] == 2
    newest = client.get("/v1/models/one-model/versions", params={"sort": "-version", "limit": 1})
    assert [v["version"] for v in newest.json()["items"]] == [2]
    assert client.get("/v1/models/one-model").json()["latest_version"] == 2


def test_cancel_running_job_stops_within_an_epoch(
    client: httpx.Client, live_server: LiveServer
) -> None:
    series_id = random_walk_series(client, n=600)
    job = start_job(
        client, series_id=series_id, model_name="to-cancel", epochs=500, patience=0,
        units=8, window=20, ensemble=1, references=[],
    )  # fmt: skip
    wait_for_progress(client, job["id"])
    response = client.post(f"/v1/training-jobs/{job['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["cancel_requested"] is True
    done = wait_for(client, job["id"], timeout=30)
    assert done["status"] == "cancelled"
    assert done["progress"]["epoch"] < 500
    assert done["model_version"] is None
    assert client.get("/v1/models").json()["total"] == 0
    assert not (live_server.settings.model_dir / "to-cancel").exists()
    assert not list((live_server.settings.model_dir / ".staging").iterdir())
    assert_problem(client.post(f"/v1/training-jobs/{job['id']}/cancel"), 409)


def test_cancel_queued_job_at_once(client: httpx.Client) -> None:
    series_id = random_walk_series(client, n=600)
    slow = {"epochs": 500, "patience": None, "units": 8, "window": 20, "ensemble": 1,
            "references": []}  # fmt: skip
    busy = [start_job(client, series_id=series_id, **slow) for _ in range(2)]  # both workers
    queued = start_job(client, series_id=series_id, **slow)
    cancelled = client.post(f"/v1/training-jobs/{queued['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] is not None
    for job in busy:
        assert cancel_and_wait(client, job["id"])["status"] == "cancelled"
    assert wait_for(client, queued["id"])["attempts"] == 0


def _job_pid(job: dict[str, object]) -> int:
    worker = str(job["worker"])
    return int(worker.rpartition(":")[2])


def test_kill_9_mid_job_retries_then_fails_for_good(
    client: httpx.Client, live_server: LiveServer
) -> None:
    """First kill: requeued as attempt 2. Second kill: failed with 'worker lost', never running."""
    series_id = random_walk_series(client, n=600)
    job = start_job(client, series_id=series_id, epochs=500, patience=0, units=8, window=20,
                    ensemble=1, references=[])  # fmt: skip
    first = wait_for_progress(client, job["id"])
    os.kill(_job_pid(first), signal.SIGKILL)
    second = wait_for_attempt(client, job["id"], 2)
    assert _job_pid(second) != _job_pid(first)
    # Killed once it has staged (a new attempt first clears what dead ones left there).
    staging = live_server.settings.model_dir / ".staging"
    wait_until(lambda: staging.exists() and list(staging.iterdir()))
    os.kill(_job_pid(second), signal.SIGKILL)
    done = wait_for(client, job["id"], timeout=30)
    assert done["status"] == "failed"
    assert done["error"].startswith("worker lost (killed by signal 9) after 2 attempt(s)")
    assert client.get("/v1/models").json()["total"] == 0
    # The killed process could not remove its staging directory; the next job does.
    assert list(staging.iterdir())
    wait_for(client, start_job(client, series_id=series_id, architecture="naive")["id"])
    assert not list(staging.iterdir())


def test_listing_filters(client: httpx.Client) -> None:
    series_id = random_walk_series(client)
    other = random_walk_series(client, name="other")
    job = start_job(client, series_id=series_id, architecture="naive")  # no network needed
    start_job(client, series_id=other, architecture="naive")
    wait_for(client, job["id"])
    page = client.get("/v1/training-jobs", params={"series_id": series_id}).json()
    assert [j["id"] for j in page["items"]] == [job["id"]]
    for j in client.get("/v1/training-jobs").json()["items"]:
        wait_for(client, j["id"])
    succeeded = client.get("/v1/training-jobs", params={"status": "succeeded"}).json()
    assert succeeded["total"] == 2
    assert_problem(client.get("/v1/training-jobs", params={"status": "done"}), 422)
    assert_problem(client.get("/v1/training-jobs/999"), 404)


def test_corrupt_bundle_is_detected(client: httpx.Client, live_server: LiveServer) -> None:
    series_id = random_walk_series(client)
    wait_for(client, start_job(client, series_id=series_id, **TINY)["id"])
    onnx = live_server.settings.model_dir / "walk-lstm" / "1" / "network.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-10] + b"0123456789")
    body = assert_problem(client.get("/v1/models/walk-lstm/versions/1/artifact"), 503)
    assert "network.onnx" in body["detail"]
    onnx.unlink()
    body = assert_problem(client.get("/v1/models/walk-lstm/versions/1/artifact"), 503)
    assert "missing" in body["detail"]


@pytest.mark.sqlite_only
def test_a_job_whose_series_is_deleted_while_it_runs_fails_and_registers_nothing(
    client: httpx.Client,
) -> None:
    series_id = random_walk_series(client)
    job = start_job(client, series_id=series_id, **{**TINY, "epochs": 60})
    deadline = time.monotonic() + 60
    while client.get(f"/v1/training-jobs/{job['id']}").json()["progress"] is None:
        assert time.monotonic() < deadline, "no epoch reported"
        time.sleep(0.05)
    # It has read its data and is training.
    assert client.delete(f"/v1/series/{series_id}").status_code == 204
    finished = wait_for(client, job["id"])
    assert finished["status"] == "failed", finished
    assert "was deleted while the job ran" in finished["error"], finished["error"]
    assert client.get("/v1/models/walk-lstm").status_code == 404
