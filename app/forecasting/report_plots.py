"""Report plots: the holdout (actual vs one-step predictions) and the forecast with intervals,
and, for a version with a backtest, its one-step RMSE per fold next to the baselines."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from app.forecasting.schemas import BacktestSummary  # noqa: E402
from app.vocabulary import ImageFormat  # noqa: E402

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 5.0, 100  # 1000 × 500 px
BACKTEST_HEIGHT_IN = 3.0  # the backtest panel adds 300 px
BACKTEST_STYLE = {
    "model": ("#1f77b4", "o"),
    "naive": ("#222222", "s"),
    "drift": ("#2ca02c", "^"),
    "seasonal_naive": ("#9467bd", "v"),
}


def render_report(
    *,
    title: str,
    field: str,
    holdout_dates: list[str],
    actual: list[float],
    predicted: list[float],
    forecast: dict[str, Any] | None,
    backtest: BacktestSummary | None,
    image_format: ImageFormat,
) -> bytes:
    """Actual vs predicted on the holdout, then the forecast with its widest interval; below
    it the backtest summary (:func:`app.forecasting.report.backtest_summary`) if given."""
    if backtest is None:
        fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    else:
        fig, (ax, lower) = plt.subplots(
            2,
            1,
            figsize=(WIDTH_IN, HEIGHT_IN + BACKTEST_HEIGHT_IN),
            dpi=DPI,
            height_ratios=(HEIGHT_IN, BACKTEST_HEIGHT_IN),
        )
        _draw_backtest(lower, backtest)
    try:
        dates = pd.to_datetime(holdout_dates)
        ax.plot(dates, actual, color="#222222", linewidth=1.2, label="actual (holdout)")
        ax.plot(dates, predicted, color="#1f77b4", linewidth=1.0, label="one-step prediction")
        if forecast is not None and forecast["points"] and forecast["points"][0]["date"]:
            _draw_forecast(ax, forecast)
        ax.set_title(title)
        ax.set_xlabel("date")
        ax.set_ylabel(field)
        ax.grid(alpha=0.3)
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.legend(loc="upper left")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format=image_format, dpi=DPI)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def _draw_forecast(ax: Axes, forecast: dict[str, Any]) -> None:
    points = forecast["points"]
    dates = pd.to_datetime([p["date"] for p in points])
    values = [p["value"] for p in points]
    for level, alpha in zip(sorted(forecast["levels"], reverse=True), (0.15, 0.3), strict=False):
        ax.fill_between(
            dates,
            [p[f"lo_{level}"] for p in points],
            [p[f"hi_{level}"] for p in points],
            color="#ff7f0e",
            alpha=alpha,
            linewidth=0,
            label=f"{level}% interval",
        )
    ax.plot(dates, values, color="#ff7f0e", linewidth=1.5, marker=".", label="forecast")


def _draw_backtest(ax: Axes, backtest: BacktestSummary) -> None:
    folds = backtest.folds
    cutoffs = [fold.cutoff for fold in folds]
    for name, (color, marker) in BACKTEST_STYLE.items():
        values = [getattr(fold, f"{name}_rmse") for fold in folds]
        if all(v is not None for v in values):
            ax.plot(cutoffs, values, color=color, marker=marker, linewidth=1.0, label=name)
    ax.set_title(
        f"Walk-forward backtest: one-step RMSE per fold (cutoff; {backtest.step} origins "
        f"each, refit={str(backtest.refit).lower()})",
        fontsize=10,
    )
    ax.set_ylabel("RMSE")
    ax.grid(alpha=0.3)
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(loc="upper left", fontsize=8)
