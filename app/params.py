"""Integer ids and numbers in requests: bounded so every database can store them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

# The largest value of a 32-bit signed integer column (SQLite would fail with OverflowError
# beyond 2**63, PostgreSQL beyond 2**31 on INTEGER columns).
MAX_ID = 2**31 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
