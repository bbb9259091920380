"""Responses built from rows: every field a response shares with the row's columns is copied by
name, the rest is computed by the converter (each package's ``schemas.py`` holds its own)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import inspect

from app.db.base import Base

M = TypeVar("M", bound=BaseModel)


def from_row(schema: type[M], row: Base, **computed: Any) -> M:
    """``schema`` from the columns of ``row`` of the same names (never a relationship, so no
    lazy load), and ``computed`` for the fields the row does not hold as they are shown."""
    columns = inspect(row).mapper.column_attrs.keys()
    shared = {
        name: getattr(row, name)
        for name in schema.model_fields
        if name in columns and name not in computed
    }
    return schema(**shared, **computed)
