"""The artifact store needs no more than a key scoped to its bucket and prefix.

docker-compose.yml gives the API and workers a key that may only read, write and list their
bucket (the bundled SeaweedFS' identity), and docs/object-store.md gives an external S3 the IAM
policy below. Here a real S3-protocol server (moto's, in its own process) enforces that policy
(moto's IAM checks, switched on after the set-up), and the service's S3 store, with the key read
from a credentials file as compose provides it, publishes, downloads, probes and deletes a
bundle; the same key is refused a bucket of its own, another bucket and keys outside its
prefix, so the enforcement is real.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from app.registry.bundle import file_digest
from app.registry.store import S3ArtifactStore
from tests.objectstore import S3Server, moto_server

ROOT = Path(__file__).resolve().parents[2]
OBJECT_STORE_DOC = ROOT / "docs" / "object-store.md"
BUCKET, OTHER, PREFIX = "acme-forecast-models", "someone-else", "bundles"


def documented_policy() -> dict[str, Any]:
    """The IAM policy docs/object-store.md gives for an external S3."""
    (block,) = re.findall(r"```json\n(.*?)```", OBJECT_STORE_DOC.read_text(), flags=re.S)
    policy: dict[str, Any] = json.loads(block)
    return policy


@pytest.fixture
def scoped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[S3Server, Path]]:
    """A moto server enforcing IAM, a user holding only the documented policy, and its key in
    a credentials file the process's boto3 reads (as compose's AWS_SHARED_CREDENTIALS_FILE)."""
    with moto_server() as server:
        admin = server.client()
        for bucket in (BUCKET, OTHER):
            admin.create_bucket(Bucket=bucket)
        iam = boto3.client(
            "iam", endpoint_url=server.endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        iam.create_user(UserName="forecast")
        policy = documented_policy()
        # moto authorizes DeleteObjects (one request, many keys) as s3:DeleteObject on the
        # bucket itself; AWS checks s3:DeleteObject on each key, which the documented policy
        # grants. This statement grants nothing on AWS (no object matches a bucket ARN).
        policy["Statement"].append(
            {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{BUCKET}"}
        )
        iam.put_user_policy(
            UserName="forecast", PolicyName="artifact-store", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="forecast")["AccessKey"]
        credentials = tmp_path / "s3_credentials"
        credentials.write_text(
            f"[default]\naws_access_key_id = {key['AccessKeyId']}\n"
            f"aws_secret_access_key = {key['SecretAccessKey']}\n"
        )
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        # From here on every request is authenticated and checked against the user's policy.
        httpx.post(f"{server.endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
        yield server, credentials


def test_the_store_works_with_a_key_scoped_to_its_bucket_and_prefix(
    scoped: tuple[S3Server, Path], tmp_path: Path
) -> None:
    server, _ = scoped
    writer = S3ArtifactStore(f"s3://{BUCKET}/{PREFIX}", cache_dir=tmp_path / "writer")
    assert writer.problem() is None  # the readiness probe: put and delete under the prefix
    with writer.staging() as staged:
        (staged / "model.onnx").write_bytes(b"weights" * 1000)
        (staged / "manifest.json").write_text('{"kind": "test"}')
        files = {name: file_digest(staged / name) for name in ("model.onnx", "manifest.json")}
        writer.publish(staged, "AAPL/1", files)  # delete leftovers, upload with checksums, list

    # Another host (an empty cache) downloads and verifies it.
    reader = S3ArtifactStore(f"s3://{BUCKET}/{PREFIX}", cache_dir=tmp_path / "reader")
    fetched = reader.fetch("AAPL/1", files)
    assert (fetched / "model.onnx").read_bytes() == b"weights" * 1000
    reader.delete("AAPL/1")  # list, then DeleteObjects

    # The same key, refused what the policy does not grant: the enforcement is real.
    client = boto3.session.Session().client("s3", endpoint_url=server.endpoint)
    for refused in (
        lambda: client.create_bucket(Bucket="another-one"),
        lambda: client.list_objects_v2(Bucket=OTHER),
        lambda: client.put_object(Bucket=OTHER, Key=f"{PREFIX}/x", Body=b""),
        lambda: client.put_object(Bucket=BUCKET, Key="outside/x", Body=b""),
        lambda: client.list_buckets(),
    ):
        with pytest.raises(ClientError) as denied:
            refused()
        assert denied.value.response["Error"]["Code"] in {"AccessDenied", "403"}
    assert client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/")["KeyCount"] == 0
