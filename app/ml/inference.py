"""Fast forecasts from a bundle: the ONNX network, the JSON scaler and the target transform,
or a baseline's parameters.

Needs numpy and onnxruntime only, never TensorFlow: this is what the API process serves from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import numpy as np
import onnxruntime as ort

from app.ml.autoregression import LinearAutoregression
from app.ml.baselines import BaselineForecaster
from app.ml.manifest import ForecasterManifest
from app.ml.scaling import AffineScaler
from app.ml.spec import TrainingSpec
from app.ml.transforms import (
    TargetTransform,
    features,
    history_length,
    needs_positive,
    to_price,
    window_scale,
)

# File name of the exported network inside a bundle (app.registry.bundle.ONNX).
ONNX_FILE = "network.onnx"
# File name of a fitted statistical model inside a bundle.
REFERENCE_FILE = "reference.pkl"


class PointForecaster(Protocol):
    """What serving, evaluation and backtests need from a trained version (network or
    baseline)."""

    @property
    def history_needed(self) -> int:
        """Values of history one forecast needs (the last ones are used)."""
        ...

    @property
    def window(self) -> int: ...

    @property
    def transform(self) -> TargetTransform:
        """Relative transforms (log_return, relative) need positive histories."""
        ...

    def recursive(self, histories: np.ndarray, horizon: int) -> np.ndarray:
        """Forecasts for steps 1…horizon from each row of histories (rows × horizon)."""
        ...


def load_forecaster(directory: Path, manifest: ForecasterManifest) -> PointForecaster:
    """The forecaster of a bundle: its ONNX network (``kind`` "network"), a baseline from
    the manifest's ``baseline`` parameters (``kind`` "baseline"), the ridge autoregression from
    its ``autoregression`` parameters, or a fitted statistical model (``kind`` "reference",
    from ``reference.pkl``)."""
    if manifest.kind == "baseline" and manifest.baseline is not None:
        return BaselineForecaster.from_json(manifest.baseline)
    if manifest.kind == "autoregression" and manifest.autoregression is not None:
        return LinearAutoregression.from_json(manifest.autoregression)
    if manifest.kind == "combination" and manifest.members and manifest.weights:
        members = [load_forecaster(directory, member) for member in manifest.members]
        return CombinedForecaster(members, manifest.weights)
    if manifest.kind == "reference":
        from app.ml.references import ReferenceForecaster  # imports statsforecast when used

        return ReferenceForecaster.from_bytes((directory / REFERENCE_FILE).read_bytes())
    if manifest.kind != "network" or manifest.scaler is None:
        raise ValueError(f"unknown or incomplete bundle of kind {manifest.kind!r}")
    return Forecaster(
        session=onnx_session(directory / ONNX_FILE),
        window=manifest.window,
        transform=cast(TargetTransform, manifest.target_transform),
        scaler=AffineScaler.from_json(manifest.scaler),
        outputs=manifest.outputs,
        normalised=manifest.normalisation == "window",
    )


def onnx_session(path: Path) -> ort.InferenceSession:
    """One intra-op thread: requests run in parallel instead (16 BLAS threads on 2 cores
    cut throughput 4.5× here)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass
class Forecaster:
    session: ort.InferenceSession
    window: int
    transform: TargetTransform
    scaler: AffineScaler
    outputs: int = 1
    normalised: bool = False  # a global model's windows (see app.ml.transforms.window_scale)

    def __post_init__(self) -> None:
        self.input_name: str = self.session.get_inputs()[0].name

    @classmethod
    def from_spec(
        cls, onnx_path: Path, spec: TrainingSpec, scaler: AffineScaler, *, normalised: bool = False
    ) -> Forecaster:
        return cls(
            onnx_session(onnx_path),
            spec.input_window,
            spec.transform,
            scaler,
            spec.outputs,
            normalised,
        )

    @property
    def history_needed(self) -> int:
        return history_length(self.transform, self.window)

    def recursive(self, histories: np.ndarray, horizon: int) -> np.ndarray:
        """Forecast ``horizon`` steps for each row of price histories, feeding predictions
        back as the newest observations: one ONNX call per step for all rows at once, or per
        ``outputs`` steps for a direct network (all of them relative to the same anchor)."""
        need = self.history_needed
        rows = np.atleast_2d(np.asarray(histories, dtype=np.float64))
        if rows.shape[1] < need:
            raise ValueError(f"need at least {need} values, got {rows.shape[1]}")
        buffer = np.empty((rows.shape[0], need + horizon + self.outputs))
        buffer[:, :need] = rows[:, -need:]
        for step in range(0, horizon, self.outputs):
            history = buffer[:, step : step + need]
            inputs = features(history, self.window, self.transform)
            sigma = window_scale(inputs, self.transform) if self.normalised else 1.0
            x = self.scaler.transform(inputs / sigma)
            y = self.session.run(None, {self.input_name: x.astype(np.float32)[..., None]})[0]
            y_hat = sigma * self.scaler.inverse(
                y.reshape(len(rows), self.outputs).astype(np.float64)
            )
            prices = to_price(y_hat, history[:, -1:], self.transform)
            buffer[:, need + step : need + step + self.outputs] = prices
        return buffer[:, need : need + horizon]


@dataclass(frozen=True)
class CombinedForecaster:
    """A convex combination of fitted forecasters, behind the forecasting interface of one."""

    members: Sequence[PointForecaster]
    weights: Sequence[float]

    @property
    def transform(self) -> TargetTransform:
        """A member's relative transform where one has one (its histories must be positive),
        else ``level``: the combination forecasts levels."""
        return next((m.transform for m in self.members if needs_positive(m.transform)), "level")

    @property
    def history_needed(self) -> int:
        return max(m.history_needed for m in self.members)

    @property
    def window(self) -> int:
        return self.history_needed

    def recursive(self, histories: np.ndarray, horizon: int) -> np.ndarray:
        rows = np.atleast_2d(np.asarray(histories, dtype=np.float64))
        return sum(
            (w * m.recursive(rows[:, -m.history_needed :], horizon)
             for m, w in zip(self.members, self.weights, strict=True)),
            start=np.zeros((rows.shape[0], horizon)),
        )  # fmt: skip
