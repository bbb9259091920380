"""The realized-accuracy plot: one-step errors of served forecasts over time, per version."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from app.vocabulary import ImageFormat, PointStatus  # noqa: E402

ROLLING = 20  # points in the rolling RMSE


def render_accuracy(points: pd.DataFrame, *, title: str, image_format: ImageFormat) -> bytes:
    """Rolling RMSE of the one-step forecasts served by each version, next to the naive
    forecast's on the same dates and the RMSE the version's holdout promised."""
    figure, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    one_step = points[(points["status"] == PointStatus.SCORED) & (points["step"] == 1)]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (version, rows) in enumerate(one_step.groupby("version")):
        color = colors[i % len(colors)]
        dates = pd.DatetimeIndex(rows["target"])
        window = min(ROLLING, len(rows))
        model = np.sqrt(((rows["actual"] - rows["value"]) ** 2).rolling(window).mean())
        naive = np.sqrt(((rows["actual"] - rows["base_value"]) ** 2).rolling(window).mean())
        marker = "o" if len(rows) < 30 else None  # a few points: show each
        ax.plot(dates, model.to_numpy(), color=color, marker=marker, label=f"v{version} served")
        ax.plot(dates, naive.to_numpy(), color=color, linestyle="--", alpha=0.6, marker=marker,
                label=f"v{version} naive, same dates")  # fmt: skip
        promised = rows["promised_rmse"].dropna()
        if len(promised):
            ax.axhline(float(promised.iloc[0]), color=color, linestyle=":", alpha=0.8,
                       label=f"v{version} promised (holdout)")  # fmt: skip
    if one_step.empty:
        ax.text(0.5, 0.5, "No scored one-step forecasts yet", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
    else:
        ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{title}: realized one-step RMSE (rolling {ROLLING})")
    ax.set_ylabel("RMSE")
    ax.grid(alpha=0.3)
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format=image_format, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()
