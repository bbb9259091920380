"""Forecast serving benchmark: our ONNX path vs. Keras ``predict``, and the HTTP endpoint.

    python -m bench.forecast [--seconds 20]

A default-spec model is trained on MSFT ``high`` through a real API server (embedded worker),
then, side by side in one run:
1. in process, one 60-step window: next-day forecast with the served ONNX forecaster vs.
   ``keras.Model.predict`` on the same network; a 30-step recursive forecast vs. a ``predict``
   loop;
2. over HTTP (uvicorn, one process, 127.0.0.1): the first forecast of a freshly started server
   (bundle loaded and checked on demand), then p50/p95 at concurrency 1;
3. with ``wrk`` (Debian package) at 16 connections for ``--seconds``: forecasts/s (GET horizon 1
   and 30, POST with the client's values) vs. ``/healthz`` requests/s against the same server,
   response cache off: one server process, then one per core (``FORECAST_API_WORKERS``); then
   one process with the default 1 s response cache. Next to each rate, the mean time the
   server itself spent computing a forecast under that load (its ``forecast_latency_seconds``
   histogram: resolve, read, network, intervals), which is what HTTP and the framework do not
   explain.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from bench.common import OUT, database, machine, post_script, server, wrk
from bench.training import train_msft_versions


def _ms(seconds: list[float]) -> tuple[float, float]:
    values = sorted(s * 1000 for s in seconds)
    return statistics.median(values), values[int(0.95 * (len(values) - 1))]


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def bench_in_process(bundle_dir: Path, history: np.ndarray) -> None:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from app.ml.inference import Forecaster, load_forecaster
    from app.ml.transforms import features
    from app.registry.bundle import read_manifest

    forecaster = load_forecaster(bundle_dir, read_manifest(bundle_dir))
    assert isinstance(forecaster, Forecaster)
    network = keras.saving.load_model(bundle_dir / "network.keras")
    scaler, window, transform = forecaster.scaler, forecaster.window, forecaster.transform
    rows = history[None, :]

    def keras_step(h: np.ndarray) -> float:
        x = scaler.transform(features(h, window, transform)).astype(np.float32)[..., None]
        y = float(network.predict(x, verbose=0)[0, 0])
        return float(np.exp(scaler.inverse(np.array(y))) * h[0, -1])  # log-return default

    def keras_loop(h: np.ndarray, steps: int) -> list[float]:
        out: list[float] = []
        for _ in range(steps):
            value = keras_step(h)
            out.append(value)
            h = np.concatenate([h[:, 1:], [[value]]], axis=1)
        return out

    for _ in range(20):
        forecaster.recursive(rows, 1)
    inputs = scaler.transform(features(rows, window, transform)).astype(np.float32)[..., None]
    one_call = _median_ms(
        lambda: forecaster.session.run(None, {forecaster.input_name: inputs}), 2000
    )
    one = _median_ms(lambda: forecaster.recursive(rows, 1), 2000)
    one_k = _median_ms(lambda: keras_step(rows), 30)
    many = _median_ms(lambda: forecaster.recursive(rows, 30), 200)
    many_k = _median_ms(lambda: keras_loop(rows, 30), 3)
    check = np.abs(forecaster.recursive(rows, 30)[0] - np.array(keras_loop(rows, 30))).max()
    print("\n| in process (one window of 60) | ours: ONNX | naive: Keras predict | ratio |")
    print("|---|---|---|---|")
    print(f"| next-day forecast, median | {one:.3f} ms | {one_k:.1f} ms | {one_k / one:.0f}× |")
    print(f"| 30-step recursive, median | {many:.2f} ms | {many_k:.0f} ms | {many_k / many:.0f}× |")
    print(f"\n(the network alone, one ONNX call: {one_call:.3f} ms; 30 steps call it 30 times)")
    print(f"\n(max |ONNX − Keras| over the 30 recursive steps: {check:.2e})")


def _timed_get(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


def bench_latency(base_url: str, model: str) -> None:
    url = f"{base_url}/v1/forecast?model={model}&horizon=1"
    with httpx.Client(timeout=30) as client:
        cold = _timed_get(client, f"{url}&version=1")  # first request of a new process
        fresh = _timed_get(client, f"{url}&version=2")  # a version not loaded yet
        warm = _timed_get(client, f"{url}&version=2")
        timings = []
        for _ in range(500):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            timings.append(time.perf_counter() - started)
        plots = [_timed_get(client, f"{base_url}/v1/models/{model}/versions/2/report.png")
                 for _ in range(5)]  # fmt: skip
    p50, p95 = _ms(timings)
    print("\n| over HTTP, concurrency 1, response cache off | result |\n|---|---|")
    print(f"| first request to a new server process (version 1) | {cold * 1000:.1f} ms |")
    print(f"| first forecast of a freshly loaded version (2: load, sha256 check, ONNX session) "
          f"| {fresh * 1000:.1f} ms (then {warm * 1000:.1f} ms) |")  # fmt: skip
    print(f"| next-day forecast, 500 requests | p50 {p50:.2f} ms, p95 {p95:.2f} ms |")
    print(f"| report.png (holdout + 20-step forecast), median of 5 | {_ms(plots)[0]:.0f} ms |")


def _forecast_seconds(base_url: str) -> tuple[float, float]:
    """Sum and count of the server's ``forecast_latency_seconds`` histogram (all processes)."""
    text = httpx.get(f"{base_url}/metrics").text
    found = {sample.name: sample.value
             for family in text_string_to_metric_families(text) for sample in family.samples
             if sample.name.startswith("forecast_latency_seconds_")}  # fmt: skip
    return found.get("forecast_latency_seconds_sum", 0.0), found.get(
        "forecast_latency_seconds_count", 0.0
    )


def bench_throughput(
    base_url: str, model: str, values: list[float], seconds: int, label: str
) -> None:
    """Forecasts/s next to ``/healthz`` req/s on the same server, in one run: GET horizon 1
    and 30 from the stored series, POST with the client's values."""
    if shutil.which("wrk") is None:
        print("\n(wrk not installed: `apt-get install wrk` for the throughput part)")
        return
    forecast = f"{base_url}/v1/forecast?model={model}"
    targets = [
        ("`/healthz`", f"{base_url}/healthz", None),
        ("`GET /v1/forecast` horizon 1", f"{forecast}&horizon=1", None),
        ("`GET /v1/forecast` horizon 30", f"{forecast}&horizon=30", None),
        (f"`POST /v1/forecast`, {len(values)} values", f"{base_url}/v1/forecast",
         post_script(model, values)),
    ]  # fmt: skip
    print(f"\n| {label}, wrk 16 connections {seconds} s | req/s | p50 | ÷ `/healthz` "
          "| computing the forecast, mean |")  # fmt: skip
    print("|---|---|---|---|---|")
    healthz = 0.0
    for name, target, script in targets:
        total_before, count_before = _forecast_seconds(base_url)
        rate, p50, errors = wrk(target, seconds, script)
        total, count = _forecast_seconds(base_url)
        computed = count - count_before
        body = f"{(total - total_before) / computed * 1000:.3f} ms" if computed else "–"
        healthz = healthz or rate
        failed = f" ({errors} non-2xx)" if errors else ""
        print(f"| {name} | {rate:,.0f}{failed} | {p50} | {rate / healthz:.2f}× | {body} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    with database("sqlite") as url:
        values = train_msft_versions(url, seeds=(1, 2))  # 61: more than the model reads
        history = np.array(values)
        bench_in_process(OUT / "models" / "bench" / "1", history)
        with server(url, forecast_cache_s="0") as fresh:  # a new process: nothing loaded yet
            bench_latency(fresh.base_url, "bench")
            bench_throughput(fresh.base_url, "bench", values, args.seconds,
                             "one server process, response cache off")  # fmt: skip
        every_core = str(len(os.sched_getaffinity(0)))
        with server(url, forecast_cache_s="0", api_workers=every_core) as many:
            bench_throughput(many.base_url, "bench", values, args.seconds,
                             f"{every_core} server processes, response cache off")  # fmt: skip
        with server(url) as default:
            bench_throughput(default.base_url, "bench", values, args.seconds,
                             "one server process, default 1 s response cache")  # fmt: skip


if __name__ == "__main__":
    main()
