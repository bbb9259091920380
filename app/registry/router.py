"""HTTP endpoints of the model registry: models, versions, aliases, promotion, bundles and the
backtests stored with a version (starting one is a training job: see the training routes)."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi import status as http_status
from fastapi.concurrency import run_in_threadpool

from app.deps import DatabaseDep, SessionDep
from app.errors import ArtifactStoreUnavailable, InvalidRequest, UnsupportedMediaType
from app.pagination import Page, PageDep, sort_query
from app.registry import importing, promotion, service
from app.registry.bundle import zip_bundle
from app.registry.deps import StoreDep, VersionDeletedDep
from app.registry.schemas import (
    AliasRead,
    AliasUpdate,
    BacktestRead,
    MembersRead,
    ModelVersionRead,
    PromoteRequest,
    PromotionRead,
    RegisteredModelRead,
    backtest_read,
    version_read,
)
from app.registry.store import ArtifactStore, bundle_key
from app.vocabulary import (
    MAX_ID,
    AliasPath,
    IdPath,
    ModelCollectionQuery,
    ModelPrefixQuery,
    NamePath,
    VersionPath,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/models", tags=["registry"])


ModelSort = Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]
VersionSort = Literal["version", "-version"]


@router.get("", response_model=Page[RegisteredModelRead], summary="List registered models")
def list_models(
    session: SessionDep,
    paging: PageDep,
    prefix: ModelPrefixQuery = None,
    collection: ModelCollectionQuery = None,
    sort: Annotated[ModelSort, sort_query("`name`")] = "name",
) -> Page[RegisteredModelRead]:
    models, total = service.list_models(
        session, paging, prefix=prefix, collection=collection, sort=sort
    )
    return paging.page([RegisteredModelRead.model_validate(m, from_attributes=True)
                        for m in models], total)  # fmt: skip


@router.get("/{name}", response_model=RegisteredModelRead, summary="One registered model")
def get_model(name: NamePath, session: SessionDep) -> RegisteredModelRead:
    (summary,) = service.summarize(session, [service.get_model(session, name)])
    return RegisteredModelRead.model_validate(summary, from_attributes=True)


@router.get("/{name}/versions", response_model=Page[ModelVersionRead], summary="A model's versions")
def list_versions(
    name: NamePath,
    session: SessionDep,
    paging: PageDep,
    sort: Annotated[VersionSort, sort_query("`version`")] = "version",
) -> Page[ModelVersionRead]:
    model = service.get_model(session, name)
    items, total = service.list_versions(session, model, paging, newest_first=sort == "-version")
    return paging.page([version_read(v) for v in items], total)


@router.get(
    "/{name}/versions/{version}", response_model=ModelVersionRead, summary="One model version"
)
def get_version(name: NamePath, version: VersionPath, session: SessionDep) -> ModelVersionRead:
    return version_read(service.get_version(session, name, version))


@router.get(
    "/{name}/versions/{version}/members",
    response_model=MembersRead,
    summary="A global version on each member series, next to naive and its own model",
    responses={422: {"description": "The version is not a global model's."}},
)
def get_version_members(
    name: NamePath,
    version: VersionPath,
    session: SessionDep,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Members per page (default: all).")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Members to skip.")] = 0,
) -> MembersRead:
    """Per member: the global model's one-step holdout RMSE, naive's on the same points, skill,
    and the RMSE of the series' own model (the latest trained on it alone, on data before this
    holdout) on the same points; a member it did not train on says why. The counts are over
    every member; `members` is the page `limit` and `offset` ask for."""
    found = service.get_version(session, name, version)
    if found.scope != "global" or found.members is None:
        raise InvalidRequest(f"Version {version} of '{name}' is a single series' model.")
    members = sorted(found.members, key=lambda m: -m.skill if m.skill is not None else float("inf"))
    own = [m for m in members if m.own is not None and m.own.skill_vs_own is not None]
    end = None if limit is None else offset + limit
    return MembersRead(
        name=name,
        version=version,
        members=members[offset:end],
        total=len(members),
        limit=limit,
        offset=offset,
        beats_naive=sum(1 for m in members if m.skill is not None and m.skill > 0),
        beats_own=sum(1 for m in own if m.own and (m.own.skill_vs_own or 0) > 0),
        compared_with_own=len(own),
    )


@router.delete(
    "/{name}/versions/{version}",
    status_code=http_status.HTTP_204_NO_CONTENT,
    summary="Delete a version (refused while an alias points to it)",
    responses={409: {"description": "An alias points to this version, or a backtest of it is "
                     "queued or running, or its job is still writing it."},
               503: {"description": "The artifact store cannot be reached: nothing deleted."}},
)  # fmt: skip
def delete_version(
    name: NamePath,
    version: VersionPath,
    session: SessionDep,
    store: StoreDep,
    deleted: VersionDeletedDep,
    background: BackgroundTasks,
) -> Response:
    # Its files go after the commit; a store that cannot take that now refuses the delete
    # rather than leave them behind a version nobody can name any more. Asked before the row
    # is touched: no write lock is held over the store's round trips.
    problem = store.problem()
    if problem is not None:  # the version stays, and serves from memory
        raise ArtifactStoreUnavailable(
            f"Version {version} of '{name}' is kept: its files cannot be removed now "
            f"({problem}). Try again once the artifact store is back."
        )
    row = service.delete_version(session, name, version)
    deleted(row.id)  # a cached bundle: unload it
    background.add_task(_delete_files, store, bundle_key(name, version))
    return Response(status_code=http_status.HTTP_204_NO_CONTENT)


def _delete_files(store: ArtifactStore, key: str) -> None:
    try:
        store.delete(key)
    except ArtifactStoreUnavailable as exc:  # the store went away since it was checked
        log.error("the files of deleted version %s are left in the store: %s", key, exc.detail)


@router.get(
    "/{name}/aliases/{alias}",
    response_model=AliasRead,
    summary="The version an alias points to",
    responses={404: {"description": "Unknown model, or no such alias."}},
)
def get_alias(name: NamePath, alias: AliasPath, session: SessionDep) -> AliasRead:
    return AliasRead(name=name, alias=alias, version=service.get_alias(session, name, alias))


@router.put(
    "/{name}/aliases/{alias}", response_model=AliasRead, summary="Point an alias at a version"
)
def set_alias(
    name: NamePath, alias: AliasPath, body: AliasUpdate, session: SessionDep
) -> AliasRead:
    """Moves the alias whatever the version's numbers (use `…/promote` for the checked move)."""
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
def promote_alias(
    name: NamePath, alias: AliasPath, body: PromoteRequest, session: SessionDep
) -> PromotionRead:
    """Evidence is the version's latest backtest, else its holdout (see `checks[].basis`)."""
    previous, checks = promotion.promote(session, name, alias, body.version, body.require)
    return PromotionRead(
        name=name, alias=alias, version=body.version, previous_version=previous, checks=checks
    )


@router.delete(
    "/{name}/aliases/{alias}",
    status_code=http_status.HTTP_204_NO_CONTENT,
    summary="Delete an alias",
)
def delete_alias(name: NamePath, alias: AliasPath, session: SessionDep) -> Response:
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
    """The networks (ONNX and Keras) or baseline parameters, the scaler, the holdout evaluation
    and `bundle.json`, which lists every file with its sha256."""
    found = service.get_ready_version(session, name, version)
    directory = store.fetch(bundle_key(name, version), found.bundle.files)
    content = zip_bundle(directory, found.bundle.files, service.exported(found))
    return Response(
        content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}-v{version}.zip"'},
    )


@router.post(
    "/{name}/versions:import",
    status_code=http_status.HTTP_201_CREATED,
    response_model=ModelVersionRead,
    summary="Import a bundle downloaded from another deployment as this model's next version",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "examples": ["<the zip that GET …/versions/{version}/artifact gave>"],
                    }
                }
                for media in ("application/zip", "application/octet-stream")
            },
        }
    },
    responses={
        409: {"description": "This archive is already a version of the model."},
        415: {"description": "The body is not application/zip."},
        422: {"description": "Not a bundle, a file fails its sha256, or it cannot be loaded."},
    },
)
async def import_version(
    name: NamePath,
    request: Request,
    response: Response,
    db: DatabaseDep,
    store: StoreDep,
    series_id: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_ID,
            description="A series of this deployment the version forecasts by default.",
        ),
    ] = None,
) -> ModelVersionRead:
    """The body is the zip that `GET …/versions/{version}/artifact` gave on the other side. Every
    file is checked against the sha256 in its `bundle.json`, the forecaster is loaded once, and
    the version is registered `ready` with the spec, holdout metrics and lineage (`origin`)
    from its `version.json`. Without `series_id` it forecasts what a request names (`series_id`
    or `values`). Global models and pickled statistical models are refused (retrain them
    here)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/zip", "application/octet-stream"):
        raise UnsupportedMediaType(
            f"Send the archive as application/zip; got '{content_type or 'no content type'}'."
        )
    archive = await request.body()

    def register() -> ModelVersionRead:
        number = importing.import_version(db, store, name, archive, series_id=series_id)
        with db.session_scope() as session:
            return version_read(service.get_version(session, name, number))

    imported = await run_in_threadpool(register)
    response.headers["Location"] = f"/v1/models/{name}/versions/{imported.version}"
    return imported


@router.get(
    "/{name}/versions/{version}/backtests",
    response_model=Page[BacktestRead],
    summary="Backtests of a version, newest first",
)
def list_backtests(
    name: NamePath, version: VersionPath, session: SessionDep, paging: PageDep
) -> Page[BacktestRead]:
    found = service.get_version(session, name, version)
    items, total = service.list_backtests(session, found, paging)
    return paging.page([backtest_read(found, b) for b in items], total)


@router.get(
    "/{name}/versions/{version}/backtests/{backtest_id}",
    response_model=BacktestRead,
    summary="One backtest: folds with their cutoff, aggregate, RMSE per step, coverage",
)
def get_backtest(
    name: NamePath, version: VersionPath, backtest_id: IdPath, session: SessionDep
) -> BacktestRead:
    found = service.get_version(session, name, version)
    return backtest_read(found, service.get_backtest(session, found, backtest_id))
