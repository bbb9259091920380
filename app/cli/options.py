"""Options several commands share: output format, paging, a training spec, query parameters."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

FORMAT = click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="How to print the result.",
)


def paging(function: F) -> F:
    """``--limit`` and ``--offset``: which page of a list (the service's own bounds)."""
    function = click.option(
        "--offset", type=click.IntRange(min=0), default=0, show_default=True,
        help="Items to skip.",
    )(function)  # fmt: skip
    return click.option(
        "--limit", type=click.IntRange(1, 500), default=50, show_default=True,
        help="Items per page (at most 500).",
    )(function)  # fmt: skip


def sort_option(example: str) -> Callable[[F], F]:
    return click.option(
        "--sort", help=f"Sort key, `-` first for descending (e.g. {example}); the service "
        "says which keys it takes.",
    )  # fmt: skip


SPEC = click.option("--spec", help="Training spec as JSON, or @file.json.")
SETTINGS = click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="One spec field, e.g. --set architecture=gru --set epochs=20 (a JSON value, else text).",
)


def query(**params: Any) -> dict[str, Any]:
    """Query parameters without the ones left unset (None, or an empty repeatable option)."""
    return {k: v for k, v in params.items() if v is not None and v != [] and v != ()}


def json_argument(text: str, option: str) -> dict[str, Any]:
    """A JSON object given inline or as ``@file.json``."""
    try:
        raw = Path(text[1:]).read_text() if text.startswith("@") else text
    except OSError as exc:
        raise click.BadParameter(f"cannot read {text[1:]}: {exc}", param_hint=option) from exc
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=option) from exc
    if not isinstance(body, dict):
        raise click.BadParameter("must be a JSON object", param_hint=option)
    return body


def spec_body(spec: str | None, settings: Sequence[str]) -> dict[str, Any]:
    """``--spec`` (JSON or @file) with each ``--set key=value`` on top."""
    body = json_argument(spec, "--spec") if spec else {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--set")
        try:
            body[key] = json.loads(value)
        except ValueError:
            body[key] = value  # a bare word: a string (e.g. architecture=gru)
    return body
