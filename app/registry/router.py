"""HTTP endpoints of the model registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Response
from fastapi import status as http_status
from sqlalchemy import select

from app.db.orm import Backtest, ModelVersion, RegisteredModel
from app.deps import BundleCacheDep, DispatcherDep, SessionDep, SettingsDep, StoreDep
from app.errors import BacktestNotFound
from app.ml.spec import BacktestSpec
from app.pagination import Page, PageDep
from app.params import IdPath
from app.registry import promotion, service
from app.registry.bundle import zip_bundle
from app.registry.schemas import (
    AliasRead,
    AliasUpdate,
    BacktestRead,
    ModelVersionRead,
    PromoteRequest,
    PromotionCheck,
    PromotionRead,
    RegisteredModelRead,
)
from app.registry.store import bundle_key
from app.training import service as training
from app.training.router import accept_job, job_read
from app.training.schemas import AliasName, ModelName, TrainingJobRead

router = APIRouter(prefix="/v1/models", tags=["registry"])
NamePath = Annotated[ModelName, Path(description="Registered model name.")]
VersionPath = IdPath


def model_read(session: SessionDep, model: RegisteredModel) -> RegisteredModelRead:
    latest = service.latest_version(session, model)
    versions = {v.id: v.version for v in service.list_versions(session, model)}
    return RegisteredModelRead(
        name=model.name,
        aliases={a.alias: versions[a.version_id] for a in model.aliases},
        latest_version=latest.version if latest else None,
        created_at=model.created_at,
        updated_at=model.updated_at,
    )


def version_read(version: ModelVersion) -> ModelVersionRead:
    bundle = dict(version.bundle)
    files = bundle.pop("files", {})
    return ModelVersionRead(
        name=version.model.name,
        version=version.version,
        status=version.status,
        aliases=service.aliases_of(version.model, version),
        job_id=version.job_id,
        series_id=version.series_id,
        target=version.target,
        training_rows_sha256=version.training_rows_sha256,
        spec=version.spec,
        metrics=version.metrics,
        train_seconds=version.train_seconds,
        epochs_run=version.epochs_run,
        size_bytes=version.size_bytes,
        files=files,
        bundle=bundle,
        created_at=version.created_at,
    )


@router.get("", response_model=Page[RegisteredModelRead], summary="List registered models")
def list_models(session: SessionDep, paging: PageDep) -> Page[RegisteredModelRead]:
    models, total = service.list_models(session, limit=paging.limit, offset=paging.offset)
    return paging.page([model_read(session, m) for m in models], total)


@router.get("/{name}", response_model=RegisteredModelRead, summary="One registered model")
def get_model(name: NamePath, session: SessionDep) -> RegisteredModelRead:
    return model_read(session, service.get_model(session, name))


@router.get(
    "/{name}/versions", response_model=list[ModelVersionRead], summary="All versions of a model"
)
def list_versions(name: NamePath, session: SessionDep) -> list[ModelVersionRead]:
    model = service.get_model(session, name)
    return [version_read(v) for v in service.list_versions(session, model)]


@router.get(
    "/{name}/versions/{version}", response_model=ModelVersionRead, summary="One model version"
)
def get_version(name: NamePath, version: VersionPath, session: SessionDep) -> ModelVersionRead:
    return version_read(service.get_version(session, name, version))


@router.delete(
    "/{name}/versions/{version}",
    status_code=http_status.HTTP_204_NO_CONTENT,
    summary="Delete a version (refused while an alias points to it)",
    responses={409: {"description": "An alias points to this version."}},
)
def delete_version(
    name: NamePath,
    version: VersionPath,
    session: SessionDep,
    store: StoreDep,
    cache: BundleCacheDep,
    background: BackgroundTasks,
) -> Response:
    version_id = service.get_version(session, name, version).id
    key = service.delete_version(session, name, version)
    cache.evict(version_id)
    background.add_task(store.delete, key)  # after the commit
    return Response(status_code=http_status.HTTP_204_NO_CONTENT)


@router.put(
    "/{name}/aliases/{alias}", response_model=AliasRead, summary="Point an alias at a version"
)
def set_alias(
    name: NamePath, alias: AliasName, body: AliasUpdate, session: SessionDep
) -> AliasRead:
    service.set_alias(session, name, alias, body.version)
    return AliasRead(name=name, alias=alias, version=body.version)


@router.post(
    "/{name}/aliases/{alias}/promote",
    response_model=PromotionRead,
    summary="Point an alias at a version only if the version beats naive and the current one",
    responses={
        409: {"description": "The rule does not hold; `checks` has the numbers (the alias stays)."}
    },
)
def promote(
    name: NamePath, alias: AliasName, body: PromoteRequest, session: SessionDep
) -> PromotionRead:
    """Evidence is the version's latest backtest, else its holdout (see `checks[].basis`)."""
    previous, checks = promotion.promote(session, name, alias, body.version, body.require)
    return PromotionRead(
        name=name,
        alias=alias,
        version=body.version,
        previous_version=previous,
        checks=[PromotionCheck(**c) for c in checks],
    )


@router.delete(
    "/{name}/aliases/{alias}",
    status_code=http_status.HTTP_204_NO_CONTENT,
    summary="Delete an alias",
)
def delete_alias(name: NamePath, alias: AliasName, session: SessionDep) -> Response:
    service.delete_alias(session, name, alias)
    return Response(status_code=http_status.HTTP_204_NO_CONTENT)


@router.get(
    "/{name}/versions/{version}/artifact",
    summary="Download the bundle as a zip (files checked against their sha256 first)",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}},
        503: {"description": "Files missing or corrupt."},
    },
)
def download_artifact(
    name: NamePath, version: VersionPath, session: SessionDep, store: StoreDep
) -> Response:
    found = service.get_version(session, name, version)
    service.require_ready(found)
    directory = store.local_path(bundle_key(name, version))
    content = zip_bundle(directory, found.bundle["files"])
    return Response(
        content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}-v{version}.zip"'},
    )


def backtest_read(name: str, version: int, backtest: Backtest) -> BacktestRead:
    return BacktestRead(
        id=backtest.id,
        name=name,
        version=version,
        job_id=backtest.job_id,
        created_at=backtest.created_at,
        spec=BacktestSpec.model_validate(backtest.spec),
        result=backtest.result,
    )


@router.post(
    "/{name}/versions/{version}/backtests",
    status_code=http_status.HTTP_202_ACCEPTED,
    response_model=TrainingJobRead,
    summary="Start a walk-forward backtest of a version (a background job)",
    responses={
        409: {"description": "The version is not ready or its series was deleted."},
        422: {"description": "The data cannot hold the requested folds (`detail` says why)."},
    },
)
def start_backtest(
    name: NamePath,
    version: VersionPath,
    body: BacktestSpec,
    session: SessionDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    response: Response,
    background: BackgroundTasks,
) -> TrainingJobRead:
    """With `refit` every fold retrains the version's spec on data up to its cutoff; without,
    the version itself is scored on folds after the data it was trained on."""
    found = service.get_version(session, name, version)
    job = training.create_backtest_job(session, settings, found, body)
    accept_job(job, dispatcher, response, background)
    return job_read(job, found)


@router.get(
    "/{name}/versions/{version}/backtests",
    response_model=list[BacktestRead],
    summary="Backtests of a version, newest first",
)
def list_backtests(name: NamePath, version: VersionPath, session: SessionDep) -> list[BacktestRead]:
    found = service.get_version(session, name, version)
    rows = session.scalars(
        select(Backtest).where(Backtest.model_version_id == found.id).order_by(Backtest.id.desc())
    )
    return [backtest_read(name, version, b) for b in rows]


@router.get(
    "/{name}/versions/{version}/backtests/{backtest_id}",
    response_model=BacktestRead,
    summary="One backtest: folds with their cutoff, aggregate, RMSE per step, coverage",
)
def get_backtest(
    name: NamePath, version: VersionPath, backtest_id: IdPath, session: SessionDep
) -> BacktestRead:
    found = service.get_version(session, name, version)
    backtest = session.get(Backtest, backtest_id)
    if backtest is None or backtest.model_version_id != found.id:
        raise BacktestNotFound(f"Version {version} of '{name}' has no backtest {backtest_id}.")
    return backtest_read(name, version, backtest)
