"""Data-driven defaults: what a spec leaves unset (target transform, window, season length) is
chosen from the training part of the series, with a one-line reason for each choice.

Pure numpy/pandas. Explicit spec fields always win; the reasons say so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.ml.autoregression import MIN_VALIDATION, score_windows
from app.ml.calendar import season_length_for, seasons_for
from app.ml.dataset import (
    DatasetError,
    DatasetPlan,
    NeedsPositive,
    plan_dataset,
    select_range,
    training_samples,
)
from app.ml.results import Choice
from app.ml.spec import TrainingSpec
from app.ml.transforms import TargetTransform, supervised

# The window of a network when the data shows no longer cycle (measured best on MSFT).
BASE_WINDOW = 20
# Longest recurrent window chosen automatically: training time grows linearly with it.
MAX_AUTO_WINDOW = 200
# Longest window (autoregression lags) chosen on validation: two weeks of hours; longer ones
# (two weeks of half-hours) were worse on every hourly series tried (BENCHMARKS.md).
MAX_VALIDATED_WINDOW = 400
# A candidate window replaces BASE_WINDOW only if its validation RMSE is this share lower (on a
# random walk the candidates differ by noise: 20 is then kept).
WINDOW_MARGIN = 0.01
# The validation tail the candidate windows are scored on, where the spec has none.
WINDOW_VALIDATION = 0.1
# The batch size: about STEPS_PER_EPOCH steps per epoch (a power of two), at least
# BASE_BATCH per 32 steps of window, within MIN/MAX_AUTO_BATCH. On 2 cores many small steps
# cost more than few large ones (sunspots, window 124: 148 s with batch 64, 29 s with 256, the
# same accuracy), while a short series needs small batches to get any training at all (real
# interest rate, 160 values: 0.96× naive with batch 64, two steps per epoch).
BASE_BATCH = 64
STEPS_PER_EPOCH = 32
MIN_AUTO_BATCH = 16
MAX_AUTO_BATCH = 512
# Networks averaged by default, and on a training part under SMALL_SERIES values (real
# interest rate, 160 values: 3 members moved 7 % between seeds, 8 members 1.2 %).
BASE_ENSEMBLE = 3
SMALL_ENSEMBLE = 8
SMALL_SERIES = 1000
# Early stopping where the validation part holds at least this many windows; on fewer, the
# epoch of least validation loss is noise (electricity demand, 322 windows: the default moved
# 4.6 % between seeds with early stopping, 2.2 % without; El Niño, 58: 6.1 % and 1.4 %).
BASE_PATIENCE = 5
MIN_STOPPING_VALIDATION = 500
# Autocorrelation at a cycle's lag above which the cycle counts as dominant.
MIN_CYCLE_ACF = 0.3


def autocorrelation(values: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation at lags 0…max_lag (FFT, biased estimator as in statsmodels)."""
    x = np.asarray(values, dtype=np.float64)
    x = x - x.mean()
    n = len(x)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    return acov / acov[0] if acov[0] > 0 else np.zeros(max_lag + 1)


def dominant_cycle(values: np.ndarray) -> tuple[int, float] | None:
    """The shortest period whose autocorrelation is a local peak ≥ MIN_CYCLE_ACF after the
    autocorrelation first drops below zero (a trend that never does has no cycle), with that
    autocorrelation; None when there is none."""
    n = len(values)
    max_lag = min(n // 3, 5 * MAX_AUTO_WINDOW)
    if max_lag < 4 or np.ptp(values) == 0:
        return None
    acf = autocorrelation(values, max_lag)
    below = np.flatnonzero(acf < 0)
    if len(below) == 0:
        return None
    for lag in range(int(below[0]) + 1, max_lag):
        if acf[lag] >= MIN_CYCLE_ACF and acf[lag] >= acf[lag - 1] and acf[lag] >= acf[lag + 1]:
            return lag, float(acf[lag])
    return None


def training_part(values: np.ndarray, spec: TrainingSpec, dates: pd.DatetimeIndex) -> np.ndarray:
    """The values before the holdout the spec asks for (what choices may look at)."""
    if spec.test_start is not None:
        end = int(dates.searchsorted(pd.Timestamp(spec.test_start)))
    else:
        end = len(values) - math.ceil(spec.test_fraction * len(values))
    return values[: max(end, 2)]


class _Choices:
    """The choices of one spec, in the order they are made: a field the spec sets is kept
    (``set in the spec``), an unset one gets its default and the reason for it."""

    def __init__(self, spec: TrainingSpec) -> None:
        self.spec = spec
        self.made: dict[str, Choice] = {}
        self.values: dict[str, Any] = {}

    def pick(self, field: str, default: Callable[[], tuple[Any, str]]) -> Any:
        if field in self.values:  # chosen already
            return self.values[field]
        value = getattr(self.spec, field)
        reason = "set in the spec"
        if value is None:
            value, reason = default()
        self.made[field] = Choice(value=value, reason=reason)
        self.values[field] = value
        return value

    def choose(self, field: str, choice: Choice) -> None:
        """``field`` as ``choice`` says (a choice made with more than a reason)."""
        self.made[field] = choice
        self.values[field] = choice.value

    def resolved(self, **also: Any) -> TrainingSpec:
        """The spec with every choice made (and ``also``)."""
        return self.spec.model_copy(update={**self.values, **also})


def _series_transform(values: np.ndarray) -> tuple[TargetTransform, str]:
    if bool((values > 0).all()):
        return "log_return", "every value is positive: relative moves"
    # Over every value, not the training part only: forecasts are made from the holdout's
    # history too, and a log return of a value ≤ 0 does not exist.
    non_positive = int((values <= 0).sum())
    return "difference", f"{non_positive} value(s) ≤ 0 rule out log returns: differences"


def _season(frequency: str | None, cycle: tuple[int, float] | None) -> tuple[int, str]:
    natural = season_length_for(frequency)
    if natural > 1 or cycle is None:
        return natural, f"natural season of frequency {frequency or 'unknown'}"
    return cycle[0], (
        f"frequency {frequency} has no season; dominant cycle {cycle[0]} "
        f"(autocorrelation {cycle[1]:.2f})"
    )


def window_candidates(
    seasons: tuple[int, ...], cycle: tuple[int, float] | None, training_values: int
) -> list[int]:
    """BASE_WINDOW, the dominant cycle + 1, and one and two multiples + 1 of every season (the
    window then reaches the move one season back and the one before it), up to
    MAX_VALIDATED_WINDOW and a quarter of the training values."""
    cap = max(BASE_WINDOW, min(MAX_VALIDATED_WINDOW, training_values // 4))
    found = {BASE_WINDOW}
    if cycle is not None:
        found.add(cycle[0] + 1)
    found.update(k * s + 1 for s in seasons if s > 1 for k in (1, 2))
    return sorted(w for w in found if w <= cap)


@dataclass(frozen=True)
class ValidatedWindow:
    """The window a ridge autoregression forecasts best with on the validation tail (None where
    the tail is too short to compare the candidates)."""

    window: int | None
    reason: str
    scores: dict[int, float | None]

    def choice(self, fallback: tuple[int, str]) -> Choice:
        """The window choice, ``fallback`` (value, reason) where the candidates went unscored."""
        value, reason = (
            (self.window, self.reason)
            if self.window is not None
            else (fallback[0], f"{fallback[1]}; {self.reason}")
        )
        return Choice(
            value=value, reason=reason, candidates={str(w): s for w, s in self.scores.items()}
        )


def validated_window(
    train: np.ndarray,
    transform: TargetTransform,
    seasons: tuple[int, ...],
    validation_fraction: float = WINDOW_VALIDATION,
) -> ValidatedWindow:
    """The candidate (:func:`window_candidates`) with the least one-step validation RMSE of a
    ridge autoregression, if it beats BASE_WINDOW by more than WINDOW_MARGIN (else
    BASE_WINDOW); no window where the training part is too short to score them."""
    cycle = dominant_cycle(train)
    candidates = window_candidates(seasons, cycle, len(train))
    scores = score_windows(train, transform, candidates, validation_fraction or WINDOW_VALIDATION)
    known = {w: s for w, s in scores.items() if s is not None}
    if BASE_WINDOW not in known:
        return ValidatedWindow(
            None,
            "the validation tail is too short to compare the candidate windows (a score needs "
            f"{MIN_VALIDATION} one-step targets)",
            scores,
        )
    best = min(known, key=known.__getitem__)
    base = known[BASE_WINDOW]
    window = best if known[best] < base * (1 - WINDOW_MARGIN) else BASE_WINDOW
    shown = ", ".join(f"{w}: {s:.3f}" for w, s in known.items())
    reason = (
        f"its ridge autoregression forecast the validation tail best: {known[window]:.3f}× naive "
        f"({shown})"
        if window != BASE_WINDOW
        else f"default {BASE_WINDOW}: no candidate beat it by more than {WINDOW_MARGIN:.0%} on "
        f"the validation tail ({shown})"
    )
    return ValidatedWindow(window, reason, scores)


def _window(cycle: tuple[int, float] | None, training_values: int) -> tuple[int, str]:
    longest = max(BASE_WINDOW, min(MAX_AUTO_WINDOW, training_values // 4))
    wanted = cycle[0] + 1 if cycle is not None else BASE_WINDOW
    window = max(BASE_WINDOW, min(wanted, longest))
    if cycle is not None and window > cycle[0]:
        reason = (
            f"covers the dominant cycle of {cycle[0]} observations (autocorrelation {cycle[1]:.2f})"
        )
    elif cycle is None or cycle[0] < BASE_WINDOW:
        reason = f"default {BASE_WINDOW}: no cycle longer than it found in the training data"
    else:
        reason = f"cycle of {cycle[0]} capped at {window} (training data or MAX_AUTO_WINDOW)"
    return window, reason


def _network_window(
    spec: TrainingSpec, window: int, cycle: tuple[int, float] | None, training_values: int
) -> tuple[int, str]:
    """The whole window, unless the service chose a long one for the autoregression."""
    if spec.window is not None or not spec.autoregression:
        return window, "the whole window"
    recurrent, why = _window(cycle, training_values)
    if recurrent >= window:
        return window, "the whole window"
    return recurrent, f"the last {recurrent} of the window ({why}); the autoregression sees all"


def _batch_by_samples(samples: int) -> int:
    """About STEPS_PER_EPOCH steps per epoch (a power of two)."""
    return 1 << max(0, math.ceil(samples / STEPS_PER_EPOCH) - 1).bit_length()


def _series_batch(training_values: int, window: int) -> tuple[int, str]:
    by_window = BASE_BATCH * (window // 32)
    batch = min(MAX_AUTO_BATCH, max(MIN_AUTO_BATCH, _batch_by_samples(training_values), by_window))
    return batch, (
        f"about {STEPS_PER_EPOCH} steps per epoch over {training_values:,} training "
        f"values, {BASE_BATCH} per 32 steps of window {window} at least "
        f"({MIN_AUTO_BATCH}–{MAX_AUTO_BATCH})"
    )


def _series_ensemble(training_values: int) -> tuple[int, str]:
    small = training_values < SMALL_SERIES
    return SMALL_ENSEMBLE if small else BASE_ENSEMBLE, f"{training_values:,} training values: " + (
        "few, so members are cheap and the seed matters most" if small else "the default"
    )


def _patience(validation: int, windows: str, why_not: str) -> tuple[int, str]:
    """Early stopping only where the validation windows can tell the best epoch from noise."""
    if validation >= MIN_STOPPING_VALIDATION:
        return BASE_PATIENCE, f"early stopping on {validation:,} {windows}"
    return 0, f"every epoch: {validation:,} {windows} (under {MIN_STOPPING_VALIDATION}){why_not}"


def choose(
    values: np.ndarray, dates: pd.DatetimeIndex, spec: TrainingSpec, frequency: str | None
) -> tuple[TrainingSpec, dict[str, Choice]]:
    """The spec with every unset choice filled in from the training data, and why.

    - target transform: log returns for a strictly positive series (moves scale with the
      level), differences otherwise (zeros, negatives anywhere in the range);
    - season length: the frequency's natural season, or the data's dominant cycle where the
      frequency has none;
    - window: 20, or one more than the dominant cycle (up to MAX_AUTO_WINDOW) so that every
      input sees a whole cycle;
    - batch size, ensemble size, and early stopping (only where the validation part can tell
      the best epoch from noise).
    """
    values = np.asarray(values, dtype=np.float64)
    train = training_part(values, spec, dates)
    cycle = dominant_cycle(train)
    choices = _Choices(spec)
    transform = choices.pick("target_transform", lambda: _series_transform(values))
    choices.pick("season_length", lambda: _season(frequency, cycle))
    if spec.window is None:
        validated = validated_window(
            train, transform, seasons_for(frequency), spec.validation_fraction
        )
        choices.choose("window", validated.choice(_window(cycle, len(train))))
    window = choices.pick("window", lambda: _window(cycle, len(train)))
    recurrent = choices.pick(
        "network_window", lambda: _network_window(spec, window, cycle, len(train))
    )
    if recurrent > window:
        raise DatasetError(
            f"network_window {recurrent} is longer than the window of {window} it is cut from "
            f"({choices.made['window'].reason}); ask for a network_window of at most {window}, "
            "or set the window too."
        )
    choices.pick("batch_size", lambda: _series_batch(len(train), recurrent))
    choices.pick("ensemble", lambda: _series_ensemble(len(train)))
    validation = math.floor(spec.validation_fraction * max(0, len(train) - window))
    choices.pick(
        "patience",
        lambda: _patience(
            validation, "validation windows", " cannot tell the best epoch from noise"
        ),
    )
    return choices.resolved(), choices.made


@dataclass(frozen=True)
class Resolved:
    """A spec with every choice made, why, and the data split it trains on."""

    spec: TrainingSpec
    choices: dict[str, Choice]
    plan: DatasetPlan


def resolve(series: pd.Series, spec: TrainingSpec, frequency: str | None) -> Resolved:
    """Make the spec's choices on the series and plan its split, or raise DatasetError.

    An unset architecture is ``lstm``; where the series is too short for it (with the window
    chosen here, not one the spec asks for), the naive baseline, said plainly in
    ``choices["architecture"]``. ``auto`` is planned like the
    default network, so its holdout is the one the default would have.
    """
    dates, values = select_range(series, spec)
    resolved, choices = choose(values, dates, spec, frequency)
    if spec.architecture is not None:
        choices["architecture"] = Choice(value=spec.architecture, reason="set in the spec")
        auto = spec.architecture == "auto"
        planned = resolved.model_copy(update={"architecture": None}) if auto else resolved
        try:
            plan = plan_dataset(series, planned, season_length=resolved.season_length)
        except DatasetError as exc:
            if not auto or spec.window is not None or isinstance(exc, NeedsPositive):
                raise
            raise DatasetError(
                f"auto splits the series as the default network would, with the window chosen "
                f"here ({resolved.window}): {exc}"
            ) from exc
        return Resolved(resolved, choices, plan)
    try:
        plan = plan_dataset(series, resolved, season_length=resolved.season_length)
    except NeedsPositive:
        raise
    except DatasetError as exc:
        if spec.window is not None:  # a window asked for that does not fit: say so
            raise
        resolved = resolved.model_copy(update={"architecture": "naive"})
        plan = plan_dataset(series, resolved, season_length=resolved.season_length)
        choices["architecture"] = Choice(
            value="naive", reason=f"too short for a network ({exc}); serving the naive baseline"
        )
        return Resolved(resolved, choices, plan)
    resolved = resolved.model_copy(update={"architecture": "lstm"})
    choices["architecture"] = Choice(value="lstm", reason="default network")
    return Resolved(resolved, choices, plan)


@dataclass(frozen=True)
class Member:
    """One series of a global model: what it is called and its values."""

    key: int
    values: pd.Series


@dataclass(frozen=True)
class GlobalResolved:
    """A global spec with every choice made, and each member's split (or why it has none)."""

    spec: TrainingSpec
    choices: dict[str, Choice]
    plans: dict[int, DatasetPlan]
    skipped: dict[int, str]


def _global_transform(ranges: list[np.ndarray]) -> tuple[TargetTransform, str]:
    if all(bool((r > 0).all()) for r in ranges):
        return "log_return", "every value of every member is positive: relative moves"
    return "difference", "some member has values ≤ 0, ruling out log returns"


def _global_batch(training: int) -> tuple[int, str]:
    batch = min(MAX_AUTO_BATCH, max(MIN_AUTO_BATCH, _batch_by_samples(training)))
    return batch, (
        f"about {STEPS_PER_EPOCH} steps per epoch over {training:,} "
        f"pooled training windows ({MIN_AUTO_BATCH}–{MAX_AUTO_BATCH})"
    )


def _global_spec(
    spec: TrainingSpec, ranges: list[np.ndarray], frequency: str | None
) -> tuple[TrainingSpec, dict[str, Choice]]:
    """A global spec's choices, made on every member's values together."""
    if spec.target_transform == "level":
        raise DatasetError("a global model needs a relative target_transform, not 'level'")
    choices = _Choices(spec)
    choices.made["architecture"] = Choice(
        value=spec.kind, reason="set in the spec" if spec.architecture else "default network"
    )
    choices.pick("target_transform", lambda: _global_transform(ranges))
    choices.pick(
        "season_length",
        lambda: (
            season_length_for(frequency),
            f"natural season of frequency {frequency or 'unknown'}",
        ),
    )
    window = choices.pick(
        "window", lambda: (BASE_WINDOW, f"default {BASE_WINDOW} for global models")
    )
    training = sum(max(0, len(r) - math.ceil(spec.test_fraction * len(r)) - window) for r in ranges)
    choices.pick("batch_size", lambda: _global_batch(training))
    choices.pick("ensemble", lambda: (1, "one network: pooled data steadies it"))
    validation = math.floor(spec.validation_fraction * training)
    choices.pick("patience", lambda: _patience(validation, "pooled validation windows", ""))
    return choices.resolved(architecture=spec.kind), choices.made


def resolve_global(
    members: list[Member], spec: TrainingSpec, frequency: str | None
) -> GlobalResolved:
    """Make a global model's choices on all members' data together and plan each member's
    split; a member the spec cannot train on is skipped with the reason (DatasetError when
    none can).

    - target transform: log returns where every member is positive, else differences (a
      global model never trains on levels: the networks sees normalised moves only);
    - window 20 (members' cycles differ), the frequency's natural season;
    - batch size from the pooled training windows, one network (ensemble 1: the pooled data
      steadies it, and a global model must train in minutes), early stopping on the pooled
      validation windows.
    """
    if spec.architecture is not None and not spec.is_network:
        raise DatasetError(f"a global model is a network; '{spec.architecture}' is not one")
    ranges = [select_range(m.values, spec)[1] for m in members]
    resolved, choices = _global_spec(spec, ranges, frequency)
    plans: dict[int, DatasetPlan] = {}
    skipped: dict[int, str] = {}
    for member in members:
        try:
            plan = plan_dataset(member.values, resolved, season_length=resolved.season_length)
            data = supervised(
                plan.prices, resolved.input_window, resolved.transform, resolved.outputs
            )
            training_samples(data, plan, resolved.outputs)  # a direct horizon needs enough
            plans[member.key] = plan
        except DatasetError as exc:
            skipped[member.key] = str(exc)
    if not plans:
        reasons = sorted(set(skipped.values()))
        raise DatasetError(
            f"none of the {len(members)} series can train this global model: "
            + "; ".join(reasons[:3])
        )
    return GlobalResolved(resolved, choices, plans, skipped)
