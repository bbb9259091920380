"""HTTP endpoints of the model registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Response
from fastapi import status as http_status

from app.db.orm import ModelVersion, RegisteredModel
from app.deps import BundleCacheDep, SessionDep, StoreDep
from app.pagination import Page, PageDep
from app.params import IdPath
from app.registry import service
from app.registry.bundle import zip_bundle
from app.registry.schemas import (
    AliasName,
    AliasRead,
    AliasUpdate,
    ModelVersionRead,
    RegisteredModelRead,
)
from app.registry.store import bundle_key
from app.training.schemas import ModelName

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
