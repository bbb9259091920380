"""Settings: the only place the environment is read."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service configuration, read from ``FORECAST_*`` environment variables (or ``.env``)."""

    model_config = SettingsConfigDict(env_prefix="FORECAST_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///data/forecast.db",
        description="SQLAlchemy URL of the registry database, e.g. "
        "`postgresql+psycopg://user:pass@host/db`. The default is a SQLite file under ./data/.",
    )
    model_dir: Path = Field(
        default=Path("models"),
        description="Directory of the local artifact store (model bundles).",
    )
    max_upload_mb: float = Field(
        default=100,
        gt=0,
        description="Largest accepted request body in MiB; larger uploads get 413 while streaming.",
    )
    migrate_on_start: bool = Field(
        default=True,
        description="Bring the database schema to the latest migration when the API starts. "
        "Turn off when a separate one-shot `alembic upgrade head` does it.",
    )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
