"""Bundle files: what a version needs to forecast, with a sha256 for every file."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from app.errors import BundleCorrupt

MANIFEST = "bundle.json"
SCALER = "scaler.json"
KERAS = "network.keras"
ONNX = "network.onnx"
EVALUATION = "evaluation.json"
BUNDLE_FORMAT = 1
_LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "onnx", "onnxruntime", "tf2onnx", "numpy")


def library_versions() -> dict[str, str]:
    found = {}
    for name in _LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def file_digest(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return {"sha256": digest.hexdigest(), "size": path.stat().st_size}


def write_manifest(directory: Path, manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Write scaler and manifest next to the network files; return every file's digest."""
    files = {
        name: file_digest(directory / name)
        for name in sorted(p.name for p in directory.iterdir())
        if name != MANIFEST
    }
    body = {"format": BUNDLE_FORMAT, **manifest, "files": files}
    (directory / MANIFEST).write_text(json.dumps(body, indent=2, sort_keys=True))
    return {**files, MANIFEST: file_digest(directory / MANIFEST)}


def verify_bundle(directory: Path, files: dict[str, dict[str, Any]]) -> None:
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
                f"{name} has sha256 {actual['sha256'][:12]}…, expected {expected['sha256'][:12]}…"
            )
    if problems:
        raise BundleCorrupt(
            "The model files failed their checksum: " + "; ".join(problems) + ". Retrain or "
            "restore the artifact store."
        )


def zip_bundle(directory: Path, files: dict[str, dict[str, Any]]) -> bytes:
    """The verified bundle as a zip archive (manifest included)."""
    verify_bundle(directory, files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.write(directory / name, arcname=name)
    return buffer.getvalue()
