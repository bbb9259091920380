"""Moving a version between deployments: the artifact download imported elsewhere, with its
metrics and lineage; archives that are not intact bundles are refused and register nothing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, server_settings, start_server
from tests.series.helpers import assert_problem
from tests.training.helpers import TINY, random_walk_series, start_job, wait_for

ZIP = {"content-type": "application/zip"}
SOURCE = "exported"


_ARCHIVES: dict[str, bytes] = {}  # one trained download per server: most tests only need bytes


def train_and_download(client: httpx.Client) -> tuple[int, bytes]:
    """A trained version's download: (its series id, the zip)."""
    series_id = random_walk_series(client, name="source", n=240)
    job = wait_for(client, start_job(client, series_id=series_id, model_name=SOURCE, **TINY)["id"])
    assert job["status"] == "succeeded", job
    download = client.get(f"/v1/models/{SOURCE}/versions/1/artifact")
    assert download.status_code == 200
    return series_id, download.content


@pytest.fixture
def archive(client: httpx.Client) -> bytes:
    """An exported archive (its source version may be gone: the tables are emptied per test)."""
    if str(client.base_url) not in _ARCHIVES:
        _ARCHIVES[str(client.base_url)] = train_and_download(client)[1]
    return _ARCHIVES[str(client.base_url)]


def rezip(archive: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        files = {name: source.read(name) for name in source.namelist()}
    change(files)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, body in files.items():
            target.writestr(name, body)
    return out.getvalue()


def import_archive(client: httpx.Client, name: str, body: bytes, **params: Any) -> httpx.Response:
    return client.post(
        f"/v1/models/{name}/versions:import", content=body, headers=ZIP, params=params
    )


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[httpx.Client]:
    """Another deployment: its own database and artifact store."""
    server: LiveServer = start_server(
        server_settings(f"sqlite:///{tmp_path / 'prod.db'}", tmp_path / "prod-models")
    )
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            yield http
    finally:
        server.stop()


def test_a_version_moves_to_another_deployment_with_its_metrics_and_lineage(
    client: httpx.Client, elsewhere: httpx.Client
) -> None:
    series_id, body = train_and_download(client)
    source = client.get(f"/v1/models/{SOURCE}/versions/1").json()
    here = random_walk_series(elsewhere, name="same-data", n=240)  # the same seed: same data
    response = import_archive(elsewhere, "production", body, series_id=here)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/models/production/versions/1"
    imported = response.json()
    assert imported["status"] == "ready"
    assert (imported["job_id"], imported["series_id"]) == (None, here)
    for field in ("metrics", "spec", "target", "training_rows_sha256", "files", "epochs_run"):
        assert imported[field] == source[field], field
    origin = imported["origin"]
    assert (origin["model"], origin["version"]) == (SOURCE, 1)
    assert (origin["job_id"], origin["series_id"]) == (source["job_id"], series_id)
    assert origin["archive_sha256"] == hashlib.sha256(body).hexdigest()

    # The same numbers on both sides, for the same data.
    there = client.get("/v1/forecast", params={"model": SOURCE, "horizon": 5}).json()
    served = elsewhere.get("/v1/forecast", params={"model": "production", "horizon": 5})
    assert served.status_code == 200, served.text
    assert served.json()["points"] == there["points"]

    # Exported again, it carries where it came from.
    again = elsewhere.get("/v1/models/production/versions/1/artifact").content
    with zipfile.ZipFile(io.BytesIO(again)) as zipped:
        lineage = json.loads(zipped.read("version.json"))
    assert (lineage["model"], lineage["origin"]["model"]) == ("production", SOURCE)


def test_importing_the_same_archive_twice_is_a_conflict(
    client: httpx.Client, archive: bytes
) -> None:
    first = import_archive(client, "copy", archive)
    assert first.status_code == 201, first.text
    assert first.json()["series_id"] is None
    body_409 = assert_problem(import_archive(client, "copy", archive), 409)
    assert body_409["version"] == 1
    # A version imported without a series forecasts what the request names.
    gone = assert_problem(client.get("/v1/forecast", params={"model": "copy"}), 409)
    assert "imported without one" in gone["detail"]
    series_id = random_walk_series(client, name="other", n=120)
    named = client.get("/v1/forecast", params={"model": "copy", "series_id": series_id})
    assert named.status_code == 200, named.text


def _drop(name: str) -> Callable[[dict[str, bytes]], None]:
    return lambda files: files.pop(name) and None


def _tamper(files: dict[str, bytes]) -> None:
    files["network.onnx"] = files["network.onnx"][:-1] + bytes([files["network.onnx"][-1] ^ 1])


def _lie_in_manifest(files: dict[str, bytes]) -> None:
    manifest = json.loads(files["bundle.json"])
    manifest["window"] = "sixty"
    files["bundle.json"] = json.dumps(manifest).encode()


def _other_rows(files: dict[str, bytes]) -> None:
    exported = json.loads(files["version.json"])
    exported["training_rows_sha256"] = "0" * 64
    files["version.json"] = json.dumps(exported).encode()


def _extra(files: dict[str, bytes]) -> None:
    files["payload.sh"] = b"echo hi"


def _escape(files: dict[str, bytes]) -> None:
    files["../../evil"] = b"x"


BAD_ARCHIVES: dict[str, tuple[Callable[[dict[str, bytes]], None], str]] = {
    "a file fails its sha256": (_tamper, "network.onnx has sha256"),
    "a file is missing": (_drop("scaler.json"), "missing ['scaler.json']"),
    "no version.json": (_drop("version.json"), "no version.json"),
    "an invalid manifest": (_lie_in_manifest, "bundle.json:window"),
    "version.json disagrees": (_other_rows, "different training rows"),
    "a file the manifest does not list": (_extra, "not in the manifest ['payload.sh']"),
    "a path outside the bundle": (_escape, "not plain file names"),
}


@pytest.mark.parametrize("case", list(BAD_ARCHIVES))
def test_a_bad_archive_is_refused_and_nothing_is_registered(
    client: httpx.Client, archive: bytes, live_server: LiveServer, case: str
) -> None:
    change, expected = BAD_ARCHIVES[case]
    problem = assert_problem(import_archive(client, "target", rezip(archive, change)), 422)
    assert problem["type"].endswith("/invalid-bundle")
    assert expected in json.dumps(problem), problem
    assert_problem(client.get("/v1/models/target"), 404)
    assert not (live_server.settings.model_dir / "target").exists()
    left = list((live_server.settings.model_dir / ".staging").iterdir())
    assert not left, [(p.name, sorted(f.name for f in p.iterdir())) for p in left]


def test_requests_that_are_not_archives(client: httpx.Client, archive: bytes) -> None:
    assert_problem(import_archive(client, "target", b"not a zip"), 422)
    refused = client.post("/v1/models/target/versions:import", json={"zip": "no"})
    assert_problem(refused, 415)
    assert_problem(import_archive(client, "target", archive, series_id=999_999), 404)
    # a series without the field the version forecasts: refused now, not at its first forecast
    rows = [{"date": f"2024-01-{d:02d}", "value": float(d)} for d in range(1, 20)]
    other = client.post("/v1/series", json={"name": "other", "observations": rows}).json()["id"]
    problem = assert_problem(import_archive(client, "target", archive, series_id=other), 422)
    assert "no field 'close'" in problem["detail"]
    assert problem["errors"][0]["loc"] == "query.series_id"
    assert_problem(client.get("/v1/models/target"), 404)
