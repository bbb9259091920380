"""Fit a network to a price series and measure it on the holdout. Imports TensorFlow."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from app.ml.baselines import drift_slope
from app.ml.combination import ArGate, SpanForecasts, gate_with_ar
from app.ml.dataset import DatasetError, DatasetPlan, training_samples
from app.ml.evaluate import FittedForecaster, fitted_baseline, fitted_reference, holdout_intervals
from app.ml.export import sample_windows, save_network
from app.ml.inference import CombinedForecaster, Forecaster, PointForecaster
from app.ml.networks import fit_autoregression, forget_networks, networks_for
from app.ml.progress import EpochHook, EpochProgress
from app.ml.results import Shrinkage, Tournament
from app.ml.scaling import AffineScaler, fit_scaler
from app.ml.shrinkage import fit_shrinkage, probe_windows
from app.ml.spec import TrainingSpec
from app.ml.transforms import Supervised, supervised, to_price, window_scale

# Global models: a window whose scale is under this share of its series' median is flat (left
# out of training); normalised targets are clipped at this many window scales.
FLAT_WINDOW_SHARE = 1e-3
MAX_NORMALISED_MOVE = 10.0
# Horizon the intervals of a fitted forecaster are calibrated for (longer ones grow like √h).
DEFAULT_CALIBRATION_HORIZON = 20


@dataclass
class TrainResult:
    """A fitted network and scaler; accuracy is measured on the exported network
    (:mod:`app.ml.evaluate`), the one that is served. Export ``network`` before the next
    training in this process: a network with the same graph is trained again in place
    (:func:`app.ml.networks.networks_for`)."""

    network: keras.Model
    scaler: AffineScaler
    epochs_run: int
    cancelled: bool
    train_seconds: float
    shrinkage: Shrinkage | None = None
    # One-step forecasts, as served (leaned), of the span the leaning was fitted on.
    validation: SpanForecasts | None = None


def configure_tensorflow(threads: int | None) -> None:
    """Limit TF's thread pools; call once per process before any TF op runs."""
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


class _ProgressCallback(keras.callbacks.Callback):
    def __init__(self, epochs: int, hook: EpochHook) -> None:
        super().__init__()
        self.epochs = epochs
        self.hook = hook
        self.started = time.perf_counter()
        self.cancelled = False

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        elapsed = time.perf_counter() - self.started
        done = epoch + 1
        progress = EpochProgress(
            epoch=done,
            epochs=self.epochs,
            loss=float(logs.get("loss", float("nan"))),
            val_loss=float(logs["val_loss"]) if "val_loss" in logs else None,
            elapsed_s=elapsed,
            eta_s=elapsed / done * (self.epochs - done),
        )
        if not self.hook(progress):
            self.cancelled = True
            self.model.stop_training = True


def train(plan: DatasetPlan, spec: TrainingSpec, on_epoch: EpochHook | None = None) -> TrainResult:
    """Train on targets before ``plan.holdout_start`` (the tail of them for validation); a
    direct network's every step must lie before it too.

    For relative transforms the network's drift is then set as ``spec.drift`` asks (see
    :func:`drift_shift`), and its moves lean toward naive as ``spec.lean_toward_naive`` asks
    (:mod:`app.ml.shrinkage`): the weight is fitted on the early-stopping span, or, without
    one, on the last training windows (:func:`app.ml.shrinkage.probe_windows`) forecast by a
    network trained before them.
    """
    data = supervised(plan.prices, spec.input_window, spec.transform, spec.outputs)
    n_in = training_samples(data, plan, spec.outputs)
    n_val = min(plan.validation_samples, n_in // 2)
    leaning = spec.lean_toward_naive and spec.transform != "level"
    probing = leaning or (spec.combine_with_ar and spec.transform != "level")
    held_out = 0 if n_val or not probing else probe_windows(n_in, spec.validation_fraction)
    probe = None
    if held_out:  # first: the full fit below may retrain the same graph in place
        before = replace(plan, holdout_start=int(data.target_index[n_in - held_out]))
        early = _train_part(data, before, spec, n_in - held_out, 0, _first_of_two(on_epoch))
        probe = _moves(early, data.x[n_in - held_out : n_in])
        on_epoch = _second_of_two(on_epoch, early.result.epochs_run, spec.epochs)
    fitted = _train_part(data, plan, spec, n_in, n_val, on_epoch)
    if probing and not fitted.result.cancelled:
        if probe is not None:
            span = f"the last {held_out:,} training windows, by a network trained before them"
        else:
            held_out, span = n_val, f"the {n_val:,} early-stopping windows"
            probe = _moves(fitted, data.x[n_in - n_val : n_in]) if n_val else np.empty((0, 1))
        on_span = slice(n_in - held_out, n_in)
        actual = data.y[on_span]
        first_step = actual if actual.ndim == 1 else actual[:, 0]
        weight = 1.0
        if leaning:
            shrinkage = fit_shrinkage(first_step, probe[:, 0], span)
            fitted.lean(shrinkage.weight)
            fitted.result.shrinkage = shrinkage
            weight = shrinkage.weight
        fitted.result.validation = SpanForecasts(
            data.target_index[on_span],
            to_price(weight * probe[:, 0], data.anchor[on_span], spec.transform),
        )
    return fitted.result


def _first_of_two(on_epoch: EpochHook | None) -> EpochHook | None:
    """Progress of the first of two trainings, counted against both."""
    if on_epoch is None:
        return None
    hook = on_epoch
    return lambda p: hook(p.model_copy(update={"epochs": 2 * p.epochs, "eta_s": 2 * p.eta_s}))


def _second_of_two(on_epoch: EpochHook | None, done: int, epochs: int) -> EpochHook | None:
    """Progress of the second training, after the ``done`` epochs of the first."""
    if on_epoch is None:
        return None
    hook = on_epoch
    return lambda p: hook(
        p.model_copy(update={"epoch": done + p.epoch, "epochs": epochs + p.epochs})
    )


def _train_part(
    data: Supervised,
    plan: DatasetPlan,
    spec: TrainingSpec,
    n_in: int,
    n_val: int,
    on_epoch: EpochHook | None,
) -> _Fitted:
    """The network trained on the first ``n_in`` windows (the last ``n_val`` of them for early
    stopping), its drift set from what lies before ``plan``'s holdout."""
    fit_on = plan.prices[: plan.holdout_start] if spec.transform == "level" else data.y[:n_in]
    n_train = n_in - n_val
    fitted = _fit(
        Windows(data.x[:n_train], data.y[:n_train], data.x[n_train:n_in], data.y[n_train:n_in]),
        fit_on,
        spec,
        on_epoch,
    )
    mean_targets = np.asarray(fit_on, dtype=np.float64).reshape(len(fit_on), -1).mean(axis=0)
    fitted.shift(drift_shift(plan, spec, mean_targets))
    return fitted


def _moves(fitted: _Fitted, windows: np.ndarray) -> np.ndarray:
    """The fitted network's predicted moves (windows × outputs) for unscaled input windows."""
    network, scaler = fitted.result.network, fitted.result.scaler
    z = np.asarray(network(scaler.transform(windows).astype(np.float32)[..., None], training=False))
    return np.asarray(scaler.inverse(z.reshape(len(windows), -1).astype(np.float64)))


def train_global(
    plans: Sequence[DatasetPlan], spec: TrainingSpec, on_epoch: EpochHook | None = None
) -> TrainResult:
    """One network on the windows of every plan (a global model), each window and its target
    divided by the window's scale (:func:`app.ml.transforms.window_scale`).

    Each plan's targets before its holdout train it, the tail of them validates; the training
    windows of all series are ordered by date, so that every mini-batch mixes series. Drift
    ``none`` removes the mean of the normalised targets, ``learned`` keeps it (``baseline`` is
    a slope per series, which one network cannot carry).
    """
    if spec.transform == "level":
        raise DatasetError("a global model needs a relative target_transform, not 'level'")
    train_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    val_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for plan in plans:
        data = supervised(plan.prices, spec.input_window, spec.transform, spec.outputs)
        n_in = training_samples(data, plan, spec.outputs)
        sigma = window_scale(data.x[:n_in], spec.transform)
        # A (nearly) flat window has no scale to normalise by: its next move divided by ~0
        # would dominate the scaler and the drift mean. Such windows are left out, and the
        # rest's targets clipped at MAX_NORMALISED_MOVE window scales.
        keep = sigma[:, 0] >= FLAT_WINDOW_SHARE * np.median(sigma)
        x = (data.x[:n_in] / sigma)[keep]
        y = np.clip(data.y[:n_in] / (sigma if data.y.ndim == 2 else sigma[:, 0]),
                    -MAX_NORMALISED_MOVE, MAX_NORMALISED_MOVE)[keep]  # fmt: skip
        when = plan.dates.asi8[data.target_index[:n_in]][keep]
        n_in = int(keep.sum())
        n_train = n_in - min(plan.validation_samples, n_in // 2)
        train_parts.append((x[:n_train], y[:n_train], when[:n_train]))
        val_parts.append((x[n_train:], y[n_train:], when[n_train:]))
    train_x, train_y = _by_date(train_parts)
    val_x, val_y = _by_date(val_parts)
    fit_on = np.concatenate([train_y, val_y])
    fitted = _fit(Windows(train_x, train_y, val_x, val_y), fit_on, spec, on_epoch)
    if spec.drift == "none":
        fitted.shift(np.asarray(fit_on).reshape(len(fit_on), -1).mean(axis=0))
    elif spec.drift != "learned":
        raise DatasetError("a global model takes drift 'none' or 'learned'")
    return fitted.result


def _by_date(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    order = np.argsort(np.concatenate([p[2] for p in parts]), kind="stable")
    return x[order], y[order]


@dataclass(frozen=True)
class Windows:
    """Unscaled network inputs (samples × window) and targets, for training and validation."""

    x: np.ndarray
    y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray


@dataclass
class _Fitted:
    result: TrainResult
    heads: list[keras.layers.Dense]
    autoregression: keras.layers.Dense | None

    def shift(self, shift: np.ndarray) -> None:
        if np.any(shift):
            for head in self.heads:
                shift_output(head, self.result.scaler, shift)

    def lean(self, weight: float) -> None:
        """Every predicted move times ``weight``, folded into the served graph's weights: an
        output ``z`` (scaled) becomes ``w·z + (1 − w)·offset``, whose unscaled move is ``w``
        times the old one. The autoregression (shared by the members) is scaled once."""
        if weight == 1.0:
            return
        offset = self.result.scaler.offset
        for head in self.heads:
            kernel, bias = head.get_weights()
            head.set_weights([kernel * weight, (bias * weight + (1 - weight) * offset)])
        if self.autoregression is not None:
            kernel, bias = self.autoregression.get_weights()
            self.autoregression.set_weights([kernel * weight, bias * weight])


def _fit(
    windows: Windows, fit_on: np.ndarray, spec: TrainingSpec, on_epoch: EpochHook | None
) -> _Fitted:
    """Fit the spec's networks (an ensemble, on top of the autoregression) to the windows, with
    a scaler fitted on ``fit_on``."""
    if not spec.is_network:
        raise ValueError(f"{spec.architecture} is not a network")
    # Same result whatever ran in this process before (Python's own collector frees the rest;
    # a full collection here cost ~0.35 s a job).
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(spec.seed)
    tf.config.experimental.enable_op_determinism()
    scaler = fit_scaler(spec.scaler, fit_on)

    def scaled(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network inputs ``(samples, window, 1)`` and targets ``(samples, 1, outputs)``."""
        y_scaled = scaler.transform(y).astype(np.float32)
        return scaler.transform(x).astype(np.float32)[..., None], y_scaled.reshape(len(y), 1, -1)

    x, y = scaled(windows.x, windows.y)
    validation = scaled(windows.val_x, windows.val_y) if len(windows.val_x) else None
    callbacks: list[keras.callbacks.Callback] = []
    if spec.patience and validation is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                patience=spec.patience, restore_best_weights=spec.restore_best_weights
            )
        )
    progress = _ProgressCallback(spec.epochs, on_epoch) if on_epoch else None
    if progress:
        callbacks.append(progress)
    autoregression = fit_autoregression(x[:, :, 0], y) if spec.autoregression else None
    networks = networks_for(spec, autoregression)
    started = time.perf_counter()
    try:
        history = networks.trained.fit(
            training_batches(x, y, spec.mini_batch, shuffle=spec.shuffle, seed=spec.seed),
            epochs=spec.epochs,
            validation_data=training_batches(*validation, spec.mini_batch) if validation else None,
            shuffle=False,  # the batches are already in the spec's order
            callbacks=callbacks,
            verbose=0,
        )
    except BaseException:
        forget_networks()
        raise
    result = TrainResult(
        network=networks.to_served(),
        scaler=scaler,
        epochs_run=len(history.history.get("loss", [])),
        cancelled=bool(progress and progress.cancelled),
        train_seconds=time.perf_counter() - started,
    )
    return _Fitted(result, networks.heads, networks.autoregression)


# Keras' own pipeline for NumPy arrays (parallel map, autotuned prefetch) costs ~20-50 ms to
# start every epoch, for training and again for validation: 40 % of a default job's training
# (BENCHMARKS.md). A plain one starts in ~1 ms and yields the same batches in the same order
# (in time order; a shuffled order is its own seeded draw, not the one Keras would make).
_PLAIN_PIPELINE = tf.data.Options()
_PLAIN_PIPELINE.autotune.enabled = False
_PLAIN_PIPELINE.experimental_optimization.apply_default_optimizations = False


def training_batches(
    x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = False, seed: int = 0
) -> tf.data.Dataset:
    """Mini-batches in time order, or reshuffled every epoch (seeded) when ``shuffle``."""
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).with_options(_PLAIN_PIPELINE)


def drift_shift(plan: DatasetPlan, spec: TrainingSpec, mean_targets: np.ndarray) -> np.ndarray:
    """How much to lower each output (in target units: a move over 1, 2, … steps) so that
    the forecasts carry the drift ``spec.drift`` asks for.

    A network trained with MSE predicts about the mean of its training targets when it sees
    nothing better; on MSFT that mean (0.11 %/day over 1986–2006) is 3× the 2006–2016 one and
    made 20-step forecasts 3 % worse than the drift baseline. ``none`` removes it; ``baseline``
    replaces it with the drift baseline's slope (:func:`app.ml.baselines.drift_slope` of the
    training part), relative to the last training value for log returns and relative moves.
    """
    steps = np.arange(1, len(mean_targets) + 1, dtype=np.float64)
    if spec.transform == "level" or spec.drift == "learned":
        return np.zeros_like(mean_targets)
    if spec.drift == "none":
        return mean_targets
    train_part = plan.prices[: plan.holdout_start]
    slope = drift_slope(train_part)
    if spec.transform == "difference":
        return mean_targets - steps * slope
    relative = slope / float(train_part[-1])
    if spec.transform == "log_return":
        return mean_targets - steps * float(np.log1p(relative))
    return mean_targets - ((1.0 + relative) ** steps - 1.0)


def shift_output(head: keras.layers.Dense, scaler: AffineScaler, shift: np.ndarray) -> None:
    """Lower every prediction of an output layer by ``shift`` target units (one per output):
    predictions are unscaled as ``(z − offset) / scale``, so its bias moves by
    ``shift · scale``."""
    kernel, bias = head.get_weights()
    head.set_weights([kernel, (bias - shift * scaler.scale).astype(np.float32)])


def fit_forecaster(
    plan: DatasetPlan,
    spec: TrainingSpec,
    *,
    horizon: int = DEFAULT_CALIBRATION_HORIZON,
    season_length: int = 1,
    seasons: tuple[int, ...] = (),
    on_epoch: EpochHook | None = None,
) -> FittedForecaster:
    """Train on the plan, export to ONNX and wrap it as served (combined with ``ar`` where
    :func:`ar_gate` lets it), with intervals calibrated on the plan's holdout: the ``fit``
    callback of a backtest. Baseline specs are fitted instantly. ``seasons``: those the
    frequency implies, for ``ar``'s lags."""
    if spec.is_reference:
        return fitted_reference(plan, spec, season_length, horizon)
    if not spec.is_network:
        return fitted_baseline(plan, spec, season_length, horizon)
    result = train(plan, spec, on_epoch)  # a cancelled run is still wrapped, marked cancelled
    with tempfile.TemporaryDirectory(prefix="fit-") as tmp:
        directory = Path(tmp)
        save_network(result.network, directory, sample_windows(plan, spec, result.scaler))
        forecaster: PointForecaster = Forecaster.from_spec(
            directory / "network.onnx", spec, result.scaler
        )
    gate = ar_gate(plan, spec, result, season_length, seasons)
    if gate is not None and gate.combined is not None:
        with_ar = gate.combined
        forecaster = CombinedForecaster([forecaster, with_ar.ar], with_ar.combination.weights)
    return FittedForecaster(
        forecaster=forecaster,
        intervals=holdout_intervals(forecaster, plan, horizon),
        train_seconds=result.train_seconds,
        epochs_run=result.epochs_run,
        cancelled=result.cancelled,
        combination=gate.choice if gate is not None else None,
    )


def ar_gate(
    plan: DatasetPlan,
    spec: TrainingSpec,
    result: TrainResult,
    season_length: int,
    seasons: tuple[int, ...] = (),
) -> ArGate | None:
    """Whether the trained network is served combined with ``ar``
    (:func:`app.ml.combination.gate_with_ar`, on the span its leaning was fitted on); None
    where the spec does not ask (``combine_with_ar`` false, ``level`` targets) or the run was
    cancelled."""
    if not spec.combine_with_ar or result.validation is None or result.cancelled:
        return None
    name = spec.architecture or "network"
    return gate_with_ar(plan, name, result.validation, season_length, seasons)


def fit_tournament_winner(
    plan: DatasetPlan,
    members: list[TrainingSpec],
    table: Tournament,
    *,
    horizon: int = DEFAULT_CALIBRATION_HORIZON,
    season_length: int = 1,
) -> FittedForecaster:
    """What ``auto`` serves, fitted on the plan: the winning candidate, or the combination of
    the two the tournament chose (with its weights), with intervals calibrated on the plan's
    holdout."""
    fitted = [
        fit_forecaster(plan, member, horizon=horizon, season_length=season_length)
        for member in members
    ]
    if table.combination is None:
        return fitted[0]
    combined = CombinedForecaster([f.forecaster for f in fitted], table.combination.weights)
    return FittedForecaster(
        forecaster=combined,
        intervals=holdout_intervals(combined, plan, horizon),
        train_seconds=sum(f.train_seconds for f in fitted),
        epochs_run=sum(f.epochs_run for f in fitted),
        cancelled=any(f.cancelled for f in fitted),
    )
