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
import threading
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Literal

from app.config import Settings
from app.db.orm import Series, TrainingJob
from app.db.session import Database
from app.db.types import utcnow
from app.ml.dataset import DatasetError, DatasetPlan, plan_dataset
from app.ml.evaluate import evaluate
from app.ml.inference import Forecaster
from app.ml.progress import EpochProgress
from app.ml.spec import TrainingSpec
from app.registry import bundle
from app.registry.service import discard_version, reserve_version
from app.registry.store import ArtifactStore, bundle_key, make_store
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
            db, job_id, worker, outcome.status, error=outcome.error, version_id=outcome.version_id
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


def _execute(db: Database, settings: Settings, job_id: int, worker: str) -> _Outcome:
    """Train and register; map every failure to one readable line (traceback to the log)."""
    try:
        spec, plan, context = _load(db, job_id)
        result = _train(db, settings, job_id, worker, spec, plan)
        if result.cancelled:
            return _Outcome("cancelled")
        store = make_store(settings.model_dir)
        version_id = _register(db, store, settings.max_horizon, job_id, spec, plan, result, context)
        return _Outcome("succeeded", version_id=version_id)
    except JobFailed as exc:
        return _Outcome("failed", str(exc))
    except Exception as exc:
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            return _Outcome("failed", f"time limit of {settings.job_time_limit_s} s exceeded")
        log.exception("job %s failed", job_id)
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        return _Outcome("failed", f"{type(exc).__name__}: {first_line}")


def _load(db: Database, job_id: int) -> tuple[TrainingSpec, DatasetPlan, dict[str, Any]]:
    with db.session_scope() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        series = session.get(Series, job.series_id) if job.series_id is not None else None
        if series is None:
            raise JobFailed("the series was deleted before training started")
        spec = TrainingSpec.model_validate(job.spec)
        values = service.load_target(session, series, job.target)
        context = {
            "model_name": job.model_name,
            "series_id": series.id,
            "series_name": series.name,
            "target": job.target,
            "frequency": series.frequency,
            "exchange": series.exchange,
        }
    try:
        return spec, plan_dataset(values, spec), context
    except DatasetError as exc:
        raise JobFailed(str(exc)) from exc


def preload_training_code() -> None:
    """Import the training stack (TensorFlow, Keras, scikit-learn) without running any op."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import app.ml.export
    import app.ml.train  # noqa: F401


def _train(
    db: Database,
    settings: Settings,
    job_id: int,
    worker: str,
    spec: TrainingSpec,
    plan: DatasetPlan,
) -> TrainResult:
    from app.ml.train import configure_tensorflow, train

    configure_tensorflow(settings.tf_threads or None)

    def on_epoch(progress: EpochProgress) -> bool:
        return service.record_progress(db, job_id, worker, asdict(progress))

    return train(plan, spec, on_epoch)


def _register(
    db: Database,
    store: ArtifactStore,
    max_horizon: int,
    job_id: int,
    spec: TrainingSpec,
    plan: DatasetPlan,
    result: TrainResult,
    context: dict[str, Any],
) -> int:
    """Write the bundle to staging, reserve a pending version and publish the files under it.

    The version becomes ``ready`` in the same transaction that marks the job succeeded.
    """
    from app.ml.export import sample_windows, save_network

    with store.staging() as staged:
        onnx_diff = save_network(result.network, staged, sample_windows(plan, spec, result.scaler))
        (staged / bundle.SCALER).write_text(json.dumps(result.scaler.to_json()))
        forecaster = Forecaster.from_spec(staged / bundle.ONNX, spec, result.scaler)
        evaluation = evaluate(forecaster, plan, max_horizon)
        (staged / bundle.EVALUATION).write_text(json.dumps(evaluation))
        manifest = {
            "model": context["model_name"],
            "job_id": job_id,
            "series_id": context["series_id"],
            "target": context["target"],
            "target_transform": spec.target_transform,
            "window": spec.window,
            "frequency": context["frequency"],
            "exchange": context["exchange"],
            "scaler": result.scaler.to_json(),
            "input": {
                "name": forecaster.input_name,
                "shape": [None, spec.window, 1],
                "dtype": "float32",
            },
            "training_rows_sha256": plan.rows_sha256(),
            "libraries": bundle.library_versions(),
            "onnx_max_abs_diff": onnx_diff,
            "created_at": utcnow().isoformat(),
        }
        files = bundle.write_manifest(staged, manifest)
        record = {k: v for k, v in manifest.items() if k not in ("model", "job_id", "series_id")}
        with db.session_scope() as session:
            version = reserve_version(
                session,
                context["model_name"],
                job_id=job_id,
                series_id=context["series_id"],
                training_rows_sha256=plan.rows_sha256(),
                target=context["target"],
                spec=spec.model_dump(mode="json"),
                bundle={**record, "files": files},
                metrics=registry_metrics(plan, evaluation),
                train_seconds=result.train_seconds,
                epochs_run=result.epochs_run,
                size_bytes=sum(f["size"] for f in files.values()),
            )
            version_id, key = version.id, bundle_key(context["model_name"], version.version)
        try:
            store.publish(staged, key)
        except BaseException:
            discard_version(db, store, version_id)
            raise
    return version_id


def registry_metrics(plan: DatasetPlan, evaluation: dict[str, Any]) -> dict[str, Any]:
    """What the registry keeps for reports and comparisons (the holdout series stay in the
    bundle): one-step metrics of the served network next to naive and drift, the error per
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
        "skill": one_step["skill_vs_naive"],
        "skill_vs_drift": one_step["skill_vs_drift"],
        "multi_step": evaluation["multi_step"],
        "coverage": evaluation["coverage"],
    }


def job_process_main(conn: Connection, settings: Settings) -> None:
    """Entry point of an embedded-pool process (spawned, never forked): wait for one job id
    (None means shut down), run that job, exit."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    preload_training_code()  # while idle, so a job starts without the ~3 s import
    parent = multiprocessing.parent_process()
    while not conn.poll(1.0):
        if parent is not None and not parent.is_alive():
            return  # the API went away before giving us a job
    try:
        job_id = conn.recv()
    except EOFError:
        return
    if job_id is None:
        return
    started = time.perf_counter()
    claim = run_job(job_id, settings)
    log.info("job %s: done (%s) in %.1f s", job_id, claim.kind, time.perf_counter() - started)
    # The job is committed; skip interpreter teardown (TensorFlow's takes ~1 s) so the slot
    # frees at once.
    logging.shutdown()
    os._exit(0)
