"""The reservation contract: admission checks the daily limits and inserts in one step."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from bot.model import Job, JobStatus
from bot.store import PER_USER_DAILY, WORKSPACE_DAILY_COST, JobStore, Quota

from .conftest import make_store
from .jobs import origin, simple_job

DAY = Quota(since=1_000.0, per_user_daily=3, workspace_daily_usd=1.0)


async def test_admit_inserts_the_job(store: JobStore) -> None:
    job = simple_job("admit001", created_at=1_500.0)
    assert await store.admit(job, 0.25, DAY) is None
    assert await store.get(job.id) == job
    assert await store.cost_since("discord", "guild-1", DAY.since) == pytest.approx(0.25)
    assert await store.count_user_jobs_since("discord", "guild-1", "user-1", DAY.since) == 1


async def test_the_daily_count_refuses_and_inserts_nothing(store: JobStore) -> None:
    for i in range(3):
        assert await store.admit(simple_job(f"count{i:03}", created_at=1_500.0), 0.0, DAY) is None
    assert await store.admit(simple_job("count999", created_at=1_500.0), 0.0, DAY) == PER_USER_DAILY
    assert await store.get("count999") is None
    other = replace(simple_job("other001", created_at=1_500.0), origin=origin(user="user-2"))
    assert await store.admit(other, 0.0, DAY) is None


async def test_each_variation_counts_against_the_daily_limit(store: JobStore) -> None:
    def asking(job_id: str, n: int) -> Job:
        job = simple_job(job_id, created_at=1_500.0)
        return replace(job, options=replace(job.options, n=n))

    assert await store.admit(asking("vars0002", 2), 0.0, DAY) is None
    assert await store.admit(asking("vars0003", 2), 0.0, DAY) == PER_USER_DAILY  # 2 + 2 > 3
    assert await store.get("vars0003") is None
    assert await store.admit(asking("vars0001", 1), 0.0, DAY) is None
    assert await store.count_user_jobs_since("discord", "guild-1", "user-1", DAY.since) == 3
    totals = await store.totals_since("discord", "guild-1", DAY.since, user_id="user-1")
    assert totals.jobs == 3
    await store.release("vars0002")  # a job given back counts nothing, whatever it asked for
    assert await store.count_user_jobs_since("discord", "guild-1", "user-1", DAY.since) == 1
    assert (await store.totals_since("discord", "guild-1", DAY.since)).jobs == 1
    assert await store.admit(asking("vars0004", 2), 0.0, DAY) is None


async def test_jobs_before_the_window_do_not_count(store: JobStore) -> None:
    for i in range(3):
        assert await store.admit(simple_job(f"old{i:03}", created_at=500.0), 0.5, DAY) is None
    assert await store.admit(simple_job("today001", created_at=1_500.0), 0.5, DAY) is None


async def test_the_budget_refuses_a_reservation_that_does_not_fit(store: JobStore) -> None:
    assert await store.admit(simple_job("cost0001", created_at=1_500.0), 0.6, DAY) is None
    other = replace(simple_job("cost0002", created_at=1_500.0), origin=origin(user="user-2"))
    assert await store.admit(other, 0.6, DAY) == WORKSPACE_DAILY_COST
    assert await store.get("cost0002") is None
    assert await store.admit(other, 0.4, DAY) is None
    assert await store.admit(replace(other, id="cost0003"), 0.0, DAY) == WORKSPACE_DAILY_COST  # the budget is spent


async def test_saving_the_real_cost_settles_the_reservation(store: JobStore) -> None:
    job = simple_job("settle01", created_at=1_500.0)
    assert await store.admit(job, 0.9, DAY) is None
    await store.save(replace(job, status=JobStatus.SUCCEEDED, cost_usd=0.1))
    assert await store.cost_since("discord", "guild-1", DAY.since) == pytest.approx(0.1)
    assert await store.admit(replace(job, id="settle02"), 0.9, DAY) is None


async def test_a_job_saved_without_a_cost_stays_charged_at_its_reservation(store: JobStore) -> None:
    job = simple_job("nocost01", created_at=1_500.0)
    assert await store.admit(job, 0.7, DAY) is None
    await store.save(replace(job, status=JobStatus.FAILED, error="the API timed out"))
    assert await store.cost_since("discord", "guild-1", DAY.since) == pytest.approx(0.7)


async def test_release_gives_back_the_place_and_the_reservation(store: JobStore) -> None:
    jobs = [simple_job(f"free{i:04}", created_at=1_500.0) for i in range(3)]
    for job in jobs:
        assert await store.admit(job, 0.3, DAY) is None
    await store.release(jobs[0].id)
    await store.save(replace(jobs[0], status=JobStatus.FAILED, error="no images"))  # saving does not take it back
    assert await store.count_user_jobs_since("discord", "guild-1", "user-1", DAY.since) == 2
    assert await store.cost_since("discord", "guild-1", DAY.since) == pytest.approx(0.6)
    assert await store.admit(simple_job("free9999", created_at=1_500.0), 0.3, DAY) is None


async def test_a_burst_of_admissions_never_passes_a_limit(store: JobStore) -> None:
    jobs = [simple_job(f"burst{i:03}", created_at=1_500.0) for i in range(20)]
    results = await asyncio.gather(*(store.admit(job, 0.3, replace(DAY, per_user_daily=100)) for job in jobs))
    assert sum(result is None for result in results) == 3  # 3 x 0.3 fits in 1.0, a fourth does not
    assert await store.cost_since("discord", "guild-1", DAY.since) == pytest.approx(0.9)


async def test_two_stores_on_one_database_share_the_limits(
    store_kind: str, tmp_path: Path, database_url: str | None
) -> None:
    """Two processes (replicas) on one database: each admission sees the other's."""
    if store_kind == "sqlite-memory":
        pytest.skip("an in-memory database is private to its connection")
    first, second = make_store(store_kind, tmp_path, database_url), make_store(store_kind, tmp_path, database_url)
    await first.open()
    await second.open()
    try:
        jobs = [simple_job(f"pair{i:04}", created_at=1_500.0) for i in range(10)]
        results = await asyncio.gather(
            *((first if i % 2 else second).admit(job, 0.0, DAY) for i, job in enumerate(jobs))
        )
        assert sum(result is None for result in results) == DAY.per_user_daily
        assert await first.count_user_jobs_since("discord", "guild-1", "user-1", DAY.since) == 3
    finally:
        await first.close()
        await second.close()
