"""The training spec: every knob of a training run, with the defaults we measured best.

Shared by the API (validation, OpenAPI) and the pure training code; it imports nothing heavy.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from app.ml.scaling import ScalerKind
from app.ml.transforms import TargetTransform

Architecture = Literal[
    "lstm",
    "gru",
    "rnn",
    "mlp",
    "naive",
    "drift",
    "seasonal_naive",
    "ar",
    "ets",
    "arima",
    "theta",
    "auto",
]
BaselineMethod = Literal["naive", "drift", "seasonal_naive"]
ReferenceMethod = Literal["ar", "ets", "arima", "theta"]
Strategy = Literal["recursive", "direct"]
BASELINES: frozenset[str] = frozenset({"naive", "drift", "seasonal_naive"})
REFERENCES: tuple[ReferenceMethod, ...] = ("ar", "ets", "arima", "theta")
NETWORKS: frozenset[str] = frozenset({"lstm", "gru", "rnn", "mlp"})
Optimizer = Literal["adam", "rmsprop", "sgd"]
DriftMode = Literal["learned", "none", "baseline"]
# A model of one series, or one network trained on many (a global model).
Scope = Literal["series", "global"]
# What a global model's spec fields default to where the request leaves them unset: the drift
# baseline is a slope per series (one network cannot carry many); references are fitted per
# series (minutes for a hundred); ten epochs over a hundred series' pooled windows are as many
# steps as 30 on one series ten times over, and measured as accurate (BENCHMARKS.md).
GLOBAL_DEFAULTS: dict[str, object] = {"drift": "none", "references": [], "epochs": 10}

DEFAULT_LEARNING_RATE: dict[str, float] = {"adam": 1e-3, "rmsprop": 1e-3, "sgd": 1e-2}
T = TypeVar("T")
# A backtest keeps ~10 arrays of origins × horizon floats (model, actuals, baselines, coverage).
MAX_BACKTEST_FORECASTS = 2_000_000


class BacktestSpec(BaseModel):
    """Rolling-origin (walk-forward) folds at the end of the data.

    Fold ``k`` (1 = oldest, as the results number them) has a cutoff; its test origins are the
    ``step`` observations from the cutoff on, each forecast ``horizon`` steps ahead from the data
    before it. The folds are laid out backwards from the end of the data so that the last
    origin's horizon ends on the last observation: every origin is scored at every step.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"windows": 5, "horizon": 20},
                {"windows": 10, "step": 21, "horizon": 5, "refit": False},
            ]
        },
    )

    windows: int = Field(default=5, ge=1, le=100, description="Number of folds (cutoffs).")
    step: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Observations between cutoffs, and test origins per fold (default: horizon).",
    )
    horizon: int = Field(default=20, ge=1, le=1000, description="Steps forecast from an origin.")
    refit: StrictBool = Field(
        default=True,
        description="Train on the data before each cutoff (true), or score one trained version "
        "on every fold (false; every cutoff must then lie after the data it trained on).",
    )

    @property
    def effective_step(self) -> int:
        return self.step if self.step is not None else self.horizon

    @property
    def test_points(self) -> int:
        """Observations the folds need after the first cutoff."""
        return self.windows * self.effective_step + self.horizon - 1


class TrainingSpec(BaseModel):
    """How to fit one network (or a baseline, or a statistical model) to one field of a series.

    For the baselines (``naive``, ``drift``, ``seasonal_naive``) and the statistical models
    (``ets``, ``arima``, ``theta``) the network fields (layers, units, window, epochs, optimizer,
    scaler, target transform, …) are ignored. ``auto`` runs a tournament (see README).
    Unset ``window``, ``target_transform`` and ``season_length`` are chosen from the training
    data (:mod:`app.ml.defaults`); the version records each choice and why.
    """

    model_config = ConfigDict(extra="forbid")

    architecture: Architecture | None = Field(
        default=None,
        description="Network type (lstm, gru, rnn, mlp), a baseline (naive, drift, "
        "seasonal_naive), a statistical model (ar: a ridge linear autoregression on lags chosen "
        "on validation, seasonal ones included; ets, arima, theta), or auto: a tournament "
        "inside the training data among all of these (and combinations of the best two), "
        "whose winner is served. Unset: lstm, or naive where the series is too short for a "
        "network.",
    )
    layers: int = Field(default=1, ge=1, le=8, description="Stacked recurrent (or dense) layers.")
    units: int = Field(default=32, ge=1, le=1024, description="Units per layer.")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0, description="Dropout after each layer.")
    window: int | None = Field(
        default=None,
        ge=2,
        le=2000,
        description="Past observations per input (all of them reach the linear "
        "autoregression). Unset: chosen on the validation tail of the training part among 20, "
        "the dominant cycle + 1 and one and two multiples (+ 1) of every season the frequency "
        "implies (hours: 25, 49, 169, 337), up to 400: the window whose ridge autoregression "
        "forecasts best one step ahead there, if more than 1 % better than 20 (the version "
        "lists every candidate's score).",
    )
    network_window: int | None = Field(
        default=None,
        ge=2,
        le=2000,
        description="The last observations of the window the recurrent (or dense) layers see; "
        "at most `window`. Unset: the whole window when the spec sets it or has no "
        "autoregression, else 20 or the dominant cycle + 1 (up to 200), as before windows were "
        "validated: the long seasonal window goes to the linear autoregression, which is where "
        "it pays (a network on all 337 hourly lags trained 10× longer for the same accuracy).",
    )
    epochs: int = Field(default=30, ge=1, description="At most this many epochs.")
    batch_size: int | None = Field(
        default=None,
        ge=1,
        le=65536,
        description="Unset: 64 for every 32 steps of window, or enough for about 32 steps per "
        "epoch on a long series (up to 512): on CPUs few large steps beat many small ones.",
    )
    optimizer: Optimizer = "adam"
    learning_rate: float | None = Field(
        default=None, gt=0, le=10, description="Default: adam/rmsprop 0.001, sgd 0.01."
    )
    momentum: float = Field(default=0.0, ge=0.0, lt=1.0, description="SGD momentum.")
    start: date | None = Field(default=None, description="Use observations from this date on.")
    end: date | None = Field(default=None, description="Use observations up to this date.")
    test_fraction: float = Field(
        default=0.2, gt=0.0, lt=1.0, description="Share of the data held out for evaluation."
    )
    test_start: date | None = Field(
        default=None,
        description="Hold out every target from this date on (overrides test_fraction).",
    )
    validation_fraction: float = Field(
        default=0.1,
        ge=0.0,
        lt=0.5,
        description="Tail of the training part used for early stopping (never the holdout); "
        "without early stopping, the tail a probe network forecasts to fit the leaning toward "
        "naive on (at least 60 windows where the training part has 120).",
    )
    patience: int | None = Field(
        default=None,
        ge=0,
        description="Early stopping patience in epochs; 0 trains every epoch. Unset: 5 where "
        "the validation part holds at least 500 windows, else 0: on fewer, the epoch of least "
        "validation loss is noise that moves results between seeds (see BENCHMARKS.md).",
    )
    restore_best_weights: StrictBool = True
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    scaler: ScalerKind = "standard"
    target_transform: TargetTransform | None = Field(
        default=None,
        description="What the network predicts; unset: log_return for a positive series, "
        "difference otherwise.",
    )
    strategy: Strategy = Field(
        default="recursive",
        description="recursive: one step per network call, fed back; direct: one call returns "
        "every step up to `direct_horizon` (longer forecasts continue from those).",
    )
    direct_horizon: int = Field(
        default=20, ge=2, le=1000, description="Steps a direct network predicts at once."
    )
    ensemble: int | None = Field(
        default=None,
        ge=1,
        le=10,
        description="Networks trained at once from different initial weights and averaged in "
        "one ONNX graph: steadier results than one (see BENCHMARKS.md). Unset: 3, or 8 on a "
        "training part under 1,000 values, where they are cheap and the seed matters most.",
    )
    autoregression: StrictBool = Field(
        default=True,
        description="Add to the network's output a linear autoregression of its window, fitted "
        "by ridge least squares on the training part and kept fixed, so the network learns only "
        "what the linear model misses (LSTNet's highway): results move far less with the seed "
        "(see BENCHMARKS.md). false: the tutorials' pure network.",
    )
    lean_toward_naive: StrictBool = Field(
        default=True,
        description="Serve every predicted move times a weight in [0, 1] fitted on one-step "
        "forecasts of the validation span by a network that never trained on it (0: naive, 1: "
        "the network), so that a network whose moves are noise is never behind naive (see "
        "BENCHMARKS.md). The version's `bundle.shrinkage` says how much and why. Without "
        "early stopping this trains a second network on all but the validation span. false: "
        "the network as trained. Ignored for target_transform 'level'.",
    )
    combine_with_ar: StrictBool = Field(
        default=True,
        description="Serve the network combined with `ar` (the ridge autoregression the "
        "report lists) when, on the validation span the leaning is fitted on, the two weighted "
        "by inverse MSE forecast more than 1 % better than the network alone, cross-fitted on "
        "the span's two halves (`ar` fitted on what precedes the span). The version's "
        "`bundle.choices.combination` says whether and why; the weights are the bundle "
        "manifest's. Without early stopping and with lean_toward_naive false, this trains the "
        "second network the leaning would. false: the network alone. Ignored for "
        "target_transform 'level'.",
    )
    shuffle: StrictBool = Field(
        default=False,
        description="Shuffle the training windows every epoch (what Keras does by default). "
        "false: mini-batches in time order, so the seed only draws each ensemble member's "
        "initial weights, which the ensemble averages; a shuffled order is one draw shared by "
        "every member, which no ensemble averages away (see BENCHMARKS.md).",
    )
    references: list[ReferenceMethod] = Field(
        default=list(REFERENCES),
        description="Statistical models fitted on the same training data and reported next to "
        "the model on the same points (ar: the ridge linear autoregression, seasonal lags "
        "included; ets, arima, theta: statsforecast's AutoETS, AutoARIMA, AutoTheta); [] for "
        "none.",
    )
    drift: DriftMode = Field(
        default="baseline",
        description="The mean move per step that a relative-move network's forecasts carry: "
        "'learned' keeps the mean of its training targets, 'none' removes it, 'baseline' "
        "replaces it with the drift baseline's slope relative to the last training value "
        "(see BENCHMARKS.md, Accuracy). Ignored for target_transform 'level'.",
    )
    season_length: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Observations per season for seasonal_naive, the statistical models and "
        "seasonal reports; null derives it from the series frequency (business days 5, days 7, "
        "hours 24, weeks 52, months 12, quarters 4), or else from the dominant cycle of the "
        "training data.",
    )
    backtest: BacktestSpec | None = Field(
        default=None, description="Also run a walk-forward backtest of this spec."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.momentum and self.optimizer != "sgd":
            raise ValueError("momentum applies only to optimizer 'sgd'")
        if self.start and self.end and self.start >= self.end:
            raise ValueError("start must be before end")
        if self.patience and self.validation_fraction == 0:
            raise ValueError("early stopping (patience) needs validation_fraction > 0")
        if self.window and self.network_window and self.network_window > self.window:
            raise ValueError("network_window cannot be longer than window")
        return self

    @property
    def is_baseline(self) -> bool:
        return self.architecture in BASELINES

    @property
    def is_reference(self) -> bool:
        return self.architecture in REFERENCES

    @property
    def reference_method(self) -> ReferenceMethod:
        for method in REFERENCES:
            if self.architecture == method:
                return method
        raise ValueError(f"architecture {self.architecture!r} is not a statistical model")

    @property
    def is_network(self) -> bool:
        return self.architecture in NETWORKS or self.architecture is None

    @property
    def kind(self) -> Architecture:
        """The architecture, ``lstm`` where unset."""
        return self.architecture or "lstm"

    # What app.ml.defaults.choose fills in, read once chosen.

    @property
    def input_window(self) -> int:
        return _chosen(self.window, "window")

    @property
    def recurrent_window(self) -> int:
        """The part of the window the recurrent (or dense) layers see."""
        return self.network_window or self.input_window

    @property
    def transform(self) -> TargetTransform:
        return _chosen(self.target_transform, "target_transform")

    @property
    def members(self) -> int:
        return _chosen(self.ensemble, "ensemble")

    @property
    def mini_batch(self) -> int:
        return _chosen(self.batch_size, "batch_size")

    @property
    def outputs(self) -> int:
        """Steps one network call predicts."""
        return self.direct_horizon if self.strategy == "direct" else 1

    @property
    def effective_learning_rate(self) -> float:
        return self.learning_rate or DEFAULT_LEARNING_RATE[self.optimizer]


def _chosen(value: T | None, field: str) -> T:
    if value is None:
        raise ValueError(f"{field} not chosen yet: resolve the spec with app.ml.defaults")
    return value
