"""The ``forecast`` command: its global options and every command, by topic (``forecast
--help``; docs/cli.md)."""

from __future__ import annotations

import os
from typing import Any

import click
import httpx

from app.cli.batch_commands import batches
from app.cli.client import Api
from app.cli.collection_commands import collections
from app.cli.forecast_commands import predict, report
from app.cli.job_commands import cancel, jobs, train
from app.cli.ledger_commands import accuracy, policy
from app.cli.model_commands import aliases, models, promote, versions
from app.cli.problems import EXIT_CODES, EXIT_INTERRUPTED, EXIT_UNEXPECTED, fail
from app.cli.series_commands import append, list_series, upload


class ForecastGroup(click.Group):
    """Anything a command did not expect ends as one line on stderr and exit 1, never as a
    traceback (FORECAST_DEBUG=1 shows it)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.Abort:  # a confirmation answered no, or Ctrl-C at a prompt
            fail(EXIT_INTERRUPTED, "aborted: nothing was done")
        except (click.ClickException, click.exceptions.Exit):
            raise
        except OSError as error:
            fail(EXIT_UNEXPECTED, str(error))
        except Exception as error:
            if os.environ.get("FORECAST_DEBUG"):
                raise
            fail(EXIT_UNEXPECTED, f"{type(error).__name__}: {error} (FORECAST_DEBUG=1 for more)")


def _service_url(_: click.Context, __: click.Parameter, url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise click.BadParameter(str(error)) from error
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise click.BadParameter(f"{url!r} is not an http(s) URL, e.g. http://127.0.0.1:8000")
    return url


@click.group(cls=ForecastGroup, epilog=EXIT_CODES)
@click.option("--url", envvar="FORECAST_URL", default="http://127.0.0.1:8000", show_default=True,
              callback=_service_url, help="The service (env FORECAST_URL).")  # fmt: skip
@click.option("--api-key", envvar="FORECAST_API_KEY", default=None,
              help="The service's key, if it has one (env FORECAST_API_KEY).")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="Seconds one HTTP request may take.")  # fmt: skip
@click.option(
    "--retry-deadline", envvar="FORECAST_RETRY_DEADLINE", type=click.FloatRange(min=0),
    default=60.0, show_default=True,
    help="Seconds to keep retrying a request the service could not answer (connection "
    "errors, 503; after its Retry-After): reads, PUT/DELETE and the POSTs that create jobs "
    "and batches. 0: no retries (env FORECAST_RETRY_DEADLINE).",
)  # fmt: skip
@click.version_option(package_name="forecast-service")
@click.pass_context
def main(
    ctx: click.Context, url: str, api_key: str | None, timeout: float, retry_deadline: float
) -> None:
    """Upload price series and collections, train forecasters one by one or in batches, read
    forecasts, reports and realized accuracy, manage models, versions, aliases and policies."""
    ctx.obj = Api(url, api_key, timeout, retry_deadline)


for command in (
    upload, list_series, append, train, jobs, cancel, predict, report, accuracy, promote,
    collections, batches, models, versions, aliases, policy,
):  # fmt: skip
    main.add_command(command)
