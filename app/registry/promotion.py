"""Metric-gated promotion: an alias moves to a version only when its numbers say it is better.

Evidence for a version is its latest walk-forward backtest (one-step metrics averaged over its
folds) when it has one, else its holdout evaluation. Two versions are compared on the metric
itself when they were measured on the same data (same backtest folds, or the same holdout of
the same rows); otherwise on the metric relative to the naive forecast on each one's own data,
which is what stays comparable across different periods. Every decision carries the numbers it
was made on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.db.column_records import Metric, PromotionCheck, PromotionOutcome, PromotionRule
from app.db.orm import ModelAlias, ModelVersion
from app.errors import PromotionRefused
from app.ml.results import PointMetrics
from app.registry import service


@dataclass(frozen=True)
class Evidence:
    """One version's error and the naive error on the same data, and what data that was."""

    source: str
    basis: tuple[Any, ...]
    model: float | None  # None: not measurable on this data (e.g. MASE of a constant series)
    naive: float | None

    @property
    def relative(self) -> float | None:
        if self.model is None or not self.naive:
            return None
        return self.model / self.naive


def evidence(session: Session, version: ModelVersion, metric: Metric) -> Evidence:
    backtest = service.latest_backtest(session, version)
    aggregate = backtest.result.aggregate if backtest is not None else None
    if backtest is not None and aggregate is not None:
        result = backtest.result
        mean = aggregate.mean.one_step
        return Evidence(
            source=f"backtest {backtest.id}",
            basis=(
                "backtest",
                version.series_id,
                version.target,
                tuple(fold.cutoff for fold in result.folds),
                result.step,
                result.horizon,
            ),
            model=_value(mean.model, metric),
            naive=_value(mean.naive, metric),
        )
    holdout = version.metrics
    return Evidence(
        source="holdout",
        basis=(
            "holdout",
            version.training_rows_sha256,
            holdout.holdout.start,
            holdout.holdout.end,
        ),
        model=_value(holdout.model, metric),
        naive=_value(holdout.naive, metric),
    )


def _value(metrics: PointMetrics, metric: Metric) -> float | None:
    value: float | None = getattr(metrics, metric)
    return value


def _below(value: float | None, reference: float | None) -> bool:
    """The check holds only on two real numbers: a metric that could not be measured never
    passes."""
    return value is not None and reference is not None and value < reference


def _text(value: float | None) -> str:
    return "unavailable" if value is None else f"{value:.6g}"


def check(
    session: Session, candidate: ModelVersion, current: ModelVersion | None, rule: PromotionRule
) -> list[PromotionCheck]:
    """Evaluate the rule; one entry per check with the numbers behind it."""
    mine = evidence(session, candidate, rule.metric)
    checks: list[PromotionCheck] = []
    if rule.beats_naive:
        checks.append(
            PromotionCheck(
                check="beats_naive",
                holds=_below(mine.model, mine.naive),
                metric=rule.metric,
                basis=mine.source,
                candidate=mine.model,
                naive=mine.naive,
            )
        )
    if rule.beats_current and current is not None and current.id != candidate.id:
        theirs = evidence(session, current, rule.metric)
        same_data = theirs.basis == mine.basis
        ours, reference = (
            (mine.model, theirs.model) if same_data else (mine.relative, theirs.relative)
        )
        checks.append(
            PromotionCheck(
                check="beats_current",
                holds=_below(ours, reference),
                metric=rule.metric if same_data else f"{rule.metric} / naive {rule.metric}",
                basis=mine.source
                if same_data
                else f"candidate {mine.source}, current {theirs.source} (different data: "
                "compared relative to the naive forecast on each)",
                current_version=current.version,
                candidate=ours,
                current=reference,
            )
        )
    return checks


def promote(
    session: Session, name: str, alias: str, version: int, rule: PromotionRule
) -> tuple[int | None, list[PromotionCheck]]:
    """Move ``alias`` to ``version`` if the rule holds and return the version number it pointed
    at before, with the checks; else raise PromotionRefused (409).

    The model is locked (its row; on SQLite the database) so concurrent promotions of one
    model are decided one after the other, each against the alias as the previous one left it.
    """
    candidate = service.get_ready_version(session, name, version)
    service.get_model(session, name, for_update=True)
    pointer = session.get(ModelAlias, (candidate.model_id, alias), populate_existing=True)
    current = session.get(ModelVersion, pointer.version_id) if pointer is not None else None
    if current is not None and current.target != candidate.target:
        raise PromotionRefused(
            f"Alias '{alias}' of '{name}' stays at version {current.version}: version {version} "
            f"forecasts '{candidate.target}' and version {current.version} '{current.target}', "
            "so the alias' clients would silently get another quantity (no metric compares "
            f"the two). Set it explicitly (PUT /v1/models/{name}/aliases/{alias}) if that is "
            "meant, or train under another model name.",
            extra={"checks": []},
        )
    checks = check(session, candidate, current, rule)
    failed = [c for c in checks if not c.holds]
    if failed:
        reasons = "; ".join(
            f"{c.check}: {c.metric} {_text(c.candidate)} is not below "
            f"{_text(c.naive if c.check == 'beats_naive' else c.current)}"
            for c in failed
        )
        raise PromotionRefused(
            f"Alias '{alias}' of '{name}' stays "
            + (f"at version {current.version}" if current is not None else "unset")
            + f"; version {version} does not pass the rule ({reasons}).",
            extra={"checks": [c.model_dump(mode="json", exclude_unset=True) for c in checks]},
        )
    service.set_alias(session, name, alias, version)
    return (current.version if current is not None else None), checks


def promote_for_job(
    session: Session, version: ModelVersion, asked: PromotionOutcome
) -> PromotionOutcome:
    """A train job's ``promote_to``, decided in the transaction that makes its version ready:
    what was asked, with whether the alias moved and the numbers."""
    try:
        _, checks = promote(
            session, version.model.name, asked.alias, version.version, asked.require
        )
    except PromotionRefused as exc:
        refused = [PromotionCheck.model_validate(c) for c in exc.extra["checks"]]
        return asked.model_copy(update={"promoted": False, "detail": exc.detail, "checks": refused})
    return asked.model_copy(update={"promoted": True, "detail": None, "checks": checks})
