"""Scalers as plain affine maps ``z = x * scale + offset``, fitted on training data only.

Fitting uses scikit-learn; what is kept is two floats, stored as JSON in the bundle (no pickle),
so inference needs neither scikit-learn nor TensorFlow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

ScalerKind = Literal["minmax", "standard", "none"]


@dataclass(frozen=True)
class AffineScaler:
    kind: ScalerKind
    scale: float
    offset: float

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x * self.scale + self.offset

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return (z - self.offset) / self.scale

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AffineScaler:
        return cls(kind=data["kind"], scale=float(data["scale"]), offset=float(data["offset"]))


def fit_scaler(kind: ScalerKind, train_values: np.ndarray) -> AffineScaler:
    """Fit on the training values (never on the holdout)."""
    from sklearn.preprocessing import MinMaxScaler, StandardScaler  # slow import: training only

    column = np.asarray(train_values, dtype=np.float64).reshape(-1, 1)
    if kind == "minmax":
        minmax = MinMaxScaler().fit(column)
        return AffineScaler(kind, float(minmax.scale_[0]), float(minmax.min_[0]))
    if kind == "standard":
        standard = StandardScaler().fit(column)
        scale = 1.0 / float(standard.scale_[0])  # sklearn leaves scale_ at 1 for constant data
        return AffineScaler(kind, scale, -float(standard.mean_[0]) * scale)
    return AffineScaler("none", 1.0, 0.0)
