"""Settings: the only place the environment is read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "FORECAST_"


class Settings(BaseSettings):
    """Service configuration, read from ``FORECAST_*`` environment variables only.

    No ``.env`` file is read: the one next to ``docker-compose.yml`` is compose's (it holds the
    deployment's secrets), and reading it would hand them to every local run and test.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database_url: str = Field(
        default="sqlite:///data/forecast.db",
        description="SQLAlchemy URL of the registry database, e.g. "
        "`postgresql+psycopg://user:pass@host/db`. The default is a SQLite file under ./data/.",
    )
    model_dir: Path = Field(
        default=Path("models"),
        description="Directory of the local artifact store (model bundles); with an S3 "
        "store, this host's staging area and cache of downloaded bundles (in `.s3-cache/`).",
    )
    artifact_store: str | None = Field(
        default=None,
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
        description="`s3://bucket/prefix`: keep bundles in an S3-compatible store (endpoint "
        "and credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
        "AWS_DEFAULT_REGION). Unset: the directory MODEL_DIR.",
    )
    artifact_cache_mb: float = Field(
        default=2048,
        gt=0,
        description="With an S3 store: MiB of downloaded bundles this host keeps in MODEL_DIR; "
        "beyond it the least recently loaded go first (one loaded in the last minute stays). "
        "The local store is never pruned: it is the store.",
    )
    max_upload_mb: float = Field(
        default=100,
        gt=0,
        description="Largest accepted request body in MiB; larger uploads get 413 while streaming.",
    )
    max_collection_series: int = Field(
        default=2000,
        ge=1,
        description="Most series one collection may hold; an upload that would pass it gets 422.",
    )
    api_workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Server processes `make run` and the compose `api` start "
        "(`python -m app.serve`); unset: one per core. They share one embedded job pool, the "
        "metrics and forecast-cache invalidation.",
    )
    api_shared_dir: Path | None = Field(
        default=None,
        description="Set by `python -m app.serve` for the server processes it starts (where "
        "they count writes and keep Prometheus metrics); leave unset.",
    )
    migrate_on_start: bool = Field(
        default=True,
        description="Bring the database schema to the latest migration when the API starts. "
        "Turn off when a separate one-shot `alembic upgrade head` does it.",
    )

    broker_url: str | None = Field(
        default=None,
        description="Celery broker, e.g. `redis://127.0.0.1:6379/0`. Unset: jobs run in a local "
        "process pool owned by the API (the embedded default).",
    )
    queue: str = Field(
        default="training",
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="Celery queue the API sends jobs to and workers consume.",
    )
    workers: int = Field(
        default=1, ge=1, le=64, description="Embedded mode: training jobs run at the same time."
    )
    jobs_per_process: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Jobs one process runs before a fresh one replaces it (an embedded pool "
        "process, or a Celery worker's child). Reuse saves TensorFlow's trace when a job's "
        "networks have the previous job's graph, and in the embedded pool a ~3-6 s import; "
        "each job run keeps ~10-16 MB in the process until then. 1: a new process for every "
        "job.",
    )
    max_epochs: int = Field(default=500, ge=1, description="Largest `epochs` a job may ask for.")
    job_time_limit_s: int = Field(
        default=3600,
        ge=10,
        description="A job running longer is stopped and marked failed (at least 10).",
    )
    job_max_attempts: int = Field(
        default=2, ge=1, le=10, description="Runs of a job before a lost worker fails it for good."
    )
    job_lease_s: float = Field(
        default=30,
        gt=0,
        description="Lease of a running job, renewed every third of it by the process running "
        "it; a job whose lease lapsed lost its worker and is retried or failed.",
    )
    reconcile_interval_s: float = Field(
        default=10,
        gt=0,
        description="How often the API looks for lost or unsent jobs (a queued job sent more "
        "than six of these ago is sent again if the broker holds no message).",
    )
    max_horizon: int = Field(
        default=30,
        ge=1,
        le=1000,
        description="Longest forecast (steps) a client may ask for; also the steps evaluated "
        "at training.",
    )
    reference_budget_s: float = Field(
        default=20,
        gt=0,
        description="Wall-clock seconds a training job gives its statistical references "
        "(fitted alongside the network); one still fitting then is reported as timed out.",
    )
    auto_budget_s: float = Field(
        default=180,
        gt=0,
        description="Seconds an `auto` tournament may spend fitting its candidates (each on "
        "two spans) before the winner is trained.",
    )
    bundle_cache_size: int = Field(
        default=32, ge=1, description="Model versions kept loaded for forecasting (LRU)."
    )
    forecast_cache_s: float = Field(
        default=1.0,
        ge=0,
        description="Identical `GET /v1/forecast` requests within this many seconds share one "
        "computed response (a write to any server process of this host clears it at once); 0 "
        "turns it off.",
    )
    ledger: bool = Field(
        default=True,
        description="Keep every forecast served from a stored series in the ledger and score it "
        "as observations arrive (`GET /v1/models/{name}/accuracy`).",
    )
    ledger_flush_s: float = Field(
        default=1.0,
        gt=0,
        description="Served forecasts are counted in memory and written to the ledger this "
        "often (and at shutdown).",
    )
    ledger_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="Delete served forecasts not served again for this many days (with their "
        "scores); unset keeps them all.",
    )
    interval_adaptation_min_points: int = Field(
        default=30,
        ge=1,
        le=1_000_000,
        description="Scored ledger points a version needs at a forecast step before that step's "
        "intervals are adapted to their realized coverage (per level; until then they are "
        "served as calibrated).",
    )
    tf_threads: int = Field(
        default=0,
        ge=0,
        description="TensorFlow threads per job; 0: the host's cores divided among "
        "FORECAST_WORKERS jobs (set it on Celery workers running several jobs at once).",
    )
    shutdown_grace_s: float = Field(
        default=5,
        ge=0,
        description="Embedded mode: on SIGTERM, running jobs get this long to finish; a job "
        "still running is then stopped and queued again with its attempt not counted, so the "
        "next start runs it. Keep the orchestrator's stop timeout above it.",
    )

    api_key: SecretStr | None = Field(
        default=None,
        description="When set, every write (POST, PUT, PATCH, DELETE) needs "
        "`Authorization: Bearer <key>` or `X-API-Key: <key>`; 401 otherwise. Unset: open.",
    )
    protect_reads: bool = Field(
        default=False,
        description="With `FORECAST_API_KEY` set, reads (GET, HEAD, `/metrics` included) need "
        "the key too, except the probes `/healthz`, `/readyz` and the API docs.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Browser origins allowed by CORS, comma-separated or a JSON list "
        "(`https://a.example,https://b.example`, `*`). Empty: no CORS headers.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`text` for people, `json` (one object per line, with `request_id` and "
        "`job_id`) for log collectors.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Least severe log level written (API and workers)."
    )

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def _default_text(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`" + ",".join(value) + "`" if value else "empty"
    return f"`{value}`"


def settings_table() -> str:
    """The README's settings reference, generated from :class:`Settings` (``python -m
    app.config``); ``tests/test_settings_doc.py`` keeps the two identical."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        description = " ".join((field.description or "").split()).replace("|", "\\|")
        rows.append(
            f"| `{ENV_PREFIX}{name.upper()}` | {_default_text(field.default)} | {description} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(settings_table(), end="")
