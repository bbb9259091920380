"""Run one training job in a worker process (embedded pool or Celery).

TensorFlow is imported only by :func:`preload_training_code` (in an idle worker process, or in
a Celery worker's parent before it forks children: importing is fork-safe, running a TF op is
not) or lazily by the job itself. The API process imports this module but never TensorFlow.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from app.config import Settings
from app.db.orm import ModelVersion, Series, TrainingJob
from app.db.session import Database
from app.db.types import utcnow
from app.logs import configure_logging, job_id_var, job_logging
from app.ml.backtest import run_backtest
from app.ml.baselines import fit_baseline
from app.ml.calendar import resolve_season_length
from app.ml.dataset import DatasetError, DatasetPlan, plan_dataset
from app.ml.evaluate import FittedForecaster, evaluate
from app.ml.inference import PointForecaster, load_forecaster, onnx_session
from app.ml.progress import EpochProgress
from app.ml.spec import TrainingSpec
from app.registry import bundle
from app.registry.service import discard_version, reserve_version
from app.registry.store import bundle_key, make_store
from app.training import service
from app.training.service import Claim

if TYPE_CHECKING:
    from app.ml.train import TrainResult

log = logging.getLogger(__name__)


class JobFailed(Exception):
    """A job cannot succeed; the message is the one readable line users see."""


class _LeaseKeeper(threading.Thread):
    """Renews the job's lease every third of its length until stopped."""

    def __init__(self, db: Database, job_id: int, worker: str, lease_s: float) -> None:
        super().__init__(name=f"lease-{job_id}", daemon=True)
        self.db, self.job_id, self.worker, self.lease_s = db, job_id, worker, lease_s
        self.stopped = threading.Event()

    def run(self) -> None:
        job_id_var.set(self.job_id)  # threads start with an empty context
        while not self.stopped.wait(self.lease_s / 3):
            try:
                if not service.renew_lease(self.db, self.job_id, self.worker, self.lease_s):
                    return
            except Exception:  # a blip must not kill the job; the next renewal retries
                log.exception("lease renewal failed for job %s", self.job_id)


def run_job(job_id: int, settings: Settings) -> Claim:
    """Claim and run a job to a final state. Returns the claim (``busy``: try again later)."""
    db = Database(settings.database_url)
    worker = service.worker_id()
    try:
        with job_logging(job_id):  # every log record of this job carries its id
            claim = service.claim_job(db, job_id, worker, settings.job_lease_s)
            if claim.kind != "run":
                return claim
            log.info("job %s: running on %s", job_id, worker)
            keeper = _LeaseKeeper(db, job_id, worker, settings.job_lease_s)
            keeper.start()
            try:
                outcome = _execute(db, settings, job_id, worker)
            finally:
                keeper.stopped.set()
            if not service.finish_job(
                db,
                job_id,
                worker,
                outcome.status,
                error=outcome.error,
                version_id=outcome.version_id,
                backtest=outcome.backtest,
            ):
                log.warning("job %s: taken over by another worker; result discarded", job_id)
                if outcome.version_id is not None:
                    discard_version(db, make_store(settings.model_dir), outcome.version_id)
            log.info("job %s: %s %s", job_id, outcome.status, outcome.error or "")
            return claim
    finally:
        db.dispose()


@dataclass(frozen=True)
class _Outcome:
    status: Literal["succeeded", "failed", "cancelled"]
    error: str | None = None
    version_id: int | None = None
    backtest: dict[str, Any] | None = None


@dataclass(frozen=True)
class _JobInput:
    """What a job works on, read in one transaction."""

    kind: str
    spec: TrainingSpec
    plan: DatasetPlan
    season_length: int
    context: dict[str, Any]
    subject: dict[str, Any] | None  # backtest jobs: the version under test


class _Cancelled(Exception):
    pass


def _execute(db: Database, settings: Settings, job_id: int, worker: str) -> _Outcome:
    """Train (and register) or backtest; map every failure to one readable line (traceback to
    the log)."""
    try:
        job = _load(db, job_id)
        if job.kind == "backtest":
            return _Outcome(
                "succeeded", backtest=_backtest_version(db, settings, job_id, worker, job)
            )
        return _train_and_register(db, settings, job_id, worker, job)
    except _Cancelled:
        return _Outcome("cancelled")
    except JobFailed as exc:
        return _Outcome("failed", str(exc))
    except DatasetError as exc:  # e.g. the data changed since the folds were checked
        return _Outcome("failed", str(exc))
    except Exception as exc:
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            return _Outcome("failed", f"time limit of {settings.job_time_limit_s} s exceeded")
        log.exception("job %s failed", job_id)
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        return _Outcome("failed", f"{type(exc).__name__}: {first_line}")


def _load(db: Database, job_id: int) -> _JobInput:
    with db.session_scope() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        series = session.get(Series, job.series_id) if job.series_id is not None else None
        if series is None:
            raise JobFailed("the series was deleted before the job started")
        spec = TrainingSpec.model_validate(job.spec)
        values = service.load_target(session, series, job.target)
        season_length = resolve_season_length(spec, series.frequency)
        context = {
            "model_name": job.model_name,
            "series_id": series.id,
            "series_name": series.name,
            "target": job.target,
            "frequency": series.frequency,
            "exchange": series.exchange,
        }
        subject = None
        if job.kind == "backtest":
            version = session.get(ModelVersion, job.model_version_id or -1)
            if version is None:
                raise JobFailed("the version was deleted before the backtest started")
            subject = {
                "key": bundle_key(version.model.name, version.version),
                "files": version.bundle["files"],
                "holdout_start": version.metrics["holdout"]["start"],
            }
    try:
        plan = plan_dataset(values, spec, season_length=season_length)
    except DatasetError as exc:
        raise JobFailed(str(exc)) from exc
    return _JobInput(job.kind, spec, plan, season_length, context, subject)


def preload_training_code() -> None:
    """Import the training stack (TensorFlow, Keras, scikit-learn) without running any op."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import app.ml.export
    import app.ml.train  # noqa: F401


def _train_and_register(
    db: Database, settings: Settings, job_id: int, worker: str, job: _JobInput
) -> _Outcome:
    """Fit, write the bundle to staging, evaluate (and backtest) what will be served, then
    reserve a pending version and publish the files under it.

    The version becomes ``ready`` in the same transaction that marks the job succeeded.
    """
    spec, plan = job.spec, job.plan
    store = make_store(settings.model_dir)
    with store.staging() as staged:
        if spec.is_baseline:
            started = time.perf_counter()
            baseline = fit_baseline(plan, spec, job.season_length)
            model_files: dict[str, Any] = {"kind": "baseline", "baseline": baseline.to_json()}
            trained = {"train_seconds": time.perf_counter() - started, "epochs_run": 0}
        else:
            result = _fit_network(db, settings, job_id, worker, spec, plan)
            if result.cancelled:
                raise _Cancelled
            model_files = _save_network(staged, spec, plan, result)
            trained = {"train_seconds": result.train_seconds, "epochs_run": result.epochs_run}
        manifest = {
            **model_files,
            "model": job.context["model_name"],
            "job_id": job_id,
            "series_id": job.context["series_id"],
            "target": job.context["target"],
            "target_transform": spec.target_transform,
            "window": spec.window,
            "season_length": job.season_length,
            "frequency": job.context["frequency"],
            "exchange": job.context["exchange"],
            "training_rows_sha256": plan.rows_sha256(),
            "libraries": bundle.library_versions(),
            "created_at": utcnow().isoformat(),
        }
        forecaster = load_forecaster(staged, manifest)
        evaluation = evaluate(forecaster, plan, settings.max_horizon, job.season_length)
        (staged / bundle.EVALUATION).write_text(json.dumps(evaluation))
        backtest = None
        if spec.backtest is not None:
            fixed = None if spec.backtest.refit else forecaster
            backtest = _backtest(
                db, settings, job_id, worker, job, fixed=fixed, earliest=plan.holdout_start
            )
        files = bundle.write_manifest(staged, manifest)
        record = {k: v for k, v in manifest.items() if k not in ("model", "job_id", "series_id")}
        with db.session_scope() as session:
            version = reserve_version(
                session,
                job.context["model_name"],
                job_id=job_id,
                series_id=job.context["series_id"],
                training_rows_sha256=plan.rows_sha256(),
                target=job.context["target"],
                spec=spec.model_dump(mode="json"),
                bundle={**record, "files": files},
                metrics=registry_metrics(plan, evaluation),
                size_bytes=sum(f["size"] for f in files.values()),
                **trained,
            )
            version_id, key = version.id, bundle_key(job.context["model_name"], version.version)
        try:
            store.publish(staged, key)
        except BaseException:
            discard_version(db, store, version_id)
            raise
    return _Outcome("succeeded", version_id=version_id, backtest=backtest)


def _configure_tensorflow(settings: Settings) -> None:
    """Thread limits once per process: TensorFlow refuses changes after its first op."""
    global _tf_configured
    if not _tf_configured:
        from app.ml.train import configure_tensorflow

        configure_tensorflow(settings.tf_threads or None)
        _tf_configured = True


_tf_configured = False


def _fit_network(
    db: Database,
    settings: Settings,
    job_id: int,
    worker: str,
    spec: TrainingSpec,
    plan: DatasetPlan,
) -> TrainResult:
    from app.ml.train import train

    _configure_tensorflow(settings)

    def on_epoch(progress: EpochProgress) -> bool:
        return service.record_progress(db, job_id, worker, asdict(progress))

    return train(plan, spec, on_epoch)


def _save_network(
    staged: Path, spec: TrainingSpec, plan: DatasetPlan, result: TrainResult
) -> dict[str, Any]:
    """ONNX (served) and Keras files plus the scaler; returns their part of the manifest."""
    from app.ml.export import sample_windows, save_network

    onnx_diff = save_network(result.network, staged, sample_windows(plan, spec, result.scaler))
    (staged / bundle.SCALER).write_text(json.dumps(result.scaler.to_json()))
    input_name = onnx_session(staged / bundle.ONNX).get_inputs()[0].name
    return {
        "kind": "network",
        "scaler": result.scaler.to_json(),
        "input": {"name": input_name, "shape": [None, spec.window, 1], "dtype": "float32"},
        "onnx_max_abs_diff": onnx_diff,
    }


def _backtest_version(
    db: Database, settings: Settings, job_id: int, worker: str, job: _JobInput
) -> dict[str, Any]:
    """A backtest job: refit the version's spec per fold, or score the version itself on folds
    after its holdout start."""
    assert job.subject is not None
    assert job.spec.backtest is not None
    fixed = None
    earliest = 0
    if not job.spec.backtest.refit:
        directory = make_store(settings.model_dir).local_path(job.subject["key"])
        bundle.verify_bundle(directory, job.subject["files"])
        manifest = json.loads((directory / bundle.MANIFEST).read_text())
        fixed = load_forecaster(directory, manifest)
        earliest = int(job.plan.dates.searchsorted(pd.Timestamp(job.subject["holdout_start"])))
    return _backtest(db, settings, job_id, worker, job, fixed=fixed, earliest=earliest)


def _backtest(
    db: Database,
    settings: Settings,
    job_id: int,
    worker: str,
    job: _JobInput,
    *,
    fixed: PointForecaster | None,
    earliest: int,
) -> dict[str, Any]:
    """Run the spec's walk-forward backtest; returns the row to store (spec and result).

    ``fixed`` (no refit) is scored without intervals: the version's own were calibrated on its
    holdout, where these folds lie, so their coverage there would be measured in sample."""
    backtest_spec = job.spec.backtest
    assert backtest_spec is not None
    spec = job.spec

    def fit(plan: DatasetPlan) -> FittedForecaster:
        from app.ml.train import fit_forecaster

        if not spec.is_baseline:
            _configure_tensorflow(settings)
        return fit_forecaster(
            plan,
            spec,
            horizon=backtest_spec.horizon,
            season_length=job.season_length,
            on_epoch=lambda _: service.still_ours(db, job_id, worker),  # cancel within a fold
        )

    def on_fold(done: int, total: int) -> bool:
        log.info("job %s: backtest fold %s of %s done", job_id, done, total)
        return service.still_ours(db, job_id, worker)

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
    )
    if result["cancelled"]:
        raise _Cancelled
    return {"spec": backtest_spec.model_dump(mode="json"), "result": result}


def registry_metrics(plan: DatasetPlan, evaluation: dict[str, Any]) -> dict[str, Any]:
    """What the registry keeps for reports and comparisons (the holdout series stay in the
    bundle): one-step metrics of the served model next to the baselines, the error per
    horizon step, and interval coverage."""
    one_step = evaluation["one_step"]
    return {
        "holdout": {
            "start": plan.dates[plan.holdout_start].isoformat(),
            "end": plan.dates[-1].isoformat(),
            "points": plan.holdout_samples,
        },
        "data": {"start": plan.dates[0].isoformat(), "end": plan.dates[-1].isoformat()},
        "model": one_step["model"],
        "naive": one_step["naive"],
        "drift": one_step["drift"],
        "seasonal_naive": one_step["seasonal_naive"],
        "skill": one_step["skill_vs_naive"],
        "skill_vs_drift": one_step["skill_vs_drift"],
        "skill_vs_seasonal_naive": one_step["skill_vs_seasonal_naive"],
        "multi_step": evaluation["multi_step"],
        "coverage": evaluation["coverage"],
    }


READY = "ready"  # what a job process sends once it can take jobs


def job_process_main(conn: Connection, settings: Settings) -> None:
    """Entry point of an embedded-pool process (spawned, never forked): import the training
    code and say READY, then run the job ids it is sent one at a time, answering each with its
    id once the job is committed, until it has run ``settings.jobs_per_process`` jobs or is
    sent None (shut down); then exit."""
    configure_logging(settings)
    # Ctrl-C in a terminal reaches the whole process group: the API's shutdown decides what
    # happens to a running job (finish within the grace period, else handed back), not SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    preload_training_code()  # before any job, so none waits for the ~3-6 s import
    conn.send(READY)
    parent = multiprocessing.parent_process()
    for _ in range(settings.jobs_per_process):
        while not conn.poll(1.0):
            if parent is not None and not parent.is_alive():
                return  # the API went away
        try:
            job_id = conn.recv()
        except EOFError:
            return
        if job_id is None:
            break
        started = time.perf_counter()
        claim = run_job(job_id, settings)
        log.info("job %s: done (%s) in %.1f s", job_id, claim.kind, time.perf_counter() - started)
        conn.send(job_id)
    # Every job is committed; skip interpreter teardown (TensorFlow's takes ~1 s).
    logging.shutdown()
    os._exit(0)
