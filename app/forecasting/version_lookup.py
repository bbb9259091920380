"""Which version a forecast uses: an explicit number, else an alias, else ``champion``, else the
latest ready version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from app.db.orm import ModelAlias, ModelVersion, RegisteredModel, VersionIntervalAdaptation
from app.errors import AliasNotFound, VersionNotFound
from app.registry import service as registry
from app.vocabulary import VersionStatus

DEFAULT_ALIAS = "champion"


@dataclass(frozen=True)
class ResolvedVersion:
    """The few columns of a version a forecast needs (no JSON parsing on the hot path)."""

    id: int
    model: str
    version: int
    target: str
    series_id: int | None
    created_at: datetime
    scope: str = "series"
    # The revision of its interval adaptation (None: none yet), read in the same query.
    adaptation: int | None = None


# The three lookups, built once with bound parameters: the forecast hot path runs one of them
# as Core on a plain connection (ORM objects cost more than the query, BENCHMARKS.md). The
# version's interval adaptation revision comes along (an outer join on its primary key), so
# that serving it needs no query of its own.
_VERSION = (
    select(
        ModelVersion.id,
        ModelVersion.version,
        ModelVersion.status,
        ModelVersion.target,
        ModelVersion.series_id,
        ModelVersion.created_at,
        ModelVersion.scope,
        VersionIntervalAdaptation.revision.label("adaptation"),
    )
    .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
    .outerjoin(
        VersionIntervalAdaptation, VersionIntervalAdaptation.model_version_id == ModelVersion.id
    )
    .where(RegisteredModel.name == bindparam("name"))
    .limit(1)
)
_POINTED = (ModelAlias.version_id == ModelVersion.id) & (ModelAlias.alias == bindparam("alias"))
_BY_NUMBER = _VERSION.where(ModelVersion.version == bindparam("version"))
_BY_ALIAS = _VERSION.join(ModelAlias, _POINTED)
_DEFAULT = (  # champion first, else the highest ready version
    _VERSION.outerjoin(ModelAlias, _POINTED)
    .where(ModelVersion.status == VersionStatus.READY)
    .order_by(ModelAlias.alias.is_(None), ModelVersion.version.desc())
)


def resolve_version(
    conn: Connection, name: str, *, version: int | None, alias: str | None
) -> ResolvedVersion:
    """An explicit version, else the alias, else ``champion``, else the latest ready version.

    One query on the hot path; the slower lookups run only to explain a miss.
    """
    if version is not None:
        stmt, params = _BY_NUMBER, {"name": name, "version": version}
    elif alias is not None:
        stmt, params = _BY_ALIAS, {"name": name, "alias": alias}
    else:
        stmt, params = _DEFAULT, {"name": name, "alias": DEFAULT_ALIAS}
    row = conn.execute(stmt, params).first()
    if row is not None and row.status == VersionStatus.READY:
        return ResolvedVersion(
            id=row.id,
            model=name,
            version=row.version,
            target=row.target,
            series_id=row.series_id,
            created_at=row.created_at,
            scope=row.scope,
            adaptation=row.adaptation,
        )
    with Session(bind=conn) as session:
        _explain_missing_version(session, name, version=version, alias=alias)


def _explain_missing_version(
    session: Session, name: str, *, version: int | None, alias: str | None
) -> NoReturn:
    """Raise the precise 404 or 409 for a version that the fast query did not find."""
    registry.get_model(session, name)
    if version is not None:
        registry.get_ready_version(session, name, version)
    elif alias is not None:
        raise AliasNotFound(f"Model '{name}' has no alias '{alias}'.")
    raise VersionNotFound(f"Model '{name}' has no ready version yet.")
