"""The ``forecast`` commands (``forecast --help``)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from app.cli.client import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_JOB_UNSUCCESSFUL,
    FINISHED,
    POLL_S,
    Api,
    check_text,
)
from app.cli.output import FORMAT, emit, table


@click.group(epilog=EXIT_CODES)
@click.option(
    "--url",
    envvar="FORECAST_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The service (env FORECAST_URL).",
)
@click.option(
    "--api-key",
    envvar="FORECAST_API_KEY",
    default=None,
    help="The service's key, if it has one (env FORECAST_API_KEY).",
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds per HTTP request.")
@click.version_option(package_name="forecast-service")
@click.pass_context
def main(ctx: click.Context, url: str, api_key: str | None, timeout: float) -> None:
    """Upload price series, train forecasters, read forecasts and reports, promote versions."""
    ctx.obj = Api(url, api_key, timeout)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Series name (default: the file's name without extension).")
@click.option("--exchange", help="Exchange calendar, e.g. XNYS.")
@click.option("--resample", help="Aggregate to this period first, e.g. 1D for intraday files.")
@click.pass_obj
def upload(
    api: Api, file: Path, name: str | None, exchange: str | None, resample: str | None
) -> None:
    """Upload a CSV file as a new series."""
    form = {"name": name or file.stem, "exchange": exchange, "resample": resample}
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


@main.command("series")
@FORMAT
@click.pass_obj
def list_series(api: Api, output: str) -> None:
    """List the stored series."""
    page = api.json("GET", "/v1/series", params={"limit": 500})
    emit(page["items"], ["id", "name", "frequency", "row_count", "first_date", "last_date"], output)


def _spec(spec: str | None, settings: Sequence[str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if spec:
        try:
            text = Path(spec[1:]).read_text() if spec.startswith("@") else spec
        except OSError as exc:
            raise click.BadParameter(f"cannot read {spec[1:]}: {exc}", param_hint="--spec") from exc
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--spec") from exc
        if not isinstance(body, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--spec")
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--set")
        try:
            body[key] = json.loads(value)
        except ValueError:
            body[key] = value  # a bare word: a string (e.g. architecture=gru)
    return body


@main.command()
@click.argument("series_id", type=int)
@click.option("--target", help="Field to forecast (default: close, else the only field).")
@click.option("--model-name", help="Registered model name (default: <series>-<architecture>).")
@click.option("--spec", help="Training spec as JSON, or @file.json.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="One spec field, e.g. --set architecture=gru --set epochs=20.",
)
@click.option("--promote-to", help="Alias to promote the new version to if it passes the gate.")
@click.option("--wait/--no-wait", default=False, help="Follow the job with a progress bar.")
@click.pass_obj
def train(
    api: Api,
    series_id: int,
    target: str | None,
    model_name: str | None,
    spec: str | None,
    settings: Sequence[str],
    promote_to: str | None,
    wait: bool,
) -> None:
    """Start a training job on a series."""
    body = _spec(spec, settings) | {"series_id": series_id}
    body |= {
        k: v
        for k, v in (("target", target), ("model_name", model_name), ("promote_to", promote_to))
        if v
    }
    job = api.json("POST", "/v1/training-jobs", json=body)
    click.echo(f"job {job['id']} {job['status']}: {job['model_name']} on {job['target']}")
    if wait:
        job = follow(api, job["id"])
        report_job(job)
        if job["status"] != "succeeded":
            sys.exit(EXIT_JOB_UNSUCCESSFUL)


@contextmanager
def _bar(job_id: int) -> Iterator[Any]:
    with click.progressbar(
        length=1, label=f"job {job_id}", show_eta=False, show_pos=True, file=sys.stderr
    ) as bar:
        yield bar


def follow(api: Api, job_id: int) -> dict[str, Any]:
    """Poll the job until it finishes, drawing its epochs as a progress bar on stderr. Ctrl-C
    stops following (exit 130), not the job."""
    try:
        return _poll(api, job_id)
    except KeyboardInterrupt:
        click.echo(f"\nstopped following job {job_id}; it goes on (forecast cancel {job_id} "
                   "stops it)", err=True)  # fmt: skip
        sys.exit(EXIT_INTERRUPTED)


def _poll(api: Api, job_id: int) -> dict[str, Any]:
    with _bar(job_id) as bar:
        while True:
            job: dict[str, Any] = api.json("GET", f"/v1/training-jobs/{job_id}")
            progress = job.get("progress")
            if progress:
                bar.length = progress["epochs"]
                bar.label = (
                    f"job {job_id} epoch {progress['epoch']}/{progress['epochs']} "
                    f"loss {progress['loss']:.4g} eta {progress['eta_s']:.0f}s"
                )
                bar.update(progress["epoch"] - bar.pos)
            if job["status"] in FINISHED:
                return job
            time.sleep(POLL_S)


def report_job(job: dict[str, Any]) -> None:
    line = f"job {job['id']} {job['status']}"
    if job.get("model_version"):
        line += f": {job['model_version']['name']} version {job['model_version']['version']}"
    if job.get("error"):
        line += f": {job['error']}"
    click.echo(line)
    promotion = job.get("promotion")
    if promotion and promotion.get("promoted") is not None:
        moved = "promoted" if promotion["promoted"] else "not promoted"
        click.echo(f"{promotion['alias']}: {moved}")
        for check in promotion.get("checks", []):
            click.echo("  " + check_text(check))


@main.command()
@click.argument("job_id", type=int, required=False)
@click.option("--wait/--no-wait", default=False, help="Follow an unfinished job.")
@FORMAT
@click.pass_obj
def jobs(api: Api, job_id: int | None, wait: bool, output: str) -> None:
    """List recent jobs, or show one (with --wait, until it finishes)."""
    if job_id is None:
        page = api.json("GET", "/v1/training-jobs", params={"limit": 25})
        rows = [j | {"epoch": (j["progress"] or {}).get("epoch")} for j in page["items"]]
        emit(rows, ["id", "status", "model_name", "target", "epoch", "error"], output)
        return
    job = follow(api, job_id) if wait else api.json("GET", f"/v1/training-jobs/{job_id}")
    report_job(job)
    if wait and job["status"] != "succeeded":
        sys.exit(EXIT_JOB_UNSUCCESSFUL)


@main.command()
@click.argument("job_id", type=int)
@click.pass_obj
def cancel(api: Api, job_id: int) -> None:
    """Ask a queued or running job to stop."""
    job = api.json("POST", f"/v1/training-jobs/{job_id}/cancel")
    click.echo(f"job {job['id']} {job['status']} (cancel requested)")


@main.command()
@click.argument("model")
@click.option("--version", type=int, help="Version number (default: the latest).")
@click.option("--alias", help="Alias, e.g. champion (instead of --version).")
@click.option("--series-id", type=int, help="Series to forecast (default: the version's own).")
@click.option("--horizon", type=int, default=1, show_default=True, help="Steps ahead.")
@click.option("--level", type=int, multiple=True, help="Interval level(s); default 80 and 95.")
@FORMAT
@click.pass_obj
def predict(
    api: Api,
    model: str,
    version: int | None,
    alias: str | None,
    series_id: int | None,
    horizon: int,
    level: Sequence[int],
    output: str,
) -> None:
    """Forecast the next HORIZON periods of a series with a model version."""
    params = {
        "model": model,
        "version": version,
        "alias": alias,
        "series_id": series_id,
        "horizon": horizon,
        "level": list(level) or None,
    }
    forecast = api.json(
        "GET", "/v1/forecast", params={k: v for k, v in params.items() if v is not None}
    )
    columns = ["step", "date", "value"] + [
        f"{side}_{lv}" for lv in forecast["levels"] for side in ("lo", "hi")
    ]
    if output == "json":
        click.echo(json.dumps(forecast, indent=2))
        return
    if output == "table":
        click.echo(
            f"{forecast['model']} version {forecast['version']}, {forecast['field']} after "
            f"{forecast['as_of']} ({forecast['strategy']})"
        )
    emit(forecast["points"], columns, output)


@main.command()
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
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (required for png).",
)
@click.pass_obj
def report(api: Api, model: str, version: int, output: str, output_file: Path | None) -> None:
    """A version's holdout report next to the baselines, or its plot."""
    path = f"/v1/models/{model}/versions/{version}/report"
    if output in ("png", "svg"):
        if output_file is None and output == "png":
            raise click.UsageError("--format png needs -o FILE")
        content = api.call("GET", f"{path}.{output}").content
        if output_file is None:
            click.echo(content.decode())
        else:
            output_file.write_bytes(content)
            click.echo(f"wrote {output_file} ({len(content)} bytes)", err=True)
        return
    body = api.json("GET", path)
    text = json.dumps(body, indent=2)
    if output == "table":
        holdout = body["holdout"]
        click.echo(
            f"{model} version {version}: holdout {holdout['start']} → {holdout['end']} "
            f"({holdout['points']} points), one step ahead"
        )
        rows = [r | {"skill_vs_naive": _fixed(r["skill_vs_naive"])} for r in body["one_step"]]
        table(rows, ["forecaster", "rmse", "mae", "mase", "skill_vs_naive"])
        return
    if output_file is None:
        click.echo(text)
    else:
        output_file.write_text(text)


def _fixed(value: float | None) -> str | None:
    return None if value is None else f"{value:+.3f}"


@main.command()
@click.argument("model")
@click.option("--version", type=int, multiple=True, help="Only these versions (repeatable).")
@click.option("--alias", help="Only the version this alias points at.")
@click.option("--series-id", type=int, help="Only forecasts of this series.")
@click.option(
    "--group-by",
    type=click.Choice(["none", "step", "week", "month", "version", "series"]),
    default="step",
    show_default=True,
)
@FORMAT
@click.pass_obj
def accuracy(api: Api, model: str, version: Sequence[int], alias: str | None,
             series_id: int | None, group_by: str, output: str) -> None:  # fmt: skip
    """Realized accuracy of the forecasts the service served (the ledger), next to naive."""
    params = {"version": list(version) or None, "alias": alias, "series_id": series_id,
              "group_by": group_by}  # fmt: skip
    body = api.json(
        "GET", f"/v1/models/{model}/accuracy",
        params={k: v for k, v in params.items() if v is not None},
    )  # fmt: skip
    if output == "json":
        click.echo(json.dumps(body, indent=2))
        return
    columns = ["group", "scored", "pending", "missing", "rmse", "naive_rmse", "skill_vs_naive",
               "promised_rmse", "realized_to_promised"]  # fmt: skip
    emit([body["total"], *body["groups"]], columns, output)


@main.command()
@click.argument("model")
@click.argument("version", type=int)
@click.option("--alias", default="champion", show_default=True)
@click.option(
    "--beats-naive/--no-beats-naive",
    default=True,
    show_default=True,
    help="The version must beat the naive forecast.",
)
@click.option(
    "--beats-current/--no-beats-current",
    default=True,
    show_default=True,
    help="The version must beat the one the alias points at now.",
)
@click.pass_obj
def promote(
    api: Api, model: str, version: int, alias: str, beats_naive: bool, beats_current: bool
) -> None:
    """Point an alias at a version if it passes the gate (exit 3 with the numbers if not)."""
    moved = api.json(
        "POST",
        f"/v1/models/{model}/aliases/{alias}/promote",
        json={
            "version": version,
            "require": {"beats_naive": beats_naive, "beats_current": beats_current},
        },
    )
    was = moved["previous_version"]
    click.echo(f"{alias} → version {version} (was {'unset' if was is None else was})")
    for check in moved["checks"]:
        click.echo("  " + check_text(check))
