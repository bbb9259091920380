"""The S3 artifact store against a real S3-protocol server (moto's, in its own process), on
both databases: what a job writes, what another host downloads, what a corrupt or missing object
and a misconfigured store get."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from filelock import FileLock
from sqlalchemy import select

from app.db.column_records import BundleFile
from app.db.migrate import upgrade_to_head
from app.db.orm import ModelVersion
from app.db.session import Database
from app.errors import ArtifactStoreUnavailable
from app.main import create_app
from app.ml.spec import TrainingSpec
from app.registry.publishing import discard_version, register_bundle
from app.registry.store import CACHE_SUBDIR, make_store
from app.vocabulary import VersionStatus
from tests.conftest import (
    BACKENDS,
    LiveServer,
    empty_database,
    server_settings,
    start_server,
    truncate_all,
)
from tests.factories import BUNDLE, metrics
from tests.objectstore import S3Server, sha256
from tests.outage import OutageProxy
from tests.series.helpers import assert_problem
from tests.support.servers import free_port
from tests.training.helpers import TINY, eventually, random_walk_series, start_job, wait_for

PREFIX = "bundles"


@pytest.fixture(scope="module", params=BACKENDS)
def s3_live_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    s3_server: S3Server,
) -> Iterator[LiveServer]:
    """A service whose bundles live in a fresh bucket of the S3 server."""
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    tmp = tmp_path_factory.mktemp(f"s3-{request.param}")
    with empty_database(request.param, tmp) as url:
        server = start_server(
            server_settings(url, tmp / "cache", artifact_store=f"s3://{bucket}/{PREFIX}")
        )
        yield server
        server.stop()


@pytest.fixture
def s3_client(s3_live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=s3_live_server.base_url, timeout=60) as http:
        yield http
    truncate_all(s3_live_server.settings.database_url)


def bucket_of(server: LiveServer) -> str:
    assert server.settings.artifact_store is not None
    return server.settings.artifact_store.removeprefix("s3://").split("/")[0]


def another_host(server: LiveServer, tmp_path: Path) -> LiveServer:
    """A second API on the same database and bucket with an empty cache: another machine."""
    settings = server.settings.model_copy(update={"model_dir": tmp_path / "other-host"})
    return start_server(settings)


def train(client: httpx.Client, model: str) -> None:
    series_id = random_walk_series(client, name=model)
    job = wait_for(client, start_job(client, series_id=series_id, model_name=model, **TINY)["id"])
    assert job["status"] == "succeeded", job


def test_bundles_live_in_the_bucket_and_serve_any_host(
    s3_client: httpx.Client, s3_live_server: LiveServer, s3_server: S3Server, tmp_path: Path
) -> None:
    train(s3_client, "s3-walk")
    bucket = bucket_of(s3_live_server)
    stored = {
        key.rsplit("/", 1)[1]: body
        for key, body in s3_server.objects(bucket, f"{PREFIX}/s3-walk/1/").items()
    }
    manifest = json.loads(stored["bundle.json"])
    assert set(stored) == set(manifest["files"]) | {"bundle.json"}
    for name, digest in manifest["files"].items():
        assert sha256(stored[name]) == digest["sha256"]
    expected = s3_client.get("/v1/forecast", params={"model": "s3-walk", "horizon": 5})
    assert expected.status_code == 200, expected.text

    other = another_host(s3_live_server, tmp_path)
    try:
        with httpx.Client(base_url=other.base_url, timeout=60) as elsewhere:
            served = elsewhere.get("/v1/forecast", params={"model": "s3-walk", "horizon": 5})
            assert served.status_code == 200, served.text
            assert served.json()["points"] == expected.json()["points"]
            artifact = elsewhere.get("/v1/models/s3-walk/versions/1/artifact")
            with zipfile.ZipFile(io.BytesIO(artifact.content)) as archive:
                downloaded = {n: archive.read(n) for n in archive.namelist()}
            assert downloaded.pop("version.json")  # the registry's record, not a bundle file
            assert downloaded == stored
    finally:
        other.stop()
    assert (tmp_path / "other-host" / CACHE_SUBDIR / "s3-walk" / "1" / "network.onnx").is_file()

    # Version 10's objects share version 1's key as a prefix: deleting 1 must leave them.
    tenth = f"{PREFIX}/s3-walk/10/bundle.json"
    s3_server.client().put_object(Bucket=bucket, Key=tenth, Body=b"{}")
    assert s3_client.delete("/v1/models/s3-walk/versions/1").status_code == 204
    eventually(lambda: s3_server.keys(bucket, f"{PREFIX}/s3-walk/1/"), lambda found: not found)
    assert s3_server.keys(bucket, f"{PREFIX}/s3-walk/") == [tenth]
    assert not (s3_live_server.settings.model_dir / CACHE_SUBDIR / "s3-walk" / "1").exists()


def test_a_corrupt_or_missing_object_is_refused_where_it_is_downloaded(
    s3_client: httpx.Client, s3_live_server: LiveServer, s3_server: S3Server, tmp_path: Path
) -> None:
    train(s3_client, "s3-corrupt")
    params = {"model": "s3-corrupt"}
    assert s3_client.get("/v1/forecast", params=params).status_code == 200  # now cached
    s3 = s3_server.client()
    onnx = f"{PREFIX}/s3-corrupt/1/network.onnx"
    s3.put_object(Bucket=bucket_of(s3_live_server), Key=onnx, Body=b"garbage")
    other = another_host(s3_live_server, tmp_path)
    try:
        with httpx.Client(base_url=other.base_url, timeout=60) as elsewhere:
            body = assert_problem(elsewhere.get("/v1/forecast", params=params), 503)
            assert body["type"].endswith("/bundle-corrupt")
            assert "network.onnx" in body["detail"]
            assert "Downloaded from s3://" in body["detail"]
            assert not (tmp_path / "other-host" / "s3-corrupt" / "1").exists()  # nothing kept
            s3.delete_object(Bucket=bucket_of(s3_live_server), Key=onnx)
            body = assert_problem(elsewhere.get("/v1/forecast", params=params), 503)
            assert "network.onnx of bundle s3-corrupt/1 is missing" in body["detail"]
    finally:
        other.stop()
    # The host that loaded it before keeps serving from memory.
    assert s3_client.get("/v1/forecast", params=params).status_code == 200


@pytest.mark.usefixtures("s3_server")
def test_a_job_that_cannot_upload_fails_and_leaves_nothing(tmp_path: Path) -> None:
    settings = server_settings(
        f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "cache", artifact_store="s3://no-such-bucket"
    )
    server = start_server(settings)
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            series_id = random_walk_series(client)
            job = wait_for(
                client, start_job(client, series_id=series_id, model_name="lost", **TINY)["id"]
            )
            assert job["status"] == "failed"
            assert "bucket 'no-such-bucket' does not exist" in job["error"]
            assert job["model_version"] is None
            versions = client.get("/v1/models/lost/versions").json()["items"]
            assert [v["status"] for v in versions] == ["failed"]
            assert_problem(client.get("/v1/forecast", params={"model": "lost"}), 404)
    finally:
        server.stop()
    assert not list((tmp_path / "cache" / CACHE_SUBDIR / ".staging").iterdir())
    assert not (tmp_path / "cache" / CACHE_SUBDIR / "lost").exists()


MISCONFIGURED = {
    "wrong bucket": ({}, "s3://no-such-bucket", "bucket 'no-such-bucket' does not exist"),
    "no credentials": (
        {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
        "s3://models",
        "no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
    ),
    "unreachable endpoint": (
        {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"},
        "s3://models",
        "cannot reach http://127.0.0.1:",
    ),
}


@pytest.mark.parametrize("case", list(MISCONFIGURED))
@pytest.mark.usefixtures("s3_server")
def test_a_misconfigured_store_is_one_clear_line_at_start_and_in_readyz(
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environment, url, expected = MISCONFIGURED[case]
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance to ask for keys
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    settings = server_settings(
        f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "cache", artifact_store=url,
        log_level="INFO", log_format="json",
    )  # fmt: skip
    app = create_app(settings)
    upgrade_to_head(app.state.db.engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        body = assert_problem(client.get("/readyz"), 503)
    assert body["checks"]["artifact_store"].startswith(expected)
    assert body["checks"]["database"] == "ok"
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    startup = [r for r in records if r["message"].startswith("artifact store")]
    assert len(startup) == 1, records
    assert expected in startup[0]["message"]
    assert startup[0]["level"] == "ERROR"


def test_an_object_store_outage_costs_only_what_is_not_loaded_yet(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = f"outage-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    port = int(s3_server.endpoint.rsplit(":", 1)[1])
    proxy = OutageProxy("127.0.0.1", port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
    settings = server_settings(
        f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "cache", artifact_store=f"s3://{bucket}"
    )
    server = start_server(settings)
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            train(client, "loaded")
            train(client, "not-loaded")
            assert client.get("/v1/forecast", params={"model": "loaded"}).status_code == 200
            # The job left its bundle in this host's disk cache; another host would not have it.
            shutil.rmtree(settings.model_dir / CACHE_SUBDIR / "not-loaded")
            with proxy.down():
                for horizon in (2, 3):  # new responses, computed from the loaded bundle
                    params = {"model": "loaded", "horizon": horizon}
                    served = client.get("/v1/forecast", params=params)
                    assert served.status_code == 200, served.text
                started = time.monotonic()
                body = assert_problem(
                    client.get("/v1/forecast", params={"model": "not-loaded"}), 503
                )
                assert time.monotonic() - started < 10
                assert body["type"].endswith("/artifact-store-unavailable")
                assert f"cannot reach http://127.0.0.1:{proxy.port}" in body["detail"]
                ready = assert_problem(client.get("/readyz"), 503)
                assert ready["checks"]["artifact_store"].startswith("cannot reach")
                assert ready["checks"]["database"] == "ok"
                # A delete that could not remove the files is refused: nothing is left behind.
                body = assert_problem(client.delete("/v1/models/loaded/versions/1"), 503)
                assert "is kept" in body["detail"]
                params = {"model": "loaded", "horizon": 4}
                assert client.get("/v1/forecast", params=params).status_code == 200
            returned = time.monotonic()
            eventually(
                lambda: client.get("/v1/forecast", params={"model": "not-loaded"}).status_code,
                lambda status: status == 200,
                timeout=5,
            )
            assert client.get("/readyz").status_code == 200
            assert time.monotonic() - returned < 5
            assert client.delete("/v1/models/loaded/versions/1").status_code == 204
            eventually(lambda: s3_server.keys(bucket, "loaded/"), lambda found: not found)
    finally:
        server.stop()
        proxy.close()


def test_the_download_cache_keeps_to_its_limit_least_recently_loaded_first(
    s3_server: S3Server, tmp_path: Path
) -> None:
    from app.db.column_records import BundleFile
    from app.registry.store import S3ArtifactStore

    bucket = f"cache-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    writer = S3ArtifactStore(f"s3://{bucket}", cache_dir=tmp_path / "writer")
    bodies, files = {}, {}
    for version in (1, 2, 3, 4):
        bodies[version] = f"bundle {version} ".encode() * 100  # 900 bytes
        files[version] = {"blob": BundleFile(sha256=sha256(bodies[version]), size=900)}
        with writer.staging() as staged:
            (staged / "blob").write_bytes(bodies[version])
            writer.publish(staged, f"m/{version}", files[version])
    # A bundle left in MODEL_DIR by the local store is neither served from nor pruned.
    (tmp_path / "reader" / "m" / "1").mkdir(parents=True)
    (tmp_path / "reader" / "m" / "1" / "blob").write_bytes(b"the local store's only copy")

    def cached(host: str) -> list[str]:
        return sorted(p.name for p in (tmp_path / host / CACHE_SUBDIR / "m").iterdir())

    def loaded_long_ago(store: S3ArtifactStore, version: int, seconds: float) -> None:
        at = time.time() - 3600 + seconds
        os.utime(store.fetch(f"m/{version}", files[version]), (at, at))

    reader = S3ArtifactStore(f"s3://{bucket}", cache_dir=tmp_path / "reader", cache_bytes=2000)
    loaded_long_ago(reader, 1, 1)
    loaded_long_ago(reader, 2, 2)
    assert cached("reader") == ["1", "2"]  # within the limit
    assert (reader.fetch("m/1", files[1]) / "blob").read_bytes() == bodies[1]  # a cache hit
    reader.fetch("m/3", files[3])  # over the limit: the least recently loaded goes (2, not 1)
    assert cached("reader") == ["1", "3"]
    assert (reader.fetch("m/2", files[2]) / "blob").read_bytes() == bodies[2]  # downloaded again
    assert cached("reader") == ["1", "2", "3"]  # each loaded in the last minute: all stay
    assert cached("writer") == ["1", "2", "3", "4"]  # within the default limit
    assert (tmp_path / "reader" / "m" / "1" / "blob").read_bytes() == b"the local store's only copy"

    # A bundle another process holds the lock of stays (it is being loaded or removed).
    for version in (1, 2, 3):
        loaded_long_ago(reader, version, version)
    with FileLock(tmp_path / "reader" / CACHE_SUBDIR / ".locks" / "m@1.lock"):
        other = threading.Thread(target=reader.fetch, args=("m/4", files[4]))
        other.start()
        other.join()
    assert cached("reader") == ["1", "4"]

    # A bundle loaded in the last minute stays, whatever the limit.
    tiny = S3ArtifactStore(f"s3://{bucket}", cache_dir=tmp_path / "tiny", cache_bytes=1)
    for version in (1, 2, 3):
        tiny.fetch(f"m/{version}", files[version])
    assert cached("tiny") == ["1", "2", "3"]


def test_an_upload_that_fails_says_so_and_its_files_go_once_the_store_is_back(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store goes away in the middle of a publish: the job hears of the upload (not of the
    clean-up that failed too), and the version stays pending, never served, until the files it
    left are gone; then it is failed."""
    bucket = f"cut-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    proxy = OutageProxy("127.0.0.1", int(s3_server.endpoint.rsplit(":", 1)[1]))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
    settings = server_settings(
        f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "cache", artifact_store=f"s3://{bucket}"
    )
    db = Database(settings.database_url)
    upgrade_to_head(db.engine)
    store = make_store(settings)
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "network.onnx").write_bytes(b"weights")
    files = {"network.onnx": BundleFile(sha256=sha256(b"weights"), size=7)}
    fields = {"job_id": None, "series_id": None, "training_rows_sha256": "a" * 64,
              "target": "close", "spec": TrainingSpec(architecture="naive"), "bundle": BUNDLE,
              "metrics": metrics(1.0, 1.0), "train_seconds": 0.1, "epochs_run": 0}  # fmt: skip
    try:
        with proxy.down(), pytest.raises(ArtifactStoreUnavailable, match="upload failed"):
            register_bundle(db, store, staged, files, "cut", **fields)
        # What a publish cut after its first file leaves: an object, and a pending version.
        version_id = register_bundle(db, store, staged, files, "cut", **fields)
        left = s3_server.keys(bucket, "cut/2/")
        assert left == ["cut/2/network.onnx"]
        with proxy.down():
            assert discard_version(db, store, version_id) is False
        with db.session_scope() as session:
            statuses = [v.status for v in session.scalars(select(ModelVersion).order_by("id"))]
        assert statuses == [VersionStatus.PENDING, VersionStatus.PENDING]
        assert s3_server.keys(bucket, "cut/") == left
        # The store is back: the reconciler's next round removes the files, then fails the row.
        for pending in (1, version_id):
            assert discard_version(db, store, pending) is True
        assert s3_server.keys(bucket, "cut/") == []
        with db.session_scope() as session:
            statuses = [v.status for v in session.scalars(select(ModelVersion).order_by("id"))]
        assert statuses == [VersionStatus.FAILED, VersionStatus.FAILED]
    finally:
        db.dispose()
        proxy.close()


@pytest.mark.sqlite_only
def test_a_store_that_hangs_costs_a_cold_forecast_seconds_not_minutes(
    s3_client: httpx.Client, s3_live_server: LiveServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The object store accepts connections and never answers (a stopped process, a wedged
    load balancer): a host that has not loaded the bundle answers 503 within seconds."""
    train(s3_client, "s3-hang")
    silent = socket.create_server(("127.0.0.1", 0))
    silent.listen(16)  # accepted by the kernel, never read nor answered
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
    other = another_host(s3_live_server, tmp_path)
    try:
        with httpx.Client(base_url=other.base_url, timeout=60) as elsewhere:
            started = time.monotonic()
            answer = elsewhere.get("/v1/forecast", params={"model": "s3-hang"})
            waited = time.monotonic() - started
        body = assert_problem(answer, 503)
        assert body["type"].endswith("/artifact-store-unavailable")
        assert waited < 20, waited
    finally:
        other.stop()
        silent.close()
