"""``Idempotency-Key`` on the POSTs that create jobs and batches, over real HTTP on both
databases: a retried request gets the resource the first one created, never a second; the key
with another body is a 409; concurrent requests with one key create one resource."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.series.helpers import assert_problem
from tests.training.helpers import TINY, random_walk_series
from tests.training.test_batches import upload_collection

NAIVE = {"architecture": "naive", "references": []}


def _post(client: httpx.Client, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    return client.post(path, json=body, headers={"Idempotency-Key": key})


def _count(client: httpx.Client, path: str) -> int:
    total: int = client.get(path, params={"limit": 1}).json()["total"]
    return total


def test_a_retried_job_request_gets_the_first_job(client: httpx.Client) -> None:
    series_id = random_walk_series(client, n=120)
    body = {"series_id": series_id, "model_name": "idem", **NAIVE}
    first = _post(client, "/v1/training-jobs", body, "job-key-1")
    assert first.status_code == 202, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = _post(client, "/v1/training-jobs", body, "job-key-1")
    assert again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(client, "/v1/training-jobs") == 1
    other = _post(client, "/v1/training-jobs", {**body, "model_name": "idem-2"}, "job-key-1")
    assert_problem(other, 409)
    assert "another request body" in other.json()["detail"]
    # A new key is a new job; no key is a new job every time.
    assert _post(client, "/v1/training-jobs", body, "job-key-2").json()["id"] != first.json()["id"]
    assert client.post("/v1/training-jobs", json=body).status_code == 202
    assert _count(client, "/v1/training-jobs") == 3


def test_a_refused_request_does_not_keep_its_key(client: httpx.Client) -> None:
    series_id = random_walk_series(client, n=120)
    body = {"series_id": series_id, **TINY, "window": 500}  # longer than the series: 422
    assert_problem(_post(client, "/v1/training-jobs", body, "fixed-later"), 422)
    fixed = _post(client, "/v1/training-jobs", {**body, "window": 10}, "fixed-later")
    assert fixed.status_code == 202, fixed.text


def test_bad_keys_are_422(client: httpx.Client) -> None:
    series_id = random_walk_series(client, n=120)
    body = {"series_id": series_id, **NAIVE}
    for key in ("with space", "x" * 256):
        response = client.post("/v1/training-jobs", json=body, headers={"Idempotency-Key": key})
        assert_problem(response, 422)
    assert _count(client, "/v1/training-jobs") == 0


def test_concurrent_requests_with_one_key_create_one_job(client: httpx.Client) -> None:
    series_id = random_walk_series(client, n=120)
    body = {"series_id": series_id, **NAIVE}
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda _: _post(client, "/v1/training-jobs", body, "race"), range(4))
        )
    created = [a.json()["id"] for a in answers if a.status_code == 202]
    assert len(set(created)) == 1, [a.text for a in answers]
    for answer in answers:  # the others were told to send again
        if answer.status_code != 202:  # not a misuse of the key: a retry too early
            assert_problem(answer, 409, "idempotent-request-in-flight")
            assert "send this one again" in answer.json()["detail"]
            assert answer.headers["retry-after"] == "1"
    again = _post(client, "/v1/training-jobs", body, "race")
    assert (again.status_code, again.json()["id"]) == (202, created[0])
    assert _count(client, "/v1/training-jobs") == 1


def test_a_retried_batch_request_gets_the_first_batch(client: httpx.Client) -> None:
    upload_collection(client, "idem", {"A": 80, "B": 80})
    body = {"collection": "idem", **NAIVE}
    first = _post(client, "/v1/training-batches", body, "batch-key")
    assert first.status_code == 202, first.text
    again = _post(client, "/v1/training-batches", body, "batch-key")
    assert (again.status_code, again.json()["id"]) == (202, first.json()["id"])
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(client, "/v1/training-batches") == 1
    assert _count(client, "/v1/training-jobs") == 2
    assert_problem(_post(client, "/v1/training-batches", {**body, "epochs": 1}, "batch-key"), 409)
    # The keys of jobs and of batches are apart: the same string names one of each.
    series_id = random_walk_series(client, n=120)
    job = _post(client, "/v1/training-jobs", {"series_id": series_id, **NAIVE}, "batch-key")
    assert job.status_code == 202, job.text
