"""The service as the command line sees it: HTTP calls that wait out a service that is briefly
away (connection errors and 503s, retried with backoff or after its Retry-After, within one
deadline) and whose failures become exit codes (app/cli/problems.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import click
import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from app.cli.problems import EXIT_UNAVAILABLE, EXIT_UNEXPECTED, exit_code, fail, problem_text

# Methods that may be sent again: the same request twice has the effect of one. A POST is
# retried only when it carries an Idempotency-Key (the service then answers a repeat with
# the resource the first one created).
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
BACKOFF = wait_exponential(multiplier=0.5, max=8) + wait_random(0, 0.5)


def endpoint(*segments: object) -> str:
    """An API path from its segments, each percent-encoded: a name typed with ``?`` or ``#``
    reaches the service as that name (which refuses it), never as a query (``collections delete
    'victim?typo'`` deleted ``victim``). No name holds ``/``, and servers decode ``%2F`` into
    the path before routing (``desk/series`` would read another resource): refused here."""
    for segment in segments:
        if isinstance(segment, str) and "/" in segment:
            raise click.UsageError(f"{segment!r}: a name cannot contain '/'")
    return "/" + "/".join(quote(str(segment), safe=":") for segment in segments)


class Unavailable(Exception):
    """One try the service did not answer: no connection, no answer in time, or a 503."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the service asks the client to wait (Retry-After: seconds or an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _wait(state: RetryCallState) -> float:
    """The service's Retry-After when it gave one, else exponential backoff with jitter."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, Unavailable) and error.retry_after is not None:
        return error.retry_after
    return BACKOFF(state)


def _announce(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    reason = str(error).splitlines()[0] if error else "unavailable"
    click.echo(f"{reason} (retrying in {state.upcoming_sleep:.1f} s)", err=True)


class Api:
    """The service at one URL, with the key if there is one. ``deadline``: how long one
    request may keep being retried (0: never)."""

    def __init__(self, url: str, api_key: str | None, timeout: float, deadline: float) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.deadline = deadline

    def call(
        self, method: str, path: str, *, idempotency_key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """The answer, or exit with its code: a problem's title, detail and errors on stderr."""
        if idempotency_key is not None:
            kwargs["headers"] = {**kwargs.get("headers", {}), "Idempotency-Key": idempotency_key}
        again = method in IDEMPOTENT or idempotency_key is not None
        started = time.monotonic()
        try:
            response = self._retrying(again)(self._try, method, path, kwargs)
        except Unavailable as error:
            tried = f" (gave up after {time.monotonic() - started:.1f} s)" if again else ""
            fail(EXIT_UNAVAILABLE, f"{error.reason}{tried}")
        if response.status_code >= 400:
            fail(exit_code(response), problem_text(response))
        if response.is_redirect:  # `name/`: the service's own redirect drops the slash
            fail(
                EXIT_UNEXPECTED,
                f"{method} {path} was redirected ({response.status_code}) to "
                f"{response.headers.get('location')}; not followed",
            )
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:  # not the service answering (a proxy's page, say)
            fail(EXIT_UNEXPECTED, f"{self.http.base_url}{path} did not answer with JSON")

    def _retrying(self, again: bool) -> Retrying:
        return Retrying(
            retry=retry_if_exception_type(Unavailable),
            wait=_wait,
            stop=stop_before_delay(self.deadline) if again else stop_after_attempt(1),
            before_sleep=_announce,
            reraise=True,
        )

    def _try(self, method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            raise Unavailable(f"no answer from {self.http.base_url} in time: {error}") from error
        except httpx.TransportError as error:
            raise Unavailable(f"cannot reach {self.http.base_url}: {error}") from error
        if response.status_code == 503:
            raise Unavailable(problem_text(response), retry_after(response))
        return response
