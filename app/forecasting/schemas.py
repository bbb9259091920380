"""Request and response bodies of forecasts and reports."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.ml.evaluate import LEVELS
from app.params import MAX_ID
from app.training.schemas import AliasName, ModelName

DEFAULT_LEVELS = [80, 95]


class ForecastRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"model": "MSFT-lstm", "horizon": 5},
                {"model": "MSFT-lstm", "alias": "champion", "horizon": 1, "level": [95]},
                {"model": "MSFT-lstm", "version": 2, "values": [61.9, 62.1, 61.8], "horizon": 3},
            ]
        },
    )

    model: ModelName
    version: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Default: alias champion, else latest."
    )
    alias: AliasName | None = None
    series_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="Forecast from this series' latest data (it must have the version's target "
        "field). Default: the series the version was trained on, as it is now.",
    )
    values: list[float] | None = Field(
        default=None,
        min_length=1,
        description="Your own recent history instead of a stored series; the last `window` "
        "values are used (window + 1 for log-return models).",
    )
    as_of: datetime | None = Field(
        default=None, description="With `values`: the date of the last value, to date the points."
    )
    horizon: int = Field(default=1, ge=1, description="Steps ahead (1 = next period).")
    level: list[int] = Field(
        default_factory=lambda: list(DEFAULT_LEVELS),
        description=f"Prediction interval levels in percent, among {list(LEVELS)}.",
    )

    @field_validator("values")
    @classmethod
    def _finite(cls, values: list[float] | None) -> list[float] | None:
        if values is not None:
            bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
            if bad:
                raise ValueError(f"values must be finite numbers; not at positions {bad[:10]}")
        return values

    @field_validator("as_of")
    @classmethod
    def _representable(cls, as_of: datetime | None) -> datetime | None:
        if as_of is not None and not 1678 <= as_of.year <= 2261:
            raise ValueError("as_of must be between 1678 and 2261")
        return as_of

    @field_validator("level")
    @classmethod
    def _known_levels(cls, levels: list[int]) -> list[int]:
        unknown = sorted(set(levels) - set(LEVELS))
        if unknown:
            raise ValueError(f"levels {unknown} are not calibrated; choose among {list(LEVELS)}")
        return sorted(set(levels))

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.version is not None and self.alias is not None:
            raise ValueError("give version or alias, not both")
        if self.series_id is not None and self.values is not None:
            raise ValueError("give series_id or values, not both")
        if self.as_of is not None and self.values is None:
            raise ValueError("as_of goes with values")
        return self


class ForecastPoint(BaseModel):
    """One step ahead; ``lo_<level>``/``hi_<level>`` bound the interval at each level."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "examples": [{"step": 1, "date": "2017-01-03", "value": 61.2, "lo_80": 60.4, "hi_80": 62.0,
                      "lo_95": 59.9, "hi_95": 62.5}]
    })  # fmt: skip

    step: int
    date: str | None = Field(description="Next period on the series' calendar; null if unknown.")
    value: float


class ForecastResponse(BaseModel):
    model: str
    version: int
    series_id: int | None
    field: str
    as_of: str | None = Field(description="Date of the last observation used.")
    horizon: int
    strategy: Literal["recursive"] = "recursive"
    frequency: str
    levels: list[int]
    points: list[ForecastPoint]
