"""Accuracy reports of a version, always next to the naive, drift and seasonal naive baselines
and the statistical references (AutoETS, AutoARIMA, AutoTheta) on the same points."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from app.db.orm import Backtest, ModelVersion
from app.db.rows import from_row
from app.forecasting.schemas import (
    BacktestFoldSummary,
    BacktestMeans,
    BacktestSummary,
    IntervalRow,
    MultiStepRow,
    OneStepRow,
    VersionComparison,
    VersionReport,
)
from app.ml.metrics import skill
from app.ml.results import Coverage, HoldoutMetrics, MultiStepErrors, OneStep, PointMetrics

FORECASTERS = ("model", "naive", "drift", "seasonal_naive")


def version_report(version: ModelVersion, backtest: Backtest | None) -> VersionReport:
    """The holdout evaluation and, when the version has one, its latest backtest."""
    m = version.metrics
    return from_row(
        VersionReport,
        version,
        model=version.model.name,
        data=m.data,
        holdout=m.holdout,
        one_step=_one_step_rows(m),
        multi_step=_multi_step_rows(m.multi_step),
        intervals=_interval_rows(m.coverage),
        coverage_method=m.coverage.method,
        backtest=backtest_summary(version, backtest) if backtest is not None else None,
        choices=version.bundle.choices,
        reference_fits=m.reference_fits,
        tournament=version.bundle.tournament,
        shrinkage=version.bundle.shrinkage,
    )


def _one_step_rows(m: HoldoutMetrics) -> list[OneStepRow]:
    """The model, each baseline and reference. A baseline that could not be measured (seasonal
    naive on a holdout shorter than a season, or a version trained before it was reported) is
    left out."""
    measured: dict[str, PointMetrics | None] = {
        "model": m.model, "naive": m.naive, "drift": m.drift, "seasonal_naive": m.seasonal_naive,
        **m.references,
    }  # fmt: skip
    return [
        OneStepRow(forecaster=name, **dict(metrics),
                   skill_vs_naive=skill(metrics.rmse, m.naive.rmse))
        for name, metrics in measured.items()
        if metrics is not None
    ]  # fmt: skip


def _multi_step_rows(steps: MultiStepErrors) -> list[MultiStepRow]:
    per_step = {
        "model": steps.model_rmse,
        "naive": steps.naive_rmse,
        "drift": steps.drift_rmse,
        "seasonal_naive": steps.seasonal_naive_rmse,
    }
    return [
        MultiStepRow(
            h=h,
            points=steps.points[i],
            **{
                f"{name}_rmse": None if values is None else values[i]
                for name, values in per_step.items()
            },
            references_rmse={name: values[i] for name, values in steps.references_rmse.items()},
        )  # fmt: skip
        for i, h in enumerate(steps.h)
    ]


def _interval_rows(coverage: Coverage) -> list[IntervalRow]:
    return [
        IntervalRow(level=int(level), nominal=nominal, measured=coverage.measured.get(level))
        for level, nominal in coverage.nominal.items()
    ]


def _rmse(metrics: PointMetrics | None) -> float | None:
    return None if metrics is None else metrics.rmse


def _one_step_rmses(one_step: OneStep) -> dict[str, Any]:
    """One-step RMSE of the model, each baseline and reference, and the skill vs naive."""
    return {
        **{f"{name}_rmse": _rmse(getattr(one_step, name)) for name in FORECASTERS},
        "references_rmse": {n: r.rmse for n, r in one_step.references.items()},
        "skill_vs_naive": one_step.skill_vs_naive,
    }


def backtest_summary(version: ModelVersion, backtest: Backtest) -> BacktestSummary:
    """Per-fold one-step RMSE (with the fold's cutoff) next to the baselines, interval
    coverage, and the fold-averaged numbers; the whole result is at ``url``."""
    result = backtest.result
    folds = []
    for fold in result.folds:
        coverage = fold.coverage or {}
        folds.append(
            BacktestFoldSummary(
                fold=fold.fold,
                cutoff=fold.cutoff,
                origins=fold.test.origins,
                coverage_80=coverage.get("80"),
                coverage_95=coverage.get("95"),
                **_one_step_rmses(fold.one_step),
            )
        )
    mean = result.aggregate.mean if result.aggregate is not None else None
    return BacktestSummary(
        id=backtest.id,
        url=f"/v1/models/{version.model.name}/versions/{version.version}/backtests/{backtest.id}",
        created_at=backtest.created_at.isoformat(),
        windows=result.windows,
        step=result.step,
        horizon=result.horizon,
        refit=result.refit,
        folds=folds,
        mean=None
        if mean is None
        else BacktestMeans(**_one_step_rmses(mean.one_step), coverage=mean.coverage),
        per_step_rmse=mean.per_step_rmse if mean is not None else None,
    )


def report_csv(report: VersionReport) -> str:
    """The report as tidy rows: section, forecaster, h, metric, value."""
    rows: list[dict[str, Any]] = []
    for entry in report.one_step:
        for metric in ("rmse", "mae", "mape", "mase", "skill_vs_naive"):
            rows.append(
                {"section": "one_step", "forecaster": entry.forecaster, "h": 1,
                 "metric": metric, "value": getattr(entry, metric)}
            )  # fmt: skip
    for step in report.multi_step:
        for forecaster in FORECASTERS:
            rows.append(
                {"section": "multi_step", "forecaster": forecaster, "h": step.h,
                 "metric": "rmse", "value": getattr(step, f"{forecaster}_rmse")}
            )  # fmt: skip
        for forecaster, value in step.references_rmse.items():
            rows.append(
                {"section": "multi_step", "forecaster": forecaster, "h": step.h,
                 "metric": "rmse", "value": value}
            )  # fmt: skip
    for interval in report.intervals:
        for metric in ("nominal", "measured"):
            rows.append(
                {"section": f"coverage_{interval.level}", "forecaster": "model", "h": None,
                 "metric": metric, "value": getattr(interval, metric)}
            )  # fmt: skip
    for fold in report.backtest.folds if report.backtest else []:
        for forecaster in FORECASTERS:
            rows.append(
                {"section": f"backtest_fold_{fold.fold}_cutoff_{fold.cutoff}",
                 "forecaster": forecaster, "h": 1, "metric": "rmse",
                 "value": getattr(fold, f"{forecaster}_rmse")}
            )  # fmt: skip
    buffer = io.StringIO()
    frame = pd.DataFrame(rows, columns=["section", "forecaster", "h", "metric", "value"])
    frame.astype({"h": "Int64"}).to_csv(buffer, index=False)
    return buffer.getvalue()


def compare(versions: list[ModelVersion]) -> list[VersionComparison]:
    """Key numbers of several versions side by side."""
    return [
        VersionComparison(
            version=v.version,
            architecture=v.spec.architecture,
            target_transform=v.spec.target_transform,
            window=v.spec.window,
            holdout=v.metrics.holdout,
            rmse=v.metrics.model.rmse,
            mae=v.metrics.model.mae,
            mase=v.metrics.model.mase,
            naive_rmse=v.metrics.naive.rmse,
            drift_rmse=v.metrics.drift.rmse,
            seasonal_naive_rmse=_rmse(v.metrics.seasonal_naive),
            skill=v.metrics.skill,
            skill_vs_drift=v.metrics.skill_vs_drift,
            skill_vs_seasonal_naive=v.metrics.skill_vs_seasonal_naive,
            references_rmse={name: r.rmse for name, r in v.metrics.references.items()},
            coverage=v.metrics.coverage.measured,
            train_seconds=v.train_seconds,
            epochs_run=v.epochs_run,
        )
        for v in versions
    ]
