"""The settings table of docs/settings.md is generated from the Settings class and cannot drift
from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings, settings_table

SETTINGS_DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_settings_doc_lists_every_setting_exactly_as_generated() -> None:
    table = settings_table()
    assert table in SETTINGS_DOC.read_text(), (
        "docs/settings.md's table is out of date: replace it with the output of "
        "`.venv/bin/python -m app.config`"
    )
    for name in Settings.model_fields:
        assert f"`FORECAST_{name.upper()}`" in table


def test_comma_separated_cors_origins_and_blank_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("FORECAST_API_KEY", " ")
    monkeypatch.setenv("FORECAST_LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.api_key is None
    assert settings.log_level == "DEBUG"
    monkeypatch.setenv("FORECAST_CORS_ORIGINS", '["https://c.example"]')
    assert Settings().cors_origins == ["https://c.example"]
