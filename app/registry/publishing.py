"""Registering a bundle: a ``pending`` version row first, then its files, and only then (by the
job's end, or at once for an import) ``ready``. Whatever fails in between leaves the row
``failed`` and no files behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.db.column_records import BundleFile
from app.db.session import Database, through_outages
from app.registry import versions
from app.registry.store import ArtifactStore, bundle_key


def register_bundle(
    db: Database,
    store: ArtifactStore,
    staged: Path,
    files: dict[str, BundleFile],
    model_name: str,
    **fields: Any,
) -> int:
    """Reserve the model's next version for the staged bundle and publish its files; returns
    the version id (still ``pending``)."""

    def reserve() -> tuple[int, str]:
        with db.session_scope() as session:
            version = versions.reserve(
                session, model_name, size_bytes=sum(f.size for f in files.values()), **fields
            )
            return version.id, bundle_key(model_name, version.version)

    version_id, key = through_outages(reserve)
    try:
        store.publish(staged, key, files)
    except BaseException:
        discard_version(db, store, version_id)
        raise
    return version_id


def discard_version(db: Database, store: ArtifactStore, version_id: int) -> None:
    """A pending version whose job did not complete: failed, and its files removed."""

    def fail() -> str | None:
        with db.session_scope() as session:
            return versions.fail_pending(session, version_id)

    key = through_outages(fail)
    if key is not None:
        store.delete(key)
