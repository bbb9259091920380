"""Realized accuracy from ledger points (pure pandas: no database, no HTTP).

The input frame has one row per ledger point: ``forecast_id``, ``version``, ``series_id``,
``step``, ``target`` (timestamp), ``status``, ``value``, ``actual``, ``base_value`` (the naive
forecast for that point), ``bounds`` (``{"lo_80": …, "hi_80": …}``), and per version
``promised_rmse`` (the holdout RMSE at that step) and ``scale`` (in-sample naive MAE).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from app.ledger.schemas import AccuracyGroup, GroupBy
from app.vocabulary import PointStatus


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _rmse(errors: pd.Series) -> float | None:
    return _finite(float(np.sqrt(np.mean(np.square(errors))))) if len(errors) else None


def _coverage(scored: pd.DataFrame) -> dict[str, float | None]:
    levels: set[str] = set()
    for bounds in scored["bounds"]:
        levels.update(k[3:] for k in bounds if k.startswith("lo_"))
    coverage: dict[str, float | None] = {}
    for level in sorted(levels, key=int):
        hits = [
            b[f"lo_{level}"] <= actual <= b[f"hi_{level}"]
            for b, actual in zip(scored["bounds"], scored["actual"], strict=True)
            if f"lo_{level}" in b
        ]
        coverage[level] = sum(hits) / len(hits) if hits else None
    return coverage


def summarize(points: pd.DataFrame, group: str) -> AccuracyGroup:
    """One row of realized accuracy over these points."""
    scored = points[points["status"] == PointStatus.SCORED]
    errors = scored["actual"] - scored["value"]
    naive_errors = scored["actual"] - scored["base_value"]
    rmse = _rmse(errors)
    naive_rmse = _rmse(naive_errors)
    promised_known = scored["promised_rmse"].notna()
    promised = _rmse(scored.loc[promised_known, "promised_rmse"]) if promised_known.all() else None
    scale_known = scored["scale"].notna() & (scored["scale"] > 0)
    mase = (
        _finite(float((errors.abs() / scored["scale"]).mean()))
        if len(scored) and scale_known.all()
        else None
    )
    return AccuracyGroup(
        group=group,
        forecasts=int(scored["forecast_id"].nunique()),
        scored=len(scored),
        missing=int((points["status"] == PointStatus.MISSING).sum()),
        pending=int((points["status"] == PointStatus.PENDING).sum()),
        rmse=rmse,
        mae=_finite(float(errors.abs().mean())) if len(scored) else None,
        mase=mase,
        naive_rmse=naive_rmse,
        naive_mae=_finite(float(naive_errors.abs().mean())) if len(scored) else None,
        skill_vs_naive=1 - rmse / naive_rmse if rmse is not None and naive_rmse else None,
        coverage=_coverage(scored),
        promised_rmse=promised,
        realized_to_promised=rmse / promised if rmse is not None and promised else None,
    )


def _labels(points: pd.DataFrame, group_by: GroupBy) -> pd.Series:
    if group_by == "step":
        return points["step"].astype(str)
    if group_by == "version":
        return points["version"].astype(str)
    if group_by == "series":
        return points["series_id"].astype(str)
    target = pd.DatetimeIndex(points["target"])
    if group_by == "week":
        iso = target.isocalendar()
        return pd.Series(
            [f"{y}-W{w:02d}" for y, w in zip(iso["year"], iso["week"], strict=True)],
            index=points.index,
        )
    return pd.Series(target.strftime("%Y-%m"), index=points.index)


def grouped(points: pd.DataFrame, group_by: GroupBy) -> list[AccuracyGroup]:
    if group_by == "none" or points.empty:
        return []
    labels = _labels(points, group_by)
    numeric = group_by in ("step", "version", "series")
    keys = sorted(labels.unique(), key=int if numeric else str)
    return [summarize(points[labels == key], key) for key in keys]
