"""``forecast batches …`` against a live server: a tiny batch trained and followed with its
progress bar, its status, list and leaderboard; a batch cancelled."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from app.cli.problems import EXIT_BAD_REQUEST, EXIT_NOT_FOUND, EXIT_UNSUCCESSFUL, EXIT_USAGE
from tests.cli.gateway import gateway
from tests.cli.helpers import SCRIPT, forecast, long_csv
from tests.conftest import LiveServer
from tests.training.helpers import TINY

pytestmark = pytest.mark.sqlite_only
ONE_EPOCH = json.dumps({**TINY, "epochs": 1})


def with_terminal_stderr(url: str, *args: str) -> tuple[int, str, str]:
    """Run the installed script with stderr on a pseudo-terminal (where click draws its progress
    bar); its exit code, stdout and what the terminal showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(SCRIPT), "--url", url, *args], stdout=subprocess.PIPE, stderr=follower, text=True
    )
    os.close(follower)
    shown: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the script has exited: the terminal is gone
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    stdout, _ = process.communicate(timeout=120)
    reader.join(timeout=10)
    os.close(leader)
    return process.returncode, stdout, b"".join(shown).decode(errors="replace")


def test_a_batch_trained_with_a_progress_bar_then_read_every_way(
    live_server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    url = live_server.base_url
    data = tmp_path / "desk.csv"
    data.write_text(long_csv({"AAA": 160, "BBB": 160, "TINY": 12}))
    assert forecast(url, "collections", "upload", "desk", str(data)).exit_code == 0

    code, stdout, terminal = with_terminal_stderr(
        url, "batches", "train", "--collection", "desk", "--model-prefix", "desk",
        "--spec", ONE_EPOCH, "--set", "units=3", "--wait",
    )  # fmt: skip
    assert code == 0, (stdout, terminal)
    lines = stdout.splitlines()
    batch_id = int(lines[0].split()[1])
    assert lines[0] == f"batch {batch_id} queued: 2 jobs, 1 series skipped"
    assert lines[1].startswith("  skipped desk:TINY (series ")
    assert lines[2].startswith(f"batch {batch_id} done: 2/2 finished (2 succeeded, 0 failed, ")
    # The bar as a terminal shows it: the batch's counts in its label, jobs done of all.
    assert re.search(rf"batch {batch_id}: [01]/2 finished \([01] succeeded, 0 failed, 0 cancelled\)"
                     r", [0-2] running.*\[#*-+\]  [01]/2", terminal)  # fmt: skip
    assert re.search(r"2/2 finished .*\[#{36}\]  2/2", terminal)
    batch = client.get(f"/v1/training-batches/{batch_id}").json()
    assert batch["spec"]["units"] == 3
    assert batch["spec"]["epochs"] == 1

    status = forecast(url, "batches", "status", str(batch_id))
    assert status.output.startswith(f"batch {batch_id} done: 2/2 finished (2 succeeded")
    assert "  skipped desk:TINY (series " in status.output
    as_json = json.loads(forecast(url, "batches", "status", str(batch_id), "--format", "json")
                         .output)  # fmt: skip
    assert as_json["counts"]["succeeded"] == 2

    board = forecast(url, "batches", "leaderboard", str(batch_id))
    assert board.exit_code == 0, board.output
    header, *rows, summary = board.output.splitlines()
    assert header.split()[:4] == ["symbol", "series_id", "status", "model_name"]
    assert sorted(row.split()[0] for row in rows) == ["AAA", "BBB"]
    assert summary.startswith("beats naive: ")
    assert " of 2 scored; median skill " in summary
    as_csv = forecast(url, "batches", "leaderboard", str(batch_id), "--format", "csv")
    served = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert {r["model_name"] for r in served} == {"desk.AAA", "desk.BBB"}

    # The book forecast in one request: a row per series and step; TINY has no model (skipped).
    book = forecast(url, "collections", "predict", "desk", "--model-prefix", "desk",
                    "--horizon", "2", "--level", "80")  # fmt: skip
    assert book.exit_code == EXIT_UNSUCCESSFUL, book.output
    header, *points = book.stdout.splitlines()
    assert header.split() == ["symbol", "model", "version", "step", "date", "value", "lo_80",
                              "hi_80"]  # fmt: skip
    assert [p.split()[:4] for p in points] == [["AAA", "desk.AAA", "1", "1"],
                                              ["AAA", "desk.AAA", "1", "2"],
                                              ["BBB", "desk.BBB", "1", "1"],
                                              ["BBB", "desk.BBB", "1", "2"]]  # fmt: skip
    single = json.loads(forecast(url, "predict", "desk.BBB", "--horizon", "2", "--format",
                                 "json").output)  # fmt: skip
    assert float(points[3].split()[5]) == pytest.approx(single["points"][1]["value"], rel=1e-5)
    assert "TINY: Model not found (404)" in book.stderr
    assert "2 forecast, 1 failed" in book.stderr
    page = forecast(url, "collections", "predict", "desk", "--model-prefix", "desk",
                    "--limit", "1", "--format", "csv")  # fmt: skip
    assert page.exit_code == 0, page.output
    assert page.stdout.splitlines()[0].startswith("unique_id,ds,desk")
    assert "1–1 of 3; next: --offset 1" in page.stderr
    both = forecast(url, "collections", "predict", "desk", "--model-prefix", "d", "--model", "m")
    assert both.exit_code == EXIT_USAGE

    listed = json.loads(forecast(url, "batches", "list", "--format", "json").output)
    assert [b["id"] for b in listed["items"]] == [batch_id]
    jobs = forecast(url, "jobs", "--batch-id", str(batch_id), "--status", "succeeded",
                    "--format", "csv")  # fmt: skip
    assert len(list(csv.DictReader(io.StringIO(jobs.output)))) == 2

    # Following through a gateway that answers 503 twice (Retry-After 0) still ends well.
    with gateway(url) as front:
        front.unavailable, front.retry_after = 2, "0"
        followed = forecast(front.url, "batches", "status", str(batch_id), "--wait")
    assert followed.exit_code == 0, followed.output
    assert [s.answered for s in front.seen] == [503, 503, 200]


def test_a_cancelled_batch_ends_unsuccessful(live_server: LiveServer, tmp_path: Path) -> None:
    url = live_server.base_url
    data = tmp_path / "big.csv"
    data.write_text(long_csv({"AAA": 400, "BBB": 400, "CCC": 400}))
    assert forecast(url, "collections", "upload", "big", str(data)).exit_code == 0
    started = forecast(url, "batches", "train", "--collection", "big", "--spec", ONE_EPOCH,
                       "--set", "epochs=200", "--set", "patience=0")  # fmt: skip
    batch_id = started.output.split()[1]
    cancelled = forecast(url, "batches", "cancel", batch_id)
    assert cancelled.exit_code == 0, cancelled.output
    followed = forecast(url, "batches", "status", batch_id, "--wait")
    assert followed.exit_code == EXIT_UNSUCCESSFUL, followed.output
    assert f"batch {batch_id} done: 3/3 finished (0 succeeded, 0 failed, 3 cancelled)" in (
        followed.output
    )
    # A global batch says the one model it registers.
    one = forecast(url, "batches", "train", "--collection", "big", "--scope", "global",
                   "--spec", ONE_EPOCH, "--set", "epochs=200", "--set", "patience=0")  # fmt: skip
    assert one.output.endswith("1 jobs, 0 series skipped; model big-global-lstm\n"), one.output
    assert forecast(url, "batches", "cancel", one.output.split()[1]).exit_code == 0


def test_batch_refusals(live_server: LiveServer) -> None:
    url = live_server.base_url
    missing = forecast(url, "batches", "train", "--collection", "nope")
    assert missing.exit_code == EXIT_NOT_FOUND
    assert "Collection not found (404)" in missing.stderr
    both = forecast(url, "batches", "train", "--collection", "a", "--series-id", "1")
    assert both.exit_code == EXIT_BAD_REQUEST
    assert "give exactly one of `collection` and `series_ids`" in both.stderr
    assert forecast(url, "batches", "status", "999").exit_code == EXIT_NOT_FOUND
    assert forecast(url, "batches", "leaderboard", "999").exit_code == EXIT_NOT_FOUND
