"""Collections: many series uploaded at once from a long-format file, listed, paged, deleted."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from app.cli.client import Api, endpoint
from app.cli.options import FORMAT, paging, query, sort_option
from app.cli.output import emit, emit_json, emit_page, place_in_list
from app.cli.problems import EXIT_UNSUCCESSFUL
from app.cli.series_commands import ON_CONFLICT, SERIES_COLUMNS, reading_options

COLLECTION_COLUMNS = ["name", "series_count", "created_at", "updated_at"]


@click.group()
def collections() -> None:
    """Collections: many series uploaded at once (one row per symbol and date)."""


@collections.command("list")
@paging
@FORMAT
@click.pass_obj
def list_collections(api: Api, /, output: str, **params: Any) -> None:
    """List the collections, by name."""
    page = api.json("GET", "/v1/collections", params=query(**params))
    emit_page(page, COLLECTION_COLUMNS, output)


@collections.command("show")
@click.argument("name")
@FORMAT
@click.pass_obj
def show_collection(api: Api, name: str, output: str) -> None:
    """One collection: how many series it holds, when it changed."""
    emit([api.json("GET", endpoint("v1", "collections", name))], COLLECTION_COLUMNS, output)


@collections.command("members")
@click.argument("name")
@click.option("--prefix", help="Only members whose symbol or name starts with this.")
@sort_option("-row_count; default symbol")
@paging
@FORMAT
@click.pass_obj
def members(api: Api, /, name: str, output: str, **params: Any) -> None:
    """A page of a collection's series (by symbol unless --sort says otherwise)."""
    page = api.json("GET", endpoint("v1", "collections", name, "series"), params=query(**params))
    emit_page(page, ["id", "symbol", *SERIES_COLUMNS[1:]], output)


@collections.command("upload")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--symbol-column", help="Column of the symbols (default: symbol, ticker, name …).")
@click.option("--exchange", help="Exchange calendar of the series this upload creates.")
@reading_options
@ON_CONFLICT
@FORMAT
@click.pass_obj
def upload_collection(
    api: Api, /, name: str, file: Path, on_conflict: str, output: str, **form: str | None
) -> None:
    """Upload a long-format CSV (one row per symbol and date): creates a series per new symbol,
    appends to those already there; all or nothing. Prints what happened to each symbol."""
    with file.open("rb") as handle:
        result = api.json(
            "POST",
            endpoint("v1", "collections", name, "series"),
            params={"on_conflict": on_conflict},
            data={k: v for k, v in form.items() if v},
            files={"file": (file.name, handle)},
        )
    if output == "json":
        emit_json(result)
        return
    rows = [m | {"series_id": m["series"]["id"], "rows": m["series"]["row_count"]}
            for m in result["members"]]  # fmt: skip
    emit(rows, ["symbol", "action", "series_id", "inserted", "replaced", "unchanged", "rows"],
         output)  # fmt: skip
    click.echo(
        f"collection {result['collection']}: {result['created']} created, "
        f"{result['appended']} appended; {result['series_count']} series",
        err=output == "csv",
    )


@collections.command("predict")
@click.argument("name")
@click.option("--model-prefix", help="Each series' model is PREFIX.<symbol> (a batch's names).")
@click.option("--model", help="Or one model forecasts every series.")
@click.option("--version", type=int, help="Version number (default: each model's latest).")
@click.option("--alias", help="Alias, e.g. champion (instead of --version).")
@click.option("--horizon", type=int, default=1, show_default=True, help="Steps ahead.")
@click.option("--level", type=int, multiple=True, help="Interval level(s); default 80 and 95.")
@paging
@FORMAT
@click.pass_obj
def predict_collection(
    api: Api, /, name: str, model_prefix: str | None, model: str | None, version: int | None,
    alias: str | None, horizon: int, level: Sequence[int], limit: int, offset: int, output: str,
) -> None:  # fmt: skip
    """Forecast a page of a collection's series (by symbol) in one request, each with its own
    model: a row per series and step. A series that cannot be forecast is said on stderr, and
    the exit code is then 8; the others are printed."""
    if (model_prefix is None) == (model is None):
        raise click.UsageError("give --model-prefix or --model (not both)")
    each = query(horizon=horizon, level=list(level), version=version, alias=alias)
    body = query(collection=name, model_prefix=model_prefix, model=model, each=each,
                 limit=limit, offset=offset)  # fmt: skip
    if output == "csv":  # the service's own long format (unique_id, ds, …), ready for Nixtla
        response = api.call("POST", "/v1/forecast/batch", params={"format": "csv"}, json=body)
        click.echo(response.text, nl=False)
        failed = int(response.headers.get("x-failed-items", "0"))
        total, shown = int(response.headers["x-total"]), int(response.headers["x-limit"])
        place_in_list(max(0, min(shown, total - offset)), offset, total)
        if failed:
            click.echo(f"{failed} series could not be forecast (--format json says why)", err=True)
    else:
        answer = api.json("POST", "/v1/forecast/batch", json=body)
        failed = answer["failed"]
        if output == "json":
            emit_json(answer)
        else:
            _forecast_table(answer)
            place_in_list(len(answer["items"]), answer["offset"], answer["total"])
    if failed:
        sys.exit(EXIT_UNSUCCESSFUL)


def _forecast_table(answer: dict[str, Any]) -> None:
    rows: list[dict[str, Any]] = []
    levels: list[int] = []
    for item in answer["items"]:
        forecast = item.get("forecast")
        if forecast is None:
            error = item["error"]
            click.echo(f"{item['symbol']}: {error['title']} ({error['status']}): "
                       f"{error.get('detail', '')}", err=True)  # fmt: skip
            continue
        levels = levels or forecast["levels"]
        base = {
            "symbol": item["symbol"],
            "model": forecast["model"],
            "version": forecast["version"],
        }
        rows += [base | point for point in forecast["points"]]
    bounds = [f"{side}_{lv}" for lv in levels for side in ("lo", "hi")]
    emit(rows, ["symbol", "model", "version", "step", "date", "value", *bounds], "table")
    click.echo(f"{answer['succeeded']} forecast, {answer['failed']} failed", err=True)


@collections.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Delete the collection and every one of its series?")
@click.pass_obj
def delete_collection(api: Api, name: str) -> None:
    """Delete a collection with all its series and their observations (versions trained on them
    and what the ledger scored stay)."""
    api.call("DELETE", endpoint("v1", "collections", name))
    click.echo(f"collection {name} deleted")
