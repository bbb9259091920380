"""docker-compose.yml and .env.example, checked without a Docker engine: the compose-spec
schema, references between services, volumes, networks, secrets and mounted files, the settings
contract, the object store on a scoped key (its identity written by deploy/seaweedfs/start.sh,
run here), the `monitoring` profile and the external-S3 override."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import Settings
from tests.deploy.files import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ROOT,
    VENV_BIN,
    InterpolationError,
    command_argv,
    default_services,
    depends_on,
    dotenv_values,
    interpolate,
    load_compose,
    merge_override,
    raw_compose,
    read_env_example,
    service_environment,
    service_secrets,
    variable_usages,
    volume_mounts,
)

SERVICES = {"postgres", "redis", "objectstore", "buckets", "migrate", "api", "worker"}
MONITORING = {"prometheus", "grafana"}
SECRETS = {"POSTGRES_PASSWORD", "FORECAST_API_KEY"}
TEST_SECRETS = {"POSTGRES_PASSWORD": "pw0123456789", "FORECAST_API_KEY": "key0123456789"}
MODEL_DIR = "FORECAST_MODEL_DIR"
EXTERNAL_S3 = ROOT / "docker-compose.external-s3.yml"
START = ROOT / "deploy" / "seaweedfs" / "start.sh"
MAKE_BUCKET = ROOT / "deploy" / "seaweedfs" / "make-bucket.sh"
# Images pinned to one published release (not a floating major, not latest).
PINNED = {
    "objectstore": r"chrislusf/seaweedfs:\d+\.\d+",
    "buckets": r"chrislusf/seaweedfs:\d+\.\d+",
    "prometheus": r"prom/prometheus:v\d+\.\d+\.\d+",
    "grafana": r"grafana/grafana:\d+\.\d+\.\d+",
}


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
    assert set(services) == SERVICES | MONITORING
    volumes = set(compose.get("volumes") or {})
    networks = set(compose.get("networks") or {}) | {"default"}
    secrets = set(compose.get("secrets") or {})
    used_volumes, used_networks, used_secrets = set(), {"default"}, set()
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
            else:  # a file or folder of the repository, mounted as it is
                assert not source.startswith(("/", "~", "$")), f"{name} mounts {source}"
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
        mode = service.get("network_mode")
        if mode is not None:  # shares another service's network namespace
            assert mode.startswith("service:"), (name, mode)
            assert mode.removeprefix("service:") in depends_on(service), name
            assert "networks" not in service, name
            assert "ports" not in service, name
        service_networks = service.get("networks") or []
        for network in service_networks if isinstance(service_networks, list) else service_networks:
            assert network in networks, f"{name} joins undeclared network {network}"
            used_networks.add(network)
        for secret in service_secrets(service):
            assert secret in secrets, f"{name} uses undeclared secret {secret}"
            used_secrets.add(secret)
        build = service.get("build")
        assert build or service.get("image"), f"{name} has neither image nor build"
    assert used_volumes == volumes, f"declared but unused: {volumes - used_volumes}"
    assert used_networks == networks, f"declared but unused: {networks - used_networks}"
    assert used_secrets == secrets, f"declared but unused: {secrets - used_secrets}"


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service.get("image")
        if image is None:
            continue
        assert ":" in image, (name, image)
        assert not image.endswith(":latest"), (name, image)
        if name in PINNED:
            assert re.fullmatch(PINNED[name], image), (name, image)


def test_every_variable_is_documented_in_env_example() -> None:
    documented = {line.name: line for line in read_env_example()}
    usages = variable_usages(raw_compose())
    assert usages
    for secret in raw_compose()["secrets"].values():  # secrets made from a variable
        if "environment" in secret:
            assert documented[secret["environment"]].active, secret
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
    # and cache), and keep their bundles in one bucket of the objectstore service.
    mounts = {}
    for name in ("api", "worker"):
        model_dir = environment_of(compose, name)[MODEL_DIR]
        found = [m for m in volume_mounts(services[name]) if m[2] == model_dir]
        assert len(found) == 1, (name, found)
        assert found[0][0] == "volume", (name, found)
        mounts[name] = found[0]
    assert mounts["api"] == mounts["worker"]


def option(argv: list[str], name: str) -> str:
    """The value of ``-name=value`` in a SeaweedFS command line."""
    (found,) = [a.split("=", 1)[1] for a in argv if a.startswith(f"-{name}=")]
    return found


def test_the_artifact_store_is_seaweedfs_on_a_scoped_key(compose: dict[str, Any]) -> None:
    services = compose["services"]
    store = services["objectstore"]
    argv = command_argv(store)
    assert argv[0] == "server"
    assert {"-s3", "-filer"} <= set(argv)
    # Master, volume server and filer on the container's loopback; S3 for the others.
    assert option(argv, "ip") == option(argv, "ip.bind") == "127.0.0.1"
    assert option(argv, "s3.ip.bind") == "0.0.0.0"
    assert option(argv, "s3.port.iceberg") == option(argv, "s3.port.lance") == "0"
    assert option(argv, "master.telemetry") == "false"
    assert "healthcheck" in store
    assert any(m[0] == "volume" and m[2] == "/data" for m in volume_mounts(store)), (
        "bundles must outlive the container"
    )
    # The entrypoint writes the identities where -s3.config reads them, from the secret.
    assert store["entrypoint"][0] == "/bin/sh"
    mounted = {target: source for _, source, target in volume_mounts(store)}
    assert ROOT / mounted[store["entrypoint"][1]] == START
    store_env = service_environment(store, {})
    assert option(argv, "s3.config") == "/etc/seaweedfs/identities.json"  # start.sh's default
    assert not {"S3_IDENTITIES_FILE", "S3_CREDENTIALS_FILE"} & set(store_env)
    assert service_secrets(store) == {"s3_credentials": "/run/secrets/s3_credentials"}
    # Only the API and workers reach it, on an internal network of its own.
    assert compose["networks"]["objectstore"]["internal"] is True
    assert store["networks"] == ["objectstore"]
    joined = {n for n, s in services.items() if "objectstore" in (s.get("networks") or [])}
    assert joined == {"objectstore", "api", "worker"}

    # The bucket, made in the store's own network namespace by make-bucket.sh.
    buckets = services["buckets"]
    assert buckets["image"] == store["image"]
    assert buckets["network_mode"] == "service:objectstore"
    assert depends_on(buckets) == {"objectstore": "service_healthy"}
    assert buckets.get("restart") == "no"
    mounted = {target: source for _, source, target in volume_mounts(buckets)}
    assert ROOT / mounted[buckets["entrypoint"][1]] == MAKE_BUCKET
    bucket_env = service_environment(buckets, {})
    bucket = bucket_env["S3_BUCKET"]
    assert store_env["S3_BUCKET"] == bucket
    assert store_env["S3_IDENTITY"] == bucket_env["S3_IDENTITY"]  # the bucket's owner

    port = option(argv, "s3.port")
    for name in ("migrate", "api", "worker"):
        env = environment_of(compose, name)
        url = env["FORECAST_ARTIFACT_STORE"]
        assert Settings(artifact_store=url).artifact_store == url  # a valid setting
        assert url.removeprefix("s3://").split("/")[0] == bucket
        assert env["AWS_ENDPOINT_URL"] == f"http://objectstore:{port}"
        # The key is in the secret file boto3 reads, never in the environment.
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/run/secrets/s3_credentials"
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"} & set(env)
        if name != "migrate":  # migrate never touches the store
            assert service_secrets(services[name]) == {
                "s3_credentials": env["AWS_SHARED_CREDENTIALS_FILE"]
            }
            assert depends_on(services[name])["buckets"] == "service_completed_successfully"
            assert services[name]["depends_on"]["buckets"]["required"] is False
    for name, service in services.items():  # no other service gets the key
        if name not in {"objectstore", "api", "worker"}:
            assert "s3_credentials" not in service_secrets(service), name


def run_start(shell: list[str], tmp_path: Path, credentials: str, bucket: str = "b-1") -> Any:
    """deploy/seaweedfs/start.sh as the object store runs it, natively: the identities it
    writes (None if it wrote none) and its exit status. Its last step, the image's entrypoint,
    is `true` here."""
    secret = tmp_path / "s3_credentials"
    secret.write_text(credentials)
    identities = tmp_path / "etc" / "identities.json"
    env = {
        "PATH": "/usr/bin:/bin",
        "S3_BUCKET": bucket,
        "S3_IDENTITY": "forecast",
        "S3_CREDENTIALS_FILE": str(secret),
        "S3_IDENTITIES_FILE": str(identities),
        "SEAWEEDFS_ENTRYPOINT": "true",
    }
    result = subprocess.run(
        [*shell, str(START), "server", "-s3"], env=env, capture_output=True, text=True, timeout=30
    )
    written = json.loads(identities.read_text()) if identities.exists() else None
    return result, written


@pytest.fixture(params=["sh", "busybox"])
def shell(request: pytest.FixtureRequest) -> list[str]:
    """POSIX sh here, and busybox's (the image's, Alpine) where it is installed."""
    if request.param == "busybox":
        busybox = shutil.which("busybox")
        if busybox is None:
            pytest.skip("busybox is not installed (apt-get install busybox)")
        return [busybox, "sh"]
    return ["sh"]


def test_the_store_has_one_identity_the_apps_key_scoped_to_its_bucket(
    shell: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, secret = "forecast-app", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    credentials = (
        "[other]\naws_access_key_id = not-this-one\n\n"
        f"[default]\n# the app's\naws_access_key_id = {key}\naws_secret_access_key={secret}\n"
    )
    result, written = run_start(shell, tmp_path, credentials, bucket="forecast-models")
    assert result.returncode == 0, result.stderr
    (identity,) = written["identities"]
    assert identity["name"] == "forecast"
    assert identity["credentials"] == [{"accessKey": key, "secretKey": secret}]
    assert identity["actions"] == ["Read:forecast-models", "Write:forecast-models",
                                   "List:forecast-models"]  # fmt: skip
    assert (tmp_path / "etc" / "identities.json").stat().st_mode & 0o077 == 0
    # What boto3 reads from the same file: the app signs with this identity's key (the
    # variables the session's moto server sets would come first: the compose file sets none).
    import botocore.session

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)

    session = botocore.session.Session()
    session.set_config_variable("credentials_file", str(tmp_path / "s3_credentials"))
    found = session.get_credentials()
    assert (found.access_key, found.secret_key) == (key, secret)


@pytest.mark.parametrize(
    "credentials",
    [
        "",  # no [default] profile
        "[default]\naws_access_key_id = forecast\n",  # no secret
        "[default]\naws_access_key_id = forecast\naws_secret_access_key = short\n",
        '[default]\naws_access_key_id = a"b\naws_secret_access_key = 0123456789abcdef01\n',
        "[prod]\naws_access_key_id = forecast\naws_secret_access_key = 0123456789abcdef01\n",
    ],
)
def test_the_store_refuses_to_start_open(
    shell: list[str], tmp_path: Path, credentials: str
) -> None:
    """SeaweedFS with no identity lets anyone in: no usable key, no identities, no server."""
    result, written = run_start(shell, tmp_path, credentials)
    assert result.returncode != 0
    assert written is None
    assert "seaweedfs-start:" in result.stderr


def test_monitoring_profile_is_not_started_by_default(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert default_services(compose) == SERVICES
    assert default_services(compose, ("monitoring",)) == SERVICES | MONITORING
    for name in MONITORING:
        assert services[name]["profiles"] == ["monitoring"]
        # Published on the host's loopback only: Prometheus has no login.
        for port in services[name]["ports"]:
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_prometheus_loads_the_repositorys_rules_and_scrapes_the_api(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    prometheus = services["prometheus"]
    mounts = {target: source for _, source, target in volume_mounts(prometheus)}
    argv = command_argv(prometheus)
    config_file = next(a.split("=", 1)[1] for a in argv if a.startswith("--config.file="))
    folder, name = config_file.rsplit("/", 1)
    assert ROOT / mounts[folder] == ROOT / "monitoring" / "prometheus"
    config = yaml.safe_load((ROOT / mounts[folder] / name).read_text())
    for rules in config["rule_files"]:
        assert (ROOT / mounts[folder] / rules).is_file()
    (job,) = config["scrape_configs"]
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert (host, port) == ("api", command_argv(services["api"])[-1])
    assert job["metrics_path"] == "/metrics"
    # The API key as a file: the secret made from FORECAST_API_KEY.
    secret = job["authorization"]["credentials_file"]
    assert service_secrets(prometheus) == {"forecast_api_key": secret}
    assert compose["secrets"]["forecast_api_key"] == {"environment": "FORECAST_API_KEY"}
    storage = next(a.split("=", 1)[1] for a in argv if a.startswith("--storage.tsdb.path="))
    assert any(m[0] == "volume" and m[2] == storage for m in volume_mounts(prometheus))


def test_grafana_is_provisioned_with_the_data_source_and_dashboard(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    grafana = services["grafana"]
    mounts = {target: ROOT / source for kind, source, target in volume_mounts(grafana)
              if kind == "bind"}  # fmt: skip
    provisioning = mounts["/etc/grafana/provisioning"]
    assert provisioning == ROOT / "monitoring" / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
    assert any(str(p).endswith(":9090") for p in services["prometheus"]["ports"])
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "forecast.yml").read_text())[
        "providers"
    ]
    dashboards = mounts[provider["options"]["path"]]
    assert (dashboards / "forecast.json").is_file()
    env = service_environment(grafana, {})
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (dashboards / home.rsplit("/", 1)[1]).is_file()
    # Viewers only, anonymous: no admin is created, so there is no default password.
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION"] == "true"
    assert not any(k.startswith("GF_SECURITY_ADMIN_PASSWORD") for k in env)
    assert depends_on(grafana) == {"prometheus": "service_healthy"}


def test_external_s3_override_leaves_the_bundled_store_out() -> None:
    """docker-compose.external-s3.yml over the main file, with an AWS bucket in .env."""
    s3 = {"S3_BUCKET": "acme-models", "S3_PREFIX": "forecast", "S3_ENDPOINT_URL": "",
          "S3_REGION": "eu-west-1"}  # fmt: skip
    external = {**dotenv_values(), **TEST_SECRETS, **s3}
    override = yaml.safe_load(EXTERNAL_S3.read_text())
    result = subprocess.run(
        [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(EXTERNAL_S3)], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    merged = interpolate(merge_override(raw_compose(), override), external)
    started = default_services(merged)
    assert started == SERVICES - {"objectstore", "buckets"}
    for name in started:  # nothing started needs what is left out
        for dependency in depends_on(merged["services"][name]):
            if dependency not in started:
                assert merged["services"][name]["depends_on"][dependency]["required"] is False
    for name in ("api", "worker"):
        env = service_environment(merged["services"][name], {".env": external})
        assert env["FORECAST_ARTIFACT_STORE"] == "s3://acme-models/forecast"
        assert env["AWS_ENDPOINT_URL"] == ""  # boto3 then uses AWS's own endpoints
        assert env["AWS_DEFAULT_REGION"] == "eu-west-1"
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/run/secrets/s3_credentials"


def test_env_example_parses_and_has_the_required_lines() -> None:
    text = ENV_EXAMPLE.read_text()
    assert "POSTGRES_PASSWORD=" in text
    assert "FORECAST_API_KEY=" in text
    for line in read_env_example():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", line.name)
