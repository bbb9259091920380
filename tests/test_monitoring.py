"""Monitoring shipped: the metrics the alert rules and the dashboard read, and monitoring/ itself.

- The metrics added for the alerts (build info, readiness, the oldest queued job's wait, interval
  coverage per alias), scraped from the app's /metrics on a real database.
- ``promtool check rules``, ``promtool test rules`` and ``promtool check config`` on
  monitoring/prometheus/ (Debian's prometheus package: ``make test`` installs it as root; without
  it these skip with a message, except under ``CI=true`` where they fail).
- Every metric name the alert rules and the Grafana dashboard query is one a live app exports.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from app.db.migrate import upgrade_to_head
from app.db.orm import ModelAlias, TrainingJob, VersionIntervalAdaptation
from app.db.types import utcnow
from app.main import VERSION, create_app
from app.ml.intervals import IntervalAdaptation, LevelAdaptation
from app.vocabulary import JobStatus
from tests import factories
from tests.conftest import in_ci, server_settings

with warnings.catch_warnings():  # "use httpx2 with starlette.testclient": not installed here
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "monitoring"
PROMETHEUS_DIR = MONITORING / "prometheus"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "forecast.json"
DATASOURCES = MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
MONITORING_DOC = ROOT / "docs" / "monitoring.md"
PROMTOOL = os.environ.get("FORECAST_PROMTOOL") or shutil.which("promtool") or "/usr/bin/promtool"
# Series Prometheus writes itself for every scrape (not the service's).
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

MakeClient = Callable[..., TestClient]
Samples = dict[str, list[Any]]


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[MakeClient]:
    """An app on a migrated database (SQLite in tmp_path unless given); a client to it."""
    apps: list[FastAPI] = []

    def make(database: str | None = None, **overrides: Any) -> TestClient:
        database = database or f"sqlite:///{tmp_path / f'monitoring-{len(apps)}.db'}"
        model_dir = overrides.pop("model_dir", tmp_path / "models")
        app = create_app(server_settings(database, model_dir, **overrides))
        upgrade_to_head(app.state.db.engine)
        apps.append(app)
        return TestClient(app, raise_server_exceptions=False)

    yield make
    for app in apps:
        app.state.db.dispose()


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {f.name: f.samples for f in text_string_to_metric_families(response.text)}


def values(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Label set → value of every sample called ``name`` (in whichever family holds it)."""
    return {
        frozenset(s.labels.items()): s.value
        for family in samples.values()
        for s in family
        if s.name == name
    }


def checks_of(samples: Samples) -> dict[str, float]:
    """forecast_readiness_check by check."""
    return {dict(k)["check"]: v for k, v in values(samples, "forecast_readiness_check").items()}


def value(samples: Samples, name: str, **labels: str) -> float:
    found = values(samples, name)
    key = frozenset(labels.items())
    assert key in found, (name, labels, found)
    return found[key]


# --------------------------------------------------------------------------- the metrics


def test_build_info_names_the_version(make_client: MakeClient) -> None:
    samples = scrape(make_client())
    info = {"version": VERSION, "python_version": platform.python_version()}
    assert values(samples, "forecast_build_info") == {frozenset(info.items()): 1.0}


def test_readiness_metrics_say_what_readyz_says(make_client: MakeClient, tmp_path: Path) -> None:
    ready = make_client()
    samples = scrape(ready)
    assert value(samples, "forecast_ready") == 1
    checks = ready.get("/readyz").json()["checks"]
    assert checks_of(samples) == dict.fromkeys(checks, 1.0)

    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    broken = make_client(model_dir=not_a_dir)
    samples = scrape(broken)
    assert value(samples, "forecast_ready") == 0
    answer = broken.get("/readyz")
    assert answer.status_code == 503
    failing = {k for k, v in answer.json()["checks"].items() if v != "ok"}
    assert failing == {"artifact_store"}
    per_check = checks_of(samples)
    assert {name for name, ok in per_check.items() if not ok} == failing
    assert per_check["database"] == 1


def test_the_oldest_queued_jobs_wait(make_client: MakeClient, empty_database_url: str) -> None:
    client = make_client(database=empty_database_url)  # on both backends: the SQL differs
    app: FastAPI = client.app  # type: ignore[assignment]
    assert value(scrape(client), "forecast_oldest_queued_job_age_seconds") == 0
    now = utcnow()
    with Session(app.state.db.engine) as session, session.begin():
        for status, age in [("queued", 600), ("queued", 60), ("running", 3600), ("failed", 7200)]:
            factories.job(session, status=status, created_at=now - timedelta(seconds=age))
    waited = value(scrape(client), "forecast_oldest_queued_job_age_seconds")
    assert 600 <= waited < 600 + 60  # the oldest queued one, not the older running one
    with Session(app.state.db.engine) as session, session.begin():
        for job in session.query(TrainingJob).filter_by(status=JobStatus.QUEUED):
            job.status = JobStatus.CANCELLED
    assert value(scrape(client), "forecast_oldest_queued_job_age_seconds") == 0


def test_interval_coverage_per_alias(make_client: MakeClient, empty_database_url: str) -> None:
    """Step 1 of the aliased versions' stored adaptation: covered over points, per level."""
    client = make_client(database=empty_database_url)
    app: FastAPI = client.app  # type: ignore[assignment]
    samples = scrape(client)
    assert "forecast_realized_interval_coverage_ratio" in samples  # named even when empty
    assert not values(samples, "forecast_realized_interval_coverage_ratio")

    def adapted(**levels: tuple[list[int], list[int]]) -> IntervalAdaptation:
        return IntervalAdaptation(
            eta=0.05,
            window=2000,
            levels={
                int(level.removeprefix("level_")): LevelAdaptation(
                    theta=[0.0] * len(points), points=points, covered=covered
                )
                for level, (points, covered) in levels.items()
            },
        )

    with Session(app.state.db.engine) as session, session.begin():
        served = factories.version(session, "AAPL")
        older = factories.version(session, "AAPL")  # has points, but no alias serves it
        for alias in ("champion", "staging"):
            session.add(ModelAlias(model_id=served.model_id, alias=alias, version_id=served.id))
        record = adapted(level_80=([400, 390], [300, 320]), level_95=([400, 390], [340, 380]))
        session.add(
            VersionIntervalAdaptation(model_version_id=served.id, revision=3, adaptation=record)
        )
        session.add(
            VersionIntervalAdaptation(
                model_version_id=older.id, revision=1, adaptation=adapted(level_95=([50], [1]))
            )
        )
    samples = scrape(client)
    coverage = values(samples, "forecast_realized_interval_coverage_ratio")
    points = values(samples, "forecast_realized_interval_points")
    expected = {"80": (400, 300 / 400), "95": (400, 340 / 400)}  # step 1 only
    for alias in ("champion", "staging"):
        for level, (n, share) in expected.items():
            labels = frozenset({"model": "AAPL", "alias": alias, "level": level}.items())
            assert points[labels] == n
            assert coverage[labels] == pytest.approx(share)
    assert len(coverage) == len(points) == 4


def test_renamed_metrics_follow_prometheus_conventions(make_client: MakeClient) -> None:
    """Units as suffixes, _ratio for quotients, _total for counters, and no old names left."""
    client = make_client()
    response = client.get("/metrics")
    families = list(text_string_to_metric_families(response.text))
    for family in families:
        if family.type == "counter":
            assert f"# TYPE {family.name}_total counter" in response.text, family.name
        if "_to_" in family.name or "coverage" in family.name:  # quotients
            assert family.name.endswith("_ratio"), family.name
    names = {f.name for f in families}
    old = {
        "forecast_realized_rmse_to_naive",
        "forecast_realized_rmse_to_promised",
        "forecast_realized_scored",
        "forecast_bundle_cache_size",
    }
    assert not names & old
    for name in ("forecast_latency_seconds", "forecast_oldest_queued_job_age_seconds"):
        assert name in names


# --------------------------------------------------------------------------- promtool


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists():
        reason = (
            f"no promtool at {PROMTOOL}: install Debian's prometheus package "
            "(`make test` does, as root: .ci/promtool)"
        )
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_alert_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", "alerts.yml", cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout + result.stderr


def test_alert_rules_pass_their_unit_tests() -> None:
    result = promtool("test", "rules", "alerts_test.yml", cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_alert_is_shown_firing_and_documented() -> None:
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    doc = MONITORING_DOC.read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", doc, flags=re.M)
    }
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    for rule in alert_rules():
        assert rule["alert"] in fired, f"{rule['alert']} has no test where it fires"
        assert rule["labels"]["severity"] in {"critical", "warning"}
        runbook = rule["annotations"]["runbook_url"]
        assert runbook == f"docs/monitoring.md#{rule['alert'].lower()}", runbook
        assert runbook.split("#")[1] in anchors, f"docs/monitoring.md has no {runbook}"


def test_prometheus_config_passes_promtool_check(tmp_path: Path) -> None:
    """The scrape config as the monitoring profile mounts it; promtool wants the key file to
    exist, so a copy points it at one in tmp_path."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]  # relative: the folder is mounted as a whole
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy)
    key = tmp_path / "forecast_api_key"
    key.write_text("key0123456789")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "forecast-api"
    assert job["authorization"]["credentials_file"] == "/run/secrets/forecast_api_key"
    job["authorization"]["credentials_file"] = str(key)
    (copy / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = promtool("check", "config", "prometheus.yml", cwd=copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout + result.stderr


# --------------------------------------------------------------------------- what they query

_WORD = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
             "unless", "bool", "offset", "inf", "nan"}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, label matchers,
    ranges and Grafana's $variables left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)
    expr = _GROUPING.sub(" ", expr)
    names = set()
    for match in _WORD.finditer(expr):
        if expr[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group(0).lower() not in _KEYWORDS:
            names.add(match.group(0))
    return names


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket"
        '{route!="/x"}[$__rate_interval]))) / on (job) group_left max(up{job="a"}) > 6 * 3600 '
        "and count by (check) (forecast_ready == 0) or vector(0)"
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "up", "forecast_ready"}


def exported_names(client: TestClient) -> set[str]:
    """Every series name the app's /metrics can hold, samples or not yet."""
    suffixes = {"histogram": ["_bucket", "_sum", "_count"], "counter": ["_total"]}
    names = set()
    for family in text_string_to_metric_families(client.get("/metrics").text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, []))
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    for panel in panels:
        assert panel["targets"], panel["title"]
        queries.extend(target["expr"] for target in panel["targets"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((\w+),\s*\w+\)", variable["definition"])
            assert found, variable["definition"]
            queries.append(found.group(1))
    return queries


def test_dashboard_and_alerts_query_only_exported_metrics(make_client: MakeClient) -> None:
    exported = exported_names(make_client()) | PROMETHEUS_SERIES
    for source, queries in [
        ("the dashboard", dashboard_queries()),
        ("alerts.yml", [rule["expr"] for rule in alert_rules()]),
    ]:
        for query in queries:
            names = metric_names(query)
            assert names, f"{source}: no metric in {query!r}"
            assert names <= exported, f"{source} queries {names - exported}, not exported"
    # The ledger's, readiness and queue metrics are on the dashboard.
    used = set().union(*(metric_names(q) for q in dashboard_queries()))
    for name in (
        "forecast_realized_rmse_to_naive_ratio",
        "forecast_realized_interval_coverage_ratio",
        "forecast_ready",
        "forecast_oldest_queued_job_age_seconds",
        "forecast_build_info",
    ):
        assert name in used, name


def test_dashboard_is_provisionable() -> None:
    """Classic dashboard JSON (file provisioning rejects Grafana 13's v2 format) whose panels
    ask for the provisioned Prometheus data source."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert {"panels", "schemaVersion", "uid"} <= set(dashboard)
    assert not {"elements", "layout"} & set(dashboard)  # v2 keys
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert source["type"] == "prometheus"
    variable = next(v for v in dashboard["templating"]["list"] if v["type"] == "datasource")
    assert variable["query"] == source["type"]
    assert variable["current"]["value"] == source["uid"]
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
