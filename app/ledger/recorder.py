"""Write-behind recording of served forecasts: the forecast path only counts in memory.

A served forecast is added to an in-memory batch (a dict update under a lock: microseconds);
a thread writes the batch every ``flush_s`` seconds in one transaction. ``stop()`` writes what
is left, so a clean shutdown loses nothing; a failed write keeps the batch for the next try.
While writes keep failing the batch is capped at MAX_PENDING distinct forecasts: repeats of
those are still counted, new ones are dropped and the drops are logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.db.session import UNREACHABLE, Database
from app.db.types import utcnow
from app.forecasting.served_forecast import ForecastServed
from app.ledger import service
from app.ledger.service import Serving

log = logging.getLogger(__name__)
MAX_PENDING = 100_000


@dataclass(frozen=True)
class RecorderGauges:
    """What the writer tells the metrics: a write failed, a forecast was dropped, and how many
    served forecasts wait in memory after each write."""

    failed: Callable[[], None] = lambda: None
    dropped: Callable[[], None] = lambda: None
    pending: Callable[[int], None] = lambda _: None


class LedgerRecorder:
    def __init__(
        self,
        db: Database,
        *,
        flush_s: float,
        retention_days: int | None = None,
        gauges: RecorderGauges | None = None,
    ) -> None:
        self.db = db
        self.gauges = gauges or RecorderGauges()
        self.flush_s = flush_s
        self.retention_days = retention_days
        self._batch: dict[Any, Serving] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def __call__(self, served: ForecastServed) -> None:
        now = utcnow()
        with self._lock:
            serving = self._batch.get(served.key)
            if serving is None:
                if len(self._batch) >= MAX_PENDING:
                    self.dropped += 1
                    self.gauges.dropped()
                    return
                self._batch[served.key] = Serving(served, 1, now, now)
            else:
                serving.count += 1
                serving.last_at = now

    def flush(self) -> int:
        """Write what was served since the last write; returns how many forecasts were new."""
        with self._flushing:
            with self._lock:
                batch, self._batch = self._batch, {}
            if not batch:
                return 0
            try:
                with self.db.session_scope() as session:
                    new_ids = service.write(session, batch.values())
            except Exception as exc:
                if isinstance(exc, UNREACHABLE):  # kept for the next write: one line, no trace
                    log.warning("ledger write postponed: database unreachable (%s)",
                                type(exc).__name__)  # fmt: skip
                else:
                    log.exception("could not write %d served forecast(s) to the ledger",
                                  len(batch))  # fmt: skip
                self._merge_back(batch)
                self.gauges.failed()
                if self.dropped:
                    log.warning("ledger full while writes fail: %d forecast(s) not kept so far",
                                self.dropped)  # fmt: skip
                return 0
            finally:
                with self._lock:
                    self.gauges.pending(len(self._batch))
            return len(new_ids)

    def _merge_back(self, batch: dict[Any, Serving]) -> None:
        with self._lock:
            for key, old in batch.items():
                newer = self._batch.get(key)
                if newer is None:
                    self._batch[key] = old
                else:
                    newer.count += old.count
                    newer.first_at = old.first_at

    def prune(self) -> None:
        if self.retention_days is None:
            return
        with self.db.session_scope() as session:
            removed = service.prune(session, older_than_days=self.retention_days)
        if removed:
            log.info("ledger retention removed %d served forecast(s)", removed)

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(self.flush_s):
            self.flush()
            ticks += 1
            if ticks * self.flush_s >= 3600:  # retention: hourly is plenty
                ticks = 0
                try:
                    self.prune()
                except Exception:
                    log.exception("ledger retention failed")

    def start(self) -> None:
        try:
            self.prune()
        except Exception:
            log.exception("ledger retention failed")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()
