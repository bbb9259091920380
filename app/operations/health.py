"""Liveness and readiness probes.

``/healthz`` only says the process answers (restart me if not); ``/readyz`` says whether this
instance can do its work (send me traffic if so): database reachable and at the migration head,
the broker reachable when one is configured, the artifact store writable, and without a broker
the embedded workers able to train (TensorFlow installed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text

from app.db.migrate import current_revision, head_revision
from app.db.session import Database
from app.errors import NotReady

CHECK_TIMEOUT_S = 3.0
BROKER_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Readiness:
    """What ``/readyz`` checks, handed over by :func:`app.main.create_app`."""

    db: Database
    broker_url: str | None
    store_problem: Callable[[], str | None]
    # Why this process cannot run the jobs it would be sent (None: it can, or they run elsewhere).
    cannot_train: Callable[[], str | None]


router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database migrated to head, broker reachable, artifact store writable",
    responses={503: {"description": "A dependency is not ready; `checks` says which."}},
)
def readyz(request: Request) -> dict[str, Any]:
    """200 when this instance can do its work; 503 with `checks` naming what is not ready."""
    # Runs in a worker thread; every check runs in its own thread with a deadline, so a
    # dependency that hangs makes the probe fail in CHECK_TIMEOUT_S rather than hang it.
    results = check(request.app.state.readiness)
    if any(v != "ok" for v in results.values()):
        raise NotReady(
            "Not ready: " + "; ".join(f"{k} {v}" for k, v in results.items() if v != "ok"),
            extra={"checks": results},
        )
    return {"status": "ready", "checks": results}


def check(readiness: Readiness) -> dict[str, str]:
    """Every readiness check by name: ``ok``, or why not (also read by each metrics scrape)."""
    broker_url = readiness.broker_url
    checks: dict[str, Callable[[], dict[str, str]]] = {
        "database": lambda: _database(readiness.db),
        "artifact_store": lambda: {"artifact_store": readiness.store_problem() or "ok"},
    }
    if broker_url:
        checks["broker"] = lambda: _broker(broker_url)
    results = _run_checks(checks, CHECK_TIMEOUT_S)
    cannot_train = readiness.cannot_train()
    if cannot_train is not None:  # embedded mode in an environment without TensorFlow
        results["workers"] = f"cannot train: {cannot_train}; set FORECAST_BROKER_URL"
    return results


def _database(db: Database) -> dict[str, str]:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the DB means "not ready"
        return {"database": f"unreachable: {type(exc).__name__}"}
    current, head = current_revision(db.engine), head_revision()
    return {
        "database": "ok",
        "migrations": "ok" if current == head else f"at {current}, head is {head}",
    }


def _broker(url: str) -> dict[str, str]:
    from kombu import Connection  # type: ignore[attr-defined]

    try:
        connection = Connection(url, connect_timeout=BROKER_TIMEOUT_S)  # type: ignore[no-untyped-call]
        with connection as conn:
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_S
            )
    except Exception as exc:  # the type only: messages can carry hosts and credentials
        return {"broker": f"unreachable: {type(exc).__name__}"}
    return {"broker": "ok"}


def _run_checks(
    checks: dict[str, Callable[[], dict[str, str]]], timeout_s: float
) -> dict[str, str]:
    results: dict[str, dict[str, str]] = {}

    def run(name: str, check: Callable[[], dict[str, str]]) -> None:
        try:
            results[name] = check()
        except Exception as exc:
            results[name] = {name: f"failed: {type(exc).__name__}"}

    threads = [
        threading.Thread(target=run, args=item, name=f"readyz-{item[0]}", daemon=True)
        for item in checks.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    merged: dict[str, str] = {}
    for name in checks:
        merged.update(results.get(name) or {name: f"no answer within {timeout_s:g} s"})
    return merged
