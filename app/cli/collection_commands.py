"""Collections: many series uploaded at once from a long-format file, listed, paged, deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app.cli.client import Api, endpoint
from app.cli.options import FORMAT, paging, query, sort_option
from app.cli.output import emit, emit_json, emit_page
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


@collections.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Delete the collection and every one of its series?")
@click.pass_obj
def delete_collection(api: Api, name: str) -> None:
    """Delete a collection with all its series and their observations (versions trained on them
    and what the ledger scored stay)."""
    api.call("DELETE", endpoint("v1", "collections", name))
    click.echo(f"collection {name} deleted")
