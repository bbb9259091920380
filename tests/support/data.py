"""The repository's data files (where each comes from: tests/data/README.md)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "tests" / "data"
MSFT_CSV = DATA_DIR / "msft_daily_1986_2016.csv"
