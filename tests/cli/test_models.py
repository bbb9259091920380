"""``forecast models|versions|aliases|policy|accuracy …`` against a live server: the registry
read and moved from the command line, bundles downloaded and imported, the ledger's accuracy
grouped, a retrain policy set and removed."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest

from app.cli.problems import (
    EXIT_BAD_REQUEST,
    EXIT_CONFLICT,
    EXIT_NOT_FOUND,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
)
from tests.cli.helpers import forecast, trained_version
from tests.conftest import LiveServer
from tests.training.helpers import eventually

pytestmark = pytest.mark.sqlite_only


def rows(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output)))


def test_models_versions_and_aliases(live_server: LiveServer, client: httpx.Client) -> None:
    url = live_server.base_url
    first = trained_version(client, "desk")
    trained_version(client, "desk", series_id=first["series_id"], window=12)
    listed = forecast(url, "models", "list", "--prefix", "de")
    assert listed.output.splitlines()[1].split()[:2] == ["desk", "2"]
    assert forecast(url, "models", "list", "--prefix", "x").output.splitlines() == [
        "name  latest_version  aliases  created_at  updated_at"
    ]

    newest = forecast(url, "versions", "list", "desk", "--sort", "-version", "--limit", "1",
                      "--format", "csv")  # fmt: skip
    (only,) = rows(newest.stdout)
    assert (only["version"], only["status"], only["architecture"]) == ("2", "ready", "lstm")
    assert float(only["rmse"]) > 0
    assert newest.stderr.strip() == "1–1 of 2; next: --offset 1"
    page = json.loads(forecast(url, "versions", "list", "desk", "--offset", "1", "--format",
                               "json").output)  # fmt: skip
    assert ([v["version"] for v in page["items"]], page["total"], page["offset"]) == ([2], 2, 1)
    shown = json.loads(forecast(url, "versions", "show", "desk", "2", "--format", "json").output)
    assert shown["spec"]["window"] == 12

    assert forecast(url, "aliases", "set", "desk", "staging", "1").output == "staging → version 1\n"
    assert forecast(url, "aliases", "get", "desk", "staging").output == "1\n"
    promoted = forecast(url, "promote", "desk", "2", "--alias", "champion", "--no-beats-naive",
                        "--no-beats-current")  # fmt: skip
    assert promoted.output.startswith("champion → version 2 (was unset)"), promoted.output
    assert rows(forecast(url, "aliases", "list", "desk", "--format", "csv").output) == [
        {"alias": "champion", "version": "2"},
        {"alias": "staging", "version": "1"},
    ]
    assert forecast(url, "models", "show", "desk").output.splitlines()[1].split()[:3] == [
        "desk",
        "2",
        "champion=2,staging=1",
    ]
    assert forecast(url, "aliases", "delete", "desk", "staging").exit_code == 0
    gone = forecast(url, "aliases", "get", "desk", "staging")
    assert gone.exit_code == EXIT_NOT_FOUND
    assert "Alias not found (404)" in gone.stderr

    no_version = forecast(url, "aliases", "set", "desk", "champion", "7")
    assert no_version.exit_code == EXIT_NOT_FOUND, no_version.output
    bad_name = forecast(url, "aliases", "set", "desk", "9lives", "1")
    assert bad_name.exit_code == EXIT_BAD_REQUEST
    assert forecast(url, "versions", "list", "nope").exit_code == EXIT_NOT_FOUND
    assert forecast(url, "versions", "list", "desk", "--sort", "newest").exit_code == EXIT_USAGE


def test_a_bundle_downloaded_and_imported(
    live_server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    url = live_server.base_url
    trained_version(client, "desk")
    bundle = tmp_path / "desk.zip"
    downloaded = forecast(url, "versions", "download", "desk", "1", "-o", str(bundle))
    assert downloaded.exit_code == 0, downloaded.output
    assert "bundle.json" in zipfile.ZipFile(bundle).namelist()

    imported = forecast(url, "versions", "import", "copy", str(bundle))
    assert imported.output == "imported copy version 1 (was desk version 1)\n", imported.output
    assert client.get("/v1/models/copy/versions/1").json()["status"] == "ready"
    again = forecast(url, "versions", "import", "copy", str(bundle))
    assert again.exit_code == EXIT_CONFLICT
    assert "This archive was already imported (409)" in again.stderr
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello")
    refused = forecast(url, "versions", "import", "copy", str(not_zip))
    assert refused.exit_code == EXIT_BAD_REQUEST
    assert "Invalid bundle archive (422)" in refused.stderr

    nowhere = forecast(url, "versions", "download", "desk", "1", "-o", str(tmp_path / "no/x.zip"))
    assert nowhere.exit_code == EXIT_UNEXPECTED
    assert "No such file or directory" in nowhere.stderr
    assert forecast(url, "versions", "download", "desk", "9").exit_code == EXIT_NOT_FOUND


def test_accuracy_grouped_and_a_retrain_policy(
    live_server: LiveServer, client: httpx.Client
) -> None:
    url = live_server.base_url
    job = trained_version(client, "desk")
    forecast(url, "aliases", "set", "desk", "champion", "1")
    served = rows(forecast(url, "predict", "desk", "--alias", "champion", "--horizon", "3",
                           "--format", "csv").output)  # fmt: skip
    eventually(  # the ledger writes what was served within FORECAST_LEDGER_FLUSH_S
        lambda: rows(forecast(url, "accuracy", "desk", "--format", "csv").output),
        lambda groups: groups[0]["pending"] == "3",
    )
    values = [f"{p['date']}={float(p['value']) * 1.01:.4f}" for p in served]
    appended = forecast(url, "append", str(job["series_id"]), *values)
    assert "3 inserted" in appended.output, appended.output

    by_step = rows(forecast(url, "accuracy", "desk", "--alias", "champion", "--format", "csv")
                   .output)  # fmt: skip
    assert [(g["group"], g["scored"]) for g in by_step] == [
        ("all", "3"),
        ("1", "1"),
        ("2", "1"),
        ("3", "1"),
    ]
    assert {"coverage_80", "coverage_95", "skill_vs_naive"} <= set(by_step[0])
    by_version = forecast(url, "accuracy", "desk", "--group-by", "version", "--version", "1")
    assert [line.split()[:3] for line in by_version.output.splitlines()[1:]] == [
        ["all", "1", "3"],
        ["1", "1", "3"],
    ]
    later = rows(forecast(url, "accuracy", "desk", "--start", served[1]["date"], "--format",
                          "csv").output)  # fmt: skip
    assert later[0]["scored"] == "2"
    both = forecast(url, "accuracy", "desk", "--version", "1", "--alias", "champion")
    assert both.exit_code == EXIT_BAD_REQUEST
    assert "give version or alias, not both" in both.stderr
    assert forecast(url, "accuracy", "nope").exit_code == EXIT_NOT_FOUND

    none_yet = forecast(url, "policy", "get", "desk")
    assert none_yet.exit_code == EXIT_NOT_FOUND
    assert "Retrain policy not found (404)" in none_yet.stderr
    set_ = forecast(url, "policy", "set", "desk", "--skill-below", "0", "--min-scored", "50",
                    "--promote-to", "champion", "--no-beats-current")  # fmt: skip
    assert set_.output == ("desk: retrain on realized skill < 0.0 over >= 50 scored, promote to "
                           "champion\n"), set_.output  # fmt: skip
    stored = client.get("/v1/models/desk/policy").json()["policy"]
    assert stored["retrain_when"] == {"realized_skill_below": 0.0, "min_scored": 50}
    assert stored["require"] == {"beats_naive": True, "beats_current": False, "metric": "rmse"}
    got = rows(forecast(url, "policy", "get", "desk", "--format", "csv").output)
    assert (got[0]["rule"], got[0]["promote_to"], got[0]["require"]) == (
        "realized skill < 0.0 over >= 50 scored",
        "champion",
        "beats_naive",
    )
    whole = forecast(url, "policy", "set", "desk", "--policy",
                     '{"retrain_every_new_observations": 20}')  # fmt: skip
    assert whole.output == "desk: retrain on every 20 new observations\n"
    assert forecast(url, "policy", "set", "desk", "--every", "0").exit_code == EXIT_BAD_REQUEST
    assert forecast(url, "policy", "set", "desk").exit_code == EXIT_USAGE
    assert forecast(url, "policy", "delete", "desk").exit_code == 0
    assert forecast(url, "policy", "delete", "desk").exit_code == EXIT_NOT_FOUND
