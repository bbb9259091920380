"""Frequencies and trading calendars (pure pandas; no I/O).

Frequencies are pandas offset aliases: ``B`` (business days, what stock files have), ``D``,
``W-FRI`` …, ``MS``/``ME``, or a fixed intraday step such as ``1min``/``1h``. ``irregular`` means
no regular step was found.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import exchange_calendars as xcals
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from app.ml.spec import TrainingSpec

IRREGULAR = "irregular"
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
# Share of weekend dates up to which a daily series still counts as business-daily
# (a few stray weekend prints happen in real exports).
_MAX_WEEKEND_SHARE_FOR_B = 0.01


@lru_cache(maxsize=1)
def exchange_names() -> frozenset[str]:
    return frozenset(xcals.get_calendar_names(include_aliases=True))


def is_known_exchange(code: str) -> bool:
    return code in exchange_names()


def infer_frequency(index: pd.DatetimeIndex) -> str:
    """Guess the frequency of a sorted, unique index from its typical step."""
    if len(index) < 2:
        return IRREGULAR
    steps = np.diff(index.as_unit("s").asi8)  # seconds
    step = float(np.median(steps))
    if (index.normalize() != index).any():
        return _intraday_alias(step)
    days = step / 86_400
    if days <= 1.5:
        weekend_share = float((index.day_of_week >= 5).mean())
        return "B" if weekend_share <= _MAX_WEEKEND_SHARE_FOR_B else "D"
    if 6 <= days <= 8:
        return f"W-{_WEEKDAYS[int(pd.Series(index.day_of_week).mode().iloc[0])]}"
    if 27 <= days <= 32:
        if (index.day == 1).all():
            return "MS"
        if index.is_month_end.all():
            return "ME"
    if 88 <= days <= 93:
        if index.is_quarter_start.all():
            return "QS"
        if index.is_quarter_end.all():
            return "QE"
    if 364 <= days <= 367:
        if index.is_year_start.all():
            return "YS"
        if index.is_year_end.all():
            return "YE"
    return IRREGULAR


def _intraday_alias(step_seconds: float) -> str:
    if step_seconds <= 0 or step_seconds != int(step_seconds):
        return IRREGULAR
    offset = pd.tseries.frequencies.to_offset(pd.Timedelta(seconds=step_seconds))
    return str(offset.freqstr) if offset is not None else IRREGULAR


def expected_index(
    first: pd.Timestamp, last: pd.Timestamp, frequency: str, exchange: str | None = None
) -> pd.DatetimeIndex | None:
    """Every period the calendar expects between two dates, or None if it has no rule.

    With an exchange, daily series follow its sessions (holidays excluded); otherwise the
    frequency's own rule (business days include holidays, so those count as gaps).
    """
    if frequency == IRREGULAR or _too_many_periods(first, last, frequency):
        return None
    if exchange and frequency in ("B", "D"):
        sessions = exchange_sessions(exchange, first, last)
        if sessions is not None:
            return sessions
    return _periods(first, last, frequency)


@lru_cache(maxsize=64)
def _periods(first: pd.Timestamp, last: pd.Timestamp, frequency: str) -> pd.DatetimeIndex:
    """``pd.date_range`` (cached: a collection's members mostly share their range), with
    business days taken from calendar days, ~50× faster than pandas' offset arithmetic."""
    if frequency == "B":
        days = pd.date_range(first, last, freq="D")
        return days[days.day_of_week < 5]
    return pd.date_range(first, last, freq=frequency)


@lru_cache(maxsize=32)
def _calendar(exchange: str, first_year: int) -> xcals.ExchangeCalendar:
    """The exchange's calendar from ``first_year`` on (or from its earliest supported date)."""
    try:
        return xcals.get_calendar(exchange, start=f"{first_year}-01-01")
    except ValueError:  # before the earliest date the calendar supports
        return xcals.get_calendar(exchange, start=xcals.get_calendar(exchange).bound_min())


# A gap count is skipped rather than enumerate more periods than this (a few second-spaced rows
# followed by one ten years later would otherwise ask for 3e8 timestamps).
MAX_EXPECTED_PERIODS = 5_000_000


def _too_many_periods(first: pd.Timestamp, last: pd.Timestamp, frequency: str) -> bool:
    offset = pd.tseries.frequencies.to_offset(frequency)
    if not isinstance(offset, pd.offsets.Tick):  # days, weeks, months: small counts
        return False
    return bool((last - first) / pd.Timedelta(offset) > MAX_EXPECTED_PERIODS)


def exchange_sessions(
    exchange: str, first: pd.Timestamp, last: pd.Timestamp
) -> pd.DatetimeIndex | None:
    """Trading sessions of an exchange between two dates, None outside its known range."""
    cal = _calendar(exchange, first.year)
    lo, hi = max(first, cal.first_session), min(last, cal.last_session)
    if lo > hi:
        return None
    sessions = cal.sessions_in_range(lo, hi)
    return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions)


@lru_cache(maxsize=4096)
def next_periods(
    last: pd.Timestamp, frequency: str, exchange: str | None, count: int
) -> pd.DatetimeIndex | None:
    """The ``count`` periods after ``last`` on the series' calendar (None if it has no rule).

    Daily series of an exchange get its next sessions (holidays skipped), business-daily ones
    the next weekdays; every other regular frequency continues its own step.
    """
    if frequency == IRREGULAR:
        return None
    if not is_intraday(frequency):  # periods are dates: a clock time (sent with as_of) dates none
        last = last.normalize()
    if exchange and frequency in ("B", "D"):
        cal = _calendar(exchange, last.year)
        horizon_end = last + pd.Timedelta(days=2 * count + 14)
        if horizon_end <= cal.last_session:
            sessions = cal.sessions_in_range(last + pd.Timedelta(days=1), horizon_end)
            sessions = pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions)
            return sessions[:count]
    if frequency == "B":
        return pd.bdate_range(last + pd.offsets.BDay(1), periods=count)
    offset = pd.tseries.frequencies.to_offset(frequency)
    if type(offset).__name__.endswith("Begin"):  # MS, QS, YS: a period is dated by its first day
        last = offset.rollback(last)  # (date_range rolls forward, which suits the others)
    return pd.date_range(last, periods=count + 1, freq=frequency)[1:]


@lru_cache(maxsize=4096)
def format_period(ts: pd.Timestamp) -> str:
    """Dates at midnight print as ``YYYY-MM-DD``; intraday times keep their clock time (cached:
    every forecast of a series prints the same last date)."""
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%dT%H:%M:%S")


@lru_cache(maxsize=4096)
def next_period_labels(
    last: pd.Timestamp, frequency: str, exchange: str | None, count: int
) -> tuple[str, ...] | None:
    """:func:`next_periods` formatted for responses (cached: every dashboard asks the same)."""
    periods = next_periods(last, frequency, exchange, count)
    return None if periods is None else tuple(format_period(p) for p in periods)


# Observations per season for the calendar frequencies (a week of business days, a week of days,
# a year of weeks / months / quarters); intraday steps that divide a day get one day.
_SEASONS = {"B": 5, "D": 7, "MS": 12, "ME": 12, "QS": 4, "QE": 4, "YS": 1, "YE": 1}
MAX_SEASON_LENGTH = 10_000


def season_length_for(frequency: str | None) -> int:
    """The natural season of a frequency (see :func:`infer_frequency`): business days 5,
    days 7, weeks (``W-…``) 52, months 12, quarters 4, years 1, intraday steps the number of
    steps in a day (hours 24, minutes 1440) when they divide a day; otherwise 1 (no season)."""
    if not frequency or frequency == IRREGULAR:
        return 1
    if frequency in _SEASONS:
        return _SEASONS[frequency]
    if frequency.startswith("W-"):
        return 52
    try:
        offset = pd.tseries.frequencies.to_offset(frequency)
    except ValueError:
        return 1
    if isinstance(offset, pd.offsets.Tick):
        nanos = int(offset.nanos)
        day = 86_400 * 10**9
        if 0 < nanos < day and day % nanos == 0 and day // nanos <= MAX_SEASON_LENGTH:
            return day // nanos
    return 1


def seasons_for(frequency: str | None) -> tuple[int, ...]:
    """Every season a frequency implies: its natural one and, for intraday steps, the week
    (hours 24 and 168, half-hours 48 and 336); () without one."""
    natural = season_length_for(frequency)
    if natural <= 1:
        return ()
    return (natural, 7 * natural) if is_intraday(frequency) else (natural,)


def is_intraday(frequency: str | None) -> bool:
    """Whether the frequency's step is shorter than a day (hours, minutes …)."""
    if not frequency or frequency == IRREGULAR:
        return False
    try:
        offset = pd.tseries.frequencies.to_offset(frequency)
    except ValueError:
        return False
    return isinstance(offset, pd.offsets.Tick) and int(offset.nanos) < 86_400 * 10**9


def resolve_season_length(spec: TrainingSpec, frequency: str | None) -> int:
    """The spec's ``season_length`` if set, else the frequency's natural season."""
    return spec.season_length if spec.season_length is not None else season_length_for(frequency)
