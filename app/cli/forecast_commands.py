"""Reading what a version says: its forecast and its holdout report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from app.cli.client import Api, endpoint
from app.cli.options import FORMAT, query
from app.cli.output import emit, emit_json, table


@click.command()
@click.argument("model")
@click.option("--version", type=int, help="Version number (default: the latest).")
@click.option("--alias", help="Alias, e.g. champion (instead of --version).")
@click.option("--series-id", type=int, help="Series to forecast (default: the version's own).")
@click.option("--horizon", type=int, default=1, show_default=True, help="Steps ahead.")
@click.option("--level", type=int, multiple=True, help="Interval level(s); default 80 and 95.")
@FORMAT
@click.pass_obj
def predict(
    api: Api, model: str, version: int | None, alias: str | None, series_id: int | None,
    horizon: int, level: Sequence[int], output: str,
) -> None:  # fmt: skip
    """Forecast the next HORIZON periods of a series with a model version."""
    params = query(
        model=model, version=version, alias=alias, series_id=series_id, horizon=horizon,
        level=list(level),
    )  # fmt: skip
    forecast = api.json("GET", "/v1/forecast", params=params)
    if output == "json":
        emit_json(forecast)
        return
    columns = ["step", "date", "value"] + [
        f"{side}_{lv}" for lv in forecast["levels"] for side in ("lo", "hi")
    ]
    if output == "table":
        click.echo(
            f"{forecast['model']} version {forecast['version']}, {forecast['field']} after "
            f"{forecast['as_of']} ({forecast['strategy']})"
        )
    emit(forecast["points"], columns, output)


@click.command()
@click.argument("model")
@click.argument("version", type=int)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "png", "svg"]),
    default="table",
    show_default=True,
    help="Numbers, or the report's plot.",
)
@click.option(
    "-o",
    "--output-file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write here (required for png).",
)
@click.pass_obj
def report(api: Api, model: str, version: int, output: str, output_file: Path | None) -> None:
    """A version's holdout report next to the baselines, or its plot."""
    path = endpoint("v1", "models", model, "versions", version, "report")
    if output in ("png", "svg"):
        _plot(api, f"{path}.{output}", output, output_file)
        return
    body = api.json("GET", path)
    if output == "json":
        if output_file is None:
            emit_json(body)
        else:
            output_file.write_text(json.dumps(body, indent=2))
        return
    holdout = body["holdout"]
    click.echo(
        f"{model} version {version}: holdout {holdout['start']} → {holdout['end']} "
        f"({holdout['points']} points), one step ahead"
    )
    rows = [r | {"skill_vs_naive": _fixed(r["skill_vs_naive"])} for r in body["one_step"]]
    table(rows, ["forecaster", "rmse", "mae", "mase", "skill_vs_naive"])


def _plot(api: Api, path: str, output: str, output_file: Path | None) -> None:
    if output_file is None and output == "png":
        raise click.UsageError("--format png needs -o FILE")
    content = api.call("GET", path).content
    if output_file is None:
        click.echo(content.decode())
    else:
        output_file.write_bytes(content)
        click.echo(f"wrote {output_file} ({len(content)} bytes)", err=True)


def _fixed(value: float | None) -> str | None:
    return None if value is None else f"{value:+.3f}"
