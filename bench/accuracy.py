"""Forecast accuracy on MSFT walk-forward folds: tutorial recipes vs our defaults vs baselines.

    python -m bench.accuracy               # the full run: rewrites the table in BENCHMARKS.md
    python -m bench.accuracy --quick       # 3 folds, no tutorial recipes, BENCHMARKS.md untouched
    python -m bench.accuracy --candidates  # how the defaults were chosen (~45 min), prints only
    python -m bench.accuracy --intervals   # plain vs volatility-normalised intervals, prints only
    python -m bench.accuracy --defaults-hold   # the default and auto on the ten folds, with
                                               # coverage per step: rewrites its own section
    python -m bench.accuracy --defaults-hold --folds 1   # the last fold only, prints only

MSFT ``High`` (``tests/data``), 10 rolling-origin folds of 252 sessions (one trading year)
each, horizon 20, laid out by :func:`app.ml.backtest.fold_layout` so that the last origin's
20-step horizon ends on 2016-12-30: cutoffs from late 2006 to late 2015, one-step test points
from 2006-11 to 2016-12. Every number is measured on data the network never trained on, with
the served forecaster (the ONNX export), in price units.

- Our LSTM and GRU defaults and the baselines are refitted on every fold (data before its
  cutoff only; the last ``test_fraction`` (20 %) of it is the holdout that calibrates the
  intervals, and early stopping watches the last ``validation_fraction`` of the part before).
  The baselines every row is compared with are fitted on all the data before each cutoff.
- The tutorial recipes (``TUTORIAL_LSTM`` / ``TUTORIAL_GRU``: 4×50 units, MinMax-scaled levels,
  50 epochs, no early stopping) take minutes per fit here, so they are trained once, on the
  data before the first cutoff (its last year held out to calibrate their intervals:
  ``TUTORIAL_HOLDOUT``), and scored on every fold without refit (``refit=false``). Their
  20-step forecasts are the tutorials' recursive generation (each prediction fed back).
- ``--defaults-hold``: what a user gets by asking for nothing (the service's default spec) and
  for ``architecture: auto``, on the same ten folds. At every cutoff each is resolved on the
  data before it, as the service resolves a job (window, transform, … chosen there; ``auto``'s
  tournament runs inside its training part), trained with the service's code
  (``fit_forecaster``; ``auto``: ``run_tournament``, then its winner) and scored on the fold's
  252 origins × 20 steps: one-step RMSE ÷ naive's per fold, and interval coverage at steps 1,
  5, 10 and 20 from the intervals the fitted forecaster carries (calibrated on the last 20 %
  before the cutoff), pooled over the folds' origins. (``bench.series --msft-folds`` scores
  ``auto`` differently: the fold's year is its holdout, so it trains on everything before it.)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.ml.backtest import fold_layout, fold_plan, run_backtest
from app.ml.backtest_metrics import Fold, FoldErrors, Scored, fold_errors
from app.ml.baselines import fit_baseline
from app.ml.calendar import infer_frequency, seasons_for
from app.ml.dataset import DatasetPlan
from app.ml.defaults import resolve
from app.ml.evaluate import FittedForecaster, fitted_baseline, recursive_holdout
from app.ml.intervals import calibrate, residuals
from app.ml.metrics import rmse
from app.ml.spec import BacktestSpec, TrainingSpec
from bench.common import OUT, machine, write_benchmarks_section
from tests.support.data import MSFT_CSV

TARGET = "High"
SEASON = 5  # business days: a week
FOLDS = BacktestSpec(windows=10, step=252, horizon=20)
QUICK_FOLDS = BacktestSpec(windows=3, step=252, horizon=20)
TUTORIAL_HOLDOUT = 0.05  # of the ~5,200 sessions before the first cutoff: about one year


def tutorial_specs() -> dict[str, TrainingSpec]:
    from app.training.schemas import TUTORIAL_GRU, TUTORIAL_LSTM

    def spec(recipe: dict[str, Any]) -> TrainingSpec:
        return TrainingSpec.model_validate(
            {k: v for k, v in recipe.items() if k not in ("series_id", "target", "model_name")}
        )

    return {"tutorial LSTM": spec(TUTORIAL_LSTM), "tutorial GRU": spec(TUTORIAL_GRU)}


def as_default(change: dict[str, Any]) -> TrainingSpec:
    """The spec with the choices the service makes for MSFT (log returns, window 20, …), made
    on the data before the first fold's cutoff."""
    prices, dates = load()
    first = dates[fold_layout(len(prices), FOLDS)[0].cutoff]
    series = pd.Series(prices, index=dates)[dates < first]
    return resolve(series, TrainingSpec.model_validate(change), "B").spec


def our_specs() -> dict[str, TrainingSpec]:
    return {
        "our LSTM default": as_default({"architecture": "lstm"}),
        "our GRU default": as_default({"architecture": "gru"}),
    }


# How the defaults were chosen: each candidate on the 10 yearly folds of 2006–2016 (the table's
# folds) and, as a check outside them, on 10 folds of 1996–2006 (data cut at the first 2006
# cutoff). Seed variants on 2006–2016 only.
BOTH = ("2006–2016", "1996–2006")
CANDIDATES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("LSTM, window 60, drift learned (the old default)", {"window": 60, "drift": "learned"}, BOTH),
    ("LSTM, window 60, drift baseline", {"window": 60}, BOTH),
    ("LSTM, window 20, drift baseline (default)", {}, BOTH),
    ("LSTM default, seed 7", {"seed": 7}, BOTH[:1]),
    ("GRU, window 60, drift baseline", {"architecture": "gru", "window": 60}, BOTH),
    ("GRU, window 20, drift baseline (default)", {"architecture": "gru"}, BOTH),
    ("GRU default, seed 7", {"architecture": "gru", "seed": 7}, BOTH[:1]),
]


def candidates() -> None:
    from app.ml.train import configure_tensorflow, fit_forecaster

    configure_tensorflow(int(os.environ.get("BENCH_TF_THREADS", "0")) or None)
    prices, dates = load()
    first_test_cutoff = dates[fold_layout(len(prices), FOLDS)[0].cutoff]
    early = dates < first_test_cutoff
    periods = {BOTH[0]: (prices, dates), BOTH[1]: (prices[early], dates[early])}
    print(f"Machine: {machine()}\n")
    print("| candidate | folds | one-step × naive | h=20 × drift | mean h=1…20 × drift "
          "| coverage 80 / 95 % | s per fold |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for label, change, wanted in CANDIDATES:
        spec = as_default(change)
        for period in wanted:
            p, d = periods[period]
            result = run_backtest(
                p, d, spec, FOLDS, season_length=SEASON,
                fit=lambda plan, s=spec: fit_forecaster(plan, s, horizon=FOLDS.horizon),
            ).model_dump()  # fmt: skip
            mean = result["aggregate"]["mean"]
            one, multi, cov = mean["one_step"], mean["multi_step"], mean["coverage"]
            model, drift = multi["model"], multi["drift"]
            print(
                f"| {label} | {period} | {one['model']['rmse'] / one['naive']['rmse']:.4f} "
                f"| {model['rmse_at_horizon'] / drift['rmse_at_horizon']:.4f} "
                f"| {model['rmse_mean_over_steps'] / drift['rmse_mean_over_steps']:.4f} "
                f"| {_pct(cov['80'])} / {_pct(cov['95'])} | {mean['fit_seconds']:.1f} |",
                flush=True,
            )


def plain_intervals(plan: DatasetPlan, horizon: int) -> FittedForecaster:
    """The naive baseline with the previous intervals: split-conformal quantiles of the raw
    log-ratio residuals (no volatility normalisation)."""
    baseline = fit_baseline(plan, TrainingSpec(architecture="naive"), SEASON)
    predicted, actual = recursive_holdout(baseline, plan, horizon)
    res = residuals(actual, predicted, "log_ratio")
    calibrated = calibrate(res, "log_ratio", np.ones(len(res)))
    return FittedForecaster(baseline, replace(calibrated, vol_window=None))


def intervals_ablation() -> None:
    prices, dates = load()
    spec = TrainingSpec(architecture="naive")
    fits: dict[str, Callable[[DatasetPlan], FittedForecaster]] = {
        "split conformal on raw residuals (before)": lambda plan: plain_intervals(
            plan, FOLDS.horizon
        ),
        "volatility-normalised split conformal (now)": lambda plan: fitted_baseline(
            plan, spec, SEASON, FOLDS.horizon
        ),
    }
    print(f"Machine: {machine()}\n")
    print("| naive forecasts, intervals | 80 % mean | 80 % folds | 95 % mean | 95 % folds |")
    print("|---|---|---|---|---|")
    for label, fit in fits.items():
        result = run_backtest(
            prices, dates, spec, FOLDS, season_length=SEASON, fit=fit
        ).model_dump()
        per_fold = [f["coverage"] for f in result["folds"]]
        mean = result["aggregate"]["mean"]["coverage"]
        cells = []
        for level in ("80", "95"):
            values = [f[level] for f in per_fold]
            cells += [_pct(mean[level]), f"{_pct(min(values))} – {_pct(max(values))}"]
        print(f"| {label} | " + " | ".join(cells) + " |")


# --------------------------------------------------------------------------- defaults hold

HOLD_STEPS = (1, 5, 10, 20)
HOLD_LEVELS = (80, 95)
# The issue's targets on the ten folds.
MAX_MEAN_RATIO = 1.000
MAX_FOLD_RATIO = 1.005
MAX_COVERAGE_GAP = 0.03


@dataclass
class Coverage:
    """Actuals inside the intervals, pooled over folds: hits[level][step] of points[step]."""

    hits: dict[int, dict[int, int]] = field(
        default_factory=lambda: {lvl: dict.fromkeys(HOLD_STEPS, 0) for lvl in HOLD_LEVELS}
    )
    points: dict[int, int] = field(default_factory=lambda: dict.fromkeys(HOLD_STEPS, 0))

    def add(self, errors: FoldErrors) -> None:
        assert errors.inside is not None, "the fitted forecaster has no intervals"
        for step in HOLD_STEPS:
            ok = ~np.isnan(errors.actual[:, step - 1])
            self.points[step] += int(ok.sum())
            for level in HOLD_LEVELS:
                self.hits[level][step] += int(errors.inside[level][ok, step - 1].sum())

    def share(self, level: int, step: int) -> float | None:
        points = self.points[step]
        return self.hits[level][step] / points if points else None


@dataclass
class HoldFold:
    fold: int
    cutoff: str
    choices: str  # the default's choices at this cutoff
    default: float  # one-step RMSE ÷ naive's on the fold's year
    auto: float
    auto_chose: str
    default_seconds: float
    auto_seconds: float


def _scored_errors(fitted: FittedForecaster, prices: np.ndarray, fold: Fold) -> FoldErrors:
    """The fitted forecaster's forecasts from each of the fold's origins, 1…horizon steps
    ahead, next to the baselines' (fitted on the data before the cutoff), and which actuals
    its intervals hold."""
    scored = Scored(fitted.forecaster, fitted.intervals)
    return fold_errors(prices, fold, scored, FOLDS.horizon, SEASON)


def _one_step_ratio(errors: FoldErrors) -> float:
    actual = errors.actual[:, 0]
    model, naive = errors.predicted["model"], errors.predicted["naive"]
    assert model is not None
    assert naive is not None
    return rmse(actual, model[:, 0]) / rmse(actual, naive[:, 0])


def hold_fold(
    prices: np.ndarray, dates: pd.DatetimeIndex, fold: Fold
) -> tuple[HoldFold, FoldErrors, FoldErrors]:
    """The default and ``auto`` resolved and trained on the data before the fold's cutoff (as a
    job posted that day would be), scored on the fold."""
    from app.config import Settings
    from app.ml.tournament import run_tournament
    from app.ml.train import fit_forecaster, fit_tournament_winner

    before = pd.Series(prices[: fold.cutoff], index=dates[: fold.cutoff])
    frequency = infer_frequency(pd.DatetimeIndex(before.index))
    default = resolve(before, TrainingSpec(), frequency)
    season = default.spec.season_length or 1
    started = time.perf_counter()
    fitted = fit_forecaster(
        default.plan,
        default.spec,
        horizon=FOLDS.horizon,
        season_length=season,
        seasons=seasons_for(frequency),
    )
    default_seconds = time.perf_counter() - started
    default_errors = _scored_errors(fitted, prices, fold)

    auto = resolve(before, TrainingSpec(architecture="auto"), frequency)
    started = time.perf_counter()
    members, tournament = run_tournament(
        auto.plan,
        auto.spec,
        budget_s=Settings().auto_budget_s,
        fit_network=lambda sub, s: fit_forecaster(sub, s, season_length=season).forecaster,
        seasons=seasons_for(frequency),
    )
    served = fit_tournament_winner(
        auto.plan, members, tournament, horizon=FOLDS.horizon, season_length=season
    )
    auto_seconds = time.perf_counter() - started
    auto_errors = _scored_errors(served, prices, fold)

    choices = ", ".join(
        f"{k} {c.value}"
        for k, c in default.choices.items()
        if k in ("architecture", "target_transform", "window", "network_window", "ensemble")
    )
    if fitted.combination is not None:
        choices += f", combination {fitted.combination.value}"
    row = HoldFold(
        fold=fold.index + 1,
        cutoff=f"{dates[fold.cutoff]:%Y-%m-%d}",
        choices=choices,
        default=_one_step_ratio(default_errors),
        auto=_one_step_ratio(auto_errors),
        auto_chose=tournament.winner,
        default_seconds=default_seconds,
        auto_seconds=auto_seconds,
    )
    return row, default_errors, auto_errors


def _verdict(holds: bool) -> str:
    return "holds" if holds else "**does not hold**"


def hold_section(
    rows: list[HoldFold], coverage: dict[str, Coverage], started: str, wall: float
) -> str:
    default = [r.default for r in rows]
    auto = [r.auto for r in rows]
    lines = [
        f"Run on {started} (`python -m bench.accuracy --defaults-hold`, {wall / 60:.0f} min): "
        f"MSFT `{TARGET.lower()}`, {len(rows)} of the {FOLDS.windows} yearly folds of "
        "`bench.accuracy` "
        f"(cutoffs {rows[0].cutoff} … {rows[-1].cutoff}), {FOLDS.effective_step} origins × "
        f"{FOLDS.horizon} steps each. The default spec (nothing set) and `auto`, each resolved "
        "and trained on the data before each cutoff; one-step RMSE ÷ naive's on the fold's "
        "origins."
        + (
            ""
            if len(rows) == FOLDS.windows
            else f" **A check on {len(rows)} fold(s) only: the targets are for all ten.**"
        ),
        "",
        "| fold | cutoff | default's choices | default ÷ naive | auto chose | auto ÷ naive "
        "| fit s (default / auto) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.fold} | {r.cutoff} | {r.choices} | {r.default:.4f} | {r.auto_chose} "
            f"| {r.auto:.4f} | {r.default_seconds:.1f} / {r.auto_seconds:.1f} |"
        )
    lines += [
        f"| mean | | | {np.mean(default):.4f} | | {np.mean(auto):.4f} | |",
        f"| max | | | {max(default):.4f} | | {max(auto):.4f} | |",
        "",
        f"Targets: default mean ≤ {MAX_MEAN_RATIO:.3f}× naive: "
        f"{_verdict(float(np.mean(default)) <= MAX_MEAN_RATIO)}; no fold above "
        f"{MAX_FOLD_RATIO:.3f}×: {_verdict(max(default) <= MAX_FOLD_RATIO)}; auto mean ≤ "
        f"{MAX_MEAN_RATIO:.3f}×: {_verdict(float(np.mean(auto)) <= MAX_MEAN_RATIO)} "
        "(ratios rounded to 4 places above, compared unrounded).",
        "",
        "Interval coverage at each step, from the intervals each fitted forecaster carries, "
        f"pooled over the origins of {len(rows)} fold(s) (target: within "
        f"±{100 * MAX_COVERAGE_GAP:.0f} points of nominal):",
        "",
        "| step | points | "
        + " | ".join(f"{who} {lvl} %" for who in coverage for lvl in HOLD_LEVELS)
        + " |",
        "|---|---|" + "---|" * (len(coverage) * len(HOLD_LEVELS)),
    ]
    for step in HOLD_STEPS:
        points = next(iter(coverage.values())).points[step]
        cells = [_pct(c.share(lvl, step)) for c in coverage.values() for lvl in HOLD_LEVELS]
        lines.append(f"| {step} | {points:,} | " + " | ".join(cells) + " |")
    default_cov = coverage["default"]
    gaps = [
        abs(share - lvl / 100)
        for lvl in HOLD_LEVELS
        for step in HOLD_STEPS
        if (share := default_cov.share(lvl, step)) is not None
    ]
    lines += [
        "",
        f"Target for the default: every step and level within ±{100 * MAX_COVERAGE_GAP:.0f} "
        f"points: {_verdict(bool(gaps) and max(gaps) <= MAX_COVERAGE_GAP)} (largest gap "
        f"{100 * max(gaps):.1f} points).",
    ]
    return "\n".join(lines)


def defaults_hold(folds: int) -> None:
    """The default and ``auto`` on the last ``folds`` of the ten folds; with all ten, the
    ``defaults-hold`` section of BENCHMARKS.md is rewritten."""
    from app.ml.train import configure_tensorflow

    configure_tensorflow(int(os.environ.get("BENCH_TF_THREADS", "0")) or None)
    prices, dates = load()
    layout = fold_layout(len(prices), FOLDS)[-folds:]
    started_at, started = machine(), time.perf_counter()
    rows: list[HoldFold] = []
    coverage = {"default": Coverage(), "auto": Coverage()}
    for fold in layout:
        row, default_errors, auto_errors = hold_fold(prices, dates, fold)
        coverage["default"].add(default_errors)
        coverage["auto"].add(auto_errors)
        rows.append(row)
        print(
            f"fold {row.fold} ({row.cutoff}): default {row.default:.4f}, auto {row.auto:.4f} "
            f"({row.auto_chose})",
            flush=True,
        )
    text = hold_section(rows, coverage, started_at, time.perf_counter() - started)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    whole = len(layout) == FOLDS.windows
    out = OUT / ("defaults-hold.json" if whole else "defaults-hold-part.json")
    out.write_text(
        json.dumps({"folds": [asdict(r) for r in rows],
                    "coverage": {k: asdict(c) for k, c in coverage.items()}})
    )  # fmt: skip
    if whole:
        write_benchmarks_section(
            "defaults-hold",
            "## Defaults hold on MSFT folds (`python -m bench.accuracy --defaults-hold`)",
            text,
        )
        print(f"\nBENCHMARKS.md updated; results in {out}")


def load() -> tuple[np.ndarray, pd.DatetimeIndex]:
    frame = pd.read_csv(MSFT_CSV, parse_dates=["Date"], index_col="Date")
    return frame[TARGET].to_numpy(dtype=np.float64), pd.DatetimeIndex(frame.index)


def run(quick: bool) -> list[dict[str, Any]]:
    from app.ml.train import configure_tensorflow, fit_forecaster

    configure_tensorflow(int(os.environ.get("BENCH_TF_THREADS", "0")) or None)
    prices, dates = load()
    folds = QUICK_FOLDS if quick else FOLDS
    results: list[dict[str, Any]] = []

    def record(label: str, spec: TrainingSpec, result: dict[str, Any], note: str) -> None:
        results.append({"label": label, "spec": spec.model_dump(mode="json"), "note": note,
                        "result": result})  # fmt: skip
        print(f"{label}: done ({note})", flush=True)

    for method in ("naive", "drift", "seasonal_naive"):
        spec = TrainingSpec(architecture=method)  # type: ignore[arg-type]
        result = run_backtest(
            prices, dates, spec, folds, season_length=SEASON,
            fit=lambda plan, s=spec: fitted_baseline(plan, s, SEASON, folds.horizon),
        ).model_dump()  # fmt: skip
        record(method.replace("_", " "), spec, result, "refit per fold")
    for label, spec in our_specs().items():
        result = run_backtest(
            prices, dates, spec, folds, season_length=SEASON,
            fit=lambda plan, s=spec: fit_forecaster(plan, s, horizon=folds.horizon),
        ).model_dump()  # fmt: skip
        record(label, spec, result, "refit per fold")
    if not quick:
        first = fold_layout(len(prices), folds)[0]
        for label, spec in tutorial_specs().items():
            trained_on = spec.model_copy(update={"test_fraction": TUTORIAL_HOLDOUT})
            plan = fold_plan(prices, dates, trained_on, first, SEASON)
            started = time.perf_counter()
            fitted = fit_forecaster(plan, spec, horizon=folds.horizon)
            fit_seconds = time.perf_counter() - started
            fixed = folds.model_copy(update={"refit": False})
            result = run_backtest(
                prices, dates, spec, fixed, season_length=SEASON, fixed=fitted,
                earliest_cutoff=first.cutoff,
            ).model_dump()  # fmt: skip
            result["fit_seconds_once"] = fit_seconds
            result["epochs_run_once"] = fitted.epochs_run
            record(label, spec, result, "trained once before the first cutoff")
    return results


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def table(results: list[dict[str, Any]]) -> str:
    """The summary table: means over folds (each fold's RMSE, then the mean)."""
    lines = [
        "| forecaster | trained | one-step RMSE | × naive | MASE | skill vs naive "
        "| 20-step RMSE (h=20) | × drift | RMSE mean h=1…20 | × drift "
        "| coverage 80 % | coverage 95 % | training time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in results:
        mean = entry["result"]["aggregate"]["mean"]
        one, multi = mean["one_step"], mean["multi_step"]
        model, naive = one["model"], one["naive"]
        drift = multi["drift"]
        coverage = mean["coverage"] or {}
        if "fit_seconds_once" in entry["result"]:
            epochs = entry["result"]["epochs_run_once"]
            seconds = f"{entry['result']['fit_seconds_once']:.0f} s once ({epochs} epochs)"
        else:
            fits = [f["fit_seconds"] for f in entry["result"]["folds"]]
            epochs = [f["epochs_run"] for f in entry["result"]["folds"]]
            seconds = (
                f"{np.mean(fits):.1f} s per fold ({np.mean(epochs):.0f} epochs)"
                if max(epochs) > 0
                else f"{1000 * np.mean(fits):.0f} ms per fold"
            )
        h20, mean20 = multi["model"]["rmse_at_horizon"], multi["model"]["rmse_mean_over_steps"]
        lines.append(
            f"| {entry['label']} | {entry['note']} | {_f(model['rmse'])} "
            f"| {_f(model['rmse'] / naive['rmse'])} | {_f(model['mase'])} "
            f"| {_f(one['skill_vs_naive'], 4)} | {_f(h20)} "
            f"| {_f(h20 / drift['rmse_at_horizon'])} | {_f(mean20)} "
            f"| {_f(mean20 / drift['rmse_mean_over_steps'])} "
            f"| {_pct(coverage.get('80'))} | {_pct(coverage.get('95'))} | {seconds} |"
        )
    return "\n".join(lines)


def fold_table(results: list[dict[str, Any]]) -> str:
    """Per fold: one-step RMSE / naive and 20-step RMSE / drift of every network."""
    networks = [e for e in results if e["spec"]["architecture"] not in ("naive", "drift")]
    networks = [e for e in networks if e["spec"]["architecture"] != "seasonal_naive"]
    folds = results[0]["result"]["folds"]
    head = "| fold | cutoff | naive one-step RMSE | drift 20-step RMSE | " + " | ".join(
        f"{e['label']}: ×naive (1) / ×drift (20)" for e in networks
    )
    lines = [head + " |", "|" + "---|" * (4 + len(networks))]
    for i, fold in enumerate(folds):
        cells = []
        for entry in networks:
            row = entry["result"]["folds"][i]
            r1 = row["one_step"]["model"]["rmse"] / row["one_step"]["naive"]["rmse"]
            r20 = (
                row["multi_step"]["model"]["rmse_at_horizon"]
                / row["multi_step"]["drift"]["rmse_at_horizon"]
            )
            cells.append(f"{r1:.3f} / {r20:.3f}")
        lines.append(
            f"| {fold['fold']} | {fold['cutoff']} | {fold['one_step']['naive']['rmse']:.3f} "
            f"| {fold['multi_step']['drift']['rmse_at_horizon']:.3f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def coverage_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| forecaster | 50 % | 80 % | 90 % | 95 % | 99 % | 80 % range over folds "
        "| 95 % range over folds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in results:
        mean = entry["result"]["aggregate"]["mean"]["coverage"]
        if not mean:
            continue
        per_fold = [f["coverage"] for f in entry["result"]["folds"]]
        r80 = [f["80"] for f in per_fold]
        r95 = [f["95"] for f in per_fold]
        lines.append(
            f"| {entry['label']} | "
            + " | ".join(_pct(mean[k]) for k in ("50", "80", "90", "95", "99"))
            + f" | {_pct(min(r80))} – {_pct(max(r80))} | {_pct(min(r95))} – {_pct(max(r95))} |"
        )
    return "\n".join(lines)


def section(results: list[dict[str, Any]], started: str, wall: float) -> str:
    first = results[0]["result"]["folds"][0]
    last = results[0]["result"]["folds"][-1]
    return "\n\n".join(
        [
            f"Run on {started} (one run of `python -m bench.accuracy`, {wall / 60:.0f} min): "
            f"MSFT `{TARGET.lower()}`, {len(results[0]['result']['folds'])} folds × "
            f"{FOLDS.effective_step} origins, horizon {FOLDS.horizon}; cutoffs "
            f"{first['cutoff']} … {last['cutoff']}, test points {first['test']['start']} … "
            f"{last['test']['last_actual']}. Means over folds.",
            table(results),
            "Per fold (ratios below 1 beat the baseline):",
            fold_table(results),
            "Interval coverage on the folds (nominal 50/80/90/95/99 %, all 20 steps pooled per "
            "fold, then the mean over folds; range = lowest and highest fold):",
            coverage_table(results),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 folds, no tutorials, no rewrite")
    parser.add_argument("--candidates", action="store_true", help="how the defaults were chosen")
    parser.add_argument("--intervals", action="store_true", help="interval method comparison")
    parser.add_argument(
        "--defaults-hold",
        action="store_true",
        help="the default spec and auto on the ten folds: ratios to naive, coverage per step",
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=FOLDS.windows,
        help="with --defaults-hold: only the last N folds (a check; BENCHMARKS.md untouched)",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not 1 <= args.folds <= FOLDS.windows:
        parser.error(f"--folds: 1 to {FOLDS.windows}")
    if args.defaults_hold:
        defaults_hold(args.folds)
        return
    if args.intervals:
        intervals_ablation()
        return
    if args.candidates:
        candidates()
        return
    started_at = machine()
    started = time.perf_counter()
    results = run(args.quick)
    text = section(results, started_at, time.perf_counter() - started)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    out = Path(OUT / ("accuracy-quick.json" if args.quick else "accuracy.json"))
    out.write_text(json.dumps(results))
    if not args.quick:
        write_benchmarks_section("accuracy", "## Accuracy (`python -m bench.accuracy`)", text)
        print(f"\nBENCHMARKS.md updated; full results in {out}")


if __name__ == "__main__":
    main()
