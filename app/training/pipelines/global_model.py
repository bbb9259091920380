"""What a global job computes: one network on every member series of a batch, evaluated on
each member's holdout next to naive and next to that series' own model, registered as one
version that forecasts any series.

TensorFlow is imported lazily, as in :mod:`.per_series`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.orm import ModelVersion, Series, TrainingJob
from app.db.session import Database, through_outages
from app.db.types import utcnow
from app.ml.dataset import DatasetError, DatasetPlan
from app.ml.defaults import Member, resolve_global
from app.ml.evaluate import evaluate_pooled, forecast_origins
from app.ml.inference import load_forecaster
from app.ml.manifest import ForecasterManifest
from app.ml.metrics import rmse, skill
from app.ml.results import Choice, MemberMetrics, OneStep, OwnModelScore
from app.ml.spec import TrainingSpec
from app.registry import bundle
from app.registry.store import ArtifactStore, bundle_key
from app.series.service import read_field
from app.training.pipelines import registration
from app.training.pipelines.control import Cancelled, JobControl, JobFailed, Produced
from app.training.pipelines.runtime import configure_tensorflow
from app.vocabulary import VersionStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberSeries:
    id: int
    name: str
    symbol: str | None


@dataclass(frozen=True)
class GlobalInput:
    """What a global job works on, read in one transaction: each member's split, and the
    members it cannot train on with the reason."""

    job_id: int
    spec: TrainingSpec
    choices: dict[str, Choice]
    members: list[MemberSeries]
    plans: dict[int, DatasetPlan]
    skipped: dict[int, str]
    model_name: str
    target: str
    frequency: str | None
    exchange: str | None

    @property
    def season_length(self) -> int:
        return self.spec.season_length or 1

    @property
    def series_id(self) -> None:
        """A global version belongs to no one series."""
        return None


def load_global_input(session: Session, job: TrainingJob) -> GlobalInput:
    ids = job.member_ids or []
    found = {s.id: s for s in session.scalars(select(Series).where(Series.id.in_(ids)))}
    skipped = {i: "the series was deleted before the job started" for i in ids if i not in found}
    values: list[Member] = []
    members: list[MemberSeries] = []
    for series_id in ids:
        series = found.get(series_id)
        if series is None:
            continue
        members.append(MemberSeries(series.id, series.name, series.symbol))
        if job.target not in {f.name for f in series.fields}:
            skipped[series.id] = f"no field '{job.target}'"
            continue
        values.append(Member(series.id, read_field(session, series, job.target)))
    present = [found[i] for i in ids if i in found]
    frequency = _most_common([s.frequency for s in present])
    try:
        resolved = resolve_global(values, job.spec, frequency)
    except DatasetError as exc:
        raise JobFailed(str(exc)) from exc
    return GlobalInput(
        job_id=job.id,
        spec=resolved.spec,
        choices=resolved.choices,
        members=members,
        plans=resolved.plans,
        skipped={**skipped, **resolved.skipped},
        model_name=job.model_name,
        target=job.target,
        frequency=frequency,
        exchange=_most_common([s.exchange for s in present]),
    )


def _most_common(values: list[str | None]) -> str | None:
    """The value most members share (forecast dates of a global model follow it)."""
    return Counter(values).most_common(1)[0][0] if values else None


def train_global_and_register(
    db: Database, store: ArtifactStore, settings: Settings, job: GlobalInput, control: JobControl
) -> Produced:
    """Fit one network on every member's training windows, write the bundle to staging,
    evaluate it on every member's holdout (and each member's own model on the same points),
    then reserve a pending version and publish the files under it, as a single job does."""
    from app.ml.train import train_global

    spec = job.spec
    plans = list(job.plans.values())
    with store.staging() as staged:
        configure_tensorflow(settings)
        started = time.perf_counter()
        try:
            result = train_global(plans, spec, control.on_epoch)
        except DatasetError as exc:
            raise JobFailed(str(exc)) from exc
        if result.cancelled:
            raise Cancelled
        fields = registration.save_network(staged, spec, plans[0], result, normalised=True)
        train_seconds = time.perf_counter() - started
        rows_sha256 = _rows_sha256(job.plans)
        manifest = ForecasterManifest.model_validate(
            {
                "window": spec.input_window,
                **fields,
                "scope": "global",
                "target": job.target,
                "target_transform": spec.transform,
                "season_length": job.season_length,
                "frequency": job.frequency,
                "exchange": job.exchange,
                "training_rows_sha256": rows_sha256,
                "libraries": bundle.library_versions(),
                "created_at": utcnow().isoformat(),
                "choices": job.choices,
            }
        )
        forecaster = load_forecaster(staged, manifest)
        evaluation, one_steps = evaluate_pooled(
            forecaster, plans, settings.max_horizon, job.season_length
        )
        bundle.write_evaluation(staged, evaluation)
        if not control.still_ours():
            raise Cancelled

        def read_members() -> list[MemberMetrics]:
            with db.session_scope() as session:
                return member_metrics(
                    session, store, job, dict(zip(job.plans, one_steps, strict=True))
                )

        members = through_outages(read_members)  # a job that ends in an outage waits it out
        trained = registration.Trained(plans, evaluation, train_seconds, result.epochs_run)
        version_id = registration.register_trained(
            db, store, staged, manifest, job, trained, members
        )
    return Produced(version_id=version_id)


def _rows_sha256(plans: dict[int, DatasetPlan]) -> str:
    """One hash of every member's rows, in member order."""
    digest = hashlib.sha256()
    for series_id, plan in plans.items():
        digest.update(f"{series_id}:{plan.rows_sha256()};".encode())
    return digest.hexdigest()


def member_metrics(
    session: Session,
    store: ArtifactStore,
    job: GlobalInput,
    one_steps: dict[int, OneStep],
) -> list[MemberMetrics]:
    """Each member's holdout next to naive and, where one exists, next to its own model: the
    latest ready version trained on that series alone, for the same field, whose training data
    ended before this holdout (a model that trained on these points would not be a fair
    comparison), scored by one-step forecasts on the same points."""
    own = _own_versions(session, job)
    rows = []
    for member in job.members:
        plan = job.plans.get(member.id)
        one_step = one_steps.get(member.id)
        if plan is None or one_step is None:
            rows.append(
                MemberMetrics(
                    series_id=member.id,
                    series=member.name,
                    symbol=member.symbol,
                    holdout=None,
                    rmse=None,
                    naive_rmse=None,
                    skill=None,
                    detail=f"not trained on: {job.skipped.get(member.id, 'unknown')}",
                )
            )
            continue
        score, detail = _own_score(store, own.get(member.id), plan, one_step.model.rmse)
        rows.append(
            MemberMetrics(
                series_id=member.id,
                series=member.name,
                symbol=member.symbol,
                holdout=registration.holdout_range([plan]),
                rmse=one_step.model.rmse,
                naive_rmse=one_step.naive.rmse,
                skill=one_step.skill_vs_naive,
                own=score,
                detail=detail,
            )
        )
    return rows


def _own_versions(session: Session, job: GlobalInput) -> dict[int, list[ModelVersion]]:
    """Ready single-series versions of each member for the job's field, newest first."""
    found: dict[int, list[ModelVersion]] = {}
    stmt = (
        select(ModelVersion)
        .where(
            ModelVersion.series_id.in_(list(job.plans)),
            ModelVersion.status == VersionStatus.READY,
            ModelVersion.scope == "series",
            ModelVersion.target == job.target,
        )
        .order_by(ModelVersion.id.desc())
    )
    for version in session.scalars(stmt):
        if version.series_id is not None:
            found.setdefault(version.series_id, []).append(version)
    return found


def _own_score(
    store: ArtifactStore,
    versions: list[ModelVersion] | None,
    plan: DatasetPlan,
    global_rmse: float,
) -> tuple[OwnModelScore | None, str | None]:
    if not versions:
        return None, "no model of its own to compare with"
    start = plan.dates[plan.holdout_start]
    fair = [v for v in versions if _holdout_start(v) <= start]
    if not fair:
        return None, (
            f"its own models trained on data after {start.date()}, where this holdout starts"
        )
    version = fair[0]
    try:
        key = bundle_key(version.model.name, version.version)
        directory = store.fetch(key, version.bundle.files)
        own = load_forecaster(directory, bundle.read_manifest(directory))
        if plan.holdout_start < own.history_needed:
            return None, f"its own model needs {own.history_needed} values before the holdout"
        origins = np.arange(plan.holdout_start, len(plan.prices))
        predicted, actual = forecast_origins(own, plan.prices, origins, 1)
    except Exception as exc:  # a missing or failing own model costs the comparison, not the job
        log.warning("own model %s v%s unusable: %s", version.model.name, version.version, exc)
        return None, f"its own model {version.model.name} v{version.version} could not be used"
    own_rmse = rmse(actual[:, 0], predicted[:, 0])
    return OwnModelScore(
        model=version.model.name,
        version=version.version,
        rmse=own_rmse,
        skill_vs_own=skill(global_rmse, own_rmse),
    ), None


def _holdout_start(version: ModelVersion) -> pd.Timestamp:
    return pd.Timestamp(version.metrics.holdout.start)
