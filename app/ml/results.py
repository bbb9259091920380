"""What choices, evaluations, backtests and ``auto`` tournaments produce, as typed records.

They are the JSON the registry stores (a version's ``metrics``, a backtest's ``result``) and the
bundle's ``evaluation.json``: built once here, validated once where they are read back, and read
by attribute everywhere else. Field names are part of the API (reports and version reads show
them as they are).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Record(BaseModel):
    """A stored record: never changed once written."""

    model_config = ConfigDict(frozen=True)


class Choice(Record):
    """A choice the service made for a spec field left unset (or ``set in the spec``)."""

    value: int | str
    reason: str
    candidates: dict[str, float | None] | None = Field(
        default=None,
        description="What each candidate scored on validation, where the choice was validated "
        "(the window: one-step RMSE ÷ naive of a ridge autoregression on that many lags).",
    )


class PointMetrics(Record):
    rmse: float
    mae: float
    mape: float | None
    mase: float | None


class OneStep(Record):
    """One-step-ahead accuracy of the model next to the baselines, on the same points."""

    model: PointMetrics
    naive: PointMetrics
    drift: PointMetrics
    seasonal_naive: PointMetrics | None = Field(
        default=None, description="None where an origin has less than one season of history."
    )
    skill_vs_naive: float | None
    skill_vs_drift: float | None
    skill_vs_seasonal_naive: float | None = None
    references: dict[str, PointMetrics] = Field(
        default_factory=dict,
        description="Each statistical reference that was fitted (ets, arima, theta).",
    )


class MultiStepErrors(Record):
    """Recursive forecasts from every holdout origin: RMSE at each step ahead."""

    h: list[int]
    points: list[int] = Field(description="Origins with an actual value h steps ahead.")
    model_rmse: list[float | None]
    naive_rmse: list[float | None]
    drift_rmse: list[float | None]
    seasonal_naive_rmse: list[float | None] | None = Field(
        default=None, description="None where the holdout starts before one full season."
    )
    references_rmse: dict[str, list[float | None]] = Field(
        default_factory=dict, description="RMSE per step of each fitted statistical reference."
    )


class ReferenceStatus(Record):
    """How fitting a statistical reference on the training data went."""

    status: str = Field(description="fitted, failed or timed_out.")
    seconds: float
    config: str = Field(description="The statsforecast model as configured.")
    detail: str | None = None


class Coverage(Record):
    method: str
    nominal: dict[str, float]
    measured: dict[str, float | None]


class HoldoutSeries(Record):
    """The holdout's dates with the actual values and the served model's one-step forecasts."""

    dates: list[str]
    actual: list[float]
    predicted: list[float]


class Evaluation(Record):
    """A forecaster measured on its holdout (the bundle's ``evaluation.json``)."""

    holdout: HoldoutSeries
    season_length: int = 1
    one_step: OneStep
    multi_step: MultiStepErrors
    intervals: dict[str, Any] = Field(
        description="Calibrated interval quantiles (app.ml.intervals.Intervals.to_json)."
    )
    coverage: Coverage
    references: dict[str, ReferenceStatus] = Field(default_factory=dict)


class DateRange(Record):
    start: str
    end: str


class HoldoutRange(DateRange):
    points: int


class Shrinkage(Record):
    """How far a network's forecasts lean toward naive: every predicted move (a log return or a
    difference) is served times ``weight``; 0 serves naive, 1 the network as trained."""

    weight: float = Field(ge=0.0, le=1.0)
    standard_error: float | None = Field(description="Of the least-squares weight.")
    least_squares_weight: float | None = Field(
        default=None,
        description="The weight least squares fitted on the validation span, before it was "
        "shrunk by its standard error and clipped to [0, 1] (None: too few forecasts).",
    )
    points: int = Field(description="Validation one-step forecasts the weight was fitted on.")
    t_statistic: float | None = Field(
        description="Diebold–Mariano t of the network's squared one-step errors minus naive's "
        "on the validation span (< 0: the network was better)."
    )
    validation_ratio: float | None = Field(
        description="The network's one-step RMSE ÷ naive's on the validation span."
    )
    served_ratio: float | None = Field(description="The same, leaning by ``weight``.")
    reason: str


class HoldoutMetrics(Record):
    """Accuracy of the served model on data it never trained on, next to the baselines."""

    holdout: HoldoutRange
    data: DateRange = Field(description="Observations the version was trained and evaluated on.")
    model: PointMetrics
    naive: PointMetrics = Field(description="Persistence: tomorrow = today.")
    drift: PointMetrics = Field(
        description="Random walk with drift: last value plus h × the mean change over the "
        "training data."
    )
    seasonal_naive: PointMetrics | None = Field(
        default=None,
        description="The value one season earlier (`season_length` in the version's bundle); "
        "None where the holdout starts before one full season (and for versions trained before "
        "seasonal naive was reported).",
    )
    skill: float | None = Field(description="1 − RMSE/RMSE_naive (> 0 beats naive).")
    skill_vs_drift: float | None
    skill_vs_seasonal_naive: float | None = None
    references: dict[str, PointMetrics] = Field(
        default_factory=dict,
        description="Statistical references fitted on the same training data (AutoETS, "
        "AutoARIMA, AutoTheta), on the same points; see `reference_fits` for any that failed.",
    )
    reference_fits: dict[str, ReferenceStatus] = Field(default_factory=dict)
    multi_step: MultiStepErrors
    coverage: Coverage = Field(description="Empirical coverage of the prediction intervals.")


class OwnModelScore(Record):
    """A member series' own model (trained on that series alone) on the global model's holdout
    points of that series."""

    model: str
    version: int
    rmse: float = Field(description="One-step RMSE on the same points as the global model.")
    skill_vs_own: float | None = Field(description="1 − global RMSE / own RMSE (> 0: global wins).")


class MemberMetrics(Record):
    """A global model on one member series' holdout, next to naive and the series' own model."""

    series_id: int
    series: str
    symbol: str | None
    holdout: HoldoutRange | None
    rmse: float | None = Field(description="One-step holdout RMSE of the global model.")
    naive_rmse: float | None
    skill: float | None = Field(description="1 − rmse / naive_rmse (> 0 beats naive).")
    own: OwnModelScore | None = None
    detail: str | None = Field(
        default=None,
        description="Why the member was not trained on, or why it has no own model to compare.",
    )


# ------------------------------------------------------------------------------ backtests


class ByForecaster(Record, Generic[T]):
    """One value per forecaster: the model and each baseline (None: not measurable)."""

    model: T | None
    naive: T | None
    drift: T | None
    seasonal_naive: T | None
    references: dict[str, T] = Field(
        default_factory=dict, description="Each statistical reference fitted on every fold."
    )


class HorizonRmse(Record):
    """The two readings of "H-step RMSE": at step H, and averaged over steps 1…H."""

    rmse_at_horizon: float
    rmse_mean_over_steps: float


class FoldTrain(Record):
    start: str
    end: str
    points: int
    holdout_start: str | None = Field(description="Refit folds: where the fold's holdout starts.")


class FoldTest(Record):
    start: str
    end: str
    origins: int
    last_actual: str


class BacktestFold(Record):
    fold: int
    cutoff: str = Field(description="First test origin: the fold trained on the data before it.")
    train: FoldTrain
    test: FoldTest
    fit_seconds: float
    train_seconds: float
    epochs_run: int
    one_step: OneStep
    per_step_rmse: ByForecaster[list[float]]
    multi_step: ByForecaster[HorizonRmse]
    coverage: dict[str, float] | None = Field(description="Level → share covered, all steps.")
    coverage_one_step: dict[str, float] | None


class FoldMeans(Record):
    """Each number averaged over the folds."""

    one_step: OneStep
    per_step_rmse: ByForecaster[list[float]]
    multi_step: ByForecaster[HorizonRmse]
    coverage: dict[str, float | None] | None
    fit_seconds: float | None


class Pooled(Record):
    """Each number computed over the forecasts of every fold together."""

    one_step: OneStep
    per_step_rmse: ByForecaster[list[float]]
    multi_step: ByForecaster[HorizonRmse]
    coverage: dict[str, float] | None
    coverage_one_step: dict[str, float] | None


class BacktestAggregate(Record):
    folds: int
    nominal: dict[str, float]
    mean: FoldMeans
    pooled: Pooled


class BacktestResult(Record):
    """Per-fold (with `cutoff`) and aggregate metrics of the model next to the naive, drift and
    seasonal naive baselines, RMSE per step, interval coverage."""

    windows: int
    step: int
    horizon: int
    refit: bool
    season_length: int
    cancelled: bool
    folds: list[BacktestFold]
    aggregate: BacktestAggregate | None
    forecasts: dict[str, list[Any]] | None = Field(
        description="One-step forecasts of every origin, column-oriented (`cutoff`, `ds`, `y`, "
        "one column per forecaster, `lo_80` …); None beyond 10,000 origins."
    )


# ------------------------------------------------------------------------------ tournaments


class Candidate(Record):
    """One entry of an ``auto`` tournament, scored on two spans inside the training data (never
    the holdout): the validation span and the span of the same length before it."""

    candidate: str
    spec: dict[str, Any]
    validation_rmse: float | None = Field(
        description="One-step RMSE on the validation span; None: it failed."
    )
    earlier_rmse: float | None = Field(
        default=None,
        description="One-step RMSE on the span before validation, fitted on what precedes it; "
        "None where the data leave no room for it (or the candidate failed).",
    )
    ratio_to_naive: float | None = Field(
        description="The score the winner is chosen by: RMSE ÷ naive's, the mean over the "
        "spans scored."
    )
    seconds: float
    detail: str | None = None


class CombinationChoice(Record):
    """Two candidates served as one convex combination, and why."""

    members: list[str]
    weights: list[float] = Field(description="Inverse validation MSE, summing to 1.")
    validation_rmse: float = Field(description="The combination's, with these weights.")
    cross_fitted_rmse: float = Field(
        description="Weights fitted on one half of the validation span, scored on the other."
    )
    best_single_rmse: float = Field(
        description="The first member alone (the best candidate; for the default, the "
        "network), on the same points."
    )
    reason: str


class Tournament(Record):
    winner: str = Field(description="A candidate, or `combination` (see `combination`).")
    reason: str
    folds: int
    validation_points: int
    budget_s: float
    seconds: float
    candidates: list[Candidate]
    combination: CombinationChoice | None = Field(
        default=None, description="The two candidates served together, when `winner` says so."
    )
