"""Operations: API key, CORS, request ids, logs, metrics, readiness, generic 500s.

Most tests drive the ASGI app in process (no lifespan: no worker pool is started) on a migrated
SQLite file; what needs a real server process is in ``test_shutdown.py``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.migrate import upgrade_to_head
from app.db.orm import TrainingJob
from app.db.types import utcnow
from app.logs import configure_logging, job_logging
from app.main import create_app
from app.operations.dashboard import is_dashboard_path
from app.operations.security import OPEN_PATHS
from tests.conftest import server_settings
from tests.training.test_celery import REDIS_URL, require_redis

with warnings.catch_warnings():  # "use httpx2 with starlette.testclient": not installed here
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

KEY = "s3cret-key"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
HEX32 = re.compile(r"^[0-9a-f]{32}$")

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[MakeClient]:
    """Build an app from settings overrides on a migrated SQLite file; yield a client to it."""
    apps: list[FastAPI] = []

    def make(migrate: bool = True, database: str | None = None, **overrides: Any) -> TestClient:
        database = database or f"sqlite:///{tmp_path / f'ops-{len(apps)}.db'}"
        model_dir = overrides.pop("model_dir", tmp_path / "models")
        overrides.setdefault("log_level", "INFO")  # these tests read the access lines
        settings = server_settings(database, model_dir, **overrides)
        app = create_app(settings)
        if migrate:
            upgrade_to_head(app.state.db.engine)
        apps.append(app)
        return TestClient(app, raise_server_exceptions=False)

    yield make
    for app in apps:
        app.state.db.dispose()
    configure_logging(Settings())


def routes_of(client: TestClient) -> list[tuple[str, set[str]]]:
    """Every (path template, methods) of the app, included routers flattened."""
    app: FastAPI = client.app  # type: ignore[assignment]
    return [
        (str(context.path_format), set(context.methods or ()))
        for context in iter_route_contexts(app.routes)
    ]


def concrete(path: str) -> str:
    """A route template with every ``{param}`` filled in."""
    return re.sub(r"\{[^}]+\}", "1", path)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


# --------------------------------------------------------------------------- API key


def test_every_write_route_needs_the_key(make_client: MakeClient) -> None:
    client = make_client(api_key=KEY)
    writes = [
        (method, path)
        for path, methods in routes_of(client)
        for method in sorted(methods & WRITE_METHODS)
    ]
    assert len(writes) >= 8, writes  # the check below must have something to check
    for method, template in writes:
        path = concrete(template)
        missing = client.request(method, path)
        body = assert_problem(missing, 401)
        assert missing.headers["www-authenticate"] == "Bearer", (method, template)
        assert "X-API-Key" in body["detail"]
        wrong = client.request(method, path, headers={"Authorization": "Bearer nope"})
        assert_problem(wrong, 401)
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        for headers in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
            allowed = client.request(method, path, headers=headers)
            assert allowed.status_code not in (401, 403), (method, template, allowed.text)
            assert allowed.status_code < 500, (method, template, allowed.text)


def test_a_route_added_later_is_covered(make_client: MakeClient) -> None:
    client = make_client(api_key=KEY, migrate=False)
    app: FastAPI = client.app  # type: ignore[assignment]

    def late() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_api_route("/v1/added-later", late, methods=["POST"])
    assert_problem(client.post("/v1/added-later"), 401)
    assert client.post("/v1/added-later", headers={"X-API-Key": KEY}).json() == {"ok": "yes"}


def test_reads_stay_open_unless_protected(make_client: MakeClient) -> None:
    client = make_client(api_key=KEY)
    assert client.get("/v1/series").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_protected_reads_need_the_key_except_probes_docs_and_dashboard(
    make_client: MakeClient,
) -> None:
    client = make_client(api_key=KEY, protect_reads=True)
    reads = {path for path, methods in routes_of(client) if "GET" in methods}
    assert "/metrics" in reads
    for template in sorted(reads):
        response = client.get(concrete(template))
        if template in OPEN_PATHS or is_dashboard_path(template):
            assert response.status_code != 401, template
        else:
            assert_problem(response, 401)
    for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    assert client.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200
    assert client.head("/v1/series").status_code == 401


def test_openapi_declares_both_schemes(make_client: MakeClient) -> None:
    spec = make_client(api_key=KEY, migrate=False).get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    upload = spec["paths"]["/v1/series"]["post"]
    assert upload["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
    assert "401" in upload["responses"]
    assert "security" not in spec["paths"]["/v1/series"]["get"]
    open_spec = make_client(migrate=False).get("/openapi.json").json()
    assert "securitySchemes" in open_spec["components"]  # the Authorize button is always there


# --------------------------------------------------------------------------- CORS


def test_cors_only_for_configured_origins(make_client: MakeClient) -> None:
    origin = "https://dash.example"
    client = make_client(api_key=KEY, cors_origins=[origin])
    preflight = client.options(
        "/v1/training-jobs",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,x-api-key,content-type",
        },
    )
    assert preflight.status_code == 200  # a preflight never needs the key
    assert preflight.headers["access-control-allow-origin"] == origin
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "x-api-key"} <= set(allowed.replace(" ", "").split(","))
    simple = client.get("/v1/series", headers={"Origin": origin})
    assert simple.headers["access-control-allow-origin"] == origin
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    refused = client.post("/v1/training-jobs", headers={"Origin": origin}, json={})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == origin  # readable by the page
    other = client.get("/v1/series", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers

    closed = make_client(migrate=False)
    response = closed.get("/healthz", headers={"Origin": origin})
    assert "access-control-allow-origin" not in response.headers


# --------------------------------------------------------------------------- request ids, 500s


def test_request_id_is_echoed_or_generated(make_client: MakeClient) -> None:
    client = make_client(api_key=KEY)
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc.DEF_1-2"}).headers["x-request-id"]
        == "abc.DEF_1-2"
    )
    for bad in (b"a" * 129, b"has space", b"<script>", "ä".encode()):
        sent = client.get("/healthz", headers={"X-Request-ID": bad})  # type: ignore[dict-item]
        assert HEX32.match(sent.headers["x-request-id"]), bad
    first, second = (client.get("/healthz").headers["x-request-id"] for _ in range(2))
    assert HEX32.match(first)
    assert first != second
    # on errors too: unknown path, validation, wrong key, body too large
    for response, status in (
        (client.get("/nowhere"), 404),
        (client.get("/v1/series/0"), 422),
        (client.post("/v1/series", json={}), 401),
        (client.post("/v1/series", headers={"X-API-Key": KEY}, content=b"x" * (3 << 20)), 413),
        (client.patch("/healthz", headers={"X-API-Key": KEY}), 405),
    ):
        assert_problem(response, status)
        assert HEX32.match(response.headers["x-request-id"])


def test_unexpected_error_is_a_generic_problem(
    make_client: MakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(migrate=False, log_format="json")
    app: FastAPI = client.app  # type: ignore[assignment]

    def explode() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_api_route("/explode", explode)
    response = client.get("/explode", headers={"X-Request-ID": "boom-1"})
    body = assert_problem(response, 500)
    assert response.headers["x-request-id"] == "boom-1"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert body["detail"] == "The server failed to handle this request; the error was logged."
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    error = next(r for r in records if r["logger"] == "app.errors")
    assert error["request_id"] == "boom-1"
    assert "hunter2" in error["exc_info"]  # the details are in the log, not the response
    access = next(r for r in records if r["logger"] == "app.access")
    assert (access["status"], access["route"], access["request_id"]) == (500, "/explode", "boom-1")


# --------------------------------------------------------------------------- logs


def test_json_access_line_has_route_status_duration_and_request_id(
    make_client: MakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(log_format="json")
    capsys.readouterr()
    client.get("/v1/series/12345", headers={"X-Request-ID": "req-42"})
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    access = [r for r in records if r["logger"] == "app.access"]
    assert len(access) == 1, records
    line = access[0]
    assert line["request_id"] == "req-42"
    assert (line["method"], line["path"], line["route"], line["status"]) == (
        "GET",
        "/v1/series/12345",
        "/v1/series/{series_id}",
        404,
    )
    assert line["duration_ms"] >= 0
    assert line["level"] == "INFO"
    assert "time" in line


def test_worker_records_carry_the_job_id(capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("app.training.worker")
    configure_logging(Settings(log_format="json"))
    with job_logging(7):
        log.info("epoch done")
    log.info("between jobs")
    configure_logging(Settings(log_format="text"))
    with job_logging(8):
        log.warning("in text")
    lines = capsys.readouterr().err.splitlines()
    during, after = (json.loads(line) for line in lines[:2])
    assert (during["job_id"], during["message"]) == (7, "epoch done")
    assert "job_id" not in after
    assert "WARNING app.training.worker [job_id=8]: in text" in lines[2]


def test_log_level_is_a_floor(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings(log_level="warning"))
    try:
        logging.getLogger("uvicorn.error").info("hidden")
        logging.getLogger("app").warning("shown")
    finally:
        configure_logging(Settings())
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert "shown" in err


# --------------------------------------------------------------------------- metrics


def scrape(client: TestClient) -> dict[str, list[Any]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(response.text)}


def value(samples: list[Any], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, samples)
    return float(found[0])


def test_http_metrics_are_labelled_by_route_template(make_client: MakeClient) -> None:
    client = make_client()
    for _ in range(2):
        client.get("/v1/series/12345")
    client.get("/no/such/path")
    client.get("/metrics")
    families = scrape(client)
    requests = families["http_requests"]
    labels = {"method": "GET", "route": "/v1/series/{series_id}", "status": "404"}
    assert value(requests, "http_requests_total", **labels) == 2
    assert (
        value(requests, "http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    )
    assert all(s.labels["route"] != "/metrics" for s in requests)
    assert not any("12345" in str(s.labels) for s in requests)
    durations = families["http_request_duration_seconds"]
    count = value(
        durations,
        "http_request_duration_seconds_count",
        method="GET",
        route="/v1/series/{series_id}",
    )
    assert count == 2
    assert value(families["forecast_latency_seconds"], "forecast_latency_seconds_count") == 0
    assert value(families["forecast_bundle_cache_hits"], "forecast_bundle_cache_hits_total") == 0
    assert (
        value(families["forecast_bundle_cache_misses"], "forecast_bundle_cache_misses_total") == 0
    )
    assert value(families["forecast_bundle_cache_versions"], "forecast_bundle_cache_versions") == 0


def test_job_metrics_come_from_the_database(
    make_client: MakeClient, empty_database_url: str
) -> None:
    client = make_client(database=empty_database_url)  # on both backends: the SQL differs
    app: FastAPI = client.app  # type: ignore[assignment]
    now = utcnow()
    rows = [("queued", None), ("queued", None), ("running", None), ("failed", None)]
    rows += [("succeeded", 3.0), ("succeeded", 40.0)]
    with Session(app.state.db.engine) as session, session.begin():
        for status, seconds in rows:
            session.add(
                TrainingJob(
                    status=status,
                    model_name="m",
                    target="close",
                    spec={},
                    max_attempts=2,
                    started_at=now - timedelta(seconds=seconds or 1),
                    finished_at=now if seconds else None,
                )
            )
    families = scrape(client)
    jobs = families["forecast_jobs"]
    expected = {"queued": 2, "running": 1, "succeeded": 2, "failed": 1, "cancelled": 0}
    for state, count in expected.items():
        assert value(jobs, "forecast_jobs", state=state) == count
    durations = families["forecast_training_duration_seconds"]
    name = "forecast_training_duration_seconds"
    assert value(durations, f"{name}_count") == 2
    assert value(durations, f"{name}_sum") == pytest.approx(43, abs=0.01)
    assert value(durations, f"{name}_bucket", le="5.0") == 1
    assert value(durations, f"{name}_bucket", le="60.0") == 2


def test_metrics_survive_an_unreadable_database(make_client: MakeClient) -> None:
    families = scrape(make_client(migrate=False))  # no tables: job metrics are left out
    assert "forecast_jobs" not in families
    assert "http_requests" in families


def test_each_app_has_its_own_registry(make_client: MakeClient) -> None:
    first, second = make_client(migrate=False), make_client(migrate=False)
    first.get("/healthz")
    assert (
        value(
            scrape(first)["http_requests"],
            "http_requests_total",
            method="GET",
            route="/healthz",
            status="200",
        )
        == 1
    )
    assert not scrape(second)["http_requests"]


# --------------------------------------------------------------------------- readiness


def test_readyz_checks_database_migrations_and_artifact_store(make_client: MakeClient) -> None:
    body = make_client().get("/readyz").json()
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "artifact_store": "ok"},
    }


def test_readyz_names_an_unwritable_artifact_store(make_client: MakeClient, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    body = assert_problem(make_client(model_dir=not_a_dir).get("/readyz"), 503)
    assert body["checks"]["artifact_store"].startswith(f"{not_a_dir} is not writable (")
    assert body["checks"]["database"] == "ok"


def test_readyz_checks_the_broker_when_configured(make_client: MakeClient) -> None:
    require_redis()
    assert make_client(broker_url=REDIS_URL).get("/readyz").json()["checks"]["broker"] == "ok"
    started = time.monotonic()
    down = make_client(broker_url="redis://127.0.0.1:9/0").get("/readyz")
    assert time.monotonic() - started < 5
    body = assert_problem(down, 503)
    assert body["checks"]["broker"].startswith("unreachable")
    assert body["checks"]["database"] == "ok"
    assert "127.0.0.1:9" not in down.text


def test_docs_pages_load_every_asset_from_the_service_itself(make_client: MakeClient) -> None:
    """/docs and /redoc work offline: every URL on the pages is one of ours and answers, even
    when reads need the API key (the docs are how one reaches Authorize)."""
    client = make_client(api_key=KEY, protect_reads=True, migrate=False)
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.text
        assert re.search(r"https?://|//[\w-]+\.[\w.-]+/", html) is None, html
        urls = re.findall(r'(?:src|href|spec-url)="([^"]+)"', html)
        urls += re.findall(r"url: '([^']+)'", html)
        assert len(urls) >= 3, html
        for url in urls:
            assert url.startswith("/"), url
            assert not url.startswith("//"), url
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 100, url
    assert '"validatorUrl": null' in client.get("/docs").text  # no badge from validator.swagger.io
    assert (
        client.get("/docs/assets/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )


def test_the_dashboard_is_open_same_origin_and_complete(make_client: MakeClient) -> None:
    """The dashboard's pages need no key (the person types it into them), are told by their
    CSP to load nothing from elsewhere, name no outside host, and every file they import is
    served."""
    client = make_client(api_key=KEY, protect_reads=True, migrate=False)
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 307
    assert home.headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    files = re.findall(r'(?:src|href)="([\w.]+\.(?:js|css))"', page.text)
    seen: set[str] = set()
    while files:
        name = files.pop()
        if name in seen:
            continue
        seen.add(name)
        asset = client.get(f"/ui/{name}")
        assert asset.status_code == 200, name
        code = re.sub(r"/\*!.*?\*/", "", asset.text, flags=re.DOTALL)  # a vendored file's banner
        assert re.search(r"https?://(?!www\.w3\.org/2000/svg)", code) is None, name
        files += re.findall(r'from "\./([\w.]+\.js)"', asset.text)
    assert {"app.js", "api.js", "chart.js", "style.css"} <= seen
    assert client.get("/v1/series").status_code == 401  # the data still needs the key
    assert client.post("/ui/").status_code in (401, 405)  # nothing to write there


def test_a_405_allows_every_method_of_the_path(make_client: MakeClient) -> None:
    client = make_client(migrate=False)
    response = client.delete("/v1/forecast")
    assert_problem(response, 405)
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["allow"].split(",")}
    assert "GET" in response.json()["detail"]


def test_head_answers_as_get_without_a_body(make_client: MakeClient) -> None:
    client = make_client(api_key=KEY, protect_reads=True)
    for path in ("/healthz", "/v1/series?limit=1", "/openapi.json"):
        headers = {"X-API-Key": KEY}
        got, head = client.get(path, headers=headers), client.head(path, headers=headers)
        assert (head.status_code, got.status_code) == (200, 200), path
        assert head.content == b""
        assert head.headers["content-length"] == got.headers["content-length"], path
        assert head.headers["content-type"] == got.headers["content-type"]
    assert client.head("/v1/series").status_code == 401  # a read: protected like GET
    assert client.head("/v1/series/12345", headers={"X-API-Key": KEY}).status_code == 404
    allowed = client.patch("/healthz", headers={"X-API-Key": KEY}).headers["allow"]
    assert {m.strip() for m in allowed.split(",")} == {"GET", "HEAD"}
    operations = client.get("/openapi.json").json()["paths"].values()
    assert not any("head" in methods for methods in operations)
    client.headers["X-API-Key"] = KEY  # for /metrics
    families = scrape(client)
    labels = {"method": "HEAD", "route": "/healthz", "status": "200"}
    assert value(families["http_requests"], "http_requests_total", **labels) == 1


def test_the_document_declares_problems_and_examples(make_client: MakeClient) -> None:
    spec = make_client(api_key=KEY, migrate=False, max_horizon=7).get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["Problem"]["required"] == [
        "type", "title", "status", "detail",
    ]  # fmt: skip
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            errors = {s: r for s, r in responses.items() if s[0] in "45"}
            assert "422" in errors or not operation.get("parameters"), where
            for status, response in errors.items():
                assert set(response["content"]) == {"application/problem+json"}, (where, status)
            if "{" in path:
                assert "404" in errors, where
            body = operation.get("requestBody")
            if body:
                assert {"400", "413", "415", "422"} <= set(errors), where
                for media, content in body["content"].items():
                    schema = content["schema"]
                    if "$ref" in schema:
                        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
                    assert schema.get("examples"), (where, media)
    forecast = spec["components"]["schemas"]["ForecastRequest"]["properties"]["horizon"]
    assert forecast["maximum"] == 7  # this deployment's FORECAST_MAX_HORIZON


def test_what_the_document_rules_out_is_refused(make_client: MakeClient) -> None:
    """Values pydantic would coerce but the schema does not allow: a number as a date, 1 as
    a boolean."""
    client = make_client()
    assert_problem(client.get("/v1/series/1/observations", params={"start": "0.5"}), 422)
    assert (
        client.get("/v1/series/1/observations", params={"start": "2016-12-30"}).status_code == 404
    )
    assert_problem(client.post("/v1/training-jobs", json={"series_id": 1, "shuffle": 1}), 422)
