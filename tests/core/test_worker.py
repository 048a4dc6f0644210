"""The worker on a real store: a job is run and shown by whoever holds its lease, and only by them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.model import Outcome, Progress, View
from bot.sqlite_store import SqliteJobStore
from bot.store import Caps, Claimed, Quota
from bot.worker import LEASE_S, Delivery, Worker
from tests.core.chat import eventually
from tests.store.jobs import simple_job

ROOMY = Caps(global_concurrency=4, per_user_concurrency=4)
DAY = Quota(since=0.0, per_user_daily=100, workspace_daily_usd=100.0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    opened = SqliteJobStore(tmp_path / "jobs.sqlite3")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_worker_that_lost_the_lease_does_not_show_its_outcome(store: SqliteJobStore) -> None:
    """Another worker took the job over (this one stalled past its lease): only that one may post."""
    generating = asyncio.Event()
    finish_generating = asyncio.Event()

    async def run_job(claimed: Claimed, progress: object) -> Outcome:
        generating.set()
        await finish_generating.wait()
        return Outcome(View("Merged"), job=claimed.job)

    shown: list[Outcome] = []

    async def resume(job: object) -> Delivery:
        async def ignore(progress: Progress) -> None:
            return None

        async def finish(outcome: Outcome) -> None:
            shown.append(outcome)

        return Delivery(ignore, finish)

    job = simple_job("stall001", created_at=time.time())
    assert await store.admit(job, 0.1, DAY) is None
    await store.enqueue(job.id, time.time())
    stalled = Worker(store, ROOMY, run_job)
    stalled.deliver_for("discord", resume)
    stalled.start()
    try:
        await asyncio.wait_for(generating.wait(), 10)
        # Its lease ran out while it stalled, and another worker claimed the job as a resume.
        taken = await store.claim("other", ["discord"], ROOMY, LEASE_S, time.time() + LEASE_S + 1)
        assert taken is not None and taken.job.id == job.id and taken.attempt == 2
        finish_generating.set()
        await eventually(lambda: stalled.running == 0)
        assert shown == []
        assert await store.renew(job.id, "other", LEASE_S, time.time())  # the new holder kept it
    finally:
        await stalled.aclose()
