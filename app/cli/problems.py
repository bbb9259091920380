"""Failures as the command line reports them: the service's problem document on stderr and one
exit code per kind of failure, so that a script can tell "no such model" from "the gate
refused"."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click
import httpx

EXIT_UNEXPECTED = 1
EXIT_USAGE = 2  # click's own
EXIT_BAD_REQUEST = 3
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_GATE_REFUSED = 6
EXIT_UNAVAILABLE = 7
EXIT_UNSUCCESSFUL = 8
EXIT_INTERRUPTED = 130

# (code, meaning): `forecast --help` and docs/cli.md list them.
EXIT_CODE_MEANINGS = (
    (0, "done"),
    (EXIT_UNEXPECTED, "unexpected failure (a 500, an answer that is not the service's)"),
    (EXIT_USAGE, "wrong usage (unknown option, missing argument, unreadable file)"),
    (EXIT_BAD_REQUEST, "bad request: the service refused what was sent (400, 413, 415, 422 …)"),
    (EXIT_NOT_FOUND, "not found (404): no such series, collection, job, batch, model …"),
    (EXIT_CONFLICT, "conflict (409): a name taken, a version in use, stored values differ …"),
    (EXIT_GATE_REFUSED, "the promotion gate refused (409 promotion-refused; checks on stderr)"),
    (EXIT_UNAVAILABLE, "service unavailable: 502/503/504, or unreachable after the retries"),
    (
        EXIT_UNSUCCESSFUL,
        "a followed job or batch finished, but not every job succeeded; or "
        "some series of a collection could not be forecast",
    ),
    (
        EXIT_INTERRUPTED,
        "interrupted (Ctrl-C while following: the job or batch goes on), or "
        "a confirmation answered no",
    ),
)
# "\b": click keeps these lines as they are.
EXIT_CODES = "\b\nExit codes:\n" + "\n".join(
    f"  {code:<4} {text}" for code, text in EXIT_CODE_MEANINGS
)

# The problem `type` of the promotion gate's refusal (app/errors.py PromotionRefused).
GATE_REFUSED_SLUG = "promotion-refused"


def exit_code(response: httpx.Response) -> int:
    """The exit code for an answer of 400 or more."""
    status = response.status_code
    if status == 404:
        return EXIT_NOT_FOUND
    if status == 409:
        return EXIT_GATE_REFUSED if problem_slug(response) == GATE_REFUSED_SLUG else EXIT_CONFLICT
    if status in (502, 503, 504):
        return EXIT_UNAVAILABLE
    return EXIT_BAD_REQUEST if status < 500 else EXIT_UNEXPECTED


def _problem(response: httpx.Response) -> dict[str, Any] | None:
    try:
        problem = response.json()
    except ValueError:
        return None
    return problem if isinstance(problem, dict) else None


def problem_slug(response: httpx.Response) -> str | None:
    """The last segment of the problem's ``type`` (``/problems/promotion-refused``)."""
    problem = _problem(response)
    kind = problem.get("type") if problem else None
    return kind.rstrip("/").rsplit("/", 1)[-1] if isinstance(kind, str) else None


def problem_text(response: httpx.Response) -> str:
    """A problem document as lines: title (status): detail, then each located error."""
    problem = _problem(response)
    if problem is None:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    lines = [
        f"{problem.get('title', 'Error')} ({response.status_code}): {problem.get('detail', '')}"
    ]
    lines += ["  " + _error_text(error) for error in problem.get("errors", [])]
    if problem.get("errors_total"):
        lines.append(f"  … {problem['errors_total']} errors in all")
    lines += ["  " + check_text(check) for check in problem.get("checks", [])]
    return "\n".join(lines)


def _error_text(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    where = ", ".join(
        f"{key} {error[key]}"
        for key in ("symbol", "row", "column", "loc")
        if error.get(key) is not None
    )
    return f"{where}: {error.get('message', '')}" if where else str(error.get("message", error))


def _number(value: Any) -> str:
    return "unavailable" if value is None else f"{value:.6g}"


def check_text(check: dict[str, Any]) -> str:
    """One check of the promotion gate, e.g. ``beats_naive fails: rmse 0.74 vs naive 0.73``."""
    against = (
        f"naive {_number(check.get('naive'))}"
        if check["check"] == "beats_naive"
        else f"v{check.get('current_version')} {_number(check.get('current'))}"
    )
    verdict = "holds" if check["holds"] else "fails"
    return (
        f"{check['check']} {verdict}: {check['metric']} {_number(check.get('candidate'))} "
        f"vs {against} ({check['basis']})"
    )


def fail(code: int, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)
