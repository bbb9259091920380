"""All tables. The schema itself comes from Alembic migrations generated from these classes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base
from app.db.column_records import (
    BundleRecord,
    DataQuality,
    PromotionOutcome,
    RetrainPolicy,
    SkippedSeries,
    VersionOrigin,
)
from app.db.types import EnumText, JsonRecord, UnixTime, UtcDateTime, one_of, utcnow
from app.ml.intervals import IntervalAdaptation
from app.ml.progress import EpochProgress
from app.ml.results import BacktestResult, HoldoutMetrics, MemberMetrics
from app.ml.spec import BacktestSpec, Scope, TrainingSpec
from app.vocabulary import BatchStatus, JobKind, JobStatus, PointStatus, VersionStatus


class Collection(Base):
    """A named set of series (e.g. an index's members), uploaded in long format; each member
    series carries the collection's id and its own symbol."""

    __tablename__ = "collection"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Series(Base):
    """One uploaded instrument; its numeric columns are :class:`SeriesField` rows. A member of a
    collection is named ``<collection>:<symbol>``."""

    __tablename__ = "series"
    # Never reuse ids: versions and jobs keep a deleted series' id.
    __table_args__ = (
        UniqueConstraint("collection_id", "symbol"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    collection_id: Mapped[int | None] = mapped_column(
        ForeignKey("collection.id", ondelete="RESTRICT"), index=True
    )
    symbol: Mapped[str | None] = mapped_column(String(40))
    collection: Mapped[Collection | None] = relationship(lazy="joined")
    exchange: Mapped[str | None] = mapped_column(String(16))
    frequency: Mapped[str] = mapped_column(String(16))
    source_filename: Mapped[str | None] = mapped_column(String(255))
    content_sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer)
    first_date: Mapped[datetime] = mapped_column(UnixTime)
    last_date: Mapped[datetime] = mapped_column(UnixTime)
    quality: Mapped[DataQuality] = mapped_column(JsonRecord(DataQuality))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    fields: Mapped[list[SeriesField]] = relationship(
        back_populates="series",
        order_by="SeriesField.position",
        lazy="selectin",
        passive_deletes=True,
    )


class SeriesField(Base):
    """A numeric column of a series (``close``, ``volume`` …); any field can be a target."""

    __tablename__ = "series_field"
    __table_args__ = (UniqueConstraint("series_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)

    series: Mapped[Series] = relationship(back_populates="fields")


class Observation(Base):
    """One value of one field at one time; the primary key serves range reads.

    Deliberately without foreign keys: they are checked by a trigger per row, which made bulk
    loads 7× slower on PostgreSQL (1M rows: 0.94 s without, 6.96 s with). Rows are written only
    by :func:`app.series.observations.write_observations` for fields created in the same
    transaction, and :func:`app.series.service.delete_series` deletes them explicitly.
    """

    __tablename__ = "observation"
    __table_args__ = {"sqlite_with_rowid": False}

    series_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    field_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UnixTime, primary_key=True)
    value: Mapped[float] = mapped_column(Double)


class TrainingBatch(Base):
    """One spec trained on many series (a collection, or a list of ids): one job per series."""

    __tablename__ = "training_batch"
    __table_args__ = (one_of("status", BatchStatus), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Set by app.training.jobs.lifecycle only, as its jobs change state.
    status: Mapped[BatchStatus] = mapped_column(
        EnumText(BatchStatus), default=BatchStatus.QUEUED, server_default=BatchStatus.QUEUED.value
    )
    collection_id: Mapped[int | None] = mapped_column(
        ForeignKey("collection.id", ondelete="SET NULL"), index=True
    )
    # Kept as given: the collection may be deleted (or renamed) later.
    collection_name: Mapped[str | None] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(64))
    spec: Mapped[TrainingSpec] = mapped_column(JsonRecord(TrainingSpec))
    model_prefix: Mapped[str | None] = mapped_column(String(60))
    scope: Mapped[Scope] = mapped_column(String(8), default="series", server_default="series")
    skipped: Mapped[list[SkippedSeries]] = mapped_column(JsonRecord(list[SkippedSeries]))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TrainingJob(Base):
    """Background work on one series field; the database is its source of truth.

    ``kind`` is ``train`` (fit a model and register a version, ``model_version_id`` is the
    version it produced) or ``backtest`` (walk-forward evaluation of the existing version
    ``model_version_id``; the result is a :class:`Backtest` row). ``lease_expires_at`` is
    renewed by the process running the job; a running job whose lease has expired lost its
    worker and may be claimed again (``attempts`` counts claims).
    """

    __tablename__ = "training_job"
    __table_args__ = (
        Index(None, "status", "created_at"),
        one_of("status", JobStatus),
        one_of("kind", JobKind),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[JobKind] = mapped_column(
        EnumText(JobKind), default=JobKind.TRAIN, server_default=JobKind.TRAIN.value
    )
    status: Mapped[JobStatus] = mapped_column(EnumText(JobStatus), default=JobStatus.QUEUED)
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("series.id", ondelete="SET NULL"), index=True
    )
    model_name: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(64))
    spec: Mapped[TrainingSpec] = mapped_column(JsonRecord(TrainingSpec))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    progress: Mapped[EpochProgress | None] = mapped_column(JsonRecord(EpochProgress))
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_version.id", ondelete="SET NULL")
    )
    # Train jobs with ``promote_to``: the alias, the rule and whether it held (with numbers).
    promotion: Mapped[PromotionOutcome | None] = mapped_column(JsonRecord(PromotionOutcome))
    # Jobs a retrain policy started: which rule fired, with the numbers.
    trigger: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_batch.id", ondelete="SET NULL"), index=True
    )
    # ``global``: one network on the series ``member_ids`` (``series_id`` is then None).
    scope: Mapped[Scope] = mapped_column(String(8), default="series", server_default="series")
    member_ids: Mapped[list[int] | None] = mapped_column(JSON)


class RegisteredModel(Base):
    """A model name; its trained results are immutable :class:`ModelVersion` rows."""

    __tablename__ = "registered_model"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    last_version: Mapped[int] = mapped_column(
        Integer,
        default=0,
        server_default="0",
        doc="The highest version number ever given: numbers are never reused, even after a "
        "version is deleted (the ledger and clients keep referring to them).",
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    aliases: Mapped[list[ModelAlias]] = relationship(lazy="selectin", passive_deletes=True)


class ModelVersion(Base):
    """One trained result: ``pending`` while its files move into place, then ``ready``."""

    __tablename__ = "model_version"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        one_of("status", VersionStatus),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_model.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[VersionStatus] = mapped_column(
        EnumText(VersionStatus), default=VersionStatus.PENDING
    )
    job_id: Mapped[int | None] = mapped_column(Integer)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id", ondelete="SET NULL"))
    training_rows_sha256: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64))
    spec: Mapped[TrainingSpec] = mapped_column(JsonRecord(TrainingSpec))
    bundle: Mapped[BundleRecord] = mapped_column(JsonRecord(BundleRecord))
    metrics: Mapped[HoldoutMetrics] = mapped_column(JsonRecord(HoldoutMetrics))
    train_seconds: Mapped[float] = mapped_column(Double)
    epochs_run: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # ``global``: one network for many series (``series_id`` None); ``members``: each member's
    # holdout next to naive and its own model (read on demand: up to thousands of rows).
    scope: Mapped[Scope] = mapped_column(String(8), default="series", server_default="series")
    members: Mapped[list[MemberMetrics] | None] = mapped_column(
        JsonRecord(list[MemberMetrics]), deferred=True
    )
    # Imported from another deployment (``POST …/versions:import``): where it came from.
    origin: Mapped[VersionOrigin | None] = mapped_column(JsonRecord(VersionOrigin))

    model: Mapped[RegisteredModel] = relationship(lazy="joined")


class ModelAlias(Base):
    """A movable name (``champion``, ``staging`` …) pointing at one version of a model."""

    __tablename__ = "model_alias"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_model.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id", ondelete="RESTRICT"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Backtest(Base):
    """A walk-forward evaluation of one version: per-fold and aggregate metrics next to the
    baselines, written once by the job that computed it."""

    __tablename__ = "backtest"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_job.id", ondelete="SET NULL"), index=True
    )  # a job's backtest is looked up by it for every backtest job listed
    spec: Mapped[BacktestSpec] = mapped_column(JsonRecord(BacktestSpec))
    result: Mapped[BacktestResult] = mapped_column(JsonRecord(BacktestResult))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ServedForecast(Base):
    """The ledger: one forecast the service served, recorded once per (version, series, field,
    as-of date, horizon, levels) and counted every time it is served again.

    Names and numbers instead of foreign keys: the ledger outlives a deleted version or series
    (their record stays readable and scored).
    """

    __tablename__ = "served_forecast"
    __table_args__ = (
        UniqueConstraint("model_name", "version", "series_id", "field", "as_of", "horizon",
                         "levels"),
        Index(None, "model_name", "version"),
        {"sqlite_autoincrement": True},
    )  # fmt: skip

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    series_id: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[datetime] = mapped_column(UnixTime)
    horizon: Mapped[int] = mapped_column(Integer)
    levels: Mapped[str] = mapped_column(String(32), doc="Interval levels, e.g. '80,95'.")
    base_value: Mapped[float] = mapped_column(
        Double, doc="The last value at as_of: what the naive forecast said for every step."
    )
    first_served_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_served_at: Mapped[datetime] = mapped_column(UtcDateTime)
    served_count: Mapped[int] = mapped_column(Integer)


class LedgerPoint(Base):
    """One step of a served forecast and, once its date is observed, the actual value.

    ``series_id``/``field_id``/``target_ts`` repeat the observation's key so that scoring is
    one join on the observation table's primary key.
    """

    __tablename__ = "ledger_point"
    __table_args__ = (
        Index(None, "series_id", "field_id", "target_ts"),
        one_of("status", PointStatus),
        {"sqlite_with_rowid": False},
    )

    forecast_id: Mapped[int] = mapped_column(
        ForeignKey("served_forecast.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(Integer)
    field_id: Mapped[int] = mapped_column(Integer)
    target_ts: Mapped[datetime] = mapped_column(UnixTime)
    value: Mapped[float] = mapped_column(Double)
    bounds: Mapped[dict[str, float]] = mapped_column(
        JSON, doc="lo_<level>/hi_<level> of each interval."
    )
    status: Mapped[PointStatus] = mapped_column(EnumText(PointStatus), default=PointStatus.PENDING)
    actual: Mapped[float | None] = mapped_column(Double)
    scored_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class VersionIntervalAdaptation(Base):
    """How a version's intervals are adapted from its scored ledger points (one row per
    version, recomputed by :mod:`app.ledger.adaptation_store` whenever its points are scored; a
    new version starts without one, unadapted). ``revision`` grows with every update: the
    forecast path reads it in the query that resolves the version and rebuilds its adapted
    intervals only when it moved."""

    __tablename__ = "interval_adaptation"

    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer)
    adaptation: Mapped[IntervalAdaptation] = mapped_column(JsonRecord(IntervalAdaptation))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class ModelPolicy(Base):
    """A model's retrain policy and when it last fired."""

    __tablename__ = "model_policy"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_model.id", ondelete="CASCADE"), primary_key=True
    )
    policy: Mapped[RetrainPolicy] = mapped_column(JsonRecord(RetrainPolicy))
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime, default=utcnow, doc="When a client last set the policy (not when it fired)."
    )
    fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    fired_for_version: Mapped[int | None] = mapped_column(
        Integer, doc="The served version when the policy last fired."
    )
    skill_fired_for_version: Mapped[int | None] = mapped_column(
        Integer, doc="The served version the realized-skill rule last fired for."
    )
    fired_at_last_date: Mapped[datetime | None] = mapped_column(
        UnixTime, doc="The series' last date when the policy last fired."
    )
    fired_job_id: Mapped[int | None] = mapped_column(Integer)


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` on a request that creates a resource: the same key with
    the same body answers with the resource it created, a different body is a 409
    (:mod:`app.idempotency`). Written in the transaction that creates the resource."""

    __tablename__ = "idempotency_key"

    operation: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
