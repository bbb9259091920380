"""The interval adaptation of each version, kept up to date as the ledger scores its points
(on the caller's session: once per transaction and version, just before the transaction that
scored them commits) and read back for the accuracy endpoint. The computation itself is
:mod:`app.ledger.adaptation`'s.

Bounded: a refresh counts, per version, at most :data:`adaptation.WINDOW` scored points per
step, in the database (:func:`tally`): a few rows come back whatever the version's age, and
only the points counted have their bounds read from the JSON. Ranking them is the one part
that grows with the version's scored points, on their keys alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    and_,
    case,
    column,
    event,
    func,
    or_,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.orm import (
    LedgerPoint,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    ServedForecast,
    VersionIntervalAdaptation,
)
from app.db.types import utcnow
from app.ledger import adaptation
from app.ml.intervals import LEVELS, IntervalAdaptation
from app.vocabulary import PointStatus

# session.info keys: the versions to recompute before the commit, and whether the session's
# before_commit listener is installed.
_PENDING = "interval_adaptation_pending"
_LISTENING = "interval_adaptation_listening"


@dataclass(frozen=True)
class StoredAdaptation:
    version: int
    adaptation: IntervalAdaptation
    updated_at: datetime


def refresh_later(session: Session, scored: Sequence[ColumnElement[bool]]) -> None:
    """Note every version (still registered) with a scored point among the ledger points
    ``scored`` selects (those just scored): each is recomputed once, just before the transaction
    commits (:func:`refresh_pending`). An upload that appends to every series of a collection
    scores each series in turn, and recomputes a global version they share once, not once per
    series."""
    touched = (
        select(ServedForecast.model_name, ServedForecast.version)
        .join(LedgerPoint, LedgerPoint.forecast_id == ServedForecast.id)
        .where(*scored, LedgerPoint.status == PointStatus.SCORED)
        .distinct()
        .subquery()
    )
    versions = session.execute(
        select(ModelVersion.id, RegisteredModel.name, ModelVersion.version)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .join(
            touched,
            (touched.c.model_name == RegisteredModel.name)
            & (touched.c.version == ModelVersion.version),
        )
    ).all()
    if not versions:
        return
    pending: dict[int, tuple[str, int]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = {}
        if not session.info.get(_LISTENING):
            session.info[_LISTENING] = True
            event.listen(session, "before_commit", _before_commit)
    pending.update({version_id: (name, number) for version_id, name, number in versions})


def _before_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint released: the transaction goes on
        refresh_pending(session)


def refresh_pending(session: Session) -> None:
    """Recompute the adaptation of the versions :func:`refresh_later` noted, in version id
    order (runs before every commit of a session that scored points)."""
    pending: dict[int, tuple[str, int]] = session.info.pop(_PENDING, None) or {}
    for version_id in sorted(pending):
        name, number = pending[version_id]
        previous = _lock(session, version_id)
        since = previous.oldest if previous.window == adaptation.WINDOW else []
        counts, oldest = tally(session, name, number, since=since)
        record = adaptation.from_tally(counts, window=adaptation.WINDOW).model_copy(
            update={"oldest": oldest}
        )
        session.execute(
            update(VersionIntervalAdaptation)
            .where(VersionIntervalAdaptation.model_version_id == version_id)
            .values(
                adaptation=record,
                revision=VersionIntervalAdaptation.revision + 1,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )


def _lock(session: Session, version_id: int) -> IntervalAdaptation:
    """The version's row, created if missing and locked (PostgreSQL) until the transaction ends:
    two appends scoring the same version's points at once recompute one after the other, the
    second from what the first committed, so neither misses the other's points. Locks are taken
    in version id order, so they never deadlock; INSERT … ON CONFLICT DO NOTHING lets two first
    refreshes of a version both find its row. Returns what it holds now."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(VersionIntervalAdaptation)
        .values(
            model_version_id=version_id,
            revision=0,
            adaptation=IntervalAdaptation(eta=adaptation.ETA, window=adaptation.WINDOW),
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["model_version_id"])
    )
    held: IntervalAdaptation = session.execute(
        select(VersionIntervalAdaptation.adaptation)
        .where(VersionIntervalAdaptation.model_version_id == version_id)
        .with_for_update()
    ).scalar_one()
    return held


def tally(
    session: Session, model: str, version: int, *, since: Sequence[int | None] = ()
) -> tuple[adaptation.Tally, list[int | None]]:
    """:func:`adaptation.tally` of the version's scored points, computed by the database: it
    ranks the points on their keys alone (each origin once per step, the copy served with the
    most levels; then the most recent :data:`adaptation.WINDOW` of each step by target date),
    takes the bounds out of the JSON for the points ranked in, and counts per step; a few rows
    come back, whatever the version's age. ``since``: the previous count's
    :attr:`IntervalAdaptation.oldest` (no point of a step older than its entry is ranked).
    Also returns this count's ``oldest``."""
    conn = session.connection()  # Core rows: no ORM per-row work
    served = conn.execute(
        select(ServedForecast.levels)
        .where(ServedForecast.model_name == model, ServedForecast.version == version)
        .distinct()
    ).scalars()
    levels = sorted({int(v) for found in served for v in found.split(",") if v} & set(LEVELS))
    if not levels:
        return {}, []
    point, forecast = LedgerPoint, ServedForecast
    target = type_coerce(point.target_ts, BigInteger)  # seconds, as stored
    bounded = [(step, t) for step, t in enumerate(since, start=1) if t is not None]
    recent = (
        [or_(point.step.not_in([s for s, _ in bounded]),
             *(and_(point.step == s, target >= t) for s, t in bounded))]
        if bounded
        else []
    )  # fmt: skip
    copies = (
        select(
            point.forecast_id,
            point.step,
            target.label("target"),
            func.row_number()
            .over(
                partition_by=(forecast.series_id, forecast.as_of, point.step),
                # "80,95" is longer than "80": the most levels first, as adaptation.tally
                order_by=(func.length(forecast.levels).desc(), point.forecast_id),
            )
            .label("copy"),
        )
        .join(forecast, forecast.id == point.forecast_id)
        .where(
            forecast.model_name == model,
            forecast.version == version,
            point.status == PointStatus.SCORED,
            *recent,
        )
        .subquery("copies")
    )
    ranked = (
        select(
            copies.c.forecast_id,
            copies.c.step,
            copies.c.target,
            func.row_number()
            .over(
                partition_by=copies.c.step,
                order_by=(copies.c.target.desc(), copies.c.forecast_id.desc()),
            )
            .label("rank"),
        )
        .where(copies.c.copy == 1)
        .subquery("ranked")
    )
    names = [f"{side}_{level}" for level in levels for side in ("lo", "hi")]
    if conn.dialect.name == "postgresql":  # the JSON parsed once per point, every bound read
        record = (
            func.json_to_record(point.bounds)
            .table_valued(*(column(name, Float) for name in names))
            .render_derived(with_types=True)
            .lateral("served")
        )
        bounds = [record.c[name] for name in names]
        columns = select(point.step, ranked.c.target, point.actual, *bounds)
        source = columns.select_from(point).join(record, true())
    else:
        bounds = [point.bounds[name].as_float().label(name) for name in names]
        source = select(point.step, ranked.c.target, point.actual, *bounds).select_from(point)
    window = (
        source.join(
            ranked, (ranked.c.forecast_id == point.forecast_id) & (ranked.c.step == point.step)
        )
        .where(ranked.c.rank <= adaptation.WINDOW)
        .cte("window")
        .prefix_with("MATERIALIZED")  # the bounds read once, not again for every use below
    )
    counts = []
    for level in levels:
        lo, hi = window.c[f"lo_{level}"], window.c[f"hi_{level}"]
        has = lo.is_not(None) & hi.is_not(None)
        inside = has & (lo <= window.c.actual) & (window.c.actual <= hi)
        counts += [func.count(case((has, 1))), func.count(case((inside, 1)))]
    per_step = select(window.c.step, func.count(), func.min(window.c.target), *counts)
    rows = conn.execute(per_step.group_by(window.c.step)).all()
    if not rows:
        return {}, []
    steps = max(row[0] for row in rows)
    oldest: list[int | None] = [None] * steps
    for step, n, first, *_ in rows:
        if n >= adaptation.WINDOW:
            oldest[step - 1] = int(first)
    result: adaptation.Tally = {}
    for i, level in enumerate(levels):
        n, covered = np.zeros(steps, dtype=np.int64), np.zeros(steps, dtype=np.int64)
        for row in rows:
            n[row[0] - 1], covered[row[0] - 1] = row[3 + 2 * i], row[4 + 2 * i]
        if n.any():
            result[level] = adaptation.LevelTally(points=n, covered=covered)
    return result, oldest


def read(session: Session, model: str, versions: Sequence[int]) -> list[StoredAdaptation]:
    """The stored adaptation of these versions of a model (those that have one), by version."""
    if not versions:
        return []
    rows = session.execute(
        select(
            ModelVersion.version,
            VersionIntervalAdaptation.adaptation,
            VersionIntervalAdaptation.updated_at,
        )
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .join(
            VersionIntervalAdaptation,
            VersionIntervalAdaptation.model_version_id == ModelVersion.id,
        )
        .where(RegisteredModel.name == model, ModelVersion.version.in_(versions))
        .order_by(ModelVersion.version)
    ).all()
    return [StoredAdaptation(v, record, updated_at) for v, record, updated_at in rows]


@dataclass(frozen=True)
class AliasCoverage:
    """Step 1 of the adaptation of the version an alias points at, for one level: of the latest
    scored one-step points served with the level (at most :data:`adaptation.WINDOW`), how many
    covered the actual (read at every metrics scrape)."""

    model: str
    alias: str
    level: int
    points: int
    covered: int


def alias_coverage(session: Session) -> list[AliasCoverage]:
    """Per model, alias and level: the one-step interval coverage of the aliased version, from
    its stored adaptation (one row per version: no ledger point is read)."""
    rows = session.execute(
        select(RegisteredModel.name, ModelAlias.alias, VersionIntervalAdaptation.adaptation)
        .join(ModelAlias, ModelAlias.model_id == RegisteredModel.id)
        .join(
            VersionIntervalAdaptation,
            VersionIntervalAdaptation.model_version_id == ModelAlias.version_id,
        )
        .order_by(RegisteredModel.name, ModelAlias.alias)
    ).all()
    return [
        AliasCoverage(name, alias, level, found.points[0], found.covered[0])
        for name, alias, record in rows
        for level, found in sorted(record.levels.items())
        if found.points
    ]
