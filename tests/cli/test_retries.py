"""Waiting out a service that is briefly away: connection errors and 503s retried with backoff or
after the service's Retry-After, within one deadline; an Idempotency-Key on the POSTs that
create jobs and batches, the same on each retry; no other POST sent twice; exit 7 when the
deadline passes."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.cli.problems import EXIT_UNAVAILABLE
from tests.cli.gateway import gateway
from tests.cli.helpers import SCRIPT, forecast, forecast_process
from tests.conftest import (
    LiveServer,
    server_settings,
    start_server,
    throwaway_postgres_database,
)
from tests.outage import OutageProxy
from tests.support.servers import free_port
from tests.training.helpers import random_walk_series


def test_a_service_nobody_answers_is_retried_until_the_deadline() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    down = forecast(nobody, "--retry-deadline", "3", "models", "list")
    took = time.monotonic() - started
    assert down.exit_code == EXIT_UNAVAILABLE
    # Backoff 0.5-1 s, then 1-1.5 s; the next (2-2.5 s) would end past the deadline.
    assert 1.5 <= took < 3
    retries = [line for line in down.stderr.splitlines() if " (retrying in " in line]
    assert len(retries) == 2
    assert retries[0].startswith(f"cannot reach {nobody}: [Errno 111] Connection refused")
    assert down.stderr.splitlines()[-1].startswith(f"error: cannot reach {nobody}")
    assert "(gave up after " in down.stderr.splitlines()[-1]


@pytest.mark.sqlite_only
def test_a_503_is_retried_after_its_retry_after(live_server: LiveServer) -> None:
    with gateway(live_server.base_url) as front:
        front.unavailable, front.retry_after = 2, "1"
        answered = forecast(front.url, "models", "list")
        assert answered.exit_code == 0, answered.output
        assert [s.answered for s in front.seen] == [503, 503, 200]
        waits = [b.at - a.at for a, b in zip(front.seen, front.seen[1:], strict=False)]
        assert all(1 <= wait < 1.5 for wait in waits), waits  # not its own 0.5 s backoff
        retried = "Service not ready (503): Deploying; try again shortly. (retrying in 1.0 s)"
        assert answered.stderr.count(retried) == 2

        # Asked to come back later than the deadline allows: exit 7 at once, nothing resent.
        front.seen.clear()
        front.unavailable, front.retry_after = 1, "30"
        started = time.monotonic()
        late = forecast(front.url, "--retry-deadline", "10", "models", "list")
        assert late.exit_code == EXIT_UNAVAILABLE
        assert time.monotonic() - started < 2
        assert len(front.seen) == 1
        assert "Service not ready (503)" in late.stderr


@pytest.mark.sqlite_only
def test_posts_that_create_jobs_and_batches_are_retried_with_one_idempotency_key(
    live_server: LiveServer, client: httpx.Client
) -> None:
    series_id = random_walk_series(client)
    spec = ["--set", "epochs=1", "--set", "units=2", "--set", "references=[]"]
    with gateway(live_server.base_url) as front:
        for command in (["train", str(series_id)], ["batches", "train", "--series-id",
                                                     str(series_id)]):  # fmt: skip
            front.unavailable, front.retry_after = 1, "0"
            assert forecast(front.url, *command, *spec).exit_code == 0
            assert forecast(front.url, *command, *spec).exit_code == 0
        posts = [s for s in front.seen if s.method == "POST"]
    keys = [p.headers.get("Idempotency-Key") for p in posts]
    assert [p.answered for p in posts] == [503, 202, 202, 503, 202, 202]
    assert all(uuid.UUID(str(key)) for key in keys)
    assert keys[0] == keys[1]  # one key across an invocation's retries
    assert keys[3] == keys[4]
    assert len(set(keys)) == 4  # and a fresh one for each invocation
    assert client.get("/v1/training-jobs").json()["total"] == 4  # the 503s created nothing


@pytest.mark.sqlite_only
def test_other_posts_are_sent_once(live_server: LiveServer, client: httpx.Client) -> None:
    series_id = random_walk_series(client, n=30)
    with gateway(live_server.base_url) as front:
        front.retry_after = "0"
        for command in (["append", str(series_id), "2015-02-13=51", "--field", "close"],
                        ["cancel", "1"],
                        ["promote", "m", "1"]):  # fmt: skip
            front.seen.clear()
            front.unavailable = 1
            refused = forecast(front.url, *command)
            assert refused.exit_code == EXIT_UNAVAILABLE, command
            assert "Service not ready (503)" in refused.stderr
            assert "retrying" not in refused.stderr
            assert len(front.seen) == 1, command
        front.seen.clear()
        front.unavailable = 1  # a PUT is idempotent: sent again
        assert forecast(front.url, "aliases", "set", "m", "a", "1").exit_code == 4
        assert [s.answered for s in front.seen] == [503, 404]


@pytest.fixture
def postgres_behind_proxy(tmp_path: Path) -> Iterator[tuple[LiveServer, OutageProxy]]:
    """The service on PostgreSQL reached through a proxy the test can cut."""
    with throwaway_postgres_database() as url:
        parsed = make_url(url)
        proxy = OutageProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        proxied = parsed.set(host="127.0.0.1", port=proxy.port)
        server = start_server(
            server_settings(proxied.render_as_string(hide_password=False), tmp_path / "models")
        )
        try:
            yield server, proxy
        finally:
            server.stop()
            proxy.close()


@pytest.mark.postgres
def test_the_database_going_away_is_waited_out_as_the_service_asks(
    postgres_behind_proxy: tuple[LiveServer, OutageProxy],
) -> None:
    server, proxy = postgres_behind_proxy
    with proxy.down():
        # The service says "in 5 s" (Retry-After); a 2 s deadline cannot wait that long.
        started = time.monotonic()
        short = forecast(server.base_url, "--retry-deadline", "2", "models", "list")
        assert short.exit_code == EXIT_UNAVAILABLE
        assert "Database unavailable (503)" in short.stderr
        assert time.monotonic() - started < 2

        process = subprocess.Popen(
            [str(SCRIPT), "--url", server.base_url, "models", "list"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stderr is not None
        told = process.stderr.readline()  # its first try was answered 503: it waits
        asked = time.monotonic()
    stdout, stderr = process.communicate(timeout=30)  # the database is back
    assert process.returncode == 0, told + stderr
    assert told.startswith("Database unavailable (503): ")
    assert told.endswith(" (retrying in 5.0 s)\n")
    assert time.monotonic() - asked >= 4.5  # the service's 5 s, not the 0.5 s backoff
    assert stdout.startswith("name  latest_version")


@pytest.mark.sqlite_only
def test_bad_input_never_prints_a_traceback(live_server: LiveServer, tmp_path: Path) -> None:
    """What a user can type or the service can answer ends in a message and its exit code
    (in this process an escaping exception would fail the test; the installed script is run
    for a few)."""
    url = live_server.base_url
    cases = [
        (["--timeout", "-1", "series"], 2),
        (["predict", "m", "--horizon", "soon"], 2),
        (["train", "1", "--spec", f"@{tmp_path / 'none.json'}"], 2),
        (["train", "1", "--set", "epochs"], 2),
        (["append", "1", "x"], 2),
        (["versions", "import", "m", str(tmp_path / "none.zip")], 2),
        (["series", "--limit", "0"], 2),
        (["series", "--sort", "colour"], 3),
        (["series", "--prefix", "a" * 500], 3),
        (["aliases", "set", "m", "no way", "1"], 3),
        (["batches", "train", "--collection", "c", "--series-id", "1"], 3),
        (["report", "nope", "1", "--format", "png", "-o", str(tmp_path / "x.png")], 4),
    ]
    for args, code in cases:
        done = forecast(url, *args)
        assert (done.exit_code, "Traceback" in done.stderr) == (code, False), (args, done.stderr)
        assert done.stderr.strip(), args
    for args, code in [
        (["--url", "localhost:8000", "series"], 2),
        (["models", "show", "nope"], 4),
        (["--retry-deadline", "0", "--url", f"http://127.0.0.1:{free_port()}", "jobs"], 7),
    ]:
        ran = forecast_process(url, *args)
        assert (ran.returncode, "Traceback" in ran.stderr) == (code, False), (args, ran.stderr)
        assert ran.stderr.startswith(("error: ", "Usage: ")), ran.stderr
