"""Training batches: one spec trained on every series of a collection (or a list of series),
followed as one, ranked on a leaderboard."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from typing import Any

import click

from app.cli.client import Api, endpoint
from app.cli.follow import Progress, follow
from app.cli.options import FORMAT, SETTINGS, SPEC, paging, query, spec_body
from app.cli.output import emit, emit_json, emit_page
from app.cli.problems import EXIT_UNSUCCESSFUL

BATCH_COLUMNS = ["id", "status", "collection", "scope", "jobs", "succeeded", "failed",
                 "running", "queued", "eta_s", "created_at"]  # fmt: skip
LEADERBOARD_COLUMNS = ["symbol", "series_id", "status", "model_name", "version", "rmse",
                       "naive_rmse", "skill", "best_reference", "own_rmse", "error"]  # fmt: skip
WAIT = click.option("--wait/--no-wait", default=False, help="Follow with a progress bar.")


@click.group()
def batches() -> None:
    """Training batches: one spec on many series, followed and ranked as one."""


@batches.command("train")
@click.option("--collection", help="Train every series of this collection.")
@click.option("--series-id", "series_ids", type=int, multiple=True, help="Or these series.")
@click.option("--target", help="Field to forecast in every series.")
@click.option("--model-prefix", help="Name each series' model <prefix>.<symbol>.")
@click.option("--scope", type=click.Choice(["series", "global"]), help="One model per series "
              "(default), or one global model on all of them.")  # fmt: skip
@click.option("--model-name", help="scope global: the model's name.")
@click.option("--promote-to", help="Promote each new version to this alias through the gate.")
@SPEC
@SETTINGS
@WAIT
@click.pass_obj
def train_batch(
    api: Api, /, spec: str | None, settings: Sequence[str], series_ids: Sequence[int],
    wait: bool, **fields: str | None,
) -> None:  # fmt: skip
    """Start a training batch (any spec field: --spec and --set)."""
    body = spec_body(spec, settings) | query(series_ids=list(series_ids), **fields)
    batch = api.json(
        "POST", "/v1/training-batches", json=body, idempotency_key=str(uuid.uuid4())
    )  # one key for this invocation: a retry after a lost answer finds the same batch
    model = f"; model {batch['model_name']}" if batch.get("model_name") else ""
    click.echo(f"batch {batch['id']} {batch['status']}: {batch['counts']['total']} jobs, "
               f"{len(batch['skipped'])} series skipped{model}")  # fmt: skip
    _report_skipped(batch)
    if wait:
        _finish(follow_batch(api, batch["id"]))


def _report_skipped(batch: dict[str, Any]) -> None:
    for skipped in batch["skipped"]:
        click.echo(f"  skipped {skipped['name']} (series {skipped['series_id']}): "
                   f"{skipped['detail']}")  # fmt: skip


def follow_batch(api: Api, batch_id: int) -> dict[str, Any]:
    return follow(
        f"batch {batch_id}",
        lambda: api.json("GET", endpoint("v1", "training-batches", batch_id)),
        _counts,
        lambda batch: batch["status"] == "done",
        f"forecast batches cancel {batch_id}",
    )


def _counts(batch: dict[str, Any]) -> Progress:
    counts = batch["counts"]
    done = counts["succeeded"] + counts["failed"] + counts["cancelled"]
    return done, counts["total"], f"batch {batch['id']}: {_summary(batch)}"


def _summary(batch: dict[str, Any]) -> str:
    counts = batch["counts"]
    done = counts["succeeded"] + counts["failed"] + counts["cancelled"]
    eta = f", eta {batch['eta_s']:.0f}s" if batch.get("eta_s") is not None else ""
    return (
        f"{done}/{counts['total']} finished ({counts['succeeded']} succeeded, "
        f"{counts['failed']} failed, {counts['cancelled']} cancelled), "
        f"{counts['running']} running{eta}"
    )


def _finish(batch: dict[str, Any]) -> None:
    report_batch(batch)
    if batch["counts"]["succeeded"] != batch["counts"]["total"]:
        sys.exit(EXIT_UNSUCCESSFUL)


def report_batch(batch: dict[str, Any]) -> None:
    click.echo(f"batch {batch['id']} {batch['status']}: {_summary(batch)}")
    click.echo(f"leaderboard: forecast batches leaderboard {batch['id']}")


@batches.command("status")
@click.argument("batch_id", type=int)
@WAIT
@FORMAT
@click.pass_obj
def batch_status(api: Api, batch_id: int, wait: bool, output: str) -> None:
    """A batch's progress: its jobs counted by status, the ETA (--wait: until it is done)."""
    if wait:
        _finish(follow_batch(api, batch_id))
        return
    batch = api.json("GET", endpoint("v1", "training-batches", batch_id))
    if output == "json":
        emit_json(batch)
    elif output == "csv":
        emit([_row(batch)], BATCH_COLUMNS, output)
    else:
        report_batch(batch)
        _report_skipped(batch)


def _row(batch: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, Any] = batch["counts"]
    return batch | counts | {"jobs": counts["total"]}


@batches.command("list")
@paging
@FORMAT
@click.pass_obj
def list_batches(api: Api, /, output: str, **params: Any) -> None:
    """List training batches, newest first."""
    page = api.json("GET", "/v1/training-batches", params=query(**params))
    if output != "json":
        page["items"] = [_row(b) for b in page["items"]]
    emit_page(page, BATCH_COLUMNS, output)


@batches.command("leaderboard")
@click.argument("batch_id", type=int)
@FORMAT
@click.pass_obj
def leaderboard(api: Api, batch_id: int, output: str) -> None:
    """Per series: the version, its holdout RMSE next to naive's, the skill; best first."""
    path = endpoint("v1", "training-batches", batch_id, "leaderboard")
    if output == "csv":  # the service's own CSV: every column
        click.echo(api.call("GET", path, params={"format": "csv"}).text, nl=False)
        return
    board = api.json("GET", path)
    if output == "json":
        emit_json(board)
        return
    emit(board["rows"], LEADERBOARD_COLUMNS, output)
    median = board["median_skill"]
    scored = sum(r["skill"] is not None for r in board["rows"])
    click.echo(f"beats naive: {board['beats_naive']} of {scored} scored; median skill "
               f"{'n/a' if median is None else f'{median:+.3f}'}")  # fmt: skip


@batches.command("cancel")
@click.argument("batch_id", type=int)
@click.pass_obj
def cancel_batch(api: Api, batch_id: int) -> None:
    """Cancel a batch: queued jobs at once, running ones at the end of their epoch."""
    report_batch(api.json("POST", endpoint("v1", "training-batches", batch_id, "cancel")))
