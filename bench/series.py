"""Forecast quality on any series: seven real series × the default, the references and auto.

    python -m bench.series            # the table (~50 min): rewrites its section of BENCHMARKS.md
    python -m bench.series --quick    # two seeds, no auto, prints only
    python -m bench.series --quick --only freeway   # only the series whose label has "freeway"
    python -m bench.series --direct   # direct vs recursive LSTM at h = 1, 5, 20, prints only
    python -m bench.series --timing   # default and auto jobs through the API, 10,000 points
    python -m bench.series --api      # the default spec on each series through the API
    python -m bench.series --msft-folds 3   # auto vs naive on MSFT yearly walk-forward folds
    python -m bench.series --windows  # the window the proxy picks vs the network's best
    python -m bench.series --combined-cost   # HTTP cost of a default combined with ar vs alone
    python -m bench.series --odd      # the default through the API on 18 odd but valid series
    python -m bench.series --short    # the default vs the network as trained on short series

Series (``tests/data``, see its README): MSFT ``High`` (a price), monthly sunspots (zeros, an
~11-year cycle), half-hourly electricity demand (daily and weekly seasons), monthly El Niño
1+2 sea temperatures (a yearly season), the quarterly US real interest rate (negatives,
short), and two hourly series with a daily cycle: the mean electricity demand of 321 clients
(weak weekly cycle) and San Francisco freeway occupancy (rush-hour peaks, strong weekly
cycle). For each, the last 20 % is held out and every forecaster makes one-step forecasts from
the true history over it, as the service's report does (the same code: ``app.ml``): naive,
seasonal naive, the statistical references the default spec asks for (whatever
``evaluation.one_step.references`` holds), fitted on the training part with the service's
budget, the default spec (LSTM; 5 seeds, mean and spread), the default GRU, and ``auto``.
``--only TEXT`` keeps the series whose label contains TEXT (then nothing is written).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.config import Settings
from app.ml.baselines import fit_method
from app.ml.calendar import infer_frequency, seasons_for
from app.ml.dataset import DatasetPlan
from app.ml.defaults import Resolved, resolve
from app.ml.evaluate import evaluate, forecast_origins
from app.ml.inference import CombinedForecaster, PointForecaster
from app.ml.metrics import rmse
from app.ml.references import fit_references
from app.ml.results import Tournament
from app.ml.spec import BacktestSpec, TrainingSpec
from app.ml.tournament import one_step_rmse as one_step
from app.ml.tournament import run_tournament
from bench.common import machine, write_benchmarks_section
from tests.support.data import DATA_DIR

DATA = DATA_DIR
SERIES = {
    "MSFT High (daily)": ("msft_daily_1986_2016.csv", "High"),
    "sunspots (monthly)": ("sunspots_monthly.csv", "value"),
    "electricity demand (half-hourly)": ("taylor_halfhourly.csv", "value"),
    "El Niño 1+2 SST (monthly)": ("elnino_monthly.csv", "value"),
    "US real interest rate (quarterly)": ("realint_quarterly.csv", "value"),
    "electricity demand, 321 clients (hourly)": ("electricity_hourly.csv", "value"),
    "SF freeway occupancy (hourly)": ("sf_traffic_hourly.csv", "value"),
}
SEEDS = (42, 43, 44, 45, 46)
SETTINGS = Settings()


def load(filename: str, column: str) -> pd.Series:
    frame = pd.read_csv(DATA / filename)
    index = pd.DatetimeIndex(pd.to_datetime(frame.iloc[:, 0]))
    return pd.Series(frame[column].to_numpy(dtype=float), index=index)


def resolved_default(series: pd.Series, **fields: Any) -> Resolved:
    return resolve(series, TrainingSpec(**fields), infer_frequency(pd.DatetimeIndex(series.index)))


def fit_network(plan: DatasetPlan, spec: TrainingSpec) -> tuple[PointForecaster, float]:
    from app.ml.train import fit_forecaster

    started = time.perf_counter()
    seasons = seasons_for(infer_frequency(plan.dates))
    fitted = fit_forecaster(plan, spec, season_length=spec.season_length or 1, seasons=seasons)
    return fitted.forecaster, time.perf_counter() - started


def auto_forecaster(auto: Resolved, frequency: str | None) -> tuple[PointForecaster, Tournament]:
    """The tournament on a resolved ``auto`` spec, and what it serves fitted on the training
    part (its winner, or the combination of two)."""
    from app.ml.train import fit_tournament_winner

    members, table = run_tournament(
        auto.plan,
        auto.spec,
        budget_s=SETTINGS.auto_budget_s,
        fit_network=lambda sub, s: fit_network(sub, s)[0],
        seasons=seasons_for(frequency),
    )
    season = auto.spec.season_length or 1
    return fit_tournament_winner(auto.plan, members, table, season_length=season).forecaster, table


@dataclass
class Row:
    series: str
    points: int
    choices: str
    ratios: dict[str, float | None]  # one-step RMSE ÷ naive's, by forecaster
    references: list[str]  # the keys of ``ratios`` that are statistical references
    seconds: dict[str, float]
    spread: float
    notes: str

    def best_reference(self) -> tuple[str, float] | None:
        """The reference with the lowest ratio on this series (None if none was fitted)."""
        known = [(m, r) for m in self.references if (r := self.ratios.get(m)) is not None]
        return min(known, key=lambda item: item[1]) if known else None


def bench_series(name: str, series: pd.Series, seeds: tuple[int, ...], with_auto: bool) -> Row:
    from app.ml.train import configure_tensorflow

    configure_tensorflow(None)
    frequency = infer_frequency(pd.DatetimeIndex(series.index))
    default = resolved_default(series)
    spec, plan = default.spec, default.plan
    season = spec.season_length or 1
    started = time.perf_counter()
    refs = fit_references(
        list(spec.references),
        plan.prices[: plan.holdout_start],
        season,
        SETTINGS.reference_budget_s,
        seasons_for(frequency),
    )
    ref_seconds = time.perf_counter() - started
    lstm_scores, lstm_seconds = [], []
    combined: list[str] = []  # the seeds whose default was served combined with ar
    evaluation = None
    for seed in seeds:
        forecaster, seconds = fit_network(plan, spec.model_copy(update={"seed": seed}))
        if isinstance(forecaster, CombinedForecaster):
            combined.append(f"{seed} ({forecaster.weights[0]:.2f}/{forecaster.weights[1]:.2f})")
        if evaluation is None:
            evaluation = evaluate(forecaster, plan, 1, season, refs)
        lstm_scores.append(one_step(forecaster, plan))
        lstm_seconds.append(seconds)
    assert evaluation is not None
    naive = evaluation.one_step.naive.rmse
    # The references the evaluation measured, in the order the spec asks for them, then any
    # other it holds; one that did not fit is absent there and "—" in the table.
    measured = evaluation.one_step.references
    references = [m for m in spec.references if m in measured]
    references += [m for m in measured if m not in references]
    ratios: dict[str, float | None] = {
        "seasonal naive": (
            evaluation.one_step.seasonal_naive.rmse / naive
            if evaluation.one_step.seasonal_naive
            else None
        ),
        **{m: measured[m].rmse / naive for m in references},
        "default LSTM": float(np.mean(lstm_scores)) / naive,
    }
    gru = resolved_default(series, architecture="gru")
    gru_forecaster, gru_seconds = fit_network(gru.plan, gru.spec)
    ratios["default GRU"] = one_step(gru_forecaster, gru.plan) / naive
    seconds = {
        "references": ref_seconds,
        "LSTM (mean)": float(np.mean(lstm_seconds)),
        "GRU": gru_seconds,
    }
    notes = "; ".join(
        [f"{m} {fit.status}" for m, fit in evaluation.references.items() if fit.status != "fitted"]
        + ([f"default LSTM combined with ar for seeds {', '.join(combined)}"] if combined else [])
    )
    if with_auto:
        auto = resolved_default(series, architecture="auto")
        started = time.perf_counter()
        forecaster, table = auto_forecaster(auto, frequency)
        ratios["auto"] = one_step(forecaster, auto.plan) / naive
        seconds["auto"] = time.perf_counter() - started
        notes = "; ".join(filter(None, [notes, f"auto chose {table.winner}"]))
    spread = (max(lstm_scores) - min(lstm_scores)) / float(np.mean(lstm_scores))
    choices = ", ".join(f"{k} {c.value}" for k, c in default.choices.items() if k != "architecture")
    return Row(name, len(plan.prices), choices, ratios, references, seconds, spread, notes)


def columns_of(rows: list[Row]) -> list[str]:
    """Every forecaster any row has a ratio for: seasonal naive, each reference (in the order
    they first appear), then the networks and ``auto``."""
    references: list[str] = []
    for r in rows:
        references += [m for m in r.references if m not in references]
    others: list[str] = []
    for r in rows:
        others += [k for k in r.ratios if k not in references and k not in others]
    return others[:1] + references + others[1:]


def _cell(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "—"


def table(rows: list[Row], seeds: int) -> str:
    columns = columns_of(rows)
    lines = [
        f"One-step RMSE ÷ naive on the last 20 % (lower is better; < 1 beats naive). "
        f"Default LSTM: mean of {seeds} seeds; spread = (max − min) / mean of those seeds. "
        "References: those the service reported (`evaluation.one_step.references`).",
        "",
        "| series | points | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for r in rows:
        cells = [_cell(r.ratios.get(c)) for c in columns]
        lines.append(f"| {r.series} | {r.points:,} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "The default and `auto` against naive and against the best reference of each series "
        "(the one with the lowest ratio above):",
        "",
        "| series | default ÷ naive | auto ÷ naive | best ref | default ÷ best ref "
        "| auto ÷ best ref | LSTM seed spread |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        default, auto = r.ratios["default LSTM"], r.ratios.get("auto")
        best = r.best_reference()
        lines.append(
            f"| {r.series} | {_cell(default)} | {_cell(auto)} | "
            + (f"{best[0]} {best[1]:.3f}" if best else "—") + " | "
            + (_cell(default / best[1]) if best and default is not None else "—") + " | "
            + (_cell(auto / best[1]) if best and auto is not None else "—") + " | "
            + f"{r.spread:.1%} |"
        )  # fmt: skip
    lines += ["", "| series | choices of the default | fit seconds | notes |", "|---|---|---|---|"]
    for r in rows:
        secs = ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items())
        lines.append(f"| {r.series} | {r.choices} | {secs} | {r.notes or '—'} |")
    return "\n".join(lines)


def bench_direct() -> None:
    """Recursive vs direct LSTM on each series: RMSE at h = 1, 5, 20 over the holdout."""
    from app.ml.train import configure_tensorflow

    configure_tensorflow(None)
    print("\n| series | strategy | h=1 | h=5 | h=20 | fit s |\n|---|---|---|---|---|---|")
    for name, (filename, column) in SERIES.items():
        series = load(filename, column)
        for strategy in ("recursive", "direct"):
            resolved = resolved_default(series, strategy=strategy)
            forecaster, seconds = fit_network(resolved.plan, resolved.spec)
            plan = resolved.plan
            origins = np.arange(plan.holdout_start, len(plan.prices))
            predicted, actual = forecast_origins(forecaster, plan.prices, origins, 20)
            cells = []
            for h in (1, 5, 20):
                ok = ~np.isnan(actual[:, h - 1])
                cells.append(f"{rmse(actual[ok, h - 1], predicted[ok, h - 1]):.4g}")
            print(f"| {name} | {strategy} | " + " | ".join(cells) + f" | {seconds:.1f} |")


def bench_windows(only: str | None) -> None:
    """Does the validation proxy pick the window the network itself does best with? For each
    series, every candidate window's proxy score (a ridge autoregression's one-step RMSE ÷
    naive on the validation tail, as the service chooses) next to the default network trained
    with that window (seed 42; its recurrent layers see what they would by default) and scored
    on the holdout."""
    from app.ml.train import configure_tensorflow

    configure_tensorflow(None)
    lines = [
        "| series | candidate: proxy validation ÷ naive / network holdout ÷ naive | proxy "
        "picks | network best | the pick ÷ the best |",
        "|---|---|---|---|---|",
    ]
    for name, (filename, column) in SERIES.items():
        if only and only.lower() not in name.lower():
            continue
        series = load(filename, column)
        first = resolved_default(series)  # every candidate on the same holdout: from its date on
        test_start = first.plan.dates[first.plan.holdout_start].date()
        default = resolved_default(series, test_start=test_start)
        choice = default.choices["window"]
        naive = one_step(
            fit_method("naive", default.plan.prices[: default.plan.holdout_start], 1), default.plan
        )
        network: dict[int, float] = {}
        cells = []
        for key, proxy in (choice.candidates or {}).items():
            window = int(key)
            spec = default.spec.model_copy(
                update={
                    "window": window,
                    "network_window": min(window, default.spec.recurrent_window),
                }
            )
            plan = resolved_default(series, window=window, test_start=test_start).plan
            network[window] = one_step(fit_network(plan, spec)[0], plan) / naive
            shown = f"{proxy:.3f}" if proxy is not None else "–"
            cells.append(f"{window}: {shown} / {network[window]:.3f}")
        picked = default.spec.input_window
        best = min(network, key=network.__getitem__)
        lines.append(
            f"| {name} | {', '.join(cells)} | {picked} | {best} | "
            f"{network[picked] / network[best]:.3f} |"
        )
        print(lines[-1], flush=True)
    print("\n".join(lines))


def short_series(kind: str, length: int, draw: int) -> pd.Series:
    """One draw of a short series: a random walk of business days, an AR(1) of quarters (it
    mean-reverts: there is something to learn) or a monthly season in noise."""
    rng = np.random.default_rng(1000 + draw)
    if kind == "random walk (daily)":
        return pd.Series(
            50 + np.cumsum(rng.normal(0, 1, length)),
            index=pd.bdate_range("2000-01-03", periods=length),
        )
    if kind == "AR(1) 0.8 (quarterly)":
        values = np.zeros(length)
        for i in range(1, length):
            values[i] = 0.8 * values[i - 1] + rng.normal()
        return pd.Series(values, index=pd.date_range("1970-03-31", periods=length, freq="QE"))
    months = np.arange(length)
    return pd.Series(
        20 + 5 * np.sin(2 * np.pi * months / 12) + rng.normal(0, 1, length),
        index=pd.date_range("1970-01-31", periods=length, freq="ME"),
    )


SHORT_CASES = (
    ("random walk (daily)", 120),
    ("random walk (daily)", 250),
    ("AR(1) 0.8 (quarterly)", 120),
    ("AR(1) 0.8 (quarterly)", 250),
    ("monthly season in noise", 120),
)


def bench_short(draws: int = 12) -> None:
    """The default spec on short series, where 10 % of the training windows is under the 30
    forecasts a leaning weight is fitted on, next to the same network served as trained (no
    leaning, no gate with ``ar``: what the default served on such series before the probe asked
    for 60 windows); holdout one-step RMSE ÷ naive over ``draws`` draws of each kind."""
    from app.ml.train import configure_tensorflow

    configure_tensorflow(None)
    print(
        f"\n{machine()}\n\n| series | points | draws | as trained: mean / median / max "
        "| default: mean / median / max | draws the default served otherwise |"
        "\n|---|---|---|---|---|---|"
    )
    for kind, length in SHORT_CASES:
        trained, served, leaned = [], [], 0
        for draw in range(draws):
            default = resolved_default(short_series(kind, length, draw))
            spec, plan = default.spec, default.plan
            naive = one_step(fit_method("naive", plan.prices[: plan.holdout_start], 1), plan)
            as_trained = spec.model_copy(
                update={"lean_toward_naive": False, "combine_with_ar": False}
            )
            trained.append(one_step(fit_network(plan, as_trained)[0], plan) / naive)
            forecaster = fit_network(plan, spec)[0]
            served.append(one_step(forecaster, plan) / naive)
            leaned += served[-1] != trained[-1]
        cells = [
            f"{np.mean(r):.3f} / {np.median(r):.3f} / {np.max(r):.3f}" for r in (trained, served)
        ]
        print(f"| {kind} | {length} | {draws} | {cells[0]} | {cells[1]} | {leaned} |", flush=True)


# How long the timing bench lets a fresh service's worker import TensorFlow before its
# "first job of a started worker" (the import takes ~5 s here).
WORKER_START_S = 20.0


def bench_timing() -> None:
    """Default and auto jobs through the API on a 10,000-point series, queued → succeeded:
    the first posted the moment the service answers (it waits for its worker process to import
    TensorFlow), the first one once that worker has started, and warm ones."""
    import httpx

    from bench.common import database, server
    from bench.training import run_job, seconds_between

    rng = np.random.default_rng(0)
    dates = pd.bdate_range("1980-01-01", periods=10_000)
    values = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, len(dates))))
    body = {
        "name": "walk10k",
        "observations": [
            {"date": d.strftime("%Y-%m-%d"), "close": float(v)}
            for d, v in zip(dates, values, strict=True)
        ],
    }
    print(
        "\n| job | status | wall (202 → succeeded) | queued → running | train s | served |"
        "\n|---|---|---|---|---|---|"
    )
    sessions = (
        (0.0, (("default, posted as the service starts", {}),
               ("default", {"model_name": "again"}),
               ("auto", {"architecture": "auto"}))),
        (WORKER_START_S, ((f"default, first job, posted {WORKER_START_S:.0f} s after start", {}),)),
    )  # fmt: skip
    for pause, runs in sessions:
        with (
            database("sqlite") as url,
            server(url) as srv,
            httpx.Client(base_url=srv.base_url, timeout=120) as client,
        ):
            series_id = client.post("/v1/series", json=body).json()["id"]
            time.sleep(pause)
            for label, spec in runs:
                job = run_job(client, {"series_id": series_id, **spec})
                ref = job.get("model_version")
                version = client.get(ref["url"]).json() if ref else {}
                wait = seconds_between(job["created_at"], job["started_at"])
                print(
                    f"| {label} | {job['status']} | {job['wall_s']:.1f} s | {wait:.1f} s | "
                    f"{version.get('train_seconds', float('nan')):.1f} | "
                    f"{version.get('spec', {}).get('architecture', '—')} |"
                )


def bench_api_defaults() -> None:
    """Each series uploaded as its CSV file and trained with the default spec (only
    ``series_id`` and ``target``) through the API, as a user would: the job's outcome, what the
    service chose and the version's holdout RMSE ÷ naive."""
    import httpx

    from bench.common import database, server
    from bench.training import run_job

    print(
        "\n| series | status | wall (202 → succeeded) | served | window | transform "
        "| holdout RMSE ÷ naive |\n|---|---|---|---|---|---|---|"
    )
    with (
        database("sqlite") as url,
        server(url) as srv,
        httpx.Client(base_url=srv.base_url, timeout=120) as client,
    ):
        for number, (name, (filename, column)) in enumerate(SERIES.items()):
            upload = client.post(
                "/v1/series",
                files={"file": (filename, (DATA / filename).read_bytes(), "text/csv")},
                data={"name": f"series-{number}"},
            )
            upload.raise_for_status()
            job = run_job(client, {"series_id": upload.json()["id"], "target": column.lower()})
            ref = job.get("model_version")
            version = client.get(ref["url"]).json() if ref else {}
            metrics, spec = version.get("metrics", {}), version.get("spec", {})
            ratio = metrics["model"]["rmse"] / metrics["naive"]["rmse"] if metrics else float("nan")
            print(
                f"| {name} | {job['status']} | {job['wall_s']:.1f} s | "
                f"{spec.get('architecture', '—')} | {spec.get('window', '—')} | "
                f"{spec.get('target_transform', '—')} | {ratio:.3f} |",
                flush=True,
            )


def bench_msft_folds(folds: int) -> None:
    """auto vs naive on MSFT yearly walk-forward folds (the last ``folds`` of bench.accuracy's
    ten): auto refitted on the data before each cutoff, one-step RMSE over each fold's year."""
    from app.ml.backtest import fold_layout

    series = load(*SERIES["MSFT High (daily)"])
    prices, dates = series.to_numpy(), pd.DatetimeIndex(series.index)
    layout = fold_layout(len(prices), BacktestSpec(windows=10, step=252, horizon=20))[-folds:]
    print(
        "\n| cutoff | auto chose | auto RMSE | naive RMSE | auto ÷ naive |\n|---|---|---|---|---|"
    )
    ratios = []
    for fold in layout:
        cutoff = fold.cutoff
        before = pd.Series(prices[: cutoff + 252], index=dates[: cutoff + 252])
        test_start = dates[cutoff].date()
        auto = resolve(before, TrainingSpec(architecture="auto", test_start=test_start), "B")
        forecaster, tournament = auto_forecaster(auto, "B")
        model = one_step(forecaster, auto.plan)
        naive = one_step(
            fit_method("naive", auto.plan.prices[: auto.plan.holdout_start], 1), auto.plan
        )
        ratios.append(model / naive)
        print(
            f"| {dates[cutoff]:%Y-%m-%d} | {tournament.winner} | {model:.4f} | {naive:.4f} | "
            f"{model / naive:.4f} |"
        )
    print(f"\nmean auto ÷ naive over {len(ratios)} folds: {np.mean(ratios):.4f}")


def bench_combined_cost(rounds: int = 30) -> None:
    """What serving the default combined with ``ar`` costs over HTTP: SF freeway occupancy
    uploaded as its CSV and trained twice with seed 42, by the default spec (the gate combines
    the network with ``ar`` on this series) and with ``combine_with_ar: false`` (the same
    network alone: the default before the combination). One server then serves both, with no
    response cache and no job process competing (jobs go to a broker nobody consumes), one
    request to each model in turn (each first half the time), so that both see the same
    moments of a noisy machine: the median of each model's requests."""
    import http.client
    import json

    import httpx

    from bench.common import database, server
    from bench.serving_ab import BATCH, BROKER, call
    from bench.training import run_job

    filename, column = SERIES["SF freeway occupancy (hourly)"]
    with database("sqlite") as url:
        with server(url) as srv, httpx.Client(base_url=srv.base_url, timeout=120) as client:
            upload = client.post(
                "/v1/series",
                files={"file": (filename, (DATA / filename).read_bytes(), "text/csv")},
                data={"name": "sf"},
            )
            upload.raise_for_status()
            series_id = upload.json()["id"]
            for model, extra in (("combined", {}), ("alone", {"combine_with_ar": False})):
                spec = {"series_id": series_id, "target": column.lower(), "seed": 42}
                job = run_job(client, {**spec, "model_name": model, **extra})
                assert job["status"] == "succeeded", job
            combination = client.get("/v1/models/combined/versions/1/report").json()["choices"][
                "combination"
            ]
            rows = client.get(f"/v1/series/{series_id}/observations").json()["observations"]
        if not combination["value"].endswith("+ar"):
            print(f"the gate did not combine the default with ar: {combination}")
            return
        values = [float(r[column.lower()]) for r in rows[-200:]]  # ar's 170 and a margin
        targets = {
            "`GET /v1/forecast` horizon 1": ("GET", "/v1/forecast?model={}&horizon=1", None),
            "`GET /v1/forecast` horizon 30": ("GET", "/v1/forecast?model={}&horizon=30", None),
            f"`POST /v1/forecast`, {len(values)} values": ("POST", "/v1/forecast", values),
        }
        times: dict[tuple[str, str], list[float]] = {}
        with server(url, forecast_cache_s="0", broker_url=BROKER) as srv:
            host, port = srv.base_url.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port))
            requests = {
                (model, target): (
                    method,
                    path.format(model),
                    json.dumps({"model": model, "values": body}) if body else None,
                )
                for model in ("alone", "combined")
                for target, (method, path, body) in targets.items()
            }
            for method, path, body in requests.values():  # load the bundles
                for _ in range(30):
                    call(conn, method, path, body)
            for _ in range(rounds):
                for target in targets:
                    for turn in range(2 * BATCH):  # one request each in turn, either first
                        model = ("alone", "combined")[(turn + turn // 2) % 2]
                        method, path, body = requests[(model, target)]
                        started = time.perf_counter()
                        call(conn, method, path, body)
                        elapsed = (time.perf_counter() - started) * 1000
                        times.setdefault((model, target), []).append(elapsed)
    print(
        f"\n{machine()}\n\nThe gate: {combination['value']} ({combination['reason']})\n\n"
        f"| median ms per request ({rounds * BATCH} each, in turn, concurrency 1) | network alone "
        "| combined with ar | combined ÷ alone |\n|---|---|---|---|"
    )
    for target in targets:
        alone, both = (float(np.median(times[(m, target)])) for m in ("alone", "combined"))
        print(f"| {target} | {alone:.3f} | {both:.3f} | {both / alone:.2f} |")


def odd_series() -> dict[str, pd.Series]:
    """Valid series a user may well send that none of the seven resemble: flat, stepped,
    smooth, tiny or huge, sparse counts, irregular dates, short."""
    rng = np.random.default_rng(11)

    def walk(n: int, sd: float = 1.0) -> np.ndarray:
        return np.cumsum(rng.normal(0, sd, n))

    days = lambda n: pd.bdate_range("2000-01-03", periods=n)  # noqa: E731
    hours = lambda n: pd.date_range("2020-01-01", periods=n, freq="h")  # noqa: E731
    irregular = pd.DatetimeIndex(
        sorted(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.choice(5000, 400, False), "h"))
    )
    cases = {
        "constant": (days(300), np.full(300, 5.0)),
        "one spike in a constant": (days(300), np.where(np.arange(300) == 150, 50.0, 5.0)),
        "zeros, then a reflected walk": (days(300), np.r_[np.zeros(150), 1 + abs(walk(150))]),
        "negative random walk": (days(400), -100 + walk(400)),
        "random walk at 1e12": (days(400), 1e12 * np.exp(walk(400, 0.01))),
        "random walk at 1e-9": (days(400), 1e-9 * np.exp(walk(400, 0.01))),
        "sparse counts (Poisson 0.3)": (days(400), rng.poisson(0.3, 400).astype(float)),
        "one step": (days(400), np.r_[np.full(200, 10.0), np.full(200, 20.0)]
                     + rng.normal(0, 0.01, 400)),
        "80 days of a random walk": (days(80), 50 + walk(80)),
        "pure daily sine (hourly)": (hours(1000), 10 + np.sin(2 * np.pi * np.arange(1000) / 24)),
        "straight line": (days(400), np.arange(400) * 0.5 + 10),
        "exponential growth": (days(500), 10 * np.exp(np.arange(500) * 0.01)),
        "alternating ±1": (days(300), 10 + (-1.0) ** np.arange(300)),
        "random walk with rare huge outliers": (
            days(500), 100 + walk(500) + np.where(rng.random(500) < 0.01, 1e4, 0)),
        "50 quarters of a random walk": (
            pd.date_range("1970-03-31", periods=50, freq="QE"), walk(50)),
        "irregular dates": (irregular, 10 + walk(400)),
        "white noise, 10,000 hours": (hours(10_000), rng.normal(0, 1, 10_000)),
        "zero every night (hourly)": (
            hours(2000), np.where(np.arange(2000) % 24 < 12, 0.0, 1 + rng.random(2000))),
    }  # fmt: skip
    return {name: pd.Series(values, index=index) for name, (index, values) in cases.items()}


def bench_odd() -> None:
    """The default spec through the API on :func:`odd_series`: does every job succeed (or get a
    422 that says why), what was served, and its holdout RMSE ÷ naive next to ``ar``'s."""
    import httpx

    from bench.common import database, server
    from bench.training import run_job

    print(
        f"\n{machine()}\n\n| series | points | outcome | served | default ÷ naive "
        "| ar ÷ naive | combined with ar |\n|---|---|---|---|---|---|---|"
    )
    with (
        database("sqlite") as url,
        server(url) as srv,
        httpx.Client(base_url=srv.base_url, timeout=120) as client,
    ):
        for number, (name, series) in enumerate(odd_series().items()):
            csv = series.rename("value").rename_axis("date").to_csv(date_format="%Y-%m-%dT%H:%M:%S")
            upload = client.post(
                "/v1/series",
                files={"file": ("odd.csv", csv.encode(), "text/csv")},
                data={"name": f"odd-{number}"},
            )
            row = f"| {name} | {len(series):,} |"
            if upload.status_code != 201:
                print(f"{row} upload {upload.status_code}: {_problem(upload)} | | | | |")
                continue
            try:
                done = run_job(client, {"series_id": upload.json()["id"], "target": "value"})
            except httpx.HTTPStatusError as refused:
                print(f"{row} job {refused.response.status_code}: {_problem(refused.response)} "
                      "| | | | |")  # fmt: skip
                continue
            if done["status"] != "succeeded":
                print(f"{row} {done['status']}: {done.get('error')} | | | | |", flush=True)
                continue
            version = client.get(done["model_version"]["url"]).json()
            metrics = version["metrics"]
            ar = (metrics.get("references") or {}).get("ar")
            model, naive = metrics["model"]["rmse"], metrics["naive"]["rmse"]
            shown = [f"{r / naive:.3f}" if naive and r is not None else "–"
                     for r in (model, ar["rmse"] if ar else None)]  # fmt: skip
            combination = version["bundle"]["choices"].get("combination", {}).get("value", "–")
            print(
                f"{row} succeeded | {version['spec']['architecture']} | {shown[0]} | "
                f"{shown[1]} | {combination} |",
                flush=True,
            )


def _problem(response: Any) -> str:
    body = response.json()
    items = "; ".join(e.get("message", "") for e in body.get("errors", [])[:2])
    return f"{body.get('detail')} {items}".strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--direct", action="store_true")
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--api", action="store_true")
    parser.add_argument("--msft-folds", type=int, default=0)
    parser.add_argument("--combined-cost", action="store_true")
    parser.add_argument("--odd", action="store_true", help="the default on odd valid series")
    parser.add_argument("--short", action="store_true", help="the default on short series")
    parser.add_argument(
        "--windows", action="store_true", help="the proxy's window vs the network's"
    )
    parser.add_argument(
        "--only", metavar="TEXT", help="only the series whose label contains TEXT (no rewrite)"
    )
    args = parser.parse_args()
    if args.direct:
        bench_direct()
        return
    if args.timing:
        bench_timing()
        return
    if args.api:
        bench_api_defaults()
        return
    if args.msft_folds:
        bench_msft_folds(args.msft_folds)
        return
    if args.combined_cost:
        bench_combined_cost()
        return
    if args.odd:
        bench_odd()
        return
    if args.short:
        bench_short()
        return
    if args.windows:
        bench_windows(args.only)
        return
    seeds = SEEDS[:2] if args.quick else SEEDS
    chosen = {n: s for n, s in SERIES.items() if (args.only or "").lower() in n.lower()}
    if not chosen:
        parser.error(f"no series label contains {args.only!r}: {', '.join(SERIES)}")
    rows = []
    for name, (filename, column) in chosen.items():
        started = time.perf_counter()
        rows.append(bench_series(name, load(filename, column), seeds, with_auto=not args.quick))
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    text = f"{machine()}\n\n" + table(rows, len(seeds))
    print(text)
    if not args.quick and not args.only:
        write_benchmarks_section("series", "## Any series (`python -m bench.series`)", text)


if __name__ == "__main__":
    main()
