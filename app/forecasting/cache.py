"""Loaded bundles, kept in an LRU keyed by version id and checked against their sha256 on load."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from app.db.orm import ModelVersion
from app.errors import BundleCorrupt
from app.ml.evaluate import Intervals
from app.ml.inference import Forecaster
from app.registry import bundle
from app.registry.store import ArtifactStore, bundle_key


@dataclass(frozen=True)
class LoadedBundle:
    version_id: int
    manifest: dict[str, Any]
    forecaster: Forecaster
    intervals: Intervals
    evaluation: dict[str, Any]


class BundleCache:
    """Thread-safe LRU of loaded bundles; a deleted version is evicted by the registry."""

    def __init__(self, store: ArtifactStore, size: int) -> None:
        self.store = store
        self.size = size
        self.hits = 0
        self.misses = 0
        # Keyed by version id and manifest digest: a reused id never serves stale files.
        self._items: OrderedDict[tuple[int, str], LoadedBundle] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, version: ModelVersion) -> LoadedBundle:
        key = (version.id, version.bundle["files"][bundle.MANIFEST]["sha256"])
        with self._lock:
            loaded = self._items.get(key)
            if loaded is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return loaded
            self.misses += 1
        loaded = self._load(version)  # outside the lock: loading takes milliseconds
        with self._lock:
            self._items[key] = loaded
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return loaded

    def evict(self, version_id: int) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == version_id]:
                del self._items[key]

    def cached_version_ids(self) -> set[int]:
        with self._lock:
            return {key[0] for key in self._items}

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def _load(self, version: ModelVersion) -> LoadedBundle:
        directory = self.store.local_path(bundle_key(version.model.name, version.version))
        bundle.verify_bundle(directory, version.bundle["files"])
        try:
            manifest = json.loads((directory / bundle.MANIFEST).read_text())
            evaluation = json.loads((directory / bundle.EVALUATION).read_text())
            forecaster = Forecaster.load(directory / bundle.ONNX, manifest)
        except Exception as exc:  # checksums matched but the files cannot be used
            raise BundleCorrupt(
                f"Version {version.version} of '{version.model.name}' cannot be loaded: "
                f"{type(exc).__name__}."
            ) from exc
        return LoadedBundle(
            version_id=version.id,
            manifest=manifest,
            forecaster=forecaster,
            intervals=Intervals.from_json(evaluation["intervals"]),
            evaluation=evaluation,
        )
