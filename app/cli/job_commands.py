"""Training jobs on one series: start one (optionally following it), list them, cancel one."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from typing import Any

import click

from app.cli.client import Api, endpoint
from app.cli.follow import Progress, follow
from app.cli.options import FORMAT, SETTINGS, SPEC, paging, query, sort_option, spec_body
from app.cli.output import emit_page
from app.cli.problems import EXIT_UNSUCCESSFUL, check_text

FINISHED = frozenset({"succeeded", "failed", "cancelled"})
WAIT = click.option("--wait/--no-wait", default=False, help="Follow with a progress bar.")


@click.command()
@click.argument("series_id", type=int)
@click.option(
    "--target",
    help="Field to forecast (default: the first of adj_close, close, price, value, y, else the "
    "only field).",
)
@click.option("--model-name", help="Registered model name (default: <series>-<architecture>).")
@SPEC
@SETTINGS
@click.option("--promote-to", help="Alias to promote the new version to if it passes the gate.")
@WAIT
@click.pass_obj
def train(
    api: Api, series_id: int, target: str | None, model_name: str | None, spec: str | None,
    settings: Sequence[str], promote_to: str | None, wait: bool,
) -> None:  # fmt: skip
    """Start a training job on a series (any spec field: --spec and --set)."""
    body = spec_body(spec, settings) | {"series_id": series_id}
    body |= query(target=target, model_name=model_name, promote_to=promote_to)
    job = api.json(
        "POST", "/v1/training-jobs", json=body, idempotency_key=str(uuid.uuid4())
    )  # one key for this invocation: a retry after a lost answer finds the same job
    click.echo(f"job {job['id']} {job['status']}: {job['model_name']} on {job['target']}")
    if wait:
        _finish(follow_job(api, job["id"]))


def follow_job(api: Api, job_id: int) -> dict[str, Any]:
    return follow(
        f"job {job_id}",
        lambda: api.json("GET", endpoint("v1", "training-jobs", job_id)),
        _epochs,
        lambda job: job["status"] in FINISHED,
        f"forecast cancel {job_id}",
    )


def _epochs(job: dict[str, Any]) -> Progress:
    progress = job.get("progress")
    if not progress:
        return 0, 1, f"job {job['id']} {job['status']}"
    done, total, eta = progress["epoch"], progress["epochs"], progress["eta_s"]
    if progress.get("stage"):  # auto scoring its candidates
        return done, total, f"job {job['id']} {progress['stage']} ({done}/{total}) eta {eta:.0f}s"
    loss = f" loss {progress['loss']:.4g}" if progress["loss"] is not None else ""
    return done, total, f"job {job['id']} epoch {done}/{total}{loss} eta {eta:.0f}s"


def _finish(job: dict[str, Any]) -> None:
    report_job(job)
    if job["status"] != "succeeded":
        sys.exit(EXIT_UNSUCCESSFUL)


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


@click.command()
@click.argument("job_id", type=int, required=False)
@WAIT
@click.option("--status", help="Only jobs in this status (queued, running, succeeded …).")
@click.option("--kind", type=click.Choice(["train", "backtest"]), help="Only this kind.")
@click.option("--series-id", type=int, help="Only jobs on this series.")
@click.option("--batch-id", type=int, help="Only the jobs of this training batch.")
@click.option("--collection", help="Only jobs on this collection's series.")
@click.option("--model-prefix", help="Only models whose name starts so.")
@sort_option("-id")
@paging
@FORMAT
@click.pass_obj
def jobs(api: Api, /, job_id: int | None, wait: bool, output: str, **params: Any) -> None:
    """List jobs (newest first, a page at a time), or show one (--wait: until it finishes)."""
    if job_id is None:
        page = api.json("GET", "/v1/training-jobs", params=query(**params))
        page["items"] = [j | {"epoch": (j["progress"] or {}).get("epoch")} for j in page["items"]]
        columns = ["id", "status", "model_name", "target", "epoch", "error"]
        emit_page(page, columns, output)
    elif wait:
        _finish(follow_job(api, job_id))
    else:
        report_job(api.json("GET", endpoint("v1", "training-jobs", job_id)))


@click.command()
@click.argument("job_id", type=int)
@click.pass_obj
def cancel(api: Api, job_id: int) -> None:
    """Ask a queued or running job to stop."""
    job = api.json("POST", endpoint("v1", "training-jobs", job_id, "cancel"))
    click.echo(f"job {job['id']} {job['status']} (cancel requested)")
