"""The compose deployment, proven without Docker.

docker-compose.yml is read like Compose reads it: each service's container environment is
the Dockerfile target's ENV, then the service's ``env_file:`` (``.env`` = .env.example with the
secrets filled in) and ``environment:``, interpolated from the same values. Each service's
``command`` (its exact argv) then runs as a native process from a directory laid out like the
image's WORKDIR, with only these test substitutions: the hosts ``postgres`` and ``redis`` are
the local servers (a throwaway database, a queue of its own), named volumes are temp dirs, a
service's secrets are files in a temp dir where compose would mount them (/run/secrets), the
API's port is a free one, the host ``objectstore`` is a real S3-protocol server (moto's, started
by the suite) whose bucket the test makes as the ``buckets`` service would, and each Celery
worker gets its own node name (in compose each container has its own host name). Services built
from the ``api`` target run with the ``train`` extra made unimportable, as in that image.

The object store's key comes, as in compose, from the ``s3_credentials`` secret file only (no
key in any environment): the bundles the workers upload and the API downloads prove the API and
workers sign with it.

Order as in compose: migrate runs to completion, the API becomes ready, two workers start; then
the MSFT series is uploaded, four small jobs train on both workers, a forecast is served, the
metrics show it all, and every service exits cleanly on SIGTERM (``docker compose stop``).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from app.registry.store import CACHE_SUBDIR
from tests.conftest import throwaway_postgres_database
from tests.deploy.files import (
    COMPOSE_FILE,
    ROOT,
    TRAIN_MODULES,
    WITHOUT_TRAIN_EXTRA,
    command_argv,
    dotenv_values,
    effective,
    exec_form,
    load_compose,
    parse_dockerfile,
    service_environment,
    service_secrets,
    stage_chain,
    volume_mounts,
)
from tests.objectstore import S3Server
from tests.support.data import MSFT_CSV
from tests.support.servers import free_port
from tests.training.helpers import wait_for
from tests.training.test_celery import REDIS_URL, require_redis

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

IMAGE_FILES = ("app", "migrations", "alembic.ini")  # what the Dockerfile copies
IMAGE_WORKDIR = "/srv/forecast"
IMAGE_VENV = "/opt/venv"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # python:3.11-slim
JOB = {"target": "close", "start": "2016-01-01", "test_start": "2016-09-01", "epochs": 1,
       "units": 4, "window": 10, "batch_size": 32, "ensemble": 1, "references": []}  # fmt: skip
JOBS = 4


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        executable = shutil.which(self.argv[0], path=self.env["PATH"])
        assert executable, f"{self.name}: {self.argv[0]} not found on {self.env['PATH']}"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [executable, *self.argv[1:]], cwd=self.cwd, env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return self.process

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float) -> int | None:
        """SIGTERM to the main process (as ``docker stop``), then SIGKILL to its group."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        code = self.process.poll()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # leftover children, if any
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        return code


@dataclass
class Deployment:
    compose: dict[str, Any]
    variables: dict[str, str]
    tmp: Path
    database_url: str
    redis_url: str
    s3_endpoint: str
    image_roots: dict[str, Path] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)

    def service(self, name: str, instance: int = 1) -> Service:
        """The compose service ``name`` as a native process definition (not started)."""
        spec = self.compose["services"][name]
        target = spec["build"]["target"]
        volumes = {
            mount_target: self.tmp / "volumes" / source
            for kind, source, mount_target in volume_mounts(spec)
            if kind == "volume"
        }
        root = self.image_root(target)
        paths = {IMAGE_VENV: str(ROOT / ".venv"), IMAGE_WORKDIR: str(root)}
        paths.update({k: str(v) for k, v in volumes.items()})
        paths.update(self.secrets(spec, f"{name}-{instance}"))
        for directory in volumes.values():
            directory.mkdir(parents=True, exist_ok=True)
        env = image_environment(target, paths)
        env.update(service_environment(spec, {".env": self.variables}))
        env = {k: map_paths(v, paths) for k, v in env.items()}
        env.update(self.overrides(env))
        if target == "api":  # the api image is built without the train extra
            env["PYTHONPATH"] = os.pathsep.join([str(WITHOUT_TRAIN_EXTRA), env["PYTHONPATH"]])
            env["FORECAST_BLOCK_MODULES"] = TRAIN_MODULES
        argv = command_argv(spec)
        if "--port" in argv:
            argv[argv.index("--port") + 1] = str(free_port())
        if argv[:1] == ["celery"] and "worker" in argv:
            # A container's host name is its own, and Celery's node name is celery@<host name>.
            env["HOSTNAME"] = f"{name}{instance}-{uuid.uuid4().hex[:6]}"
            argv.append(f"--hostname=celery@{env['HOSTNAME']}")
        log = self.tmp / f"{name}-{instance}.log"
        service = Service(f"{name}-{instance}", argv, env, root, log)
        self.services.append(service)
        return service

    def secrets(self, spec: dict[str, Any], owner: str) -> dict[str, str]:
        """The service's secrets as compose mounts them: each one's content (a file relative to
        the compose file, or a variable) in a file of its own; image path → local path."""
        paths = {}
        for name, target in service_secrets(spec).items():
            source = self.compose["secrets"][name]
            if "file" in source:
                content = (COMPOSE_FILE.parent / source["file"]).read_bytes()
            else:
                content = self.variables[source["environment"]].encode()
            local = self.tmp / "secrets" / owner / name
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(content)
            paths[target] = str(local)
        return paths

    def image_root(self, target: str) -> Path:
        """A directory holding what the target's image holds in its WORKDIR."""
        if target not in self.image_roots:
            root = self.tmp / f"image-{target}"
            root.mkdir()
            for name in IMAGE_FILES:
                (root / name).symlink_to(ROOT / name)
            self.image_roots[target] = root
        return self.image_roots[target]

    def overrides(self, env: dict[str, str]) -> dict[str, str]:
        """Point the compose host names at the local servers."""
        out = {}
        if "FORECAST_DATABASE_URL" in env:
            url = make_url(env["FORECAST_DATABASE_URL"])
            assert (url.host, url.port, url.drivername) == ("postgres", 5432, "postgresql+psycopg")
            assert url.password == self.variables["POSTGRES_PASSWORD"]
            out["FORECAST_DATABASE_URL"] = self.database_url
        if "FORECAST_BROKER_URL" in env:
            assert env["FORECAST_BROKER_URL"].startswith("redis://redis:6379/")
            out["FORECAST_BROKER_URL"] = self.redis_url
        if "AWS_ENDPOINT_URL" in env:
            assert env["AWS_ENDPOINT_URL"] == "http://objectstore:8333"
            out["AWS_ENDPOINT_URL"] = self.s3_endpoint
        return out

    def make_buckets(self, s3: S3Server) -> str:
        """What the one-shot ``buckets`` service does (deploy/seaweedfs/make-bucket.sh: the
        bucket S3_BUCKET unless it exists); returns the bucket."""
        buckets = self.compose["services"]["buckets"]
        assert buckets["entrypoint"][-1].endswith("/make-bucket.sh")
        bucket = service_environment(buckets, {})["S3_BUCKET"]
        if bucket not in {b["Name"] for b in s3.client().list_buckets()["Buckets"]}:
            s3.client().create_bucket(Bucket=bucket)
        return bucket

    def dump_logs(self) -> None:
        for service in self.services:
            print(f"\n===== {service.name}: {shlex.join(service.argv)}")
            print(service.output()[-6000:])


def image_environment(target: str, paths: dict[str, str]) -> dict[str, str]:
    """The ENV the Dockerfile gives a target, with image paths mapped to local ones."""
    env = {"PATH": IMAGE_PATH, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    for stage in stage_chain(parse_dockerfile(), target):
        for instruction in stage.all("ENV"):
            for pair in shlex.split(instruction.args):
                key, _, value = pair.partition("=")
                env[key] = re.sub(
                    r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), value
                )
    return {k: map_paths(v, paths) for k, v in env.items()}


def map_paths(value: str, paths: dict[str, str]) -> str:
    for image_path, local in sorted(paths.items(), key=lambda p: -len(p[0])):
        value = re.sub(rf"(?<![\w/]){re.escape(image_path)}(?=/|:|$)", local, value)
    return value


@pytest.fixture
def deployment(tmp_path: Path, s3_server: S3Server) -> Iterator[Deployment]:
    require_redis()
    queue = f"deploy-{uuid.uuid4().hex[:8]}"
    credentials = tmp_path / "s3_credentials"  # as docs/object-store.md has it made
    credentials.write_text(
        f"[default]\naws_access_key_id = forecast\naws_secret_access_key = {uuid.uuid4().hex}\n"
    )
    variables = {
        **dotenv_values(),
        "POSTGRES_PASSWORD": uuid.uuid4().hex,
        "FORECAST_API_KEY": uuid.uuid4().hex,
        "S3_CREDENTIALS_FILE": str(credentials),
        "FORECAST_QUEUE": queue,  # a queue of its own on the shared Redis
        "FORECAST_TF_THREADS": "1",  # a setting passed through .env (env_file)
    }
    with throwaway_postgres_database() as database_url:
        deployment = Deployment(
            load_compose(variables), variables, tmp_path, database_url, REDIS_URL,
            s3_server.endpoint,
        )  # fmt: skip
        try:
            yield deployment
        finally:
            for service in deployment.services:
                service.stop(timeout=20)
            deployment.dump_logs()  # shown by pytest when the test failed
            broker = redis.Redis.from_url(REDIS_URL)
            broker.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


def wait_until_ready(client: httpx.Client, api: Service, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert api.alive(), f"{api.name} exited with {api.process and api.process.poll()}"
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{api.name} not ready after {timeout} s")


def wait_for_log(services: list[Service], pattern: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            assert service.alive(), f"{service.name} exited with {service.process.poll()}"  # type: ignore[union-attr]
        if all(re.search(pattern, s.output()) for s in services):
            return
        time.sleep(0.2)
    raise AssertionError(f"{[s.name for s in services]}: no {pattern!r} after {timeout} s")


def metric_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def run_healthcheck(service: Service, target: str, port: str | None = None) -> None:
    """The target's Dockerfile HEALTHCHECK command, run in the service's environment."""
    check = effective(parse_dockerfile(), target, "HEALTHCHECK")
    assert check is not None
    argv = exec_form(check.args[check.args.index("CMD") + len("CMD") :].strip())
    if port is not None:
        argv = [a.replace("127.0.0.1:8000/", f"127.0.0.1:{port}/") for a in argv]
    executable = shutil.which(argv[0], path=service.env["PATH"])
    assert executable, argv
    result = subprocess.run(
        [executable, *argv[1:]], cwd=service.cwd, env=service.env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, f"{service.name} unhealthy: {result.stdout}{result.stderr}"


def test_compose_services_run_natively(deployment: Deployment, s3_server: S3Server) -> None:
    bucket = deployment.make_buckets(s3_server)
    # migrate: a one-shot that must exit 0 before anything else starts.
    migrate = deployment.service("migrate")
    assert migrate.start().wait(timeout=120) == 0, migrate.output()

    api = deployment.service("api")
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(api.env)
    assert Path(api.env["AWS_SHARED_CREDENTIALS_FILE"]).read_text() == (
        Path(deployment.variables["S3_CREDENTIALS_FILE"]).read_text()
    )
    api.start()
    port = api.argv[api.argv.index("--port") + 1]
    key = api.env.get("FORECAST_API_KEY")
    assert key == deployment.variables["FORECAST_API_KEY"]
    base_url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        wait_until_ready(client, api)
        run_healthcheck(api, "api", port)
        refused = httpx.post(f"{base_url}/v1/series", json={"name": "x", "observations": []})
        assert refused.status_code == 401, refused.text  # writes need the key from .env

        workers = [deployment.service("worker", instance=i) for i in (1, 2)]
        assert all(w.env["FORECAST_TF_THREADS"] == "1" for w in workers)  # from .env
        assert workers[0].env["FORECAST_MODEL_DIR"] == api.env["FORECAST_MODEL_DIR"]
        for worker in workers:
            worker.start()
        wait_for_log(workers, r" ready\.")

        with MSFT_CSV.open("rb") as csv:
            uploaded = client.post(
                "/v1/series", files={"file": ("msft.csv", csv, "text/csv")},
                data={"name": "MSFT", "exchange": "XNYS"},
            )  # fmt: skip
        assert uploaded.status_code == 201, uploaded.text
        series_id = uploaded.json()["id"]

        jobs = []
        for _ in range(JOBS):
            spec = {"series_id": series_id, "model_name": "MSFT-deploy", **JOB}
            response = client.post("/v1/training-jobs", json=spec)
            assert response.status_code == 202, response.text
            jobs.append(response.json()["id"])
        run_healthcheck(workers[0], "worker")  # answers the broker's ping while training
        done = [wait_for(client, job_id, timeout=240) for job_id in jobs]
        assert [j["status"] for j in done] == ["succeeded"] * JOBS, done
        assert sorted(j["model_version"]["version"] for j in done) == [1, 2, 3, 4]

        # Each job records the process that ran it (host:pid of a worker's child); each
        # worker's log names the jobs it ran. Both workers took some.
        ran_on = {}
        for job in done:
            owners = [
                w.name for w in workers if re.search(rf"{re.escape(job['worker'])}\b", w.output())
            ]
            assert len(owners) == 1, (job["id"], job["worker"], owners)
            ran_on[job["id"]] = owners[0]
        assert set(ran_on.values()) == {w.name for w in workers}, ran_on

        # The workers wrote the bundles to the bucket; the API (without TensorFlow) downloads
        # and serves them.
        prefix = api.env["FORECAST_ARTIFACT_STORE"].removeprefix(f"s3://{bucket}/")
        stored = s3_server.keys(bucket, f"{prefix}/MSFT-deploy/")
        assert {key.split("/")[-2] for key in stored} == {"1", "2", "3", "4"}
        forecast = client.get("/v1/forecast", params={"model": "MSFT-deploy", "horizon": 5})
        assert forecast.status_code == 200, forecast.text
        body = forecast.json()
        assert body["model"] == "MSFT-deploy"
        assert len(body["points"]) == 5
        assert body["points"][0]["date"] == "2017-01-03"  # 2 January 2017: NYSE holiday
        cache = Path(api.env["FORECAST_MODEL_DIR"]) / CACHE_SUBDIR
        assert any((cache / "MSFT-deploy").iterdir())

        metrics = client.get("/metrics")
        assert metrics.status_code == 200, f"/metrics: {metrics.status_code} {metrics.text[:200]}"
        samples = metric_samples(metrics.text)

        def total(name: str, **labels: str) -> float:
            found = [v for n, lab, v in samples if n == name and labels.items() <= lab.items()]
            assert found, f"{name}{labels or ''} not in /metrics"
            return sum(found)

        assert total("forecast_jobs", state="succeeded") == JOBS
        assert total("forecast_ready") == 1  # database, migrations, broker, artifact store
        assert total("forecast_oldest_queued_job_age_seconds") == 0
        assert total("forecast_training_duration_seconds_count") >= JOBS
        assert total("forecast_latency_seconds_count") >= 1
        assert total("http_requests_total") >= 1

    # `docker compose stop`: SIGTERM, and each service shuts down in time. Celery's warm
    # shutdown exits 0; uvicorn finishes its shutdown, then re-raises the signal it caught.
    for worker in workers:
        assert worker.stop(timeout=60) == 0, f"{worker.name} did not stop cleanly"
    assert api.stop(timeout=10) in (0, -signal.SIGTERM), f"{api.name} did not stop in time"
    assert "Application shutdown complete" in api.output()
