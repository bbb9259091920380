"""The book's accuracy: every model × alias with what the ledger says of the version it
serves (the aggregates the metrics scrape reads, so the whole book costs two queries)."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.orm import Session

from app.db.orm import RegisteredModel
from app.ledger import adaptation_store, service
from app.ledger.schemas import AliasAccuracyRead
from app.pagination import starts_with
from app.registry import service as registry

BookSort = Literal[
    "skill", "-skill", "model", "-model", "scored", "-scored",
    "realized_to_promised", "-realized_to_promised",
]  # fmt: skip
_FIELDS = {
    "skill": "skill_vs_naive", "model": "model", "scored": "scored",
    "realized_to_promised": "realized_to_promised",
}  # fmt: skip


def accuracy(
    session: Session, *, prefix: str | None, collection: str | None, sort: BookSort = "skill"
) -> list[AliasAccuracyRead]:
    """Every alias's row in ``sort``'s order (``-`` first: descending), ties by model and alias;
    by a measure (not by model), rows with nothing scored yet last."""
    field = _FIELDS[sort.removeprefix("-")]
    rows = sorted(_rows(session, prefix, collection), key=lambda r: (r.model, r.alias))
    scored = {
        id(r) for r in rows if (r.scored or field == "model") and getattr(r, field) is not None
    }
    known = sorted(
        (r for r in rows if id(r) in scored),
        key=lambda r: getattr(r, field),
        reverse=sort.startswith("-"),
    )
    return known + [r for r in rows if id(r) not in scored]


def _rows(session: Session, prefix: str | None, collection: str | None) -> list[AliasAccuracyRead]:
    kept = []
    if prefix:
        kept.append(starts_with(RegisteredModel.name, prefix))
    if collection is not None:
        kept.append(registry.of_collection(collection))
    coverage: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    for c in adaptation_store.alias_coverage(session):
        coverage.setdefault((c.model, c.alias), {})[str(c.level)] = (c.points, c.covered)
    return [
        AliasAccuracyRead(
            model=r.model,
            alias=r.alias,
            version=r.version,
            scored=r.scored,
            rmse=r.rmse,
            naive_rmse=r.naive_rmse,
            skill_vs_naive=None if r.to_naive is None else 1 - r.to_naive,
            promised_rmse=r.promised_rmse,
            realized_to_promised=r.to_promised,
            coverage={lv: c / n for lv, (n, c) in coverage.get((r.model, r.alias), {}).items()},
            coverage_points={lv: n for lv, (n, _) in coverage.get((r.model, r.alias), {}).items()},
        )
        for r in service.alias_accuracy(session, *kept)
    ]
