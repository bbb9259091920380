"""Bundle files: what a version needs to forecast, with a sha256 for every file."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pydantic import BaseModel

from app.db.column_records import BundleFile, VersionOrigin
from app.errors import BundleCorrupt
from app.ml.manifest import ForecasterManifest
from app.ml.results import Evaluation, HoldoutMetrics
from app.ml.spec import Scope, TrainingSpec

MANIFEST = "bundle.json"
SCALER = "scaler.json"
KERAS = "network.keras"
ONNX = "network.onnx"
EVALUATION = "evaluation.json"
VERSION = "version.json"  # in a downloaded archive only, next to the bundle's files
BUNDLE_FORMAT = 1
_LIBRARIES = (
    "tensorflow-cpu",
    "tensorflow",
    "keras",
    "onnx",
    "onnxruntime",
    "tf2onnx",
    "numpy",
    "statsforecast",
)


class ExportedVersion(BaseModel):
    """``version.json``, added to a bundle when it is downloaded: what the registry knows of the
    version beyond its files (spec, holdout metrics, lineage), so that another deployment can
    import it whole. Not covered by the manifest's digests: it is validated, and checked against
    the manifest, on import."""

    format: int = BUNDLE_FORMAT
    model: str
    version: int
    scope: Scope
    job_id: int | None
    series_id: int | None
    target: str
    training_rows_sha256: str
    spec: TrainingSpec
    metrics: HoldoutMetrics
    train_seconds: float
    epochs_run: int
    created_at: datetime
    origin: VersionOrigin | None = None


class BundleManifest(ForecasterManifest):
    """``bundle.json``: the forecaster's manifest, whose version of which model it is, and the
    digest of every other file of the bundle."""

    format: int = BUNDLE_FORMAT
    model: str
    job_id: int
    series_id: int | None
    files: dict[str, BundleFile]


def library_versions() -> dict[str, str]:
    found = {}
    for name in _LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def file_digest(path: Path) -> BundleFile:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return BundleFile(sha256=digest.hexdigest(), size=path.stat().st_size)


def write_manifest(
    directory: Path,
    forecaster: ForecasterManifest,
    *,
    model: str,
    job_id: int,
    series_id: int | None,
) -> dict[str, BundleFile]:
    """Write ``bundle.json`` next to the other files; return every file's digest (its own
    included)."""
    files = {
        name: file_digest(directory / name)
        for name in sorted(p.name for p in directory.iterdir())
        if name != MANIFEST
    }
    manifest = BundleManifest(
        **dict(forecaster),
        model=model,
        job_id=job_id,
        series_id=series_id,
        files=files,
    )
    body = manifest.model_dump(mode="json")
    (directory / MANIFEST).write_text(json.dumps(body, indent=2, sort_keys=True))
    return {**files, MANIFEST: file_digest(directory / MANIFEST)}


def read_manifest(directory: Path) -> BundleManifest:
    return BundleManifest.model_validate_json((directory / MANIFEST).read_bytes())


def write_evaluation(directory: Path, evaluation: Evaluation) -> None:
    (directory / EVALUATION).write_text(evaluation.model_dump_json())


def read_evaluation(directory: Path) -> Evaluation:
    return Evaluation.model_validate_json((directory / EVALUATION).read_bytes())


def verify_bundle(directory: Path, files: dict[str, BundleFile]) -> None:
    """Check every file against its recorded sha256 and size; BundleCorrupt says which failed."""
    problems = []
    for name, expected in files.items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        actual = file_digest(path)
        if actual != expected:
            problems.append(
                f"{name} has sha256 {actual.sha256[:12]}…, expected {expected.sha256[:12]}…"
            )
    if problems:
        raise BundleCorrupt(
            "The model files failed their checksum: " + "; ".join(problems) + ". Retrain or "
            "restore the artifact store."
        )


def zip_bundle(directory: Path, files: dict[str, BundleFile], exported: ExportedVersion) -> bytes:
    """The bundle's files as a zip archive (manifest included), with ``version.json``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.write(directory / name, arcname=name)
        archive.writestr(VERSION, exported.model_dump_json(indent=2))
    return buffer.getvalue()
