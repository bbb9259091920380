"""Save a trained network as ``.keras`` and ONNX, checking the ONNX graph against Keras."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import keras
import numpy as np

from app.ml.dataset import DatasetPlan
from app.ml.inference import onnx_session
from app.ml.scaling import AffineScaler
from app.ml.spec import TrainingSpec
from app.ml.transforms import supervised, window_scale

ONNX_TOLERANCE = 1e-5
# Keras' tf2onnx shim probes `np.object` when the first export imports it: a NumPy 2
# FutureWarning that says nothing about our export, logged once per job process otherwise.
warnings.filterwarnings(
    "ignore", message="In the future `np.object` will be defined", category=FutureWarning
)


class ExportMismatch(RuntimeError):
    pass


def sample_windows(
    plan: DatasetPlan, spec: TrainingSpec, scaler: AffineScaler, *, normalised: bool = False
) -> np.ndarray:
    """The last few real input windows, scaled (and normalised, for a global model): what the
    ONNX check compares on."""
    window = spec.input_window
    data = supervised(plan.prices[-(window + 10) :], window, spec.transform)
    x = data.x / window_scale(data.x, spec.transform) if normalised else data.x
    return scaler.transform(x).astype(np.float32)[..., None]


def save_network(network: keras.Model, directory: Path, sample: np.ndarray) -> float:
    """Write ``network.keras`` and ``network.onnx``; return the max |ONNX − Keras| on ``sample``.

    Raises ExportMismatch when the two disagree by more than ONNX_TOLERANCE.
    """
    network.save(directory / "network.keras")
    x = np.asarray(sample, dtype=np.float32)
    expected = np.asarray(network(x, training=False))
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)  # it logs every pass at INFO
    with contextlib.redirect_stdout(io.StringIO()):  # and prints its progress
        network.export(str(directory / "network.onnx"), format="onnx", verbose=False)
    session = onnx_session(directory / "network.onnx")
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    diff = float(np.max(np.abs(got - expected)))
    if not diff <= ONNX_TOLERANCE:
        raise ExportMismatch(f"ONNX export differs from Keras by {diff:.3g} (> {ONNX_TOLERANCE})")
    return diff
