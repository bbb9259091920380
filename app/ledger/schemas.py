"""Realized accuracy as the API returns it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.db.column_records import RetrainPolicy
from app.db.orm import ModelPolicy
from app.db.rows import from_row

GroupBy = Literal["none", "step", "week", "month", "version", "series"]


class AliasAccuracyRead(BaseModel):
    """How the version an alias serves is doing in the ledger (one-step forecasts)."""

    model: str
    alias: str
    version: int = Field(description="The version the alias points at now.")
    scored: int = Field(description="Its scored one-step points.")
    rmse: float | None = Field(description="Realized one-step RMSE.")
    naive_rmse: float | None = Field(description="The naive forecast's on the same dates.")
    skill_vs_naive: float | None = Field(description="1 − rmse / naive_rmse: below 0 loses.")
    promised_rmse: float | None = Field(description="The version's holdout one-step RMSE.")
    realized_to_promised: float | None = Field(description="rmse / promised_rmse.")
    coverage: dict[str, float] = Field(
        description="Per interval level, the share of the latest scored one-step actuals (at "
        "most 2,000) inside the served interval."
    )
    coverage_points: dict[str, int] = Field(description="The points each coverage is over.")


class AccuracyGroup(BaseModel):
    group: str = Field(
        description="`all`, or the step, ISO week (`2017-W02`), month (`2017-01`), version or "
        "series id the row is about."
    )
    forecasts: int = Field(description="Served forecasts with at least one scored point here.")
    scored: int = Field(description="Points whose actual value is known.")
    missing: int = Field(description="Points whose date passed without a value (not scored).")
    pending: int = Field(description="Points whose date is not observed yet.")
    rmse: float | None = Field(description="Realized RMSE of the served forecasts.")
    mae: float | None
    mase: float | None = Field(
        description="MAE scaled by the in-sample naive MAE the version was trained with."
    )
    naive_rmse: float | None = Field(
        description="The naive forecast (the last value at the forecast's as-of date) on the "
        "very same target dates."
    )
    naive_mae: float | None
    skill_vs_naive: float | None = Field(description="1 − rmse / naive_rmse.")
    coverage: dict[str, float | None] = Field(
        description="Share of actuals inside each interval level (nominal: the level)."
    )
    promised_rmse: float | None = Field(
        description="What the holdout promised for the same points: the root mean square of "
        "each point's version's holdout RMSE at that step."
    )
    realized_to_promised: float | None = Field(description="rmse / promised_rmse.")


class StepAdaptation(BaseModel):
    step: int
    level: int
    nominal: float = Field(description="The coverage the level promises (level / 100).")
    points: int = Field(
        description="Scored points of this step the width is adapted on (the most recent "
        "2,000 at most; the same origin served twice counts once)."
    )
    coverage: float | None = Field(
        description="Share of those actuals inside the interval that was served (with the "
        "width of its day)."
    )
    width_factor: float = Field(
        description="e^θ, what the calibrated interval's quantiles are multiplied by now; 1 "
        "while `adapted` is false."
    )
    adapted: bool = Field(
        description="Whether the step has FORECAST_INTERVAL_ADAPTATION_MIN_POINTS scored points."
    )


class VersionAdaptation(BaseModel):
    version: int
    updated_at: datetime = Field(description="When its points were last scored.")
    eta: float = Field(description="θ's step per scored point, in log-width units.")
    min_points: int = Field(description="Scored points a step needs before it is adapted.")
    steps: list[StepAdaptation] = Field(description="By step, then level.")


class AccuracyReport(BaseModel):
    model: str
    versions: list[int] = Field(description="Versions whose served forecasts are counted.")
    series_id: int | None
    start: str | None
    end: str | None
    group_by: GroupBy
    total: AccuracyGroup
    groups: list[AccuracyGroup]
    interval_adaptation: list[VersionAdaptation] = Field(
        description="For each version counted here, how its intervals are adapted to their "
        "realized coverage, per step and level (over all its scored points: `series_id`, "
        "`start` and `end` do not apply). A version with no scored point yet is not listed "
        "(served as calibrated)."
    )


class PolicyRead(BaseModel):
    model: str
    policy: RetrainPolicy
    updated_at: datetime = Field(description="When a client last set the policy.")
    fired_at: datetime | None = Field(description="When the policy last started a job.")
    fired_for_version: int | None = Field(description="The served version it fired for.")
    fired_job_id: int | None = Field(description="The job it started.")


def policy_read(name: str, row: ModelPolicy) -> PolicyRead:
    return from_row(PolicyRead, row, model=name)
