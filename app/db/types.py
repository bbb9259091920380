"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import JSON, BigInteger, CheckConstraint, DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

UNIX_EPOCH = datetime(1970, 1, 1)
ONE_SECOND = timedelta(seconds=1)


def to_unix_seconds(value: datetime) -> int:
    """Whole seconds since the epoch; naive datetimes are taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return (value - UNIX_EPOCH) // ONE_SECOND


class UnixTime(TypeDecorator[datetime]):
    """A naive UTC timestamp stored as whole seconds since 1970-01-01 (BIGINT).

    Observations are the bulk of the data: an integer key keeps the (series, field, time)
    index compact and lets both backends bulk-load rows without formatting dates as text.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: Dialect) -> int | None:
        return None if value is None else to_unix_seconds(value)

    def process_result_value(self, value: Any, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return UNIX_EPOCH + timedelta(seconds=int(value))


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UtcDateTime needs an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class JsonRecord(TypeDecorator[Any]):
    """A JSON column holding one pydantic model (or any type pydantic validates): the row's
    JSON is validated into it once when the row is loaded, and dumped from it when written.

    Values are replaced, never mutated in place (the models are immutable or treated so), so
    the ORM sees every change as an assignment.
    """

    impl = JSON
    cache_ok = True

    def __init__(self, shape: Any) -> None:
        super().__init__()
        self.shape = shape
        self._adapter: TypeAdapter[Any] = TypeAdapter(shape)

    def process_bind_param(self, value: Any, _dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, BaseModel):
            value = self._adapter.validate_python(value)
        return self._adapter.dump_python(value, mode="json")

    def process_result_value(self, value: Any, _dialect: Dialect) -> Any:
        return None if value is None else self._adapter.validate_python(value)


class EnumText(TypeDecorator[StrEnum]):
    """A :class:`StrEnum` stored as its value in a short string column (the table adds a CHECK
    constraint from :func:`one_of`); loaded back as the enum member."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: StrEnum | str | None, _dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, _dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


def one_of(column: str, enum: type[StrEnum]) -> CheckConstraint:
    """``CHECK (column IN (...))`` over the enum's values, named after the column."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    return CheckConstraint(f"{column} IN ({values})", name=column)
