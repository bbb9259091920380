"""The ledger: how the forecasts the service served turned out, and the retrain policy that
acts on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from app.cli.client import Api, endpoint
from app.cli.options import FORMAT, json_argument, query
from app.cli.output import emit, emit_json

ACCURACY_COLUMNS = ["group", "forecasts", "scored", "pending", "missing", "rmse", "naive_rmse",
                    "skill_vs_naive", "promised_rmse", "realized_to_promised"]  # fmt: skip


@click.command()
@click.argument("model")
@click.option("--version", type=int, multiple=True, help="Only these versions (repeatable).")
@click.option("--alias", help="Only the version this alias points at now.")
@click.option("--series-id", type=int, help="Only forecasts of this series.")
@click.option("--start", help="First target date, inclusive (ISO 8601).")
@click.option("--end", help="Last target date, inclusive (ISO 8601).")
@click.option(
    "--group-by",
    type=click.Choice(["none", "step", "week", "month", "version", "series"]),
    default="step",
    show_default=True,
    help="One row per step ahead, ISO week, month, version or series (after the total).",
)
@FORMAT
@click.pass_obj
def accuracy(api: Api, /, model: str, version: Sequence[int], output: str, **params: Any) -> None:
    """Realized accuracy of the forecasts the service served (the ledger), next to naive, to
    what the holdout promised, and the intervals' coverage."""
    body = api.json(
        "GET",
        endpoint("v1", "models", model, "accuracy"),
        params=query(version=list(version), **params),
    )
    if output == "json":
        emit_json(body)
        return
    rows = [_flat(group) for group in [body["total"], *body["groups"]]]
    levels = sorted({key for row in rows for key in row if key.startswith("coverage_")})
    emit(rows, ACCURACY_COLUMNS + levels, output)


def _flat(group: dict[str, Any]) -> dict[str, Any]:
    coverage = {f"coverage_{level}": share for level, share in group["coverage"].items()}
    return group | coverage


@click.group()
def policy() -> None:
    """A model's retrain policy: when the ledger starts a training job by itself."""


@policy.command("get")
@click.argument("model")
@FORMAT
@click.pass_obj
def get_policy(api: Api, model: str, output: str) -> None:
    """The policy and when it last fired."""
    found = api.json("GET", endpoint("v1", "models", model, "policy"))
    if output == "json":
        emit_json(found)
        return
    emit([_policy_row(found)], ["model", "rule", "promote_to", "require", "fired_at",
                                "fired_for_version", "fired_job_id"], output)  # fmt: skip


def _policy_row(found: dict[str, Any]) -> dict[str, Any]:
    rules = found["policy"]
    said = []
    if rules.get("retrain_when"):
        when = rules["retrain_when"]
        said.append(f"realized skill < {when['realized_skill_below']} over "
                    f">= {when['min_scored']} scored")  # fmt: skip
    if rules.get("retrain_every_new_observations"):
        said.append(f"every {rules['retrain_every_new_observations']} new observations")
    require = [k for k, v in rules["require"].items() if v is True]
    return found | {"rule": " or ".join(said), "promote_to": rules.get("promote_to"),
                    "require": ",".join(require)}  # fmt: skip


@policy.command("set")
@click.argument("model")
@click.option("--skill-below", type=float, help="Retrain when realized skill vs naive < this.")
@click.option("--min-scored", type=int, help="… once this many points are scored (default 20).")
@click.option("--every", type=int, help="Retrain every this many new observations.")
@click.option("--promote-to", help="Promote the new version to this alias through the gate.")
@click.option("--beats-naive/--no-beats-naive", default=None, help="The gate's naive check.")
@click.option("--beats-current/--no-beats-current", default=None,
              help="The gate's check against the alias's version.")  # fmt: skip
@click.option("--policy", "whole", help="The whole policy as JSON or @file.json instead.")
@click.pass_obj
def set_policy(api: Api, /, model: str, whole: str | None, **fields: Any) -> None:
    """Set (replace) a model's retrain policy."""
    body = json_argument(whole, "--policy") if whole else _policy_body(**fields)
    found = api.json("PUT", endpoint("v1", "models", model, "policy"), json=body)
    row = _policy_row(found)
    click.echo(f"{model}: retrain on {row['rule']}"
               + (f", promote to {row['promote_to']}" if row["promote_to"] else ""))  # fmt: skip


def _policy_body(
    skill_below: float | None, min_scored: int | None, every: int | None,
    promote_to: str | None, beats_naive: bool | None, beats_current: bool | None,
) -> dict[str, Any]:  # fmt: skip
    if skill_below is None and every is None:
        raise click.UsageError("give --skill-below and/or --every (or --policy)")
    if min_scored is not None and skill_below is None:
        raise click.UsageError("--min-scored goes with --skill-below")
    when = query(realized_skill_below=skill_below, min_scored=min_scored)
    require = query(beats_naive=beats_naive, beats_current=beats_current)
    return query(
        retrain_when=when if skill_below is not None else None,
        retrain_every_new_observations=every, promote_to=promote_to, require=require or None,
    )  # fmt: skip


@policy.command("delete")
@click.argument("model")
@click.pass_obj
def delete_policy(api: Api, model: str) -> None:
    """Remove a model's retrain policy."""
    api.call("DELETE", endpoint("v1", "models", model, "policy"))
    click.echo(f"{model}: retrain policy removed")
