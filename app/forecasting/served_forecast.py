"""A forecast as it was served, handed to the ledger (main wires the recorder; forecasting
does not know who keeps it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ForecastServed:
    """Everything the ledger keeps of one served forecast. ``points`` are the response's
    (step, date, value, lo_<level>, hi_<level>); ``base_value`` is the last value the forecast
    started from, which is what the naive forecast says for every step."""

    model: str
    version: int
    series_id: int
    field: str
    as_of: datetime
    horizon: int
    levels: tuple[int, ...]
    base_value: float
    points: Sequence[dict[str, Any]]

    @property
    def key(self) -> tuple[str, int, int, str, datetime, int, tuple[int, ...]]:
        """What makes two served forecasts the same one (served again)."""
        return (self.model, self.version, self.series_id, self.field, self.as_of, self.horizon,
                self.levels)  # fmt: skip


# Called with every forecast served from a stored series (or from values a client dated and
# tied to a series); must return at once (the ledger writes behind).
ForecastRecorder = Callable[[ForecastServed], None]


def served_forecast(
    result: dict[str, Any], *, series_id: int | None, as_of: pd.Timestamp | None, base_value: float
) -> ForecastServed | None:
    """The ledger's view of a computed forecast, or None when it cannot be scored later (no
    series to compare with, or no dates)."""
    if series_id is None or as_of is None or result["points"][0]["date"] is None:
        return None
    return ForecastServed(
        model=result["model"],
        version=result["version"],
        series_id=series_id,
        field=result["field"],
        as_of=as_of.to_pydatetime(),
        horizon=result["horizon"],
        levels=tuple(result["levels"]),
        base_value=base_value,
        points=result["points"],
    )
