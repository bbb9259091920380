"""Printing results: aligned text tables, CSV or JSON."""

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
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], output: str) -> None:
    if output == "json":
        click.echo(json.dumps(list(rows), indent=2))
    elif output == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    else:
        table(rows, columns)


FORMAT = click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="How to print the result.",
)
