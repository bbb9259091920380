"""Artifact store: where bundles live. One small interface; ``file://`` under MODEL_DIR by default.

A bundle is written into a staging directory first and published with one atomic rename, so a
reader never sees a half-written bundle and a failed job leaves nothing behind.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}/[1-9][0-9]{0,8}$")


def bundle_key(model_name: str, version: int) -> str:
    key = f"{model_name}/{version}"
    if not _KEY.match(key):  # names are validated at the API; this guards the file system
        raise ValueError(f"invalid bundle key {key!r}")
    return key


class ArtifactStore(Protocol):
    """What the registry needs from a store; an object store (s3://) would implement the same."""

    def staging(self) -> AbstractContextManager[Path]: ...
    def publish(self, staged: Path, key: str) -> None: ...
    def local_path(self, key: str) -> Path: ...
    def delete(self, key: str) -> None: ...
    def is_writable(self) -> bool: ...


def make_store(model_dir: Path) -> ArtifactStore:
    return LocalArtifactStore(model_dir)


class LocalArtifactStore:
    """Bundles as directories ``<root>/<model>/<version>/`` on a local or shared file system."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._staging_root = self.root / ".staging"

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh directory on the store's file system, removed on exit unless published."""
        self._staging_root.mkdir(parents=True, exist_ok=True)
        staged = self._staging_root / uuid.uuid4().hex
        staged.mkdir()
        try:
            yield staged
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def publish(self, staged: Path, key: str) -> None:
        target = self.local_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # left by a process killed between rename and commit
            shutil.rmtree(target)
        staged.rename(target)

    def local_path(self, key: str) -> Path:
        model, version = key.split("/")
        return self.root / bundle_key(model, int(version))

    def delete(self, key: str) -> None:
        shutil.rmtree(self.local_path(key), ignore_errors=True)

    def is_writable(self) -> bool:
        try:
            self._staging_root.mkdir(parents=True, exist_ok=True)
            probe = self._staging_root / f"probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError:
            return False
        return True
