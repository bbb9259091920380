"""Registering a bundle: a ``pending`` version row first, then its files, and only then (by the
job's end, or at once for an import) ``ready``. Whatever fails in between leaves the row
``failed`` and no files behind; while the store cannot remove them, the row stays ``pending``
and the reconciler tries again."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from app.db.column_records import BundleFile
from app.db.session import Database, through_outages
from app.errors import ArtifactStoreUnavailable
from app.registry import versions
from app.registry.store import ArtifactStore, bundle_key

log = logging.getLogger(__name__)


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
        discard_version(db, store, version_id)  # the publish's error is the one to tell
        raise
    return version_id


def discard_version(db: Database, store: ArtifactStore, version_id: int) -> bool:
    """A pending version whose job did not complete: its files removed, then the row
    ``failed``. False when the store could not remove them: the row stays ``pending``, never
    served, and the reconciler's next round tries again."""

    def pending() -> str | None:
        with db.session_scope() as session:
            return versions.pending_key(session, version_id)

    def fail() -> None:
        with db.session_scope() as session:
            versions.fail_pending(session, version_id)

    key = through_outages(pending)
    if key is None:
        return True
    try:
        store.delete(key)
    except ArtifactStoreUnavailable as exc:
        log.warning("version %s (%s) stays pending until its files can be removed: %s",
                    version_id, key, exc.detail)  # fmt: skip
        return False
    through_outages(fail)
    return True
