"""Accuracy reports of a version, always next to the naive, drift and seasonal naive baselines."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from app.db.orm import Backtest, ModelVersion
from app.ml.metrics import skill


def version_report(version: ModelVersion, backtest: Backtest | None) -> dict[str, Any]:
    """The holdout evaluation and, when the version has one, its latest backtest."""
    m = version.metrics
    naive_rmse = m["naive"]["rmse"]
    # A baseline that could not be measured (seasonal naive on a holdout shorter than a
    # season, or a version trained before it was reported) is left out of the rows.
    measured = [name for name in FORECASTERS if m.get(name) is not None]
    one_step = [
        {"forecaster": name, **m[name], "skill_vs_naive": skill(m[name]["rmse"], naive_rmse)}
        for name in measured
    ]
    steps = m["multi_step"]
    multi_step = [
        {"h": h, "points": steps["points"][i]}
        | {f"{name}_rmse": _at(steps.get(f"{name}_rmse"), i) for name in FORECASTERS}
        for i, h in enumerate(steps["h"])
    ]
    coverage = m["coverage"]
    intervals = [
        {"level": int(level), "nominal": nominal, "measured": coverage["measured"].get(level)}
        for level, nominal in coverage["nominal"].items()
    ]
    return {
        "model": version.model.name,
        "version": version.version,
        "target": version.target,
        "data": m["data"],
        "holdout": m["holdout"],
        "one_step": one_step,
        "multi_step": multi_step,
        "intervals": intervals,
        "coverage_method": coverage["method"],
        "backtest": backtest_summary(version, backtest) if backtest is not None else None,
    }


def backtest_summary(version: ModelVersion, backtest: Backtest) -> dict[str, Any]:
    """Per-fold one-step RMSE (with the fold's cutoff) next to the baselines, interval
    coverage, and the fold-averaged numbers; the whole result is at ``url``."""
    result = backtest.result
    folds = []
    for fold in result["folds"]:
        one_step = fold["one_step"]
        coverage = fold["coverage"] or {}
        folds.append(
            {"fold": fold["fold"], "cutoff": fold["cutoff"], "origins": fold["test"]["origins"]}
            | {f"{name}_rmse": _rmse(one_step[name]) for name in FORECASTERS}
            | {"skill_vs_naive": one_step["skill_vs_naive"]}
            | {f"coverage_{level}": coverage.get(str(level)) for level in (80, 95)}
        )
    mean = result["aggregate"]["mean"]
    return {
        "id": backtest.id,
        "url": f"/v1/models/{version.model.name}/versions/{version.version}/backtests/"
        f"{backtest.id}",
        "created_at": backtest.created_at.isoformat(),
        "windows": result["windows"],
        "step": result["step"],
        "horizon": result["horizon"],
        "refit": result["refit"],
        "folds": folds,
        "mean": {f"{name}_rmse": _rmse(mean["one_step"][name]) for name in FORECASTERS}
        | {"skill_vs_naive": mean["one_step"]["skill_vs_naive"], "coverage": mean["coverage"]},
        "per_step_rmse": mean["per_step_rmse"],
    }


def _rmse(metrics: dict[str, Any] | None) -> float | None:
    return None if metrics is None else metrics["rmse"]


def _at(values: list[float | None] | None, i: int) -> float | None:
    return None if values is None else values[i]


FORECASTERS = ("model", "naive", "drift", "seasonal_naive")


def report_csv(report: dict[str, Any]) -> str:
    """The report as tidy rows: section, forecaster, h, metric, value."""
    rows: list[dict[str, Any]] = []
    for entry in report["one_step"]:
        for metric in ("rmse", "mae", "mape", "mase", "skill_vs_naive"):
            rows.append(
                {"section": "one_step", "forecaster": entry["forecaster"], "h": 1,
                 "metric": metric, "value": entry[metric]}
            )  # fmt: skip
    for entry in report["multi_step"]:
        for forecaster in FORECASTERS:
            rows.append(
                {"section": "multi_step", "forecaster": forecaster, "h": entry["h"],
                 "metric": "rmse", "value": entry[f"{forecaster}_rmse"]}
            )  # fmt: skip
    for entry in report["intervals"]:
        for metric in ("nominal", "measured"):
            rows.append(
                {"section": f"coverage_{entry['level']}", "forecaster": "model", "h": None,
                 "metric": metric, "value": entry[metric]}
            )  # fmt: skip
    backtest = report["backtest"]
    for fold in backtest["folds"] if backtest else []:
        for forecaster in FORECASTERS:
            rows.append(
                {"section": f"backtest_fold_{fold['fold']}_cutoff_{fold['cutoff']}",
                 "forecaster": forecaster, "h": 1, "metric": "rmse",
                 "value": fold[f"{forecaster}_rmse"]}
            )  # fmt: skip
    buffer = io.StringIO()
    frame = pd.DataFrame(rows, columns=["section", "forecaster", "h", "metric", "value"])
    frame.astype({"h": "Int64"}).to_csv(buffer, index=False)
    return buffer.getvalue()


def compare(versions: list[ModelVersion]) -> list[dict[str, Any]]:
    """Key numbers of several versions side by side."""
    out = []
    for v in versions:
        m = v.metrics
        out.append(
            {
                "version": v.version,
                "architecture": v.spec.get("architecture"),
                "target_transform": v.spec.get("target_transform"),
                "window": v.spec.get("window"),
                "holdout": m["holdout"],
                "rmse": m["model"]["rmse"],
                "mae": m["model"]["mae"],
                "mase": m["model"]["mase"],
                "naive_rmse": m["naive"]["rmse"],
                "drift_rmse": m["drift"]["rmse"],
                "seasonal_naive_rmse": _rmse(m.get("seasonal_naive")),
                "skill": m["skill"],
                "skill_vs_drift": m["skill_vs_drift"],
                "skill_vs_seasonal_naive": m.get("skill_vs_seasonal_naive"),
                "coverage": m["coverage"]["measured"],
                "train_seconds": v.train_seconds,
                "epochs_run": v.epochs_run,
            }
        )
    return out
