"""The registry on the service level (a rolled-back session on each database): version numbers,
promotion's decisions, and list reads that cost a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.db.column_records import PromotionRule
from app.db.orm import Backtest
from app.errors import InvalidSpec, PromotionRefused, VersionInUse, VersionNotReady
from app.ml.results import BacktestResult
from app.ml.spec import BacktestSpec
from app.pagination import PageParams
from app.registry import promotion, service, versions
from app.training import service as training
from app.vocabulary import JobKind, JobStatus, VersionStatus
from tests import factories


def test_versions_are_numbered_per_model(session: Session) -> None:
    assert [factories.version(session, "a").version for _ in range(3)] == [1, 2, 3]
    assert factories.version(session, "b").version == 1
    assert service.get_model(session, "a").name == "a"


def test_a_deleted_versions_number_is_never_given_again(session: Session) -> None:
    """The ledger and clients keep referring to version numbers: a new version after a delete
    gets a new number, as MLflow's registry does."""
    factories.version(session, "a")
    factories.version(session, "a")
    service.delete_version(session, "a", 2)
    session.flush()
    assert factories.version(session, "a").version == 3
    page, total = service.list_versions(
        session, service.get_model(session, "a"), PageParams(limit=50, offset=0)
    )
    assert ([v.version for v in page], total) == ([1, 3], 2)


def test_a_model_keeps_one_scope_even_against_a_job_queued_before(session: Session) -> None:
    """Checked when a job is queued, and again when it registers (under the model's lock): a
    job of the other scope may have registered meanwhile."""
    factories.version(session, "mixed", scope="global")
    with pytest.raises(InvalidSpec, match="scope 'global'"):
        factories.version(session, "mixed")
    failed = factories.version(session, "retried", scope="global", status=VersionStatus.FAILED)
    assert factories.version(session, "retried").version == failed.version + 1  # failed: no say


def test_a_pending_version_names_its_files_then_is_failed_once(session: Session) -> None:
    pending = factories.version(session, "a", status=VersionStatus.PENDING)
    assert versions.pending_key(session, pending.id) == "a/1"
    versions.fail_pending(session, pending.id)
    assert pending.status == VersionStatus.FAILED
    assert versions.pending_key(session, pending.id) is None  # nothing left to discard
    versions.fail_pending(session, pending.id)
    assert pending.status == VersionStatus.FAILED


def test_a_version_in_use_is_not_deleted(session: Session) -> None:
    ready = factories.version(session, "a")
    service.set_alias(session, "a", "champion", 1)
    with pytest.raises(VersionInUse, match="alias"):
        service.delete_version(session, "a", 1)
    service.delete_alias(session, "a", "champion")
    factories.job(session, kind=JobKind.BACKTEST, model_version_id=ready.id)
    with pytest.raises(VersionInUse, match="being backtested"):
        service.delete_version(session, "a", 1)
    factories.version(session, "a", status=VersionStatus.PENDING)
    with pytest.raises(VersionNotReady):
        service.delete_version(session, "a", 2)


# ------------------------------------------------------------------------------ promotion


def test_promotion_compares_versions_on_the_same_holdout_directly(session: Session) -> None:
    factories.version(session, "a", model_rmse=0.9, naive_rmse=1.0)
    factories.version(session, "a", model_rmse=0.95, naive_rmse=1.0)
    previous, _ = promotion.promote(session, "a", "champion", 1, PromotionRule())
    assert previous is None
    with pytest.raises(PromotionRefused) as refused:
        promotion.promote(session, "a", "champion", 2, PromotionRule())
    current = refused.value.extra["checks"][1]
    assert (current["check"], current["metric"], current["candidate"], current["current"]) == (
        "beats_current",
        "rmse",
        0.95,
        0.9,
    )
    assert service.summarize(session, [service.get_model(session, "a")])[0].aliases == {
        "champion": 1
    }


def test_promotion_across_different_data_compares_skill_over_naive(session: Session) -> None:
    # Version 2 has the larger error, but on data where naive errs more: relatively better.
    factories.version(session, "a", model_rmse=0.9, naive_rmse=1.0, rows_sha256="a" * 64)
    factories.version(session, "a", model_rmse=1.8, naive_rmse=2.4, rows_sha256="b" * 64)
    promotion.promote(session, "a", "champion", 1, PromotionRule())
    previous, checks = promotion.promote(session, "a", "champion", 2, PromotionRule())
    assert previous == 1
    assert checks[1].metric == "rmse / naive rmse"
    assert (checks[1].candidate, checks[1].current) == pytest.approx((0.75, 0.9))


def test_a_backtest_is_the_evidence_once_there_is_one(session: Session) -> None:
    version = factories.version(session, "a", model_rmse=0.9, naive_rmse=1.0)
    result = BacktestResult.model_validate(
        {
            "windows": 1, "step": 1, "horizon": 1, "refit": True, "season_length": 1,
            "cancelled": False, "folds": [], "forecasts": None,
            "aggregate": {
                "folds": 1, "nominal": {},
                "mean": {"one_step": _one_step(1.2, 1.0), "per_step_rmse": _by(None),
                         "multi_step": _by(None), "coverage": None, "fit_seconds": 0.0},
                "pooled": {"one_step": _one_step(1.2, 1.0), "per_step_rmse": _by(None),
                           "multi_step": _by(None), "coverage": None,
                           "coverage_one_step": None},
            },
        }
    )  # fmt: skip
    session.add(Backtest(model_version_id=version.id, spec=BacktestSpec(), result=result))
    session.flush()
    with pytest.raises(PromotionRefused, match=r"beats_naive: rmse 1\.2 is not below 1"):
        promotion.promote(session, "a", "champion", 1, PromotionRule(beats_current=False))


def _one_step(model: float, naive: float) -> dict[str, Any]:
    return {"model": factories.point(model), "naive": factories.point(naive),
            "drift": factories.point(naive), "skill_vs_naive": 1 - model / naive,
            "skill_vs_drift": 1 - model / naive}  # fmt: skip


def _by(value: Any) -> dict[str, Any]:
    return dict.fromkeys(("model", "naive", "drift", "seasonal_naive"), value)


# ------------------------------------------------------------------------------ list reads


@contextmanager
def counted(session: Session) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = session.get_bind().engine

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_listing_models_costs_the_same_queries_for_one_or_many(session: Session) -> None:
    factories.version(session, "m0")
    factories.version(session, "m0")
    service.set_alias(session, "m0", "champion", 1)
    session.expunge_all()
    with counted(session) as one:
        (listed,), _ = service.list_models(session, PageParams(limit=50, offset=0))
    assert (listed.aliases, listed.latest_version) == ({"champion": 1}, 2)
    for i in range(1, 5):
        factories.version(session, f"m{i}")
    session.expunge_all()
    with counted(session) as many:
        listed_many, total = service.list_models(session, PageParams(limit=50, offset=0))
    assert total == len(listed_many) == 5
    assert len(many) == len(one) <= 5


def test_listing_jobs_costs_the_same_queries_for_one_or_many(session: Session) -> None:
    def add_jobs(count: int) -> None:
        for _ in range(count):
            version = factories.version(session, "a")
            factories.job(session, status=JobStatus.SUCCEEDED, model_version_id=version.id)
            factories.job(
                session,
                kind=JobKind.BACKTEST,
                status=JobStatus.SUCCEEDED,
                model_version_id=version.id,
            )
        session.expunge_all()

    def listed() -> tuple[list[training.JobView], list[str]]:
        with counted(session) as statements:
            views, _ = training.list_jobs(
                session,
                status=None,
                kind=None,
                series_id=None,
                paging=PageParams(limit=50, offset=0),
            )
        return views, statements

    add_jobs(1)
    views, one = listed()
    assert {v.version for v in views} == {("a", 1)}
    add_jobs(4)
    views, many = listed()
    assert len(views) == 10
    assert len(many) == len(one) <= 4
