"""What a job computes, apart from how it is run: fit → evaluate → export → publish for a train
job, walk-forward folds for a backtest job.

TensorFlow is imported lazily, by the fit steps only (see :func:`preload_training_code`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.orm import ModelVersion, Series, TrainingJob
from app.db.records import BundleFile, BundleRecord
from app.db.session import Database, through_outages
from app.db.types import utcnow
from app.ml.backtest import run_backtest
from app.ml.baselines import fit_baseline
from app.ml.choices import resolve
from app.ml.dataset import DatasetError, DatasetPlan
from app.ml.evaluate import FittedForecaster, evaluate
from app.ml.inference import REFERENCE_FILE, PointForecaster, load_forecaster, onnx_session
from app.ml.progress import EpochProgress
from app.ml.records import (
    BacktestResult,
    Choice,
    DateRange,
    Evaluation,
    ForecasterManifest,
    HoldoutMetrics,
    HoldoutRange,
    OnnxInput,
    Tournament,
)
from app.ml.references import fit_reference, fit_references
from app.ml.spec import BacktestSpec, TrainingSpec
from app.ml.tournament import run_tournament
from app.registry import bundle
from app.registry.publishing import register_bundle
from app.registry.store import ArtifactStore, bundle_key
from app.training.lifecycle import Outcome
from app.training.service import load_target
from app.vocabulary import JobKind, JobStatus

if TYPE_CHECKING:
    from app.ml.train import TrainResult

log = logging.getLogger(__name__)


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
    values = load_target(session, series, job.target)
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


def preload_training_code() -> None:
    """Import the training stack (TensorFlow, Keras, scikit-learn) without running any op."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import app.ml.export
    import app.ml.train  # noqa: F401
    from app.ml.references import preload

    preload()


_tf_configured = False


def configure_tensorflow(settings: Settings) -> None:
    """Thread limits once per process: TensorFlow refuses changes after its first op. Unset,
    each of the ``workers`` jobs gets its share of this host's cores (TensorFlow's own default,
    every core for each job, oversubscribes the embedded pool)."""
    global _tf_configured
    if not _tf_configured:
        from app.ml.train import configure_tensorflow

        cores = len(os.sched_getaffinity(0))
        configure_tensorflow(settings.tf_threads or max(1, cores // settings.workers))
        _tf_configured = True


# --------------------------------------------------------------------------- train jobs


def train_and_register(
    db: Database, store: ArtifactStore, settings: Settings, job: JobInput, control: JobControl
) -> Outcome:
    """Fit (after an ``auto`` tournament picks what), with the statistical references fitted
    alongside, write the bundle to staging, evaluate (and backtest) what will be served, then
    reserve a pending version and publish the files under it.

    The version becomes ``ready`` in the same transaction that marks the job succeeded.
    """
    spec, plan, tournament = job.spec, job.plan, None
    choices = dict(job.choices)
    if spec.architecture == "auto":
        spec, tournament = _tournament(settings, job, control)
        choices["architecture"] = Choice(
            value=tournament.winner, reason=f"auto tournament: {tournament.reason}"
        )
        job = replace(job, spec=spec)
    train_part = plan.prices[: plan.holdout_start]
    methods = [m for m in spec.references if m != spec.architecture]
    with store.staging() as staged, ThreadPoolExecutor(1, "references") as pool:
        pending_refs = pool.submit(
            fit_references, methods, train_part, job.season_length, settings.reference_budget_s
        )
        started = time.perf_counter()
        train_seconds, epochs_run = 0.0, 0
        if spec.is_baseline:
            baseline = fit_baseline(plan, spec, job.season_length)
            forecaster_fields: dict[str, object] = {
                "kind": "baseline",
                "baseline": baseline.to_json(),
            }
        elif spec.is_reference:
            forecaster_fields = _fit_reference(staged, spec, train_part, job.season_length)
        else:
            result = _fit_network(settings, spec, plan, control)
            if result.cancelled:
                raise Cancelled
            forecaster_fields = save_network(staged, spec, plan, result)
            epochs_run = result.epochs_run
        train_seconds = time.perf_counter() - started
        manifest = ForecasterManifest.model_validate(
            {
                "window": spec.window or 1,
                **forecaster_fields,
                "target": job.target,
                "target_transform": spec.target_transform or "level",
                "season_length": job.season_length,
                "frequency": job.frequency,
                "exchange": job.exchange,
                "training_rows_sha256": plan.rows_sha256(),
                "libraries": bundle.library_versions(),
                "created_at": utcnow().isoformat(),
                "choices": choices,
                "tournament": tournament,
            }
        )
        forecaster = load_forecaster(staged, manifest)
        references = pending_refs.result()
        evaluation = evaluate(forecaster, plan, settings.max_horizon, job.season_length, references)
        bundle.write_evaluation(staged, evaluation)
        backtest = None
        if spec.backtest is not None:
            fixed = None if spec.backtest.refit else forecaster
            backtest = _backtest(settings, job, control, fixed=fixed, earliest=plan.holdout_start)
        files = bundle.write_manifest(
            staged, manifest, model=job.model_name, job_id=job.job_id, series_id=job.series_id
        )

        def series_exists() -> bool:
            with db.session_scope() as session:
                return session.get(Series, job.series_id) is not None

        if not through_outages(series_exists):  # a job that ends in an outage waits it out
            raise JobFailed(
                f"Series {job.series_id} was deleted while the job ran; nothing was registered."
            )
        version_id = register_bundle(
            db,
            store,
            staged,
            files,
            job.model_name,
            job_id=job.job_id,
            series_id=job.series_id,
            training_rows_sha256=plan.rows_sha256(),
            target=job.target,
            spec=spec,
            bundle=BundleRecord(**dict(manifest), files=files),
            metrics=registry_metrics([plan], evaluation),
            train_seconds=train_seconds,
            epochs_run=epochs_run,
        )
    return Outcome(JobStatus.SUCCEEDED, version_id=version_id, backtest=backtest)


def _tournament(
    settings: Settings, job: JobInput, control: JobControl
) -> tuple[TrainingSpec, Tournament]:
    from app.ml.train import fit_forecaster

    def fit_network(sub: DatasetPlan, spec: TrainingSpec) -> PointForecaster:
        configure_tensorflow(settings)
        fitted = fit_forecaster(sub, spec, on_epoch=lambda _: control.still_ours())
        if fitted.cancelled:
            raise Cancelled
        return fitted.forecaster

    spec, table = run_tournament(
        job.plan,
        job.spec,
        budget_s=settings.auto_budget_s,
        fit_network=fit_network,
        still_ours=control.still_ours,
    )
    if not control.still_ours():
        raise Cancelled
    log.info("job %s: auto tournament chose %s (%s)", job.job_id, table.winner, table.reason)
    return spec, table


def _fit_reference(
    staged: Path, spec: TrainingSpec, train_part: np.ndarray, season_length: int
) -> dict[str, object]:
    """The statistical model as the version's forecaster (its pickle in the bundle)."""
    try:
        reference = fit_reference(spec.reference_method, train_part, season_length)
    except Exception as exc:
        raise JobFailed(f"{spec.architecture} could not be fitted: {exc}") from exc
    (staged / REFERENCE_FILE).write_bytes(reference.to_bytes())
    return {"kind": "reference", "reference": reference.config, "window": reference.window}


def _fit_network(
    settings: Settings, spec: TrainingSpec, plan: DatasetPlan, control: JobControl
) -> TrainResult:
    from app.ml.train import train

    configure_tensorflow(settings)
    return train(plan, spec, control.on_epoch)


def save_network(
    staged: Path,
    spec: TrainingSpec,
    plan: DatasetPlan,
    result: TrainResult,
    *,
    normalised: bool = False,
) -> dict[str, object]:
    """ONNX (served) and Keras files plus the scaler; returns their part of the manifest
    (``plan``: real windows the ONNX export is checked on)."""
    from app.ml.export import sample_windows, save_network

    sample = sample_windows(plan, spec, result.scaler, normalised=normalised)
    onnx_diff = save_network(result.network, staged, sample)
    (staged / bundle.SCALER).write_text(json.dumps(result.scaler.to_json()))
    input_name = onnx_session(staged / bundle.ONNX).get_inputs()[0].name
    return {
        "kind": "network",
        "scaler": result.scaler.to_json(),
        "input": OnnxInput(name=input_name, shape=[None, spec.window, 1], dtype="float32"),
        "onnx_max_abs_diff": onnx_diff,
        "outputs": spec.outputs,
        "strategy": spec.strategy,
        "ensemble": spec.members,
        "normalisation": "window" if normalised else None,
    }


def holdout_range(plans: list[DatasetPlan]) -> HoldoutRange:
    """From the earliest holdout start to the last holdout date, and every holdout point."""
    return HoldoutRange(
        start=min(p.dates[p.holdout_start] for p in plans).isoformat(),
        end=max(p.dates[-1] for p in plans).isoformat(),
        points=sum(p.holdout_samples for p in plans),
    )


def registry_metrics(plans: list[DatasetPlan], evaluation: Evaluation) -> HoldoutMetrics:
    """What the registry keeps for reports and comparisons (the holdout series stay in the
    bundle): one-step metrics of the served model next to the baselines, the error per
    horizon step, and interval coverage (over every plan's holdout: one, or a global model's
    members)."""
    one_step = evaluation.one_step
    return HoldoutMetrics(
        holdout=holdout_range(plans),
        data=DateRange(
            start=min(p.dates[0] for p in plans).isoformat(),
            end=max(p.dates[-1] for p in plans).isoformat(),
        ),
        model=one_step.model,
        naive=one_step.naive,
        drift=one_step.drift,
        seasonal_naive=one_step.seasonal_naive,
        references=one_step.references,
        reference_fits=evaluation.references,
        skill=one_step.skill_vs_naive,
        skill_vs_drift=one_step.skill_vs_drift,
        skill_vs_seasonal_naive=one_step.skill_vs_seasonal_naive,
        multi_step=evaluation.multi_step,
        coverage=evaluation.coverage,
    )


# --------------------------------------------------------------------------- backtest jobs


def backtest_version(
    store: ArtifactStore, settings: Settings, job: JobInput, control: JobControl
) -> Outcome:
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
    backtest = _backtest(settings, job, control, fixed=fixed, earliest=earliest)
    return Outcome(JobStatus.SUCCEEDED, backtest=backtest)


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
    )
    if result.cancelled:
        raise Cancelled
    return backtest_spec, result
