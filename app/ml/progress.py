"""Per-epoch training progress, reported by the training loop to whoever runs it (and stored as
the job's ``progress``)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field


class EpochProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    epoch: int = Field(description="Epochs done.")
    epochs: int = Field(description="At most this many (early stopping may end sooner).")
    loss: float
    val_loss: float | None
    elapsed_s: float
    eta_s: float = Field(description="Seconds left if every remaining epoch runs.")


# Called after every epoch; returning False stops training (cancellation).
EpochHook = Callable[[EpochProgress], bool]
