"""From a fitted forecaster in a staging directory to a registered (``pending``) version: the
network's files, the metrics the registry keeps, and :func:`register_trained`, the one call
both pipelines end with. The version becomes ``ready`` when the job is marked succeeded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from app.db.column_records import BundleRecord
from app.db.session import Database
from app.ml.dataset import DatasetPlan
from app.ml.inference import onnx_session
from app.ml.manifest import ForecasterManifest, OnnxInput
from app.ml.results import DateRange, Evaluation, HoldoutMetrics, HoldoutRange, MemberMetrics
from app.ml.spec import TrainingSpec
from app.registry import bundle
from app.registry.publishing import register_bundle
from app.registry.store import ArtifactStore

if TYPE_CHECKING:
    from app.ml.train import TrainResult


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
        "shrinkage": result.shrinkage,
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
    shared = ("model", "naive", "drift", "seasonal_naive", "references")
    return HoldoutMetrics(
        holdout=holdout_range(plans),
        data=DateRange(
            start=min(p.dates[0] for p in plans).isoformat(),
            end=max(p.dates[-1] for p in plans).isoformat(),
        ),
        reference_fits=evaluation.references,
        skill=one_step.skill_vs_naive,
        skill_vs_drift=one_step.skill_vs_drift,
        skill_vs_seasonal_naive=one_step.skill_vs_seasonal_naive,
        multi_step=evaluation.multi_step,
        coverage=evaluation.coverage,
        **{name: getattr(one_step, name) for name in shared},
    )


class TrainedFor(Protocol):
    """The job a bundle was trained for (a per-series or a global job's input)."""

    @property
    def job_id(self) -> int: ...
    @property
    def model_name(self) -> str: ...
    @property
    def series_id(self) -> int | None: ...
    @property
    def spec(self) -> TrainingSpec: ...


@dataclass(frozen=True)
class Trained:
    """What a fit produced besides its files: the plans it was evaluated on and how."""

    plans: list[DatasetPlan]
    evaluation: Evaluation
    train_seconds: float
    epochs_run: int


def register_trained(
    db: Database,
    store: ArtifactStore,
    staged: Path,
    manifest: ForecasterManifest,
    job: TrainedFor,
    trained: Trained,
    members: list[MemberMetrics] | None = None,
) -> int:
    """Write ``bundle.json`` next to the staged files, reserve the model's next version
    (``pending``) and publish the files under it; returns the version id. A global model's
    ``members`` are each member's holdout next to naive and its own model."""
    files = bundle.write_manifest(
        staged, manifest, model=job.model_name, job_id=job.job_id, series_id=job.series_id
    )
    return register_bundle(
        db,
        store,
        staged,
        files,
        job.model_name,
        job_id=job.job_id,
        series_id=job.series_id,
        scope=manifest.scope,
        members=members,
        training_rows_sha256=manifest.training_rows_sha256,
        target=manifest.target,
        spec=job.spec,
        bundle=BundleRecord(**dict(manifest), files=files),
        metrics=registry_metrics(trained.plans, trained.evaluation),
        train_seconds=trained.train_seconds,
        epochs_run=trained.epochs_run,
    )
