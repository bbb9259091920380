"""The service's shared words: ids and names as the API accepts them, and the states of jobs and
versions. It sits below every domain package, so none of them has to import another's schemas
for a name."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, BeforeValidator, Field

# The largest value of a 32-bit signed integer column (SQLite would fail with OverflowError
# beyond 2**63, PostgreSQL beyond 2**31 on INTEGER columns).
MAX_ID = 2**31 - 1


def no_nul(value: str) -> str:
    """Text a client sends: PostgreSQL cannot store a NUL character (SQLite can), so it is
    refused on both alike, before it reaches either."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (U+0000)")
    return value


def not_a_boolean(value: object) -> object:
    """JSON numbers as JSON Schema reads them: 237.0 is an integer, but true is no number
    (pydantic's lax mode takes it as 1, which trained a job on series 1; its strict mode
    refuses 237.0)."""
    if isinstance(value, bool):
        raise ValueError("a number is needed, not true or false")
    return value


# Free text a client sends (a search prefix, a column name): anything but NUL.
FreeText = Annotated[str, AfterValidator(no_nul)]
# Field first: after a validator its bounds would reach the OpenAPI document as 'ge'/'le'.
Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(not_a_boolean)]
Number = Annotated[float, BeforeValidator(not_a_boolean)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]

MAX_MODEL_NAME = 100
ModelName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$",
        description="Registered model name: letters, digits, `.`, `_`, `-` (not first), ≤ 100.",
        examples=["MSFT-lstm"],
    ),
]
AliasName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$",
        description="Alias: a letter, then letters, digits, `_`, `-`; at most 64.",
        examples=["champion"],
    ),
]
ModelPrefix = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,58}$",
        description="Each series' model is named `<model_prefix>.<symbol>` (`<series name>` "
        "outside a collection).",
        examples=["sp500-lstm"],
    ),
]
# A collection's name: letters, digits, `_`, `-` (not first), at most 32.
COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
# Most series one training batch may name by id.
MAX_BATCH_SERIES = 2000


def model_name_part(name: str) -> str:
    """A series name or symbol as part of a model name: a collection member's ``:`` becomes
    ``.`` and any other character a model name cannot hold becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name.replace(":", "."))


# How a list or a report is returned, and how a plot is drawn.
OutputFormat = Literal["json", "csv"]
FormatQuery = Annotated[
    OutputFormat,
    Query(description="`json`, or `csv` (a list's rows; a forecast in Nixtla's long format)."),
]
ImageFormat = Literal["png", "svg"]

NamePath = Annotated[ModelName, Path(description="Registered model name.")]
VersionPath = Annotated[int, Path(ge=1, le=MAX_ID, description="Version number.")]
AliasPath = Annotated[AliasName, Path(description="Alias name.")]


FIRST_YEAR, LAST_YEAR = 1678, 2261


def _iso_8601(value: object) -> object:
    """Text is read as ISO 8601 (pydantic would also read "0.5" as a Unix time, which the
    document's ``format: date-time`` does not allow)."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("expected an ISO 8601 date or date-time, e.g. 2016-12-30") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:  # what pandas timestamps can hold
        raise ValueError(f"the year must be between {FIRST_YEAR} and {LAST_YEAR}")
    return parsed


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601)]


class JobStatus(StrEnum):
    """``queued → running → succeeded | failed | cancelled``; a lost or handed-back job goes
    from ``running`` back to ``queued``."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


class BatchStatus(StrEnum):
    """``queued`` until one of its jobs starts, ``running`` while any is queued or running,
    ``done`` once none is (each job says how it ended)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


class JobKind(StrEnum):
    """``train`` registers a new version; ``backtest`` evaluates an existing one."""

    TRAIN = "train"
    BACKTEST = "backtest"


class PointStatus(StrEnum):
    """A ledger point: ``pending`` until its target date is observed, then ``scored`` (the
    actual is known) or ``missing`` (the series went past the date without a value: a holiday
    or a gap; never scored as zero). A later value for the date scores it after all."""

    PENDING = "pending"
    SCORED = "scored"
    MISSING = "missing"


class VersionStatus(StrEnum):
    """``pending`` while a job moves its files into place, ``ready`` once the job succeeded,
    ``failed`` when the job did not complete (its files are removed)."""

    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


# Query filters the lists of models share (models, their accuracy, training jobs).
ModelPrefixQuery = Annotated[
    FreeText | None, Query(max_length=100, description="Only models whose name starts so.")
]
ModelCollectionQuery = Annotated[
    str | None,
    Query(
        pattern=COLLECTION_PATTERN,
        description="Only models with a version trained on a series of this collection.",
    ),
]
