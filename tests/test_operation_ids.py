"""Generated clients name their methods after ``operationId``: each is readable and stable.

Renaming one breaks every client generated from the document, so the whole list is written
here: a change to it is a deliberate, visible change of the contract.
"""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.sqlite_only

OPERATIONS = {
    ("GET", "/healthz"): "healthz",
    ("GET", "/readyz"): "readyz",
    ("GET", "/metrics"): "metrics",
    ("POST", "/v1/forecast"): "post_forecast",
    ("GET", "/v1/forecast"): "get_forecast",
    ("POST", "/v1/forecast/batch"): "post_forecast_batch",
    ("GET", "/v1/models/{name}/versions/{version}/report"): "get_report",
    ("GET", "/v1/models/{name}/versions/{version}/report.png"): "get_report_png",
    ("GET", "/v1/models/{name}/versions/{version}/report.svg"): "get_report_svg",
    ("GET", "/v1/models/{name}/compare"): "compare_versions",
    ("POST", "/v1/series"): "create_series",
    ("GET", "/v1/series"): "list_series",
    ("GET", "/v1/series/{series_id}"): "get_series",
    ("DELETE", "/v1/series/{series_id}"): "delete_series",
    ("GET", "/v1/series/{series_id}/observations"): "list_observations",
    ("POST", "/v1/series/{series_id}/observations"): "append_observations",
    ("POST", "/v1/collections/{collection}/series"): "upload_collection",
    ("GET", "/v1/collections/{collection}/series"): "list_collection_series",
    ("GET", "/v1/collections"): "list_collections",
    ("GET", "/v1/collections/{collection}"): "get_collection",
    ("DELETE", "/v1/collections/{collection}"): "delete_collection",
    ("POST", "/v1/training-jobs"): "create_training_job",
    ("GET", "/v1/training-jobs"): "list_training_jobs",
    ("GET", "/v1/training-jobs/{job_id}"): "get_training_job",
    ("POST", "/v1/training-jobs/{job_id}/cancel"): "cancel_training_job",
    ("POST", "/v1/training-batches"): "create_training_batch",
    ("GET", "/v1/training-batches"): "list_training_batches",
    ("GET", "/v1/training-batches/{batch_id}"): "get_training_batch",
    ("POST", "/v1/training-batches/{batch_id}/cancel"): "cancel_training_batch",
    ("GET", "/v1/training-batches/{batch_id}/leaderboard"): "get_leaderboard",
    ("GET", "/v1/models"): "list_models",
    ("GET", "/v1/models/{name}"): "get_model",
    ("GET", "/v1/models/{name}/versions"): "list_versions",
    ("GET", "/v1/models/{name}/versions/{version}"): "get_version",
    ("DELETE", "/v1/models/{name}/versions/{version}"): "delete_version",
    ("GET", "/v1/models/{name}/versions/{version}/members"): "get_version_members",
    ("POST", "/v1/models/{name}/versions/{version}/backtests"): "start_backtest",
    ("GET", "/v1/models/{name}/versions/{version}/backtests"): "list_backtests",
    ("GET", "/v1/models/{name}/versions/{version}/backtests/{backtest_id}"): "get_backtest",
    ("GET", "/v1/models/{name}/versions/{version}/artifact"): "download_artifact",
    ("POST", "/v1/models/{name}/versions:import"): "import_version",
    ("GET", "/v1/models/{name}/aliases/{alias}"): "get_alias",
    ("PUT", "/v1/models/{name}/aliases/{alias}"): "set_alias",
    ("DELETE", "/v1/models/{name}/aliases/{alias}"): "delete_alias",
    ("POST", "/v1/models/{name}/aliases/{alias}/promote"): "promote_alias",
    ("GET", "/v1/models/{name}/accuracy"): "get_accuracy",
    ("GET", "/v1/accuracy"): "list_alias_accuracy",
    ("GET", "/v1/models/{name}/accuracy.png"): "get_accuracy_png",
    ("GET", "/v1/models/{name}/accuracy.svg"): "get_accuracy_svg",
    ("GET", "/v1/models/{name}/policy"): "get_policy",
    ("PUT", "/v1/models/{name}/policy"): "set_policy",
    ("DELETE", "/v1/models/{name}/policy"): "delete_policy",
}


def test_every_operation_has_its_readable_stable_id(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    found = {
        (method.upper(), path): operation["operationId"]
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    assert found == OPERATIONS
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", name) for name in found.values())


def test_every_v1_operation_declares_503(client: httpx.Client) -> None:
    """Each reads the database, which can go away: clients must expect a 503 to retry."""
    spec = client.get("/openapi.json").json()
    missing = [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if path.startswith("/v1/") and "503" not in operation["responses"]
    ]
    assert not missing


def test_bounds_reach_the_document_as_json_schema(client: httpx.Client) -> None:
    """pydantic writes a bound placed after a validator as "ge"/"le", which no client reads:
    an id's maximum went missing that way (schemathesis then sent 2**63 as a version)."""
    spec = client.get("/openapi.json").json()
    keys: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            keys.update(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec["components"]["schemas"])
    walk(spec["paths"])
    assert not keys & {"ge", "le", "gt", "lt"}
