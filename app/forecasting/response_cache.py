"""The dashboard response cache: identical ``GET /v1/forecast`` requests within ``ttl_s`` share
one computed response.

Every write request to any server process of this host makes the cached responses of all of
them stale (:class:`InvalidateOnWrite` counts writes in a :class:`WriteCounter` the processes
share); writes made elsewhere (another host's API, a worker finishing a version) show within
``ttl_s``. A TTL of 0 turns it off.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time
from collections.abc import Hashable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from cachetools import TTLCache
from filelock import FileLock
from starlette.types import ASGIApp, Receive, Scope, Send

from app.forecasting.served_forecast import ForecastServed

# A computed forecast response: its ETag, its JSON body and what the ledger keeps of it (each
# time the cached response is served again, it is recorded again).
CachedResponse = tuple[str, bytes, ForecastServed | None]
_COUNT = struct.Struct("<Q")
# The counter's file in ``FORECAST_API_SHARED_DIR``.
WRITES_FILE = "writes"
# POSTs that only read (forecasts from sent values, batches of forecasts): not writes.
READ_ONLY_POSTS = frozenset({"/v1/forecast", "/v1/forecast/batch"})


class WriteCounter:
    """Writes seen by this process, or, given a file, by every process that maps it (the
    server processes of ``python -m app.serve``): reading is one memory load, no system call."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        # The processes' read-modify-write of a shared counter (a local one needs none).
        self._file_lock: FileLock | None = None
        self._memory: mmap.mmap | bytearray = bytearray(_COUNT.size)
        if path is not None:
            self._file_lock = FileLock(f"{path}.lock", thread_local=False)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            with self._exclusive():
                if os.fstat(fd).st_size < _COUNT.size:
                    os.ftruncate(fd, _COUNT.size)
            self._memory = mmap.mmap(fd, _COUNT.size)
            os.close(fd)  # the mapping stays valid

    def value(self) -> int:
        return int(_COUNT.unpack_from(self._memory)[0])

    def bump(self) -> None:
        with self._lock, self._exclusive():
            _COUNT.pack_into(self._memory, 0, self.value() + 1)

    def _exclusive(self) -> AbstractContextManager[object]:
        return self._file_lock if self._file_lock is not None else nullcontext()


class ResponseCache:
    """Responses keyed by request. Each entry remembers the write count read before it was
    computed, and is served only while no write has been counted since (so a forecast computed
    while a write was committing is never served after it)."""

    def __init__(self, ttl_s: float, writes: WriteCounter | None = None, size: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.writes = writes or WriteCounter()
        self._items: TTLCache[Hashable, tuple[int, CachedResponse]] | None = (
            TTLCache(maxsize=size, ttl=ttl_s, timer=time.monotonic) if ttl_s > 0 else None
        )
        self._lock = threading.Lock()

    def generation(self) -> int:
        """Read this before computing a response to :meth:`put`."""
        return self.writes.value()

    def get(self, key: Hashable) -> CachedResponse | None:
        if self._items is None:
            return None
        with self._lock:
            found = self._items.get(key)
        if found is None or found[0] != self.writes.value():
            return None
        return found[1]

    def put(self, key: Hashable, generation: int, value: CachedResponse) -> None:
        if self._items is None or generation != self.writes.value():
            return
        with self._lock:
            self._items[key] = (generation, value)


class InvalidateOnWrite:
    """ASGI middleware: every request that may write (not a GET, nor a forecast's POST) counts a
    write as it starts and again once it is over (committed), so no response computed before
    its commit is served after it."""

    def __init__(self, app: ASGIApp, cache: ResponseCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if (
            scope["type"] != "http"
            or method in ("GET", "HEAD", "OPTIONS")
            or (method == "POST" and scope["path"] in READ_ONLY_POSTS)
        ):
            await self.app(scope, receive, send)
            return
        self.cache.writes.bump()
        try:
            await self.app(scope, receive, send)
        finally:
            self.cache.writes.bump()
