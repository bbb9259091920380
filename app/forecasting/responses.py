"""The dashboard response cache: identical ``GET /v1/forecast`` requests within ``ttl_s`` share
one computed response.

Any write request to this process clears it at once (:class:`InvalidateOnWrite`); writes made
elsewhere (another API replica, a worker finishing a version) show within ``ttl_s``. A TTL of 0
turns it off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable

from cachetools import TTLCache
from starlette.types import ASGIApp, Receive, Scope, Send

from app.forecasting.served import ForecastServed

# A computed forecast response: its ETag, its JSON body and what the ledger keeps of it (each
# time the cached response is served again, it is recorded again).
CachedResponse = tuple[str, bytes, ForecastServed | None]


class ResponseCache:
    def __init__(self, ttl_s: float, size: int = 1024) -> None:
        self.ttl_s = ttl_s
        self._items: TTLCache[Hashable, CachedResponse] | None = (
            TTLCache(maxsize=size, ttl=ttl_s, timer=time.monotonic) if ttl_s > 0 else None
        )
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> CachedResponse | None:
        if self._items is None:
            return None
        with self._lock:
            return self._items.get(key)

    def put(self, key: Hashable, value: CachedResponse) -> None:
        if self._items is None:
            return
        with self._lock:
            self._items[key] = value

    def clear(self) -> None:
        if self._items is None:
            return
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
