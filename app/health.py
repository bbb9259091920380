"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from app.db.migrate import current_revision, head_revision
from app.deps import DatabaseDep
from app.errors import NotReady

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and migrated to head",
    responses={503: {"description": "A dependency is not ready; `checks` says which."}},
)
def readyz(db: DatabaseDep) -> dict[str, Any]:
    checks: dict[str, str] = {}
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, head = current_revision(db.engine), head_revision()
        checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}"
    except Exception as exc:  # any failure to reach the DB means "not ready"
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if any(v != "ok" for v in checks.values()):
        raise NotReady(
            "Not ready: " + "; ".join(f"{k} {v}" for k, v in checks.items()),
            extra={"checks": checks},
        )
    return {"status": "ready", "checks": checks}
