"""Fit a network to a price series and measure it on the holdout. Imports TensorFlow."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from app.ml.baselines import drift_slope
from app.ml.dataset import DatasetError, DatasetPlan
from app.ml.evaluate import FittedForecaster, fitted_baseline, fitted_reference, holdout_intervals
from app.ml.export import sample_windows, save_network
from app.ml.inference import Forecaster
from app.ml.networks import build_network, fit_autoregression
from app.ml.progress import EpochHook, EpochProgress
from app.ml.scaling import AffineScaler, fit_scaler
from app.ml.spec import TrainingSpec
from app.ml.transforms import supervised

# Horizon the intervals of a fitted forecaster are calibrated for (longer ones grow like √h).
DEFAULT_CALIBRATION_HORIZON = 20


@dataclass
class TrainResult:
    """A fitted network and scaler; accuracy is measured on the exported network
    (:mod:`app.ml.evaluate`), the one that is served."""

    network: keras.Model
    scaler: AffineScaler
    epochs_run: int
    cancelled: bool
    train_seconds: float


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
    :func:`drift_shift`).
    """
    if not spec.is_network:
        raise ValueError(f"{spec.architecture} is not a network")
    keras.backend.clear_session()  # same result whatever ran in this process before
    keras.utils.set_random_seed(spec.seed)
    tf.config.experimental.enable_op_determinism()
    data = supervised(plan.prices, spec.input_window, spec.transform, spec.outputs)
    in_training = data.target_index + spec.outputs - 1 < plan.holdout_start
    n_in = int(in_training.sum())
    if n_in < 2:
        raise DatasetError(
            f"{n_in} training sample(s) with every step before the holdout; train on more data "
            "or lower direct_horizon."
        )
    fit_on = plan.prices[: plan.holdout_start] if spec.transform == "level" else data.y[in_training]
    scaler = fit_scaler(spec.scaler, fit_on)
    x = scaler.transform(data.x[:n_in]).astype(np.float32)[..., None]
    y = scaler.transform(data.y[:n_in]).astype(np.float32)
    n_val = min(plan.validation_samples, n_in // 2)
    n_train = n_in - n_val
    members = spec.members

    def targets(part: np.ndarray) -> np.ndarray | list[np.ndarray]:
        return [part] * members if members > 1 else part

    validation = (x[n_train:], targets(y[n_train:])) if n_val else None
    callbacks: list[keras.callbacks.Callback] = []
    if spec.patience and n_val:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                patience=spec.patience, restore_best_weights=spec.restore_best_weights
            )
        )
    progress = _ProgressCallback(spec.epochs, on_epoch) if on_epoch else None
    if progress:
        callbacks.append(progress)
    autoregression = (
        fit_autoregression(x[:n_train, :, 0], y[:n_train]) if spec.autoregression else None
    )
    networks = build_network(spec, autoregression)
    started = time.perf_counter()
    history = networks.trained.fit(
        x[:n_train],
        targets(y[:n_train]),
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        shuffle=spec.shuffle,
        validation_data=validation,
        callbacks=callbacks,
        verbose=0,
    )
    train_seconds = time.perf_counter() - started
    mean_targets = np.asarray(fit_on, dtype=np.float64).reshape(len(fit_on), -1).mean(axis=0)
    shift = drift_shift(plan, spec, mean_targets)
    if np.any(shift):
        for head in networks.heads:
            shift_output(head, scaler, shift)
    return TrainResult(
        network=networks.served,
        scaler=scaler,
        epochs_run=len(history.history.get("loss", [])),
        cancelled=bool(progress and progress.cancelled),
        train_seconds=train_seconds,
    )


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
    on_epoch: EpochHook | None = None,
) -> FittedForecaster:
    """Train on the plan, export to ONNX and wrap it as served, with intervals calibrated on the
    plan's holdout: the ``fit`` callback of a backtest. Baseline specs are fitted instantly."""
    if spec.is_reference:
        return fitted_reference(plan, spec, season_length, horizon)
    if not spec.is_network:
        return fitted_baseline(plan, spec, season_length, horizon)
    result = train(plan, spec, on_epoch)  # a cancelled run is still wrapped, marked cancelled
    with tempfile.TemporaryDirectory(prefix="fit-") as tmp:
        directory = Path(tmp)
        save_network(result.network, directory, sample_windows(plan, spec, result.scaler))
        forecaster = Forecaster.from_spec(directory / "network.onnx", spec, result.scaler)
    keras.backend.clear_session()
    return FittedForecaster(
        forecaster=forecaster,
        intervals=holdout_intervals(forecaster, plan, horizon),
        train_seconds=result.train_seconds,
        epochs_run=result.epochs_run,
        cancelled=result.cancelled,
    )
