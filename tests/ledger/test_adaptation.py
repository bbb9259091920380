"""Interval adaptation from the ledger: the update itself (pure), and how it is kept as points
are scored (service level, on both databases)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.db.orm import LedgerPoint, Observation, ServedForecast, VersionIntervalAdaptation
from app.db.types import utcnow
from app.ledger import adaptation, adaptation_store, points
from app.vocabulary import PointStatus
from tests import factories

DAY0 = datetime(2020, 1, 1)


def frame(rows: list[dict[str, float]]) -> pd.DataFrame:
    """Scored points: ``step``, ``day`` (origin), ``actual`` and the bounds given."""
    records = []
    for i, row in enumerate(rows):
        day = int(row.get("day", i))
        records.append({
            "forecast_id": int(row.get("forecast_id", i + 1)), "step": int(row["step"]),
            "target": DAY0 + timedelta(days=day + int(row["step"])), "series_id": 1,
            "as_of": DAY0 + timedelta(days=day), "actual": row["actual"],
            **{k: v for k, v in row.items() if k.startswith(("lo_", "hi_"))},
        })  # fmt: skip
    return pd.DataFrame(records)


def served(
    step: int, n: int, misses: int, level: int = 80, **extra: float
) -> list[dict[str, float]]:
    """``n`` points of one step served with ``[9, 11]`` at ``level``, the first ``misses`` of
    them outside (actual 12), the rest inside (10)."""
    return [
        {"step": step, "day": i, "actual": 12.0 if i < misses else 10.0,
         f"lo_{level}": 9.0, f"hi_{level}": 11.0, **extra}
        for i in range(n)
    ]  # fmt: skip


def test_misses_beyond_the_nominal_rate_widen_and_fewer_narrow() -> None:
    wide = adaptation.adapt(frame(served(1, 50, misses=20)))  # 40 % missed at 80 %
    narrow = adaptation.adapt(frame(served(1, 50, misses=2)))  # 4 % missed
    assert wide.levels[80].theta[0] == pytest.approx(0.05 * (20 - 0.2 * 50))
    assert wide.factors(80, 30)[0] == round(math.exp(0.5), 4)
    assert narrow.levels[80].theta[0] == pytest.approx(0.05 * (2 - 0.2 * 50))
    assert narrow.factors(80, 30)[0] == round(math.exp(-0.4), 4)
    assert (wide.levels[80].points, wide.levels[80].covered) == ([50], [30])
    on_target = adaptation.adapt(frame(served(1, 50, misses=10)))
    assert on_target.factors(80, 30)[0] == pytest.approx(1.0)


def test_nothing_changes_before_the_minimum_of_scored_points() -> None:
    record = adaptation.adapt(frame(served(1, 29, misses=29)))
    assert record.levels[80].theta[0] > 0  # counted from the first point …
    assert record.factors(80, 30).tolist() == [1.0]  # … applied only from the 30th
    assert record.factors(80, 29)[0] > 1.0
    assert adaptation.steps(record, 30)[0].adapted is False
    assert adaptation.steps(record, 30)[0].width_factor == 1.0


def test_steps_and_levels_adapt_independently() -> None:
    rows = served(1, 40, misses=40) + served(2, 40, misses=0)
    rows += [{**r, "step": 3, "lo_95": 9.0, "hi_95": 11.0} for r in served(1, 40, misses=8)]
    record = adaptation.adapt(frame(rows))
    f80 = record.factors(80, 30)
    assert f80[0] > 1.0 > f80[1]  # step 1 missed every time, step 2 never
    assert f80[2] == pytest.approx(1.0)  # 20 % missed at step 3: on target at 80 % …
    assert record.levels[95].points == [0, 0, 40]  # only step 3 served a 95 % interval
    f95 = record.factors(95, 30)
    assert f95[:2].tolist() == [1.0, 1.0]
    assert f95[2] == round(math.exp(0.05 * (8 - 0.05 * 40)), 4)  # … 4× what 95 % allows
    rows_out = adaptation.steps(record, 30)
    assert [(r.step, r.level) for r in rows_out] == [
        (1, 80), (1, 95), (2, 80), (2, 95), (3, 80), (3, 95),
    ]  # fmt: skip
    assert (rows_out[0].coverage, rows_out[0].nominal) == (0.0, 0.8)
    assert (rows_out[1].coverage, rows_out[1].points) == (None, 0)


def test_only_the_most_recent_window_counts_and_an_origin_counts_once() -> None:
    early_misses = served(1, 10, misses=10)  # days 0…9, all outside
    late = [{**r, "day": r["day"] + 10} for r in served(1, 10, misses=0)]  # days 10…19, inside
    record = adaptation.adapt(frame(early_misses + late), window=10)
    assert record.levels[80].points == [10]
    assert record.levels[80].covered == [10]  # the late ten only
    twice = served(1, 5, misses=5)
    again = [{**r, "forecast_id": 100 + i} for i, r in enumerate(twice)]  # same origins
    assert adaptation.adapt(frame(twice + again)).levels[80].points == [5]


def test_theta_is_bounded() -> None:
    record = adaptation.adapt(frame(served(1, 2000, misses=2000)))
    assert record.factors(80, 30)[0] == pytest.approx(adaptation.MAX_FACTOR)
    record = adaptation.adapt(frame(served(1, 2000, misses=0)))
    assert record.factors(80, 30)[0] == pytest.approx(1 / adaptation.MAX_FACTOR)


def test_no_points_no_levels() -> None:
    assert adaptation.adapt(frame([])).levels == {}


# ---------------------------------------------------------------- kept as points are scored

SERIES, FIELD = 7, 70


def serve(session: Session, model: str, version: int, as_of: datetime,
          bounds: dict[str, float], steps: int = 2, series_id: int = SERIES) -> int:  # fmt: skip
    """A served forecast of ``steps`` daily points from ``as_of``, at the levels of ``bounds``."""
    levels = ",".join(sorted({k[3:] for k in bounds}))
    forecast_id = session.execute(
        insert(ServedForecast).returning(ServedForecast.id),
        [{"model_name": model, "version": version, "series_id": series_id, "field": "close",
          "as_of": as_of, "horizon": steps, "levels": levels, "base_value": 10.0,
          "first_served_at": utcnow(), "last_served_at": utcnow(), "served_count": 1}],
    ).scalar_one()  # fmt: skip
    session.execute(
        insert(LedgerPoint),
        [{"forecast_id": forecast_id, "step": step, "series_id": series_id, "field_id": FIELD,
          "target_ts": as_of + timedelta(days=step), "value": 10.0, "bounds": bounds,
          "status": PointStatus.PENDING} for step in range(1, steps + 1)],
    )  # fmt: skip
    return forecast_id


def observe(
    session: Session, days: range, value: float, series_id: int = SERIES
) -> tuple[datetime, datetime]:
    dates = [DAY0 + timedelta(days=d) for d in days]
    for ts in dates:
        session.merge(Observation(series_id=series_id, field_id=FIELD, ts=ts, value=value))
    session.flush()
    return dates[0], dates[-1]


def stored(session: Session, version_id: int) -> VersionIntervalAdaptation | None:
    """The version's adaptation once the transaction committed (it is recomputed then)."""
    session.commit()
    session.expire_all()
    return session.get(VersionIntervalAdaptation, version_id)


BOUNDS = {"lo_80": 9.0, "hi_80": 11.0, "lo_95": 8.0, "hi_95": 12.0}


def test_scoring_an_append_recomputes_the_versions_it_scored(session: Session) -> None:
    v1 = factories.version(session, "adapt")
    v2 = factories.version(session, "adapt")
    for day in range(5):
        serve(session, "adapt", 1, DAY0 + timedelta(days=day), BOUNDS)
    serve(session, "gone", 3, DAY0, BOUNDS)  # a deleted version's forecasts are skipped
    points.score(session, series_id=SERIES, dates=observe(session, range(1, 4), 11.5))

    row = stored(session, v1.id)
    assert row is not None
    assert row.revision == 1
    record = row.adaptation
    # Targets days 1…3: step 1 of origins 0, 1, 2; step 2 of origins 0, 1. 11.5 misses 80 %.
    assert (record.levels[80].points, record.levels[80].covered) == ([3, 2], [0, 0])
    assert (record.levels[95].points, record.levels[95].covered) == ([3, 2], [3, 2])
    assert record.levels[80].theta == pytest.approx([0.05 * (3 - 0.6), 0.05 * (2 - 0.4)])
    assert record.levels[95].theta == pytest.approx([0.05 * -0.15, 0.05 * -0.1])
    assert stored(session, v2.id) is None  # a version never served starts fresh

    # The value replaced: scored again, recomputed from what the ledger holds now.
    points.score(session, series_id=SERIES, dates=observe(session, range(3, 4), 10.0))
    row = stored(session, v1.id)
    assert row is not None
    assert row.revision == 2
    assert row.adaptation.levels[80].covered == [1, 1]

    # A forecast of dates already observed is scored (and adapts) when it is written.
    late = serve(session, "adapt", 2, DAY0, BOUNDS)
    points.score(session, forecast_ids=[late])
    row = stored(session, v2.id)
    assert row is not None
    assert row.revision == 1
    assert row.adaptation.levels[80].points == [1, 1]
    assert row.adaptation.factors(80, 30).tolist() == [1.0, 1.0]  # far from the minimum


def test_a_transaction_recomputes_each_version_once_before_it_commits(session: Session) -> None:
    version = factories.version(session, "once")
    for day in range(4):
        serve(session, "once", 1, DAY0 + timedelta(days=day), BOUNDS)
    points.score(session, series_id=SERIES, dates=observe(session, range(1, 3), 10.0))
    with session.begin_nested():  # a savepoint released: not the transaction's commit
        points.score(session, series_id=SERIES, dates=observe(session, range(3, 5), 10.0))
    assert session.scalar(select(VersionIntervalAdaptation.revision)) is None
    row = stored(session, version.id)
    assert row is not None
    assert row.revision == 1  # two scorings, one recomputation, from all they scored
    assert row.adaptation.levels[80].points == [4, 3]


def scored_points(session: Session, model: str, version: int) -> pd.DataFrame:
    """The version's scored points as :func:`adaptation.tally` reads them, read plainly."""
    rows = session.execute(
        select(LedgerPoint.forecast_id, LedgerPoint.step, LedgerPoint.target_ts,
               ServedForecast.series_id, ServedForecast.as_of, LedgerPoint.actual,
               LedgerPoint.bounds)
        .join(ServedForecast, ServedForecast.id == LedgerPoint.forecast_id)
        .where(ServedForecast.model_name == model, ServedForecast.version == version,
               LedgerPoint.status == PointStatus.SCORED)
    ).all()  # fmt: skip
    columns = ["forecast_id", "step", "target", "series_id", "as_of", "actual", "bounds"]
    frame = pd.DataFrame(rows, columns=columns)
    bounds = pd.DataFrame(list(frame.pop("bounds")), index=frame.index, dtype="float64")
    return pd.concat([frame, bounds], axis=1)


def test_the_database_counts_the_window_as_the_pure_tally_does(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adaptation, "WINDOW", 4)
    version = factories.version(session, "window")
    only_80 = {"lo_80": 10.2, "hi_80": 10.6}  # would miss day 5's 10.0
    for day in range(6):
        serve(session, "window", 1, DAY0 + timedelta(days=day), BOUNDS, steps=3)
        serve(session, "window", 1, DAY0 + timedelta(days=day), BOUNDS, steps=2,
              series_id=SERIES + 1)  # fmt: skip
    serve(session, "window", 1, DAY0 + timedelta(days=4), only_80, steps=1)  # a second copy
    serve(session, "window", 1, DAY0 + timedelta(days=5), {"lo_95": 9.9, "hi_95": 10.1},
          steps=4)  # fmt: skip
    for series_id in (SERIES, SERIES + 1):
        observe(session, range(1, 4), 20.0, series_id)  # outside both levels
        observe(session, range(4, 6), 10.0, series_id)  # inside
        observe(session, range(6, 9), 11.5, series_id)  # inside 95 % only
        points.score(session, series_id=series_id, dates=(DAY0, DAY0 + timedelta(days=8)))

    expected = adaptation.tally(scored_points(session, "window", 1), window=4)
    counted, oldest = adaptation_store.tally(session, "window", 1)
    assert sorted(counted) == sorted(expected) == [80, 95]
    for level in (80, 95):
        assert counted[level].points.tolist() == expected[level].points.tolist()
        assert counted[level].covered.tolist() == expected[level].covered.tolist()
    # Step 1's four newest: days 6 and 5 of both series (day 9, step 4, is not observed yet).
    assert counted[80].points.tolist() == [4, 4, 4]
    # Day 6 (11.5) is outside 80 %, day 5 (10.0) inside, as served with both levels: the copy
    # served with 80 % alone from the same origin does not count.
    assert counted[80].covered.tolist()[0] == 2
    assert counted[95].points.tolist() == [4, 4, 4]
    day5 = int((DAY0 + timedelta(days=5) - datetime(1970, 1, 1)).total_seconds())
    # Every window is full: step 1 holds days 6 and 5 twice, step 2 days 7 and 6 twice (the
    # second series forecast two steps), step 3 days 8…5 of the first series.
    assert oldest == [day5, day5 + 86400, day5]
    row = stored(session, version.id)
    assert row is not None
    assert row.adaptation.window == 4
    assert row.adaptation.levels[80].points == [4, 4, 4]
    assert row.adaptation.oldest == oldest

    # Later points: the next count ranks none older than each step's window, and finds what a
    # count of everything finds.
    for day in range(6, 9):
        serve(session, "window", 1, DAY0 + timedelta(days=day), BOUNDS, steps=3)
    observe(session, range(9, 11), 20.0)
    points.score(session, series_id=SERIES, dates=(DAY0, DAY0 + timedelta(days=10)))
    row = stored(session, version.id)
    assert row is not None
    everything = adaptation.tally(scored_points(session, "window", 1), window=4)
    for level in (80, 95):
        assert row.adaptation.levels[level].points == everything[level].points.tolist()
        assert row.adaptation.levels[level].covered == everything[level].covered.tolist()
    assert row.adaptation.levels[80].covered[0] == 0  # days 10, 9, 8, 7: outside 80 %
    # (The bound is per step: nothing of step 1 is ranked after a date past its last point.)
    far = int((DAY0 + timedelta(days=100) - datetime(1970, 1, 1)).total_seconds())
    bounded, _ = adaptation_store.tally(session, "window", 1, since=[far, None])
    assert bounded[80].points.tolist() == [0, 4, 4, 0]  # (step 4: served at 95 % only)


def test_a_deleted_version_takes_its_adaptation_with_it(session: Session) -> None:
    version = factories.version(session, "deleted")
    serve(session, "deleted", 1, DAY0, BOUNDS)
    points.score(session, series_id=SERIES, dates=observe(session, range(1, 3), 10.0))
    assert stored(session, version.id) is not None
    session.delete(version)
    session.flush()
    assert session.scalar(select(VersionIntervalAdaptation.model_version_id)) is None
