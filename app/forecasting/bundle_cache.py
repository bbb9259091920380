"""Loaded bundles, kept in an LRU keyed by version and checked against their sha256 on load."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cachetools import LRUCache
from sqlalchemy import Connection, select

from app.db.orm import ModelVersion
from app.errors import BundleCorrupt
from app.forecasting.version_lookup import ResolvedVersion
from app.ml.inference import PointForecaster, load_forecaster
from app.ml.intervals import Intervals
from app.ml.results import Evaluation
from app.registry import bundle
from app.registry.bundle import BundleManifest
from app.registry.store import ArtifactStore, bundle_key


@dataclass(frozen=True)
class LoadedBundle:
    version_id: int
    manifest: BundleManifest
    forecaster: PointForecaster
    intervals: Intervals
    evaluation: Evaluation

    @property
    def history_wanted(self) -> int:
        """Values read for a forecast: what the model needs, and what the intervals measure
        the current volatility on (fewer still work, with less precise intervals)."""
        return max(self.forecaster.history_needed, self.intervals.history_needed)


class NotLoaded(Exception):
    """The version's bundle is not loaded here yet (asked not to load it)."""


class BundleCache:
    """Thread-safe LRU of loaded bundles. Keyed by version id and creation time, so a reused id
    never serves stale files; a deleted version is evicted when the registry says so."""

    def __init__(
        self,
        store: ArtifactStore,
        size: int,
        on_lookup: Callable[[bool], None] = lambda _: None,
        on_count: Callable[[int], None] = lambda _: None,
    ) -> None:
        """``on_lookup(hit)`` and ``on_count(versions loaded)`` feed the metrics."""
        self.store = store
        self._items: LRUCache[tuple[int, datetime], LoadedBundle] = LRUCache(maxsize=size)
        self._lock = threading.Lock()
        self._on_lookup = on_lookup
        self._on_count = on_count

    def get(self, conn: Connection, version: ResolvedVersion, *, load: bool = True) -> LoadedBundle:
        """The loaded bundle; loaded first (files fetched and checked, ONNX session built:
        milliseconds, a download from an object store) unless ``load`` is False: then
        :class:`NotLoaded`."""
        key = (version.id, version.created_at)
        with self._lock:
            loaded = self._items.get(key)
        if loaded is None and not load:
            raise NotLoaded
        self._on_lookup(loaded is not None)
        if loaded is not None:
            return loaded
        loaded = self._load(conn, version)  # outside the lock: it takes milliseconds
        with self._lock:
            self._items[key] = loaded
            self._on_count(len(self._items))
        return loaded

    def evict(self, version_id: int) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == version_id]:
                del self._items[key]
            self._on_count(len(self._items))

    def cached_version_ids(self) -> set[int]:
        with self._lock:
            return {key[0] for key in self._items}

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._on_count(0)

    def _load(self, conn: Connection, version: ResolvedVersion) -> LoadedBundle:
        record = conn.scalar(select(ModelVersion.bundle).where(ModelVersion.id == version.id))
        key = bundle_key(version.model, version.version)
        directory = self.store.fetch(key, record.files if record is not None else {})
        try:
            manifest = bundle.read_manifest(directory)
            evaluation = bundle.read_evaluation(directory)
            forecaster = load_forecaster(directory, manifest)
        except Exception as exc:  # checksums matched but the files cannot be used
            raise BundleCorrupt(
                f"Version {version.version} of '{version.model}' cannot be loaded: "
                f"{type(exc).__name__}."
            ) from exc
        return LoadedBundle(
            version_id=version.id,
            manifest=manifest,
            forecaster=forecaster,
            intervals=Intervals.from_json(evaluation.intervals),
            evaluation=evaluation,
        )
