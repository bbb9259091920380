"""What a job on one series computes, apart from how it is run: fit → evaluate → export →
register for a train job, walk-forward folds for a backtest job.

TensorFlow is imported lazily, by the fit steps only (see :mod:`.runtime`).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.column_records import BundleFile
from app.db.orm import ModelVersion, Series, TrainingJob
from app.db.session import Database, through_outages
from app.db.types import utcnow
from app.ml.autoregression import LinearAutoregression
from app.ml.backtest import run_backtest
from app.ml.baselines import fit_baseline
from app.ml.calendar import seasons_for
from app.ml.combination import ArGate
from app.ml.dataset import DatasetError, DatasetPlan
from app.ml.defaults import resolve
from app.ml.evaluate import FittedForecaster, evaluate
from app.ml.inference import REFERENCE_FILE, PointForecaster, load_forecaster
from app.ml.manifest import ForecasterManifest
from app.ml.progress import EpochProgress
from app.ml.references import FittedReference, fit_references, fit_statistical
from app.ml.results import BacktestResult, Choice, Tournament
from app.ml.spec import BacktestSpec, TrainingSpec
from app.ml.tournament import run_tournament
from app.registry import bundle
from app.registry.store import ArtifactStore, bundle_key
from app.series.service import read_field
from app.training.pipelines.control import Cancelled, JobControl, JobFailed, Produced
from app.training.pipelines.registration import Trained, register_trained, save_network
from app.training.pipelines.runtime import configure_tensorflow
from app.vocabulary import JobKind

if TYPE_CHECKING:
    from app.ml.train import TrainResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionUnderTest:
    """A backtest job's version: where its files are and where its holdout starts."""

    key: str
    files: dict[str, BundleFile]
    holdout_start: str


@dataclass(frozen=True)
class JobInput:
    """What a job works on, read in one transaction."""

    job_id: int
    kind: JobKind
    spec: TrainingSpec
    choices: dict[str, Choice]
    plan: DatasetPlan
    season_length: int
    model_name: str
    series_id: int
    target: str
    frequency: str
    exchange: str | None
    subject: VersionUnderTest | None


def load_input(session: Session, job_id: int) -> JobInput:
    job = session.get(TrainingJob, job_id)
    assert job is not None
    series = session.get(Series, job.series_id) if job.series_id is not None else None
    if series is None:
        raise JobFailed("the series was deleted before the job started")
    values = read_field(session, series, job.target)
    subject = None
    if job.kind == JobKind.BACKTEST:
        version = session.get(ModelVersion, job.model_version_id or -1)
        if version is None:
            raise JobFailed("the version was deleted before the backtest started")
        subject = VersionUnderTest(
            bundle_key(version.model.name, version.version),
            version.bundle.files,
            version.metrics.holdout.start,
        )
    try:
        resolved = resolve(values, job.spec, series.frequency)
    except DatasetError as exc:
        raise JobFailed(str(exc)) from exc
    return JobInput(
        job_id=job_id,
        kind=job.kind,
        spec=resolved.spec,
        choices=resolved.choices,
        plan=resolved.plan,
        season_length=resolved.spec.season_length or 1,
        model_name=job.model_name,
        series_id=series.id,
        target=job.target,
        frequency=series.frequency,
        exchange=series.exchange,
        subject=subject,
    )


# --------------------------------------------------------------------------- train jobs


def train_and_register(
    db: Database, store: ArtifactStore, settings: Settings, job: JobInput, control: JobControl
) -> Produced:
    """Fit (after an ``auto`` tournament picks what), with the statistical references fitted
    alongside, write the bundle to staging, evaluate (and backtest) what will be served, then
    reserve a pending version and publish the files under it.

    The version becomes ``ready`` in the same transaction that marks the job succeeded.
    """
    tournament, members = None, [job.spec]
    choices = dict(job.choices)
    if job.spec.architecture == "auto":
        members, tournament = _tournament(settings, job, control)
        choices["architecture"] = Choice(
            value=tournament.winner, reason=f"auto tournament: {tournament.reason}"
        )
        if len(members) == 1:  # a combination's version keeps the auto spec
            job = replace(job, spec=members[0])
    spec, plan = job.spec, job.plan
    train_part = plan.prices[: plan.holdout_start]
    methods = [m for m in spec.references if m != spec.architecture]
    with store.staging() as staged, ThreadPoolExecutor(1, "references") as pool:
        pending_refs = pool.submit(
            fit_references,
            methods,
            train_part,
            job.season_length,
            settings.reference_budget_s,
            seasons_for(job.frequency),
        )
        started = time.perf_counter()
        fitted = [_fit(staged, settings, replace(job, spec=member), control) for member in members]
        train_seconds = time.perf_counter() - started
        epochs_run = sum(f.epochs for f in fitted)
        gate = fitted[0].ar_gate
        if gate is not None:
            choices["combination"] = gate.choice
        if tournament is not None and tournament.combination is not None:
            parts = [_manifest(job, m, f.fields) for m, f in zip(members, fitted, strict=True)]
            forecaster_fields = _combination(parts, tournament.combination.weights)
        elif gate is not None and gate.combined is not None:
            ar = gate.combined.ar
            ar_spec = spec.model_copy(
                update={"target_transform": ar.transform, "window": ar.window}
            )
            parts = [
                _manifest(job, spec, fitted[0].fields),
                _manifest(job, ar_spec, _reference_fields(ar)),
            ]
            forecaster_fields = {
                **_combination(parts, gate.combined.combination.weights),
                "shrinkage": parts[0].shrinkage,
            }
        else:
            forecaster_fields = fitted[0].fields
        manifest = _manifest(
            job, spec, {**forecaster_fields, "choices": choices, "tournament": tournament}
        )
        forecaster = load_forecaster(staged, manifest)
        evaluation = evaluate(
            forecaster, plan, settings.max_horizon, job.season_length, pending_refs.result()
        )
        bundle.write_evaluation(staged, evaluation)
        backtest = None
        if spec.backtest is not None:
            fixed = None if spec.backtest.refit else forecaster
            backtest = _backtest(settings, job, control, fixed=fixed, earliest=plan.holdout_start)
        _require_series(db, job.series_id)
        trained = Trained([plan], evaluation, train_seconds, epochs_run)
        version_id = register_trained(db, store, staged, manifest, job, trained)
    return Produced(version_id=version_id, backtest=backtest)


def _manifest(
    job: JobInput, spec: TrainingSpec, forecaster_fields: dict[str, object]
) -> ForecasterManifest:
    """What the bundle says of a fitted forecaster: its own fields and the job's."""
    return ForecasterManifest.model_validate(
        {
            "window": spec.window or 1,
            **forecaster_fields,
            "target": job.target,
            "target_transform": spec.target_transform or "level",
            "season_length": job.season_length,
            "frequency": job.frequency,
            "exchange": job.exchange,
            "training_rows_sha256": job.plan.rows_sha256(),
            "libraries": bundle.library_versions(),
            "created_at": utcnow().isoformat(),
        }
    )


def _combination(parts: list[ForecasterManifest], weights: list[float]) -> dict[str, object]:
    """The manifest fields of members served as one convex combination."""
    return {
        "kind": "combination",
        "members": parts,
        "weights": weights,
        "window": max(part.window for part in parts),
    }


@dataclass(frozen=True)
class _FitOutcome:
    """What fitting one spec gave: its part of the manifest, the epochs run and, for a
    network, whether it is served combined with ``ar`` (:func:`app.ml.train.ar_gate`)."""

    fields: dict[str, object]
    epochs: int = 0
    ar_gate: ArGate | None = None


def _fit(staged: Path, settings: Settings, job: JobInput, control: JobControl) -> _FitOutcome:
    """Fit what the spec asks for into ``staged``."""
    spec, plan = job.spec, job.plan
    if spec.is_baseline:
        baseline = fit_baseline(plan, spec, job.season_length)
        return _FitOutcome({"kind": "baseline", "baseline": baseline.to_json()})
    if spec.is_reference:
        train_part = plan.prices[: plan.holdout_start]
        return _FitOutcome(_fit_reference(staged, job, train_part))
    from app.ml.train import ar_gate

    result = _fit_network(settings, spec, plan, control)
    if result.cancelled:
        raise Cancelled
    fields = save_network(staged, spec, plan, result)
    gate = ar_gate(plan, spec, result, job.season_length, seasons_for(job.frequency))
    return _FitOutcome(fields, result.epochs_run, gate)


def _require_series(db: Database, series_id: int) -> None:
    """The series still exists (a job that ends in an outage waits it out)."""

    def series_exists() -> bool:
        with db.session_scope() as session:
            return session.get(Series, series_id) is not None

    if not through_outages(series_exists):
        raise JobFailed(
            f"Series {series_id} was deleted while the job ran; nothing was registered."
        )


def _tournament(
    settings: Settings, job: JobInput, control: JobControl
) -> tuple[list[TrainingSpec], Tournament]:
    from app.ml.train import fit_forecaster

    def fit_network(sub: DatasetPlan, spec: TrainingSpec) -> PointForecaster:
        configure_tensorflow(settings)
        fitted = fit_forecaster(sub, spec, on_epoch=lambda _: control.still_ours())
        if fitted.cancelled:
            raise Cancelled
        return fitted.forecaster

    started = time.perf_counter()

    def on_candidate(name: str, done: int, total: int) -> bool:
        """The job's progress: candidates scored, and at most the budget's seconds left."""
        elapsed = time.perf_counter() - started
        pace = elapsed / done * (total - done) if done else settings.auto_budget_s
        return control.on_epoch(EpochProgress(
            epoch=done, epochs=total, loss=None, val_loss=None, elapsed_s=round(elapsed, 3),
            eta_s=round(min(pace, max(settings.auto_budget_s - elapsed, 0.0)), 1),
            stage=f"auto: {name}",
        ))  # fmt: skip

    members, table = run_tournament(
        job.plan,
        job.spec,
        budget_s=settings.auto_budget_s,
        fit_network=fit_network,
        seasons=seasons_for(job.frequency),
        on_candidate=on_candidate,
    )
    scored = len(table.candidates)
    if not on_candidate(f"{table.winner} chosen, fitting it", scored, scored):
        raise Cancelled
    log.info("job %s: auto tournament chose %s (%s)", job.job_id, table.winner, table.reason)
    return members, table


def _fit_reference(staged: Path, job: JobInput, train_part: np.ndarray) -> dict[str, object]:
    """The statistical model as the version's forecaster: the ridge autoregression's
    parameters in the manifest, a statsforecast model's pickle in the bundle."""
    spec = job.spec
    try:
        reference = fit_statistical(spec, train_part, job.season_length)
    except Exception as exc:
        raise JobFailed(f"{spec.architecture} could not be fitted: {exc}") from exc
    if not isinstance(reference, LinearAutoregression):
        (staged / REFERENCE_FILE).write_bytes(reference.to_bytes())
    return _reference_fields(reference)


def _reference_fields(reference: FittedReference) -> dict[str, object]:
    """A statistical model's part of the manifest: the ridge autoregression's parameters
    (``ar`` needs no file), or what the pickle in the bundle holds."""
    fields = {"reference": reference.config, "window": reference.window}
    if isinstance(reference, LinearAutoregression):
        return {**fields, "kind": "autoregression", "autoregression": reference.to_json()}
    return {**fields, "kind": "reference"}


def _fit_network(
    settings: Settings, spec: TrainingSpec, plan: DatasetPlan, control: JobControl
) -> TrainResult:
    from app.ml.train import train

    configure_tensorflow(settings)
    return train(plan, spec, control.on_epoch)


# --------------------------------------------------------------------------- backtest jobs


def backtest_version(
    store: ArtifactStore, settings: Settings, job: JobInput, control: JobControl
) -> Produced:
    """A backtest job: refit the version's spec per fold, or score the version itself on folds
    after its holdout start."""
    assert job.subject is not None
    assert job.spec.backtest is not None
    fixed = None
    earliest = 0
    if not job.spec.backtest.refit:
        directory = store.fetch(job.subject.key, job.subject.files)
        fixed = load_forecaster(directory, bundle.read_manifest(directory))
        earliest = int(job.plan.dates.searchsorted(pd.Timestamp(job.subject.holdout_start)))
    return Produced(backtest=_backtest(settings, job, control, fixed=fixed, earliest=earliest))


def _backtest(
    settings: Settings,
    job: JobInput,
    control: JobControl,
    *,
    fixed: PointForecaster | None,
    earliest: int,
) -> tuple[BacktestSpec, BacktestResult]:
    """Run the spec's walk-forward backtest; returns its spec and result.

    ``fixed`` (no refit) is scored without intervals: the version's own were calibrated on its
    holdout, where these folds lie, so their coverage there would be measured in sample."""
    spec, backtest_spec = job.spec, job.spec.backtest
    assert backtest_spec is not None

    def fit(plan: DatasetPlan) -> FittedForecaster:
        from app.ml.train import fit_forecaster

        if spec.is_network:
            configure_tensorflow(settings)
        return fit_forecaster(
            plan,
            spec,
            horizon=backtest_spec.horizon,
            season_length=job.season_length,
            seasons=seasons_for(job.frequency),
            on_epoch=lambda _: control.still_ours(),  # cancel within a fold
        )

    def on_fold(done: int, total: int) -> bool:
        log.info("job %s: backtest fold %s of %s done", job.job_id, done, total)
        return control.still_ours()

    result = run_backtest(
        job.plan.prices,
        job.plan.dates,
        spec,
        backtest_spec,
        season_length=job.season_length,
        fit=None if fixed is not None else fit,
        fixed=fixed,
        earliest_cutoff=earliest,
        on_fold=on_fold,
        references=[m for m in spec.references if m != spec.architecture],
        reference_budget_s=settings.reference_budget_s,
        seasons=seasons_for(job.frequency),
    )
    if result.cancelled:
        raise Cancelled
    return backtest_spec, result
