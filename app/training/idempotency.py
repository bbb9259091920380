"""``Idempotency-Key`` on the POSTs that create training jobs and batches.

A client that lost the answer to a POST (a timeout, a dropped connection, a 503 it retried)
sends the same request again with the same key: it gets the resource the first request
created, never a second one. The same key with a different body is a 409: the key is bound to
the request it first came with. Keys are written in the transaction that creates the resource,
before it, so two concurrent requests with one key create one resource: the second waits on
the key's row and answers 409, and sent again it gets what the first created. (No savepoint:
under pysqlite's transaction handling, releasing one outside an explicit transaction commits.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated

from fastapi import Header
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.orm import IdempotencyKey
from app.errors import Conflict

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[!-~]+$",
        description="Any printable ASCII string without spaces (a UUID, say): a retried request "
        "with the same key and body answers with the resource the first one created; the same "
        "key with another body is a 409.",
    ),
]
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKeyReused(Conflict):
    slug = "idempotency-key-reused"
    title = "Idempotency key reused with another request"


class IdempotentRequestInFlight(Conflict):
    """The same key and body while the first request is still running: not a misuse, a retry
    too early (Retry-After says when to send it again)."""

    slug = "idempotent-request-in-flight"
    title = "A request with this idempotency key is still running"
    retry_after_s = 1


def _sha256(body: BaseModel) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_once(
    session: Session,
    operation: str,
    key: str | None,
    body: BaseModel,
    create: Callable[[], int],
) -> tuple[int, bool]:
    """The id of the resource ``create`` makes, and False; or, when ``key`` came with the same
    body before, the id that request created, and True (``create`` is not called)."""
    if key is None:
        return create(), False
    digest = _sha256(body)
    earlier = session.get(IdempotencyKey, (operation, key))
    if earlier is not None:
        if earlier.request_sha256 != digest:
            raise IdempotencyKeyReused(
                f"Idempotency-Key '{key}' was first sent with another request body; send a new "
                "key for a new request."
            )
        assert earlier.resource_id is not None  # written in the transaction that made the key
        return earlier.resource_id, True
    row = IdempotencyKey(operation=operation, key=key, request_sha256=digest)
    session.add(row)
    try:
        session.flush()  # the key's row first: a concurrent request with it waits here
    except IntegrityError as exc:
        raise IdempotentRequestInFlight(
            f"Idempotency-Key '{key}' came with a request that is still running; send this "
            "one again to get what it created."
        ) from exc
    row.resource_id = create()
    session.flush()
    return row.resource_id, False
