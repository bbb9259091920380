"""docker-compose.yml and .env.example, checked without a Docker engine: the compose-spec
schema, references between services, volumes and networks, and the settings contract."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from app.config import Settings
from tests.deploy.files import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    VENV_BIN,
    InterpolationError,
    command_argv,
    depends_on,
    dotenv_values,
    load_compose,
    raw_compose,
    read_env_example,
    service_environment,
    variable_usages,
    volume_mounts,
)

SERVICES = {"postgres", "redis", "minio", "buckets", "migrate", "api", "worker"}
SECRETS = {"POSTGRES_PASSWORD", "FORECAST_API_KEY", "MINIO_ROOT_PASSWORD"}
TEST_SECRETS = {
    "POSTGRES_PASSWORD": "pw0123456789",
    "FORECAST_API_KEY": "key0123456789",
    "MINIO_ROOT_PASSWORD": "minio0123456789",
}
MODEL_DIR = "FORECAST_MODEL_DIR"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file interpolated from .env.example with the secrets filled in."""
    return load_compose({**dotenv_values(), **TEST_SECRETS})


def environment_of(compose: dict[str, Any], name: str) -> dict[str, str]:
    values = {**dotenv_values(), **TEST_SECRETS}
    return service_environment(compose["services"][name], {".env": values})


def test_compose_file_matches_the_compose_spec() -> None:
    checker = shutil.which("check-jsonschema", path=str(VENV_BIN)) or shutil.which(
        "check-jsonschema"
    )
    assert checker, "check-jsonschema not found: install the dev extra"
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_reference_resolves(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    volumes = set(compose.get("volumes") or {})
    networks = set(compose.get("networks") or {}) | {"default"}
    used_volumes = set()
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert condition in {
                "service_started", "service_healthy", "service_completed_successfully"
            }  # fmt: skip
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], (name, dependency)
        for kind, source, _ in volume_mounts(service):
            if kind == "volume":
                assert source, f"{name}: anonymous volume (data would be lost on recreate)"
                assert source in volumes, f"{name} mounts undeclared volume {source}"
                used_volumes.add(source)
        service_networks = service.get("networks") or []
        for network in service_networks if isinstance(service_networks, list) else service_networks:
            assert network in networks, f"{name} joins undeclared network {network}"
        build = service.get("build")
        assert build or service.get("image"), f"{name} has neither image nor build"
    assert used_volumes == volumes, f"declared but unused: {volumes - used_volumes}"


def test_every_variable_is_documented_in_env_example() -> None:
    documented = {line.name: line for line in read_env_example()}
    usages = variable_usages(raw_compose())
    assert usages
    for usage in usages:
        assert usage.name in documented, f"${{{usage.name}}} is not in .env.example"
        if not usage.has_default:
            assert documented[usage.name].active, f"{usage.name} must be an active line"
    # .env.example documents every line, and every line means something to the deployment.
    settings = {f"FORECAST_{name.upper()}" for name in Settings.model_fields}
    used = {u.name for u in usages}
    for line in read_env_example():
        assert line.comment, f"{line.name} in .env.example has no comment above it"
        assert line.name in used or line.name in settings, f"{line.name} is used nowhere"
    assert len(documented) == len(read_env_example()), "a variable appears twice"


def test_secrets_have_no_working_defaults() -> None:
    """The secrets are empty in .env.example and required (``:?``) wherever compose uses them,
    so `docker compose up` refuses to start until they are set."""
    example = dotenv_values()
    for secret in SECRETS:
        assert example.get(secret) == "", f"{secret} must be empty in .env.example"
        usages = [u for u in variable_usages(raw_compose()) if u.name == secret]
        assert usages
        assert all(u.op == ":?" for u in usages), usages
    for secret in SECRETS:
        with pytest.raises(InterpolationError) as missing:
            load_compose({**example, **TEST_SECRETS, secret: ""})
        assert missing.value.name == secret
    assert load_compose({**example, **TEST_SECRETS})  # and nothing else is required


def test_database_url_matches_the_postgres_service(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].split(":")[0] == "postgres"
    assert postgres["image"].split(":")[1].startswith("16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    pg = postgres["environment"]
    expected = (
        f"postgresql+psycopg://{pg['POSTGRES_USER']}:{TEST_SECRETS['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{pg['POSTGRES_DB']}"
    )
    for name in ("migrate", "api", "worker"):
        env = environment_of(compose, name)
        assert env["FORECAST_DATABASE_URL"] == expected, name
        assert env["FORECAST_BROKER_URL"] == "redis://redis:6379/0", name
    assert any(m[2] == "/var/lib/postgresql/data" for m in volume_mounts(postgres))


def test_redis_persists_its_queue(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].split(":")[0] == "redis"
    assert redis["image"].split(":")[1][0] == "7"
    argv = command_argv(redis)
    assert argv[argv.index("--appendonly") + 1] == "yes"
    assert any(m[0] == "volume" and m[2] == "/data" for m in volume_mounts(redis))
    assert "healthcheck" in redis


def test_migrations_run_once_before_api_and_workers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert command_argv(services["migrate"]) == ["alembic", "upgrade", "head"]
    assert depends_on(services["migrate"]) == {"postgres": "service_healthy"}
    assert services["migrate"].get("restart", "no") == "no"
    for name in ("api", "worker"):
        assert depends_on(services[name]) == {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "migrate": "service_completed_successfully",
            "buckets": "service_completed_successfully",
        }, name
    assert environment_of(compose, "api")["FORECAST_MIGRATE_ON_START"] == "false"


def test_images_come_from_the_dockerfile_targets(compose: dict[str, Any]) -> None:
    services = compose["services"]
    targets = {name: services[name]["build"]["target"] for name in ("migrate", "api", "worker")}
    assert targets == {"migrate": "api", "api": "api", "worker": "worker"}
    assert "command" not in services["api"], "the api runs its image's CMD (one copy of it)"


def test_api_is_published_and_keyed(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    argv = command_argv(api)
    assert argv[:3] == ["python", "-m", "app.serve"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    port = argv[argv.index("--port") + 1]
    assert [str(p).rsplit(":", 1)[1] for p in api["ports"]] == [port]
    assert [str(p).rsplit(":", 1)[0] for p in api["ports"]] == [dotenv_values()["API_PORT"]]
    env = environment_of(compose, "api")
    assert env["FORECAST_API_KEY"] == TEST_SECRETS["FORECAST_API_KEY"]
    assert env["FORECAST_LOG_FORMAT"] == "json"


def test_workers_scale_and_share_the_artifact_store(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker = services["worker"]
    assert "container_name" not in worker, "--scale needs no container_name"
    assert "ports" not in worker, "--scale needs no fixed host ports"
    argv = command_argv(worker)
    assert argv[:4] == ["celery", "-A", "app.training.jobs.celery_app:celery", "worker"]
    queue = next(a.split("=", 1)[1] for a in argv if a.startswith("--queues="))
    for name in ("api", "worker"):
        assert environment_of(compose, name)["FORECAST_QUEUE"] == queue
    grace = re.fullmatch(r"(\d+)([smh])", str(worker["stop_grace_period"]))
    assert grace, worker["stop_grace_period"]
    seconds = int(grace.group(1)) * {"s": 1, "m": 60, "h": 3600}[grace.group(2)]
    assert seconds >= 60, "a running job needs time to finish on `docker compose stop`"
    # api and worker mount one named volume at the path FORECAST_MODEL_DIR names (staging
    # and cache), and keep their bundles in one bucket of the minio service.
    mounts = {}
    for name in ("api", "worker"):
        model_dir = environment_of(compose, name)[MODEL_DIR]
        found = [m for m in volume_mounts(services[name]) if m[2] == model_dir]
        assert len(found) == 1, (name, found)
        assert found[0][0] == "volume", (name, found)
        mounts[name] = found[0]
    assert mounts["api"] == mounts["worker"]


def test_the_artifact_store_is_minio_with_its_bucket_made_first(compose: dict[str, Any]) -> None:
    services = compose["services"]
    minio = services["minio"]
    assert "healthcheck" in minio
    assert any(m[0] == "volume" for m in volume_mounts(minio)), "bundles must outlive the container"
    minio_env = service_environment(minio, {})
    buckets = services["buckets"]
    argv = command_argv(buckets)
    assert buckets["entrypoint"] == ["mc"]
    assert argv[:2] == ["mb", "--ignore-existing"]
    alias, bucket = argv[-1].split("/")
    assert depends_on(buckets) == {"minio": "service_healthy"}
    credentials = f"{minio_env['MINIO_ROOT_USER']}:{minio_env['MINIO_ROOT_PASSWORD']}"
    assert service_environment(buckets, {})[f"MC_HOST_{alias}"] == (
        f"http://{credentials}@minio:9000"
    )
    for name in ("migrate", "api", "worker"):
        env = environment_of(compose, name)
        store = env["FORECAST_ARTIFACT_STORE"]
        assert Settings(artifact_store=store).artifact_store == store  # a valid setting
        assert store.removeprefix("s3://").split("/")[0] == bucket
        assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
        assert env["AWS_ACCESS_KEY_ID"] == minio_env["MINIO_ROOT_USER"]
        assert env["AWS_SECRET_ACCESS_KEY"] == TEST_SECRETS["MINIO_ROOT_PASSWORD"]
        if name != "migrate":
            assert depends_on(services[name])["buckets"] == "service_completed_successfully"


def test_env_example_parses_and_has_the_required_lines() -> None:
    text = ENV_EXAMPLE.read_text()
    assert "POSTGRES_PASSWORD=" in text
    assert "FORECAST_API_KEY=" in text
    for line in read_env_example():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", line.name)
