"""Importing a version from another deployment: the archive its artifact download gave (the
bundle's files, ``bundle.json`` with their sha256, and ``version.json``), checked file by file,
loaded once, then registered as the model's next version with its metrics and lineage."""

from __future__ import annotations

import hashlib
import re
import zipfile
from io import BytesIO
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.column_records import BundleRecord, VersionOrigin
from app.db.orm import ModelVersion, Series
from app.db.session import Database
from app.db.types import utcnow
from app.errors import (
    BundleCorrupt,
    ErrorItem,
    InvalidBundle,
    InvalidRequest,
    ModelNotFound,
    SeriesNotFound,
)
from app.errors import VersionAlreadyImported as AlreadyImported
from app.ml.inference import load_forecaster
from app.ml.intervals import Intervals
from app.ml.manifest import ForecasterManifest
from app.registry import bundle, service, versions
from app.registry.bundle import MANIFEST, VERSION, BundleManifest, ExportedVersion
from app.registry.publishing import register_bundle
from app.registry.store import ArtifactStore
from app.vocabulary import VersionStatus

_Record = TypeVar("_Record", BundleManifest, ExportedVersion)
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Unpacked bytes allowed per byte of archive: bundles (float weights, JSON) barely compress, so
# anything far above this is a zip bomb, not a model.
_MAX_EXPANSION = 20


def import_version(
    db: Database, store: ArtifactStore, name: str, archive: bytes, *, series_id: int | None
) -> int:
    """Register the archive as the next version of ``name``; returns its number (``ready``).
    Anything wrong with the archive is InvalidBundle (422) and nothing is registered."""
    archive_sha256 = hashlib.sha256(archive).hexdigest()
    with store.staging() as staged:
        manifest, exported = _unpack(archive, staged)
        forecaster_files = {**manifest.files, MANIFEST: bundle.file_digest(staged / MANIFEST)}
        _check_loads(staged, manifest)
        with db.session_scope() as session:
            service.require_scope(session, name, "series")
            if series_id is not None:
                _require_target(session.get(Series, series_id), series_id, exported.target)
            _refuse_duplicate(session, name, forecaster_files[MANIFEST].sha256)
        lineage = {"model", "version", "job_id", "series_id", "created_at", "origin"}
        origin = VersionOrigin(
            **{field: getattr(exported, field) for field in lineage},
            archive_sha256=archive_sha256,
            imported_at=utcnow(),
        )
        version_id = register_bundle(
            db,
            store,
            staged,
            forecaster_files,
            name,
            job_id=None,
            series_id=series_id,
            training_rows_sha256=manifest.training_rows_sha256,
            target=exported.target,
            spec=exported.spec,
            bundle=BundleRecord(
                **{field: getattr(manifest, field) for field in ForecasterManifest.model_fields},
                files=forecaster_files,
            ),
            metrics=exported.metrics,
            train_seconds=exported.train_seconds,
            epochs_run=exported.epochs_run,
            origin=origin,
        )
    with db.session_scope() as session:
        return versions.mark_ready(session, version_id).version


def _require_target(series: Series | None, series_id: int, target: str) -> None:
    """The series the version will forecast by default must hold the field it forecasts (else
    its first forecast, not the import, would fail)."""
    if series is None:
        raise SeriesNotFound(f"No series with id {series_id}.")
    fields = sorted(f.name for f in series.fields)
    if target not in fields:
        raise InvalidRequest(
            f"Series {series_id} has no field '{target}', which this version forecasts (its "
            f"fields: {', '.join(fields)}): import it with a series that has one, or none.",
            errors=[ErrorItem(loc="query.series_id", message=f"no field '{target}'")],
        )


def _unpack(archive: bytes, staged: Path) -> tuple[BundleManifest, ExportedVersion]:
    """Extract the archive into ``staged`` after checking its names and sizes; check every
    file against the manifest; ``version.json`` is read and removed (it is not a bundle
    file)."""
    try:
        zipped = zipfile.ZipFile(BytesIO(archive))
    except zipfile.BadZipFile as exc:
        raise InvalidBundle(
            "The body is not a zip archive: send the file that `GET "
            "/v1/models/{name}/versions/{version}/artifact` gave."
        ) from exc
    with zipped:
        entries = zipped.infolist()
        bad = [e.filename for e in entries if e.is_dir() or not _FILE_NAME.match(e.filename)]
        if bad:
            raise InvalidBundle(f"The archive holds entries that are not plain file names: {bad}.")
        if sum(e.file_size for e in entries) > _MAX_EXPANSION * max(len(archive), 1 << 20):
            raise InvalidBundle("The archive unpacks to far more than a bundle: refused.")
        names = {e.filename for e in entries}
        missing = {MANIFEST, VERSION} - names
        if missing:
            raise InvalidBundle(
                f"The archive has no {', '.join(sorted(missing))}: it is not a bundle downloaded "
                "from this service's artifact endpoint."
            )
        manifest = _parse(BundleManifest, zipped.read(MANIFEST), MANIFEST)
        exported = _parse(ExportedVersion, zipped.read(VERSION), VERSION)
        expected = set(manifest.files) | {MANIFEST, VERSION}
        if names != expected:
            raise InvalidBundle(
                "The archive's files do not match its manifest: "
                + "; ".join(
                    part
                    for part in (
                        f"missing {sorted(expected - names)}" if expected - names else "",
                        f"not in the manifest {sorted(names - expected)}"
                        if names - expected
                        else "",
                    )
                    if part
                )
                + "."
            )
        for name in manifest.files.keys() | {MANIFEST}:
            (staged / name).write_bytes(zipped.read(name))
    try:
        bundle.verify_bundle(staged, manifest.files)
    except BundleCorrupt as exc:
        raise InvalidBundle(exc.detail) from exc
    _check_consistent(manifest, exported)
    return manifest, exported


def _parse(shape: type[_Record], body: bytes, name: str) -> _Record:
    try:
        return shape.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidBundle(
            f"{name} is not valid: {exc.error_count()} problem(s).",
            errors=[
                ErrorItem(loc=f"{name}:" + ".".join(map(str, e["loc"])), message=e["msg"])
                for e in exc.errors()[:20]
            ],
        ) from exc


def _check_consistent(manifest: BundleManifest, exported: ExportedVersion) -> None:
    problems = []
    if exported.scope != "series":
        problems.append(
            "it is a global model (its member series are another deployment's): retrain it "
            "here with a global training batch"
        )
    pickled = [manifest, *(manifest.members or [])]
    if any(part.kind == "reference" for part in pickled):
        problems.append(
            "its forecaster is a pickled statistical model, which this service does not load "
            "from outside: retrain it here"
        )
    if exported.training_rows_sha256 != manifest.training_rows_sha256:
        problems.append("version.json and bundle.json name different training rows")
    if exported.target != manifest.target:
        problems.append("version.json and bundle.json name different fields")
    if exported.model != manifest.model or exported.job_id != manifest.job_id:
        problems.append("version.json and bundle.json describe different versions")
    if problems:
        raise InvalidBundle("The archive cannot be imported: " + "; ".join(problems) + ".")


def _check_loads(staged: Path, manifest: BundleManifest) -> None:
    """Load it as the forecast path will: a bundle that passes its checksums but cannot serve
    is refused now, not at its first forecast."""
    try:
        load_forecaster(staged, manifest)
        Intervals.from_json(bundle.read_evaluation(staged).intervals)
    except Exception as exc:
        raise InvalidBundle(
            f"The bundle passed its checksums but cannot be loaded: {type(exc).__name__}."
        ) from exc


def _refuse_duplicate(session: Session, name: str, manifest_sha256: str) -> None:
    try:
        model = service.get_model(session, name)
    except ModelNotFound:  # its first version: nothing to duplicate
        return
    for version in session.scalars(select(ModelVersion).where(ModelVersion.model_id == model.id)):
        recorded = version.bundle.files.get(MANIFEST)
        if version.status != VersionStatus.FAILED and recorded is not None:
            if recorded.sha256 == manifest_sha256:
                raise AlreadyImported(
                    f"This bundle is already version {version.version} of '{name}'.",
                    extra={"version": version.version},
                )
