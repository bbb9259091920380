"""The registry: models, their versions (with the bundle to download or import) and aliases,
moved freely (`aliases set`) or through the promotion gate (`promote`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app.cli.client import Api, endpoint
from app.cli.options import FORMAT, paging, query, sort_option
from app.cli.output import emit, emit_json, emit_page
from app.cli.problems import check_text

MODEL_COLUMNS = ["name", "latest_version", "aliases", "created_at", "updated_at"]
VERSION_COLUMNS = ["version", "status", "aliases", "scope", "series_id", "target",
                   "architecture", "rmse", "naive_rmse", "skill", "created_at"]  # fmt: skip


@click.group()
def models() -> None:
    """Registered models: each holds numbered versions and aliases pointing at them."""


@models.command("list")
@click.option("--prefix", help="Only models whose name starts with this.")
@click.option("--collection", help="Only models trained on a series of this collection.")
@sort_option("-updated_at")
@paging
@FORMAT
@click.pass_obj
def list_models(api: Api, /, output: str, **params: Any) -> None:
    """List the registered models, by name."""
    emit_page(api.json("GET", "/v1/models", params=query(**params)), MODEL_COLUMNS, output)


@models.command("show")
@click.argument("name")
@FORMAT
@click.pass_obj
def show_model(api: Api, name: str, output: str) -> None:
    """One model: its latest version and its aliases."""
    emit([api.json("GET", endpoint("v1", "models", name))], MODEL_COLUMNS, output)


@click.group()
def versions() -> None:
    """A model's versions: list, show, download the bundle, import one from elsewhere."""


def _version_row(version: dict[str, Any]) -> dict[str, Any]:
    metrics = version["metrics"]
    return version | {
        "architecture": version["spec"].get("architecture"),
        "rmse": metrics["model"].get("rmse"),
        "naive_rmse": metrics["naive"].get("rmse"),
        "skill": metrics.get("skill"),
    }


@versions.command("list")
@click.argument("name")
@click.option("--sort", type=click.Choice(["version", "-version"]), help="-version: newest first.")
@paging
@FORMAT
@click.pass_obj
def list_versions(api: Api, /, name: str, output: str, **params: Any) -> None:
    """A page of a model's versions."""
    page = api.json("GET", endpoint("v1", "models", name, "versions"), params=query(**params))
    if output != "json":
        page["items"] = [_version_row(v) for v in page["items"]]
    emit_page(page, VERSION_COLUMNS, output)


@versions.command("show")
@click.argument("name")
@click.argument("version", type=int)
@FORMAT
@click.pass_obj
def show_version(api: Api, name: str, version: int, output: str) -> None:
    """One version: its status, aliases, spec and holdout numbers (all of it with --format json)."""
    found = api.json("GET", endpoint("v1", "models", name, "versions", version))
    if output == "json":
        emit_json(found)
    else:
        emit([_version_row(found)], VERSION_COLUMNS, output)


@versions.command("download")
@click.argument("name")
@click.argument("version", type=int)
@click.option("-o", "--output-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the zip (default: NAME-vVERSION.zip).")  # fmt: skip
@click.pass_obj
def download(api: Api, name: str, version: int, output_file: Path | None) -> None:
    """Download a version's bundle (a zip: networks, scaler, bundle.json with every sha256)."""
    content = api.call(
        "GET", endpoint("v1", "models", name, "versions", version, "artifact")
    ).content
    target = output_file or Path(f"{name}-v{version}.zip")
    target.write_bytes(content)
    click.echo(f"wrote {target} ({len(content)} bytes)")


@versions.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--series-id", type=int, help="A series here that it forecasts by default.")
@click.pass_obj
def import_version(api: Api, name: str, file: Path, series_id: int | None) -> None:
    """Import a bundle downloaded from another deployment as NAME's next version."""
    imported = api.json(
        "POST", endpoint("v1", "models", name, "versions:import"),
        params=query(series_id=series_id),
        content=file.read_bytes(), headers={"Content-Type": "application/zip"},
    )  # fmt: skip
    origin = imported.get("origin") or {}
    came = f" (was {origin['model']} version {origin['version']})" if origin else ""
    click.echo(f"imported {imported['name']} version {imported['version']}{came}")


@click.group()
def aliases() -> None:
    """Aliases (champion, staging …): names pointing at one version of a model."""


@aliases.command("list")
@click.argument("name")
@FORMAT
@click.pass_obj
def list_aliases(api: Api, name: str, output: str) -> None:
    """A model's aliases and the versions they point at."""
    pointed = api.json("GET", endpoint("v1", "models", name))["aliases"]
    emit([{"alias": a, "version": v} for a, v in sorted(pointed.items())], ["alias", "version"],
         output)  # fmt: skip


@aliases.command("get")
@click.argument("name")
@click.argument("alias")
@click.pass_obj
def get_alias(api: Api, name: str, alias: str) -> None:
    """The version an alias points at (the number alone on stdout)."""
    click.echo(api.json("GET", endpoint("v1", "models", name, "aliases", alias))["version"])


@aliases.command("set")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
@click.pass_obj
def set_alias(api: Api, name: str, alias: str, version: int) -> None:
    """Point an alias at a version, whatever its numbers (`forecast promote` checks them)."""
    api.json("PUT", endpoint("v1", "models", name, "aliases", alias), json={"version": version})
    click.echo(f"{alias} → version {version}")


@aliases.command("delete")
@click.argument("name")
@click.argument("alias")
@click.pass_obj
def delete_alias(api: Api, name: str, alias: str) -> None:
    """Remove an alias (the version stays)."""
    api.call("DELETE", endpoint("v1", "models", name, "aliases", alias))
    click.echo(f"{alias} deleted")


@click.command()
@click.argument("model")
@click.argument("version", type=int)
@click.option("--alias", default="champion", show_default=True)
@click.option("--beats-naive/--no-beats-naive", default=True, show_default=True,
              help="The version must beat the naive forecast.")  # fmt: skip
@click.option("--beats-current/--no-beats-current", default=True, show_default=True,
              help="The version must beat the one the alias points at now.")  # fmt: skip
@click.pass_obj
def promote(
    api: Api, model: str, version: int, alias: str, beats_naive: bool, beats_current: bool
) -> None:
    """Point an alias at a version if it passes the gate (exit 6 with the numbers if not)."""
    moved = api.json(
        "POST",
        endpoint("v1", "models", model, "aliases", alias, "promote"),
        json={
            "version": version,
            "require": {"beats_naive": beats_naive, "beats_current": beats_current},
        },
    )
    was = moved["previous_version"]
    click.echo(f"{alias} → version {version} (was {'unset' if was is None else was})")
    for check in moved["checks"]:
        click.echo("  " + check_text(check))
