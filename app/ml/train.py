"""Fit a network to a price series and measure it on the holdout. Imports TensorFlow."""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from app.ml.dataset import DatasetPlan
from app.ml.networks import build_network
from app.ml.progress import EpochHook, EpochProgress
from app.ml.scaling import AffineScaler, fit_scaler
from app.ml.spec import TrainingSpec
from app.ml.transforms import supervised


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
    """Train on targets before ``plan.holdout_start`` (the tail of them for validation)."""
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
    return TrainResult(
        network=network,
        scaler=scaler,
        epochs_run=len(history.history.get("loss", [])),
        cancelled=bool(progress and progress.cancelled),
        train_seconds=train_seconds,
    )
