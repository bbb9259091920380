"""The shape of every JSON column that is not an ML record (those are in
:mod:`app.ml.results`): a series' data-quality summary, a version's bundle record and a job's
promotion. Columns are parsed into these once, by :class:`app.db.types.JsonRecord`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from app.ml.manifest import ForecasterManifest
from app.vocabulary import AliasName, not_a_boolean

Metric = Literal["rmse", "mae", "mase"]


class LargestGap(BaseModel):
    after: str | None = Field(description="Last period present before the gap.")
    before: str | None = Field(description="First period present after the gap.")
    missing: int


class Gaps(BaseModel):
    calendar: str = Field(description="Exchange code or frequency the gaps are counted against.")
    missing_periods: int | None = Field(
        description="Expected periods with no data (null if the frequency is irregular)."
    )
    largest: LargestGap | None
    off_calendar: int = Field(description="Observations on periods the calendar does not expect.")


class DataQuality(BaseModel):
    source_rows: int = Field(description="Data rows in the last upload, before cleaning.")
    duplicate_rows: int = Field(description="Exact repeats of a row that were dropped.")
    empty_cells: dict[str, int] = Field(description="Empty cells per field in the upload.")
    filled_cells: int = Field(description="Empty cells filled by `fill=ffill`.")
    non_positive_prices: dict[str, int] = Field(description="Price fields with values ≤ 0.")
    unsorted_input: bool = Field(
        description="True if the upload was not in date order (it was sorted)."
    )
    ignored_columns: list[str] = Field(description="Text-only columns that were not stored.")
    gaps: Gaps


class BundleFile(BaseModel):
    sha256: str
    size: int


class BundleRecord(ForecasterManifest):
    """A version's bundle as the registry keeps it: the manifest and every file's digest."""

    files: dict[str, BundleFile]


class VersionOrigin(BaseModel):
    """Where an imported version came from: the version it was exported as, in the deployment
    that trained it (and, if that one was imported too, where it came from)."""

    model: str
    version: int
    job_id: int | None = Field(description="The job that trained it, over there.")
    series_id: int | None = Field(description="Its series over there (ids differ between them).")
    created_at: datetime = Field(description="When it was trained.")
    archive_sha256: str = Field(description="sha256 of the archive that was imported.")
    imported_at: datetime
    origin: VersionOrigin | None = None


class PromotionRule(BaseModel):
    """What must hold for the alias to move (both checks on by default)."""

    model_config = ConfigDict(extra="forbid")

    beats_naive: StrictBool = Field(
        default=True, description="The version's error is below the naive forecast's."
    )
    beats_current: StrictBool = Field(
        default=True,
        description="The version's error is below that of the version the alias points at now.",
    )
    metric: Metric = "rmse"


class PromotionCheck(BaseModel):
    check: Literal["beats_naive", "beats_current"]
    holds: bool
    metric: str
    basis: str = Field(description="Which evaluation the numbers come from.")
    candidate: float | None = Field(description="None: the metric could not be measured.")
    naive: float | None = None
    current: float | None = None
    current_version: int | None = None


class PromotionOutcome(BaseModel):
    """A train job's ``promote_to``: the alias and rule asked for, then what happened."""

    alias: str
    require: PromotionRule
    promoted: bool | None = Field(
        default=None, description="Null until the job has finished; then whether the alias moved."
    )
    detail: str | None = None
    checks: list[PromotionCheck] = Field(default_factory=list)


class RealizedSkillRule(BaseModel):
    """Retrain when the served version's realized skill against naive falls below a bar."""

    model_config = ConfigDict(extra="forbid")

    realized_skill_below: float = Field(
        le=1.0,
        description="Fire when 1 − RMSE/RMSE_naive over the served version's scored forecasts "
        "is below this (skill is at most 1; 0 means no better than naive).",
    )
    min_scored: int = Field(
        default=20, ge=1, le=1_000_000, description="Only once this many points are scored."
    )

    _numbers = field_validator("realized_skill_below", "min_scored", mode="before")(not_a_boolean)


class RetrainPolicy(BaseModel):
    """When the ledger should start a training job for a model by itself."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # What _some_rule checks, for clients and client generators.
            "anyOf": [
                {"required": ["retrain_when"], "properties": {"retrain_when": {"type": "object"}}},
                {
                    "required": ["retrain_every_new_observations"],
                    "properties": {"retrain_every_new_observations": {"type": "integer"}},
                },
            ],
            "examples": [
                {
                    "retrain_when": {"realized_skill_below": 0.0, "min_scored": 20},
                    "retrain_every_new_observations": 20,
                    "promote_to": "champion",
                }
            ],
        },
    )

    retrain_when: RealizedSkillRule | None = None
    retrain_every_new_observations: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Fire once this many observations arrived after the served version's data "
        "(or after the last time the policy fired).",
    )
    promote_to: AliasName | None = Field(
        default=None,
        description="The alias the new version is promoted to through the gate; also the alias "
        "whose version is watched (default: the latest ready version).",
    )
    require: PromotionRule = Field(default_factory=PromotionRule)

    _numbers = field_validator("retrain_every_new_observations", mode="before")(not_a_boolean)

    @model_validator(mode="after")
    def _some_rule(self) -> RetrainPolicy:
        if self.retrain_when is None and self.retrain_every_new_observations is None:
            raise ValueError("give retrain_when or retrain_every_new_observations (or both)")
        return self


class SkippedSeries(BaseModel):
    """A series a training batch could not train (the spec does not fit its data)."""

    series_id: int
    name: str
    detail: str = Field(description="Why, as a single job would have been refused.")
