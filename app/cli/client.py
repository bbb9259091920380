"""The service as the command line sees it: HTTP calls whose failures become exit codes."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click
import httpx

EXIT_JOB_UNSUCCESSFUL = 1
EXIT_REFUSED = 3
EXIT_UNAVAILABLE = 4
EXIT_INTERRUPTED = 130
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
POLL_S = 0.5
EXIT_CODES = (
    "Exit codes: 0 done; 1 the job finished but did not succeed (train/jobs --wait); 2 wrong "
    "usage; 3 the service refused the request (a 4xx problem: invalid file, unknown model, "
    "promotion refused by its rule …); 4 the service could not be reached or failed (5xx); "
    "130 interrupted (Ctrl-C; a followed job goes on)."
)


class Api:
    """The service at one URL, with the key if there is one; errors become exit codes."""

    def __init__(self, url: str, api_key: str | None, timeout: float) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            fail(EXIT_UNAVAILABLE, f"cannot reach {self.http.base_url}: {exc}")
        if response.status_code >= 400:
            fail(
                EXIT_REFUSED if response.status_code < 500 else EXIT_UNAVAILABLE,
                problem_text(response),
            )
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:  # not the service answering (a proxy's page, say)
            fail(EXIT_UNAVAILABLE, f"{self.http.base_url}{path} did not answer with JSON")


def problem_text(response: httpx.Response) -> str:
    """A problem document as lines: title (status), detail, then each located error."""
    try:
        problem = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if not isinstance(problem, dict):
        return f"HTTP {response.status_code}: {problem}"
    lines = [
        f"{problem.get('title', 'Error')} ({response.status_code}): {problem.get('detail', '')}"
    ]
    for error in problem.get("errors", []):
        where = ", ".join(
            f"{key} {error[key]}"
            for key in ("symbol", "row", "column", "loc")
            if error.get(key) is not None
        )
        lines.append(f"  {where}: {error.get('message', '')}" if where else f"  {error}")
    for check in problem.get("checks", []):
        lines.append("  " + check_text(check))
    return "\n".join(lines)


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
