"""Loaded bundles, kept in an LRU keyed by version and checked against their sha256 on load, with
the intervals each version serves now (its calibrated ones as adapted by the ledger)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cachetools import LRUCache
from sqlalchemy import Connection, select

from app.db.orm import ModelVersion, VersionIntervalAdaptation
from app.errors import BundleCorrupt
from app.forecasting.served_intervals import ServedIntervals
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
    calibrated: ServedIntervals  # the intervals as calibrated, served until the ledger adapts them

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
        *,
        adaptation_min_points: int = 30,
    ) -> None:
        """``on_lookup(hit)`` and ``on_count(versions loaded)`` feed the metrics;
        ``adaptation_min_points``: FORECAST_INTERVAL_ADAPTATION_MIN_POINTS."""
        self.store = store
        self.adaptation_min_points = adaptation_min_points
        self._items: LRUCache[tuple[int, datetime], LoadedBundle] = LRUCache(maxsize=size)
        self._adapted: LRUCache[tuple[int, datetime], ServedIntervals] = LRUCache(maxsize=size)
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

    def served_intervals(
        self, conn: Connection, version: ResolvedVersion, loaded: LoadedBundle
    ) -> ServedIntervals:
        """The intervals the version serves now. ``version.adaptation`` is the revision of its
        adaptation, read with the version itself: None (never scored) serves the calibrated
        ones; a revision not seen yet reads the record and scales them once."""
        if version.adaptation is None:
            return loaded.calibrated
        key = (version.id, version.created_at)
        with self._lock:
            held = self._adapted.get(key)
        if held is not None and held.revision == version.adaptation:
            return held
        found = conn.execute(
            select(VersionIntervalAdaptation.revision, VersionIntervalAdaptation.adaptation).where(
                VersionIntervalAdaptation.model_version_id == version.id
            )
        ).first()
        if found is None:  # the version was deleted since it was resolved
            return loaded.calibrated
        revision, record = found
        served = ServedIntervals.adapt(
            loaded.intervals, record, revision, self.adaptation_min_points
        )
        with self._lock:
            held = self._adapted.get(key)
            if held is None or held.revision is None or held.revision < revision:
                self._adapted[key] = served
        return served

    def evict(self, version_id: int) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == version_id]:
                del self._items[key]
            for key in [k for k in self._adapted if k[0] == version_id]:
                del self._adapted[key]
            self._on_count(len(self._items))

    def cached_version_ids(self) -> set[int]:
        with self._lock:
            return {key[0] for key in self._items}

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._adapted.clear()
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
        intervals = Intervals.from_json(evaluation.intervals)
        return LoadedBundle(
            version_id=version.id,
            manifest=manifest,
            forecaster=forecaster,
            intervals=intervals,
            evaluation=evaluation,
            calibrated=ServedIntervals(intervals),
        )
