"""Artifact stores: where bundles live. One small interface, two implementations.

- :class:`LocalArtifactStore` (the default): directories ``<MODEL_DIR>/<model>/<version>/`` on a
  local or shared file system.
- :class:`S3ArtifactStore` (``FORECAST_ARTIFACT_STORE=s3://bucket/prefix``): objects
  ``<prefix>/<model>/<version>/<file>`` in any S3-compatible store (AWS, MinIO …); endpoint and
  credentials come from the standard AWS variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``
  …). ``MODEL_DIR/.s3-cache`` is then this host's staging area and cache of downloaded
  bundles (a directory of its own: bundles left in ``MODEL_DIR`` by the local store are
  never taken for cached copies, nor pruned).

Both give the same guarantees: a bundle is written in a staging directory and published only
whole (a reader never sees half of one, a failed job leaves nothing behind), and :meth:`fetch`
hands out a local directory whose every file matched its recorded sha256.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

from filelock import FileLock, Timeout

from app.db.column_records import BundleFile
from app.errors import ArtifactStoreUnavailable, BundleCorrupt
from app.hosts import this_host
from app.registry.bundle import verify_bundle

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from app.config import Settings

log = logging.getLogger(__name__)
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}/[1-9][0-9]{0,8}$")


def bundle_key(model_name: str, version: int) -> str:
    key = f"{model_name}/{version}"
    if not _KEY.match(key):  # names are validated at the API; this guards the file system
        raise ValueError(f"invalid bundle key {key!r}")
    return key


class ArtifactStore(Protocol):
    """What the registry needs from a store."""

    location: str  # where the bundles are, for logs and /readyz

    def staging(self) -> AbstractContextManager[Path]:
        """A fresh local directory to write a bundle in; removed on exit."""
        ...

    def publish(self, staged: Path, key: str, files: dict[str, BundleFile]) -> None:
        """Put the staged bundle under ``key``, whole, and check every file arrived intact."""
        ...

    def fetch(self, key: str, files: dict[str, BundleFile]) -> Path:
        """A local directory holding the bundle, every file checked against ``files``. Load
        its files at once: a cache may remove them a minute later."""
        ...

    def delete(self, key: str) -> None: ...

    def problem(self) -> str | None:
        """Why bundles cannot be written now, in one line; None when they can."""
        ...


def make_store(settings: Settings) -> ArtifactStore:
    if settings.artifact_store is None:
        return LocalArtifactStore(settings.model_dir)
    return S3ArtifactStore(
        settings.artifact_store,
        cache_dir=settings.model_dir,
        cache_bytes=int(settings.artifact_cache_mb * 2**20),
    )


class LocalArtifactStore:
    """Bundles as directories ``<root>/<model>/<version>/`` on a local or shared file system."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.location = str(self.root)
        self._staging_root = self.root / ".staging"

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh directory on the store's file system, removed on exit unless published.

        A process killed while it held one cannot remove it: each name says which host and
        process made it, and every new one first removes those of this host's dead processes.
        """
        self._staging_root.mkdir(parents=True, exist_ok=True)
        self._remove_orphans()
        staged = self._staging_root / f"{_HOST}-{os.getpid()}-{uuid.uuid4().hex}"
        staged.mkdir()
        try:
            yield staged
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def _remove_orphans(self) -> None:
        for path in self._staging_root.glob(f"{_HOST}-*-*"):
            pid = path.name.removeprefix(f"{_HOST}-").split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)

    def publish(self, staged: Path, key: str, files: dict[str, BundleFile]) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # left by a process killed between rename and commit
            shutil.rmtree(target)
        staged.rename(target)  # one atomic step: readers see all of it or nothing
        verify_bundle(target, files)

    def fetch(self, key: str, files: dict[str, BundleFile]) -> Path:
        directory = self.path(key)
        verify_bundle(directory, files)
        return directory

    def path(self, key: str) -> Path:
        model, version = key.split("/")
        return self.root / bundle_key(model, int(version))

    def delete(self, key: str) -> None:
        shutil.rmtree(self.path(key), ignore_errors=True)

    def problem(self) -> str | None:
        try:
            self._staging_root.mkdir(parents=True, exist_ok=True)
            probe = self._staging_root / f"probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            return f"{self.location} is not writable ({exc.strerror or type(exc).__name__})"
        return None


# Staging names start with the host (and PID namespace: app.hosts), made safe for a file name
# (no "-": it separates the pid).
_HOST = re.sub(r"[^A-Za-z0-9_.]", "_", this_host())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _s3_client(*, attempts: int, read_timeout_s: float) -> S3Client:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=2,
        read_timeout=read_timeout_s,
        retries={"max_attempts": attempts, "mode": "standard"},
        # MinIO, moto and most self-hosted stores serve buckets as paths, not host names.
        s3={"addressing_style": "path" if _endpoint() else "auto"},
        # Ask for checksums only where the operation needs one (what S3-compatible stores
        # other than AWS understand); uploads send their sha256 themselves.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # A session of its own: boto3's default one would keep the credentials it read first.
    return boto3.session.Session().client("s3", config=config)


# A cached bundle loaded this recently is never pruned: a reader may be opening its files.
CACHE_MIN_AGE_S = 60.0
# The S3 store's cache under MODEL_DIR (no model name starts with a dot).
CACHE_SUBDIR = ".s3-cache"


class S3ArtifactStore:
    """Bundles as objects ``<prefix>/<model>/<version>/<file>`` in an S3-compatible bucket, with
    a local cache of the downloaded ones (shared by the processes of a host, one lock a key),
    pruned to ``cache_bytes``, least recently loaded first."""

    def __init__(self, url: str, cache_dir: Path, cache_bytes: int = 2**31) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"artifact store {url!r} is not s3://bucket[/prefix]")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.location = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self._cache = LocalArtifactStore(cache_dir / CACHE_SUBDIR)
        self._cache_bytes = cache_bytes
        self._locks = self._cache.root / ".locks"
        self._client = _s3_client(attempts=3, read_timeout_s=30)
        # Downloads serve a forecast request: a store that hangs is a 503 in seconds, not
        # minutes (a proxy in front would answer 504 first, and every such request holds a
        # server thread meanwhile).
        self._download_client = _s3_client(attempts=2, read_timeout_s=5)
        # /readyz asks once with a short deadline rather than retrying past its own.
        self._probe_client = _s3_client(attempts=1, read_timeout_s=3)

    def staging(self) -> AbstractContextManager[Path]:
        return self._cache.staging()

    def publish(self, staged: Path, key: str, files: dict[str, BundleFile]) -> None:
        """Upload every file with its sha256 (the store refuses a body that does not match),
        then check that exactly these objects, of these sizes, are under the key."""
        verify_bundle(staged, files)
        with self._errors("upload"):
            self._delete_objects(key)  # left by a process killed between upload and commit
            for name, digest in sorted(files.items()):
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=self._object(key, name),
                    Body=(staged / name).read_bytes(),
                    ChecksumSHA256=base64.b64encode(bytes.fromhex(digest.sha256)).decode(),
                )
            stored = self._list(key)
        expected = {self._object(key, name): f.size for name, f in files.items()}
        if stored != expected:
            raise ArtifactStoreUnavailable(
                f"{self.location}: the uploaded bundle {key} does not match what was written "
                f"({len(stored)} of {len(expected)} files with the right size)."
            )
        with self._lock(key):  # this host serves it without downloading it again
            self._cache_put(staged, key, files)
        self._prune()

    def fetch(self, key: str, files: dict[str, BundleFile]) -> Path:
        with self._lock(key):
            try:
                directory = self._cache.fetch(key, files)
                os.utime(directory)  # loaded now: the last to be pruned
                return directory
            except BundleCorrupt:  # not cached here yet, or a stale copy of a deleted version
                pass
            with self._cache.staging() as staged:
                with self._errors("download"):
                    for name in files:
                        self._download(self._object(key, name), staged / name, key)
                try:
                    verify_bundle(staged, files)
                except BundleCorrupt as exc:
                    raise BundleCorrupt(f"Downloaded from {self.location}: {exc.detail}") from exc
                self._cache_put(staged, key, files)
        self._prune()
        return self._cache.path(key)

    def _cache_put(self, staged: Path, key: str, files: dict[str, BundleFile]) -> None:
        """Into the cache (under the key's lock), as loaded now: its files may be minutes old."""
        self._cache.publish(staged, key, files)
        os.utime(self._cache.path(key))

    def _prune(self) -> None:
        """Remove cached bundles, least recently loaded first, until the cache holds at most
        ``cache_bytes``; skip those loaded in the last CACHE_MIN_AGE_S (checked again under
        the bundle's lock) and those another process holds the lock of. A failure here is
        logged: it never fails the download or upload that asked for it."""
        try:
            self._remove_least_recent()
        except OSError:
            log.exception("could not prune the bundle cache in %s", self._cache.root)

    def _remove_least_recent(self) -> None:
        cached = []
        for directory in self._cache.root.glob("*/*"):
            key = f"{directory.parent.name}/{directory.name}"
            if not _KEY.match(key):  # .staging, .locks
                continue
            try:
                loaded = directory.stat().st_mtime
                size = sum(f.stat().st_size for f in directory.iterdir())
            except FileNotFoundError:  # removed meanwhile by another process
                continue
            cached.append((loaded, size, key))
        total = sum(size for _, size, _ in cached)
        recent = time.time() - CACHE_MIN_AGE_S
        for loaded, size, key in sorted(cached):
            if total <= self._cache_bytes or loaded > recent:
                break
            try:
                with self._lock(key, timeout=0):
                    directory = self._cache.path(key)
                    if directory.exists() and directory.stat().st_mtime > recent:
                        continue  # loaded since it was listed
                    self._cache.delete(key)
            except Timeout:
                continue
            total -= size

    def delete(self, key: str) -> None:
        from botocore.exceptions import ClientError

        with self._errors("delete"):
            try:
                self._delete_objects(key)
            except ClientError as exc:  # no bucket: nothing of the key's left to remove
                if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                    raise
        with self._lock(key):
            self._cache.delete(key)

    def problem(self) -> str | None:
        """Write and remove a probe object: bucket, credentials and endpoint in one request
        pair."""
        from botocore.exceptions import BotoCoreError, ClientError

        probe = self._object(".probe", uuid.uuid4().hex)
        try:
            self._probe_client.put_object(Bucket=self.bucket, Key=probe, Body=b"")
            self._probe_client.delete_object(Bucket=self.bucket, Key=probe)
        except (BotoCoreError, ClientError) as exc:
            return self._explain(exc)
        return self._cache.problem()

    # ------------------------------------------------------------------ helpers

    def _object(self, key: str, name: str) -> str:
        return "/".join(part for part in (self.prefix, key, name) if part)

    def _list(self, key: str) -> dict[str, int]:
        """The bundle's objects: under ``<key>/`` (a bare ``<key>`` prefix would take version
        10's for version 1's)."""
        found: dict[str, int] = {}
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._object(key, "") + "/"
        )
        for page in pages:
            found.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        return found

    def _delete_objects(self, key: str) -> None:
        names = list(self._list(key))
        for start in range(0, len(names), 1000):  # DeleteObjects takes up to 1,000 keys
            chunk = names[start : start + 1000]
            self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": n} for n in chunk]}
            )

    def _download(self, name: str, target: Path, key: str) -> None:
        from botocore.exceptions import ClientError

        try:
            body = self._download_client.get_object(Bucket=self.bucket, Key=name)["Body"]
            with target.open("wb") as out:
                shutil.copyfileobj(body, out)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise BundleCorrupt(
                    f"{name.rsplit('/', 1)[-1]} of bundle {key} is missing from "
                    f"{self.location}. Retrain or restore the artifact store."
                ) from exc
            raise

    @contextmanager
    def _lock(self, key: str, timeout: float = 120) -> Iterator[None]:
        self._locks.mkdir(parents=True, exist_ok=True)
        with FileLock(self._locks / f"{key.replace('/', '@')}.lock", timeout=timeout):
            yield

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """A store that cannot be reached or refuses us: 503, one line, no credentials."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise ArtifactStoreUnavailable(
                f"Artifact store {self.location}: {action} failed: {self._explain(exc)}."
            ) from exc

    def _explain(self, exc: Exception) -> str:
        from botocore.exceptions import (
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )
        from botocore.exceptions import ConnectionError as CannotConnect

        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return "no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        if isinstance(exc, CannotConnect):
            return f"cannot reach {_endpoint() or 'the S3 endpoint'}"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", "error"))
            if code in ("NoSuchBucket", "404"):
                return f"bucket '{self.bucket}' does not exist"
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
                return f"access denied to bucket '{self.bucket}' ({code})"
            return code
        return type(exc).__name__
