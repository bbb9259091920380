"""Loaded bundles, kept in an LRU keyed by version id and checked against their sha256 on load."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from starlette.types import ASGIApp, Receive, Scope, Send

from app.db.orm import ModelVersion
from app.errors import BundleCorrupt
from app.ml.evaluate import Intervals
from app.ml.inference import PointForecaster, load_forecaster
from app.registry import bundle
from app.registry.store import ArtifactStore, bundle_key

if TYPE_CHECKING:
    from app.forecasting.service import ResolvedVersion


@dataclass(frozen=True)
class LoadedBundle:
    version_id: int
    manifest: dict[str, Any]
    forecaster: PointForecaster
    intervals: Intervals
    evaluation: dict[str, Any]

    @property
    def history_wanted(self) -> int:
        """Values read for a forecast: what the model needs, and what the intervals measure
        the current volatility on (fewer still work, with less precise intervals)."""
        return max(self.forecaster.history_needed, self.intervals.history_needed)


class BundleCache:
    """Thread-safe LRU of loaded bundles; a deleted version is evicted by the registry."""

    def __init__(self, store: ArtifactStore, size: int) -> None:
        self.store = store
        self.size = size
        # Keyed by version id and creation time: a reused id never serves stale files.
        self._items: OrderedDict[tuple[int, datetime], LoadedBundle] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0  # read by the metrics collector
        self.misses = 0

    def count(self) -> int:
        """Versions loaded now."""
        return len(self._items)

    def get(self, conn: Connection, version: ResolvedVersion) -> LoadedBundle:
        key = (version.id, version.created_at)
        with self._lock:
            loaded = self._items.get(key)
            if loaded is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return loaded
            self.misses += 1
        loaded = self._load(conn, version)  # outside the lock: it takes milliseconds
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

    def _load(self, conn: Connection, version: ResolvedVersion) -> LoadedBundle:
        directory = self.store.local_path(bundle_key(version.model, version.version))
        files = conn.scalar(select(ModelVersion.bundle).where(ModelVersion.id == version.id))
        bundle.verify_bundle(directory, (files or {}).get("files", {}))
        try:
            manifest = json.loads((directory / bundle.MANIFEST).read_text())
            evaluation = json.loads((directory / bundle.EVALUATION).read_text())
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
            intervals=Intervals.from_json(evaluation["intervals"]),
            evaluation=evaluation,
        )


class ResponseCache:
    """Identical dashboard requests within ``ttl_s`` share one computed forecast.

    Any write request to this process clears it at once (see :class:`InvalidateOnWrite`);
    writes made elsewhere (another API replica, a worker finishing a version) show within
    ``ttl_s``. A TTL of 0 turns it off.
    """

    def __init__(self, ttl_s: float, size: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        if self.ttl_s <= 0:
            return None
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] < time.monotonic():
                return None
            return found[1]

    def put(self, key: Hashable, value: Any) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class InvalidateOnWrite:
    """ASGI middleware: every non-GET request clears the forecast response cache."""

    def __init__(self, app: ASGIApp, cache: ResponseCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            self.cache.clear()
        await self.app(scope, receive, send)
