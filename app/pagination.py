"""One way to paginate lists: ``?limit=&offset=`` in, ``{items, total, limit, offset}`` out;
``?sort=field`` or ``?sort=-field`` (descending) where a list can be sorted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.vocabulary import MAX_ID

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int

    def page(self, items: list[T], total: int) -> Page[T]:
        return Page[T](items=items, total=total, limit=self.limit, offset=self.offset)


def _page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(_page_params)]


def sort_query(default: str) -> Any:
    """``?sort=``: a column key, ``-`` first for descending."""
    return Query(description=f"Sort key; `-` first for descending. Default {default}.")


def fetch_page(
    session: Session, stmt: Select[T], paging: PageParams, order: list[Any]
) -> tuple[list[T], int]:
    """One page of the rows ``stmt`` selects, in ``order``, and how many it selects in all."""
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = stmt.order_by(*order).limit(paging.limit).offset(paging.offset)
    return list(session.scalars(page)), total


def ordering(sort: str, columns: Mapping[str, Any], tiebreak: Any) -> list[Any]:
    """ORDER BY clauses for ``sort`` (a column key, ``-`` first for descending; empty values
    last either way, on every database), then a unique column so that pages never overlap."""
    column = columns[sort.removeprefix("-")]
    direction = column.desc() if sort.startswith("-") else column.asc()
    return [direction.nulls_last(), tiebreak]


def starts_with(column: Any, prefix: str) -> Any:
    """``column`` begins with ``prefix``, case-sensitively on every database (SQLite's LIKE
    ignores case) and with no wildcard in the prefix."""
    return func.substr(column, 1, len(prefix)) == prefix
