"""Printing results: aligned text tables, CSV or JSON; a page's place in its list on stderr."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from typing import Any

import click


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Rows as aligned text columns."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    for line in [list(columns), *cells]:
        cells_text = "  ".join(
            value.ljust(width) for value, width in zip(line, widths, strict=True)
        )
        click.echo(cells_text.rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], output: str) -> None:
    if output == "json":
        click.echo(json.dumps(list(rows), indent=2))
    elif output == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows({c: _csv_cell(row.get(c)) for c in columns} for row in rows)
    else:
        table(rows, columns)


def _csv_cell(value: Any) -> Any:
    return _cell(value) if isinstance(value, dict | list) else value


def emit_page(page: dict[str, Any], columns: Sequence[str], output: str) -> None:
    """A page of a list (``{items, total, limit, offset}``): JSON prints the page itself, so a
    script sees ``total``; a table or CSV says on stderr which part of the list it shows."""
    if output == "json":
        click.echo(json.dumps(page, indent=2))
        return
    emit(page["items"], columns, output)
    place_in_list(len(page["items"]), page["offset"], page["total"])


def place_in_list(shown: int, offset: int, total: int) -> None:
    """Where a page of ``shown`` items from ``offset`` stands in its list, on stderr, when the
    list has more than that page."""
    if offset or shown < total:
        following = f"; next: --offset {offset + shown}" if offset + shown < total else ""
        first = offset + 1 if shown else offset
        click.echo(f"{first}–{offset + shown} of {total}{following}", err=True)


def emit_json(body: Any) -> None:
    click.echo(json.dumps(body, indent=2))
