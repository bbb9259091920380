"""Fit a network to a price series and measure it on the holdout. Imports TensorFlow."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from app.ml.dataset import DatasetPlan
from app.ml.metrics import naive_scale, point_metrics, skill
from app.ml.networks import build_network
from app.ml.scaling import AffineScaler, fit_scaler
from app.ml.spec import TrainingSpec
from app.ml.transforms import supervised, to_price


@dataclass(frozen=True)
class EpochProgress:
    epoch: int
    epochs: int
    loss: float
    val_loss: float | None
    elapsed_s: float
    eta_s: float


# Called after every epoch; returning False stops training (cancellation).
EpochHook = Callable[[EpochProgress], bool]


@dataclass
class Holdout:
    """One-step predictions on targets the network never trained on."""

    target_index: np.ndarray
    actual: np.ndarray
    predicted: np.ndarray
    naive: np.ndarray


@dataclass
class TrainResult:
    network: keras.Model
    scaler: AffineScaler
    metrics: dict[str, Any]
    holdout: Holdout
    epochs_run: int
    cancelled: bool
    train_seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)


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
    """Train on targets before ``plan.holdout_start`` and evaluate one step ahead after it."""
    keras.utils.set_random_seed(spec.seed)
    tf.config.experimental.enable_op_determinism()
    data = supervised(plan.prices, spec.window, spec.target_transform)
    in_training = data.target_index < plan.holdout_start
    fit_on = (
        plan.prices[: plan.holdout_start]
        if spec.target_transform == "level"
        else data.y[in_training]
    )
    scaler = fit_scaler(spec.scaler, fit_on)
    x = scaler.transform(data.x).astype(np.float32)[..., None]
    y = scaler.transform(data.y).astype(np.float32)
    n_train = int(in_training.sum()) - plan.validation_samples
    validation = (
        (
            x[n_train : n_train + plan.validation_samples],
            y[n_train : n_train + plan.validation_samples],
        )
        if plan.validation_samples
        else None
    )
    callbacks: list[keras.callbacks.Callback] = []
    if spec.patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                patience=spec.patience, restore_best_weights=spec.restore_best_weights
            )
        )
    progress = _ProgressCallback(spec.epochs, on_epoch) if on_epoch else None
    if progress:
        callbacks.append(progress)
    network = build_network(spec)
    started = time.perf_counter()
    history = network.fit(
        x[:n_train],
        y[:n_train],
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        validation_data=validation,
        callbacks=callbacks,
        verbose=0,
    )
    train_seconds = time.perf_counter() - started
    holdout = _evaluate(network, scaler, spec, x, data.anchor, data.target_index, plan)
    return TrainResult(
        network=network,
        scaler=scaler,
        metrics=holdout_metrics(plan, holdout),
        holdout=holdout,
        epochs_run=len(history.history.get("loss", [])),
        cancelled=bool(progress and progress.cancelled),
        train_seconds=train_seconds,
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
    )


def _evaluate(
    network: keras.Model,
    scaler: AffineScaler,
    spec: TrainingSpec,
    x: np.ndarray,
    anchor: np.ndarray,
    target_index: np.ndarray,
    plan: DatasetPlan,
) -> Holdout:
    held = target_index >= plan.holdout_start
    y_hat = network.predict(x[held], batch_size=4096, verbose=0).reshape(-1)
    predicted = to_price(
        scaler.inverse(y_hat.astype(np.float64)), anchor[held], spec.target_transform
    )
    return Holdout(
        target_index=target_index[held],
        actual=plan.prices[target_index[held]],
        predicted=predicted,
        naive=anchor[held],
    )


def holdout_metrics(plan: DatasetPlan, holdout: Holdout) -> dict[str, Any]:
    """Model and naive-persistence metrics on the holdout, with skill = 1 − RMSE/RMSE_naive."""
    scale = naive_scale(plan.prices[: plan.holdout_start])
    model = point_metrics(holdout.actual, holdout.predicted, scale)
    naive = point_metrics(holdout.actual, holdout.naive, scale)
    return {
        "holdout": {
            "start": plan.dates[plan.holdout_start].isoformat(),
            "end": plan.dates[-1].isoformat(),
            "points": int(len(holdout.actual)),
        },
        "model": model,
        "naive": naive,
        "skill": skill(float(model["rmse"] or 0.0), float(naive["rmse"] or 0.0)),
    }
