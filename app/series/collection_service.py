"""Collections: named sets of series uploaded together in long format. Services flush; the
caller's unit of work commits, so a multi-symbol upload is stored whole or not at all (nothing
here opens a savepoint, which SQLite would commit on its own)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.orm import Collection, Series
from app.db.session import lock_for_write
from app.db.types import utcnow
from app.errors import AppError, CollectionNotFound, CollectionTooLarge, ErrorItem, found
from app.pagination import PageParams, fetch_page, starts_with
from app.series import service
from app.series.parsing import ParsedFrame

# What an upload did to a member: created its series, or appended to it.
MemberAction = Literal["created", "appended"]


@dataclass(frozen=True)
class MemberOutcome:
    """One symbol of a multi-symbol upload: its series and what the upload did to it."""

    symbol: str
    series: Series
    action: MemberAction
    counts: service.AppendCounts


def member_name(collection: str, symbol: str) -> str:
    return f"{collection}:{symbol}"


def get_collection(session: Session, name: str, *, for_update: bool = False) -> Collection:
    stmt = select(Collection).where(Collection.name == name)
    if for_update:
        lock_for_write(session)
        stmt = stmt.with_for_update()
    return found(session.scalar(stmt), CollectionNotFound(f"No collection named '{name}'."))


def series_counts(session: Session, collections: list[Collection]) -> dict[int, int]:
    ids = [c.id for c in collections]
    rows = session.execute(
        select(Series.collection_id, func.count())
        .where(Series.collection_id.in_(ids))
        .group_by(Series.collection_id)
    ).all()
    counts: dict[int, int] = {cid: n for cid, n in rows if cid is not None}
    return {i: counts.get(i, 0) for i in ids}


def list_collections(
    session: Session, paging: PageParams, prefix: str | None = None
) -> tuple[list[Collection], int]:
    """A page of collections by name, optionally those whose name starts with ``prefix``."""
    stmt = select(Collection)
    if prefix:
        stmt = stmt.where(starts_with(Collection.name, prefix))
    return fetch_page(session, stmt, paging, [Collection.name])


def members(session: Session, collection: Collection, *, for_update: bool = False) -> list[Series]:
    """The collection's series by symbol (in Python's order, the same on every database); with
    ``for_update`` their rows are locked (in id order) against concurrent appends."""
    stmt = select(Series).where(Series.collection_id == collection.id)
    if for_update:
        stmt = stmt.order_by(Series.id).with_for_update(of=Series)
    return sorted(session.scalars(stmt), key=lambda s: s.symbol or "")


def _get_or_create(session: Session, name: str) -> tuple[Collection, bool]:
    """The collection, locked against concurrent uploads to it, and whether it is new. An
    INSERT … ON CONFLICT DO NOTHING rather than a savepoint: on SQLite a savepoint opened
    before any write is a transaction of its own, committed at once."""
    now = utcnow()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    created = session.execute(
        insert(Collection)
        .values(name=name, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(Collection.id)
    ).scalar()
    return get_collection(session, name, for_update=True), created is not None


def upload_members(
    session: Session,
    *,
    name: str,
    parsed: dict[str, ParsedFrame],
    exchange: str | None,
    source_filename: str | None,
    on_conflict: service.OnConflict,
    max_series: int,
) -> tuple[Collection, bool, list[MemberOutcome]]:
    """Create a series for each new symbol and append to the existing ones, in one transaction.

    Returns the collection, whether this upload created it, and one outcome per symbol.
    """
    if len(parsed) > max_series:  # before anything is written
        raise _too_large(name, len(parsed), 0, max_series)
    collection, created = _get_or_create(session, name)
    existing = {s.symbol: s for s in members(session, collection, for_update=True)}
    new_symbols = [s for s in parsed if s not in existing]
    if len(existing) + len(new_symbols) > max_series:
        raise _too_large(name, len(new_symbols), len(existing), max_series)
    outcomes = {}
    for symbol, frame in parsed.items():
        stored = existing.get(symbol)
        if stored is None:
            continue
        try:
            counts = service.append_observations(session, stored, frame, on_conflict=on_conflict)
        except AppError as exc:
            raise _about(symbol, exc) from exc
        outcomes[symbol] = MemberOutcome(symbol, stored, "appended", counts)
    new = [
        service.NewSeries(
            name=member_name(collection.name, symbol), parsed=parsed[symbol], exchange=exchange,
            source_filename=source_filename, collection=collection, symbol=symbol,
        )
        for symbol in new_symbols
    ]  # fmt: skip
    for symbol, series in zip(new_symbols, service.create_series(session, new), strict=True):
        counts = service.AppendCounts(inserted=series.row_count, replaced=0, unchanged=0)
        outcomes[symbol] = MemberOutcome(symbol, series, "created", counts)
    collection.updated_at = utcnow()
    session.flush()
    return collection, created, [outcomes[s] for s in sorted(outcomes)]


def _too_large(name: str, new: int, stored: int, max_series: int) -> CollectionTooLarge:
    return CollectionTooLarge(
        f"Collection '{name}' would hold {stored + new} series ({stored} stored, {new} new); "
        f"the limit is {max_series} (FORECAST_MAX_COLLECTION_SERIES)."
    )


def _about(symbol: str, exc: AppError) -> AppError:
    """The same problem, saying which symbol it is about."""
    items = [replace(e, symbol=symbol) for e in exc.errors] or [
        ErrorItem(symbol=symbol, message=exc.detail)
    ]
    return type(exc)(f"Symbol '{symbol}': {exc.detail}", errors=items, extra=exc.extra)


def delete_collection(session: Session, name: str) -> list[int]:
    """Delete a collection and every member series; returns the ids of the series deleted."""
    collection = get_collection(session, name, for_update=True)
    ids = [s.id for s in members(session, collection)]
    for series_id in ids:
        service.delete_series(session, series_id)
    session.delete(collection)
    session.flush()
    return ids
