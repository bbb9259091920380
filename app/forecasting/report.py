"""Accuracy reports of a version, always next to the naive and drift baselines."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from app.db.orm import ModelVersion


def version_report(version: ModelVersion) -> dict[str, Any]:
    m = version.metrics
    one_step = [
        {"forecaster": name, **m[name], "skill_vs_naive": skill}
        for name, skill in (
            ("model", m["skill"]),
            ("naive", 0.0),
            ("drift", _skill(m["drift"]["rmse"], m["naive"]["rmse"])),
        )
    ]
    steps = m["multi_step"]
    multi_step = [
        {
            "h": h,
            "points": steps["points"][i],
            "model_rmse": steps["model_rmse"][i],
            "naive_rmse": steps["naive_rmse"][i],
            "drift_rmse": steps["drift_rmse"][i],
        }
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
    }


def _skill(rmse: float, naive_rmse: float) -> float | None:
    return 1.0 - rmse / naive_rmse if naive_rmse else None


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
        for forecaster in ("model", "naive", "drift"):
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
                "skill": m["skill"],
                "skill_vs_drift": m["skill_vs_drift"],
                "coverage": m["coverage"]["measured"],
                "train_seconds": v.train_seconds,
                "epochs_run": v.epochs_run,
            }
        )
    return out
