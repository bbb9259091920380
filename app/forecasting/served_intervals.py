"""The intervals a version serves now: its bundle's calibrated quantiles, scaled per step and
level by the adaptation the ledger keeps for it (``interval_adaptation``), and how the response
says so.

Built once per version and adaptation revision (:meth:`BundleCache.served_intervals`), so a
forecast pays only for a lookup and a few list slices: the scaled quantiles are an
:class:`Intervals` like the calibrated ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from app.ml.intervals import IntervalAdaptation, Intervals

IntervalMethod = Literal["split conformal", "adaptive conformal"]


@dataclass(frozen=True)
class ServedIntervals:
    """``factors[level]``: the width factor ``e^θ`` of steps 1, 2, … (1 where a step is not
    adapted); ``points[level]``: the scored points each step was adapted on (0: not adapted,
    fewer than the minimum). Levels that are not adapted at any step are absent from both."""

    intervals: Intervals
    revision: int | None = None
    factors: dict[int, list[float]] = field(default_factory=dict)
    points: dict[int, list[int]] = field(default_factory=dict)
    # describe()'s answers by (levels, horizon): built once, shared by every response
    # (they are only ever serialised).
    _described: dict[tuple[tuple[int, ...], int], dict[str, Any]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def adapt(
        cls, intervals: Intervals, record: IntervalAdaptation, revision: int, min_points: int
    ) -> ServedIntervals:
        factors: dict[int, list[float]] = {}
        points: dict[int, list[int]] = {}
        for level, found in record.levels.items():
            if level not in intervals.lo:
                continue
            on = [n if n >= min_points else 0 for n in found.points]
            if any(on):
                factors[level] = record.factors(level, min_points).tolist()
                points[level] = on
        adapted = intervals.adapted({lv: np.asarray(f) for lv, f in factors.items()})
        return cls(adapted if factors else intervals, revision, factors, points)

    def describe(self, levels: Sequence[int], horizon: int) -> dict[str, Any]:
        """The response's ``intervals``: per requested level, the factor and points of each
        step served (the same object for the same levels and horizon: do not change it)."""
        key = (tuple(levels), horizon)
        found = self._described.get(key)
        if found is None:
            found = self._described[key] = self._describe(levels, horizon)
        return found

    def _describe(self, levels: Sequence[int], horizon: int) -> dict[str, Any]:
        width: dict[str, list[float]] = {}
        adapted_on: dict[str, list[int]] = {}
        method: IntervalMethod = "split conformal"
        for level in levels:
            factors, points = self.factors.get(level), self.points.get(level)
            if factors is None or points is None:
                width[str(level)] = [1.0] * horizon
                adapted_on[str(level)] = [0] * horizon
                continue
            on = points[:horizon]
            if any(on):
                method = "adaptive conformal"
            missing = horizon - len(on)
            width[str(level)] = factors[:horizon] + [1.0] * missing
            adapted_on[str(level)] = on + [0] * missing
        return {"method": method, "adapted_on": adapted_on, "width_factor": width}
