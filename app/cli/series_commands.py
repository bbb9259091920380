"""Single series: upload one, list them, append observations (a file or values)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from app.cli.client import Api, endpoint
from app.cli.options import FORMAT, paging, query, sort_option
from app.cli.output import emit_page

SERIES_COLUMNS = ["id", "name", "frequency", "row_count", "first_date", "last_date"]
ON_CONFLICT = click.option(
    "--on-conflict",
    type=click.Choice(["error", "replace"]),
    default="error",
    show_default=True,
    help="A date already stored with other values: refuse (exit 5), or replace them.",
)


def reading_options(function: Any) -> Any:
    """How the service reads a CSV: ``--date-column``, ``--date-order``, ``--resample``,
    ``--fill``."""
    for option in (
        click.option("--fill", type=click.Choice(["ffill"]), help="Carry values into empty cells."),
        click.option(
            "--date-order",
            type=click.Choice(["day_first", "month_first"]),
            help="Dates like 01/02/2020: 1 February (day_first) or 2 January (month_first); "
            "by default read from the dates, refused if they never tell.",
        ),
        click.option("--resample", help="Aggregate to this period first, e.g. 1D."),
        click.option("--date-column", help="Column holding the dates (default: found by name)."),
    ):
        function = option(function)
    return function


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Series name (default: the file's name without extension).")
@click.option("--exchange", help="Exchange calendar, e.g. XNYS.")
@reading_options
@click.pass_obj
def upload(
    api: Api, /, file: Path, name: str | None, exchange: str | None, **reading: str | None
) -> None:
    """Upload a CSV file as a new series."""
    form = {"name": name or file.stem, "exchange": exchange, **reading}
    with file.open("rb") as handle:
        series = api.json(
            "POST",
            "/v1/series",
            data={k: v for k, v in form.items() if v},
            files={"file": (file.name, handle)},
        )
    click.echo(
        f"series {series['id']} {series['name']}: {series['row_count']} rows "
        f"{series['first_date']} → {series['last_date']}, frequency {series['frequency']}, "
        f"fields {', '.join(series['fields'])}"
    )
    quality = series["quality"]
    notes = [f"{k} {v}" for k, v in quality.items() if v and k not in ("source_rows", "gaps")]
    if quality["gaps"].get("missing_periods"):
        notes.append(f"missing periods {quality['gaps']['missing_periods']}")
    click.echo("quality: " + ("; ".join(notes) if notes else "no issues found"))


@click.command("series")
@click.option("--collection", help="Only the members of this collection.")
@click.option("--prefix", help="Only series whose symbol or name starts with this.")
@sort_option("-row_count")
@paging
@FORMAT
@click.pass_obj
def list_series(api: Api, /, output: str, **params: Any) -> None:
    """List the stored series, a page at a time."""
    emit_page(api.json("GET", "/v1/series", params=query(**params)), SERIES_COLUMNS, output)


def _pairs(values: Sequence[str]) -> list[tuple[str, float]]:
    """``DATE=NUMBER`` arguments, checked before anything is sent."""
    pairs = []
    for item in values:
        date, sep, number = item.partition("=")
        if not sep or not date:
            raise click.BadParameter(f"{item!r} is not DATE=NUMBER", param_hint="VALUES")
        try:
            pairs.append((date, float(number)))
        except ValueError as exc:
            raise click.BadParameter(f"{number!r} is not a number", param_hint="VALUES") from exc
    return pairs


def _only_field(api: Api, series_id: int) -> str:
    fields: list[str] = api.json("GET", endpoint("v1", "series", series_id))["fields"]
    if len(fields) != 1:
        raise click.UsageError(
            f"series {series_id} has fields {', '.join(fields)}, and an appended row carries "
            "every one of them: append a file (--file) that has them all"
        )
    return fields[0]


@click.command()
@click.argument("series_id", type=int)
@click.argument("values", nargs=-1, metavar="[DATE=NUMBER]...")
@click.option(
    "--file", "csv_file", type=click.File("rb"), help="A CSV file of new rows ('-': stdin)."
)
@click.option("--field", help="The field VALUES are of (default: the series' only field).")
@reading_options
@ON_CONFLICT
@click.pass_obj
def append(
    api: Api, /, series_id: int, values: Sequence[str], csv_file: IO[bytes] | None,
    field: str | None, on_conflict: str, **reading: str | None,
) -> None:  # fmt: skip
    """Append observations to a series: a CSV file (--file) or DATE=NUMBER values. Served
    forecasts of those dates are scored as they arrive (see `forecast accuracy`)."""
    if (csv_file is None) == (not values):
        raise click.UsageError("give either --file FILE or DATE=NUMBER values")
    path = endpoint("v1", "series", series_id, "observations")
    params = {"on_conflict": on_conflict}
    options = {k: v for k, v in reading.items() if v}
    if csv_file is not None:
        name = Path(getattr(csv_file, "name", "")).name
        files = {"file": (name if name and not name.startswith("<") else "stdin.csv", csv_file)}
        result = api.json("POST", path, params=params, data=options, files=files)
    else:
        pairs = _pairs(values)
        field = field or _only_field(api, series_id)
        body = {"observations": [{"date": d, field: v} for d, v in pairs], **options}
        result = api.json("POST", path, params=params, json=body)
    series = result["series"]
    click.echo(
        f"series {series['id']} {series['name']}: {result['inserted']} inserted, "
        f"{result['replaced']} replaced, {result['unchanged']} unchanged; now "
        f"{series['row_count']} rows to {series['last_date']}"
    )
