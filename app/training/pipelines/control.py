"""How a running pipeline and the job that runs it talk: progress goes in, cancellation comes
out, and a run ends with what it produced or with one of two exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.ml.progress import EpochProgress
from app.ml.results import BacktestResult
from app.ml.spec import BacktestSpec


class JobFailed(Exception):
    """A job cannot succeed; the message is the one readable line users see."""


class Cancelled(Exception):
    """The job was cancelled (or taken over) while it ran."""


class JobControl(Protocol):
    """How a running job reports progress and learns it must stop."""

    def on_epoch(self, progress: EpochProgress) -> bool:
        """Record an epoch; False: stop (cancelled or taken over)."""
        ...

    def still_ours(self) -> bool: ...


@dataclass(frozen=True)
class Produced:
    """What a successful run produced: a train job's new (still ``pending``) version, or a
    backtest job's result."""

    version_id: int | None = None
    backtest: tuple[BacktestSpec, BacktestResult] | None = None
