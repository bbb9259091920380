"""Per-epoch training progress, reported by the training loop to whoever runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


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
