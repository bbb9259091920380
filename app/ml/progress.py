"""Per-epoch training progress, reported by the training loop to whoever runs it (and stored as
the job's ``progress``)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field


class EpochProgress(BaseModel):
    """How far a running job is: a network's epochs, or (``stage`` set) ``auto``'s candidates
    scored before its winner is fitted."""

    model_config = ConfigDict(frozen=True)

    epoch: int = Field(description="Epochs done (with `stage`: candidates scored).")
    epochs: int = Field(
        description="At most this many (early stopping may end sooner; with `stage`: the "
        "candidates in all)."
    )
    loss: float | None = Field(description="The last epoch's training loss (null with `stage`).")
    val_loss: float | None
    elapsed_s: float
    eta_s: float = Field(description="Seconds left if every remaining epoch runs.")
    stage: str | None = Field(
        default=None,
        description="Null while a network trains; `auto: <candidate>` while `auto` scores the "
        "candidate named (then the winner is fitted, a network with its epochs).",
        examples=["auto: arima"],
    )


# Called after every epoch; returning False stops training (cancellation).
EpochHook = Callable[[EpochProgress], bool]
