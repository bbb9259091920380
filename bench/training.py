"""Training benchmark: the tutorial LSTM recipe vs. our default spec, and worker scaling.

    python -m bench.training [--tutorial-epochs 50] [--only recipes|celery|embedded|pipeline]

1. Through a real API server (embedded worker pool, one job at a time), on MSFT ``high``,
   trained on 2006–2015 and evaluated on 2016 (one step ahead): wall time from 202 to
   ``succeeded``, holdout RMSE, and the naive-persistence RMSE on the same days. Also how long
   each job waited between ``queued`` and ``running``.
2. Celery with Redis: 8 small jobs finished by one worker process, then by two (TensorFlow
   limited to one thread per worker), side by side in the same run.
3. The embedded pool: small jobs one after another through one worker slot, with a fresh job
   process per job (``FORECAST_JOBS_PER_PROCESS=1``) and with processes reused (the default),
   side by side in the same run.
4. The training input pipeline: the default network fitted from NumPy arrays (Keras' adapter)
   and from ours, alternating, with the same initial weights (time and weight difference).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from typing import Any

import httpx

from app.training.schemas import TUTORIAL_LSTM as TUTORIAL
from bench.common import OUT, database, machine, server
from tests.support.data import MSFT_CSV, ROOT

TUTORIAL_LSTM = {k: v for k, v in TUTORIAL.items() if k not in ("series_id", "target")}
HOLDOUT = {"target": "high", "start": "2006-01-01", "test_start": "2016-01-01"}
SMALL_JOB = {"units": 8, "epochs": 3, "window": 20, "patience": 0, "validation_fraction": 0}


def upload_msft(client: httpx.Client) -> int:
    with MSFT_CSV.open("rb") as f:
        response = client.post(
            "/v1/series",
            files={"file": (MSFT_CSV.name, f)},
            data={"name": "MSFT", "exchange": "XNYS"},
        )
    response.raise_for_status()
    series_id: int = response.json()["id"]
    return series_id


def run_job(client: httpx.Client, spec: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    started = time.perf_counter()
    response = client.post("/v1/training-jobs", json=spec)
    response.raise_for_status()
    job_id = response.json()["id"]
    while True:
        job: dict[str, Any] = client.get(f"/v1/training-jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            job["wall_s"] = time.perf_counter() - started
            return job
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"job {job_id} did not finish in {timeout} s")
        time.sleep(0.2)


def seconds_between(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def bench_recipes(tutorial_epochs: int) -> None:
    print(
        "\n| spec | wall (202 → succeeded) | queued → running | epochs run | holdout RMSE "
        "| naive RMSE | RMSE / naive |\n|---|---|---|---|---|---|---|"
    )
    with (
        database("sqlite") as url,
        server(url) as srv,
        httpx.Client(base_url=srv.base_url, timeout=60) as client,
    ):
        series_id = upload_msft(client)
        specs = {
            f"tutorial LSTM (4×50, MinMax levels, {tutorial_epochs} epochs)": {
                **TUTORIAL_LSTM, "epochs": tutorial_epochs, "model_name": "tutorial-lstm",
            },
            "our default spec": {"model_name": "default"},
        }  # fmt: skip
        for label, spec in specs.items():
            job = run_job(client, {"series_id": series_id, **HOLDOUT, **spec})
            if job["status"] != "succeeded":
                raise RuntimeError(f"{label}: {job['status']} {job['error']}")
            ref = job["model_version"]
            version = client.get(f"/v1/models/{ref['name']}/versions/{ref['version']}").json()
            model, naive = version["metrics"]["model"]["rmse"], version["metrics"]["naive"]["rmse"]
            wait = seconds_between(job["created_at"], job["started_at"])
            print(
                f"| {label} | {job['wall_s']:.1f} s | {wait:.2f} s | {version['epochs_run']} | "
                f"{model:.3f} | {naive:.3f} | {model / naive:.2f} |"
            )


def start_celery_worker(env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "app.training.jobs.celery_app:celery", "worker",
         "--loglevel", "WARNING", "--hostname", f"{name}@%h", "--without-gossip",
         "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def bench_celery(jobs: int = 8) -> None:
    broker = os.environ.get("FORECAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    print(f"\n| Celery workers (1 TF thread each) | {jobs} small jobs, wall | per job |")
    print("|---|---|---|")
    timings = {}
    for count in (1, 2):
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        with database("sqlite") as url, server(url, broker_url=broker, queue=queue) as srv:
            env = {
                **os.environ, "FORECAST_DATABASE_URL": url, "FORECAST_BROKER_URL": broker,
                "FORECAST_QUEUE": queue, "FORECAST_MODEL_DIR": str(OUT / "models"),
                "FORECAST_TF_THREADS": "1",
            }  # fmt: skip
            workers = [start_celery_worker(env, f"bench{i}-{queue}") for i in range(count)]
            try:
                with httpx.Client(base_url=srv.base_url, timeout=60) as client:
                    series_id = upload_msft(client)
                    time.sleep(5)  # let the workers boot before the clock starts
                    started = time.perf_counter()
                    ids = [
                        client.post(
                            "/v1/training-jobs",
                            json={
                                "series_id": series_id,
                                **HOLDOUT,
                                **SMALL_JOB,
                                "model_name": "small",
                            },
                        ).json()["id"]
                        for _ in range(jobs)
                    ]
                    while any(
                        client.get(f"/v1/training-jobs/{i}").json()["status"]
                        in ("queued", "running")
                        for i in ids
                    ):
                        time.sleep(0.5)
                    timings[count] = time.perf_counter() - started
            finally:
                for worker in workers:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
        print(f"| {count} | {timings[count]:.1f} s | {timings[count] / jobs:.1f} s |")
    print(f"\nTwo workers take {timings[2] / timings[1]:.2f}× the time of one.")


def bench_embedded(jobs: int = 6) -> None:
    print(
        f"\n| embedded pool, 1 slot | {jobs} small jobs in a row, wall | per job "
        "| queued → running, mean |\n|---|---|---|---|"
    )
    timings = {}
    for per_process in (1, 10):
        with (
            database("sqlite") as url,
            server(url, workers="1", jobs_per_process=str(per_process), tf_threads="1") as srv,
            httpx.Client(base_url=srv.base_url, timeout=60) as client,
        ):
            series_id = upload_msft(client)
            time.sleep(10)  # the first job process finishes importing TensorFlow
            started = time.perf_counter()
            waits = []
            for _ in range(jobs):
                job = run_job(client, {"series_id": series_id, **HOLDOUT, **SMALL_JOB})
                if job["status"] != "succeeded":
                    raise RuntimeError(f"{job['status']} {job['error']}")
                waits.append(seconds_between(job["created_at"], job["started_at"]))
            timings[per_process] = time.perf_counter() - started
        print(
            f"| FORECAST_JOBS_PER_PROCESS={per_process} | {timings[per_process]:.1f} s "
            f"| {timings[per_process] / jobs:.1f} s | {sum(waits) / jobs:.2f} s |"
        )
    print(
        f"\nReusing processes: {timings[10] / timings[1]:.2f}× the wall time of a new one per job."
    )


def bench_input_pipeline(rounds: int = 3) -> None:
    """The default network on 1,260 days (without its autoregression layer: the input pipeline
    is what differs) fitted from NumPy arrays (Keras' own adapter) and from
    :func:`app.ml.train.training_batches`, alternating, in this process (one TF thread)."""
    import keras
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    from app.ml.defaults import resolve
    from app.ml.networks import networks_for
    from app.ml.spec import TrainingSpec
    from app.ml.train import configure_tensorflow, training_batches

    configure_tensorflow(1)
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2020-01-01", periods=1260)
    values = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates)))), index=dates)
    spec = resolve(values, TrainingSpec(), "B").spec
    x, val_x = (rng.normal(size=(n, spec.input_window, 1)).astype(np.float32) for n in (900, 100))
    y, val_y = (rng.normal(size=(n, 1, 1)).astype(np.float32) for n in (900, 100))

    def fit(numpy: bool) -> tuple[float, list[np.ndarray]]:
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(1)
        tf.config.experimental.enable_op_determinism()
        network = networks_for(spec).trained
        started = time.perf_counter()
        if numpy:
            network.fit(x, y, epochs=spec.epochs, batch_size=spec.mini_batch, shuffle=False,
                        validation_data=(val_x, val_y), verbose=0)  # fmt: skip
        else:
            network.fit(training_batches(x, y, spec.mini_batch), epochs=spec.epochs, shuffle=False,
                        validation_data=training_batches(val_x, val_y, spec.mini_batch),
                        verbose=0)  # fmt: skip
        return time.perf_counter() - started, network.get_weights()

    fit(numpy=False)  # the first fit traces the training step
    times: dict[bool, list[float]] = {True: [], False: []}
    diff = 0.0
    for _ in range(rounds):
        (a, weights_a), (b, weights_b) = fit(numpy=True), fit(numpy=False)
        times[True].append(a)
        times[False].append(b)
        diff = max(
            [
                diff,
                *(float(np.max(np.abs(u - v))) for u, v in zip(weights_a, weights_b, strict=True)),
            ]
        )
    print(f"\n| default network, {spec.epochs} epochs, batch {spec.mini_batch} | fit, median of "
          f"{rounds} |\n|---|---|")  # fmt: skip
    for numpy, label in ((True, "NumPy arrays (Keras' adapter)"), (False, "training_batches")):
        print(f"| {label} | {sorted(times[numpy])[rounds // 2]:.2f} s |")
    ratio = sorted(times[False])[rounds // 2] / sorted(times[True])[rounds // 2]
    print(f"\ntraining_batches: {ratio:.2f}× the time; weights differ by at most {diff:.3g}.")


def train_msft_versions(url: str, seeds: tuple[int, ...]) -> list[float]:
    """Versions 1… of model ``bench`` (default spec on MSFT ``high``, one per seed) on the
    database at ``url``; returns the series' last 61 ``high`` values."""
    with server(url) as srv, httpx.Client(base_url=srv.base_url, timeout=60) as client:
        series_id = upload_msft(client)
        for seed in seeds:
            spec = {"series_id": series_id, **HOLDOUT, "model_name": "bench", "seed": seed}
            job = run_job(client, spec)
            assert job["status"] == "succeeded", job
        rows = client.get(f"/v1/series/{series_id}/observations", params={"field": "high"}).json()[
            "observations"
        ]
    return [float(r["high"]) for r in rows[-61:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tutorial-epochs", type=int, default=50)
    parser.add_argument("--only", choices=("recipes", "celery", "embedded", "pipeline"))
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    if args.only in (None, "recipes"):
        bench_recipes(args.tutorial_epochs)
    if args.only in (None, "celery"):
        bench_celery()
    if args.only in (None, "embedded"):
        bench_embedded()
    if args.only in (None, "pipeline"):
        bench_input_pipeline()


if __name__ == "__main__":
    main()
