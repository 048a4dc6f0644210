"""The durable queue contract: claims in order, under the caps, with leases that expire."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from bot.model import JobStatus
from bot.postgres_store import CLAIM_LOCK
from bot.sqlite_store import SqliteJobStore
from bot.store import (
    INTERRUPTED_WHILE_GATHERING,
    INTERRUPTED_WHILE_QUEUED,
    INTERRUPTED_WHILE_RUNNING,
    Caps,
    JobStore,
    Quota,
)

from .conftest import make_store
from .jobs import origin, simple_job

ROOMY = Caps(global_concurrency=10, per_user_concurrency=10)
LEASE = 30.0
NOW = 10_000.0
DAY = Quota(since=0.0, per_user_daily=100, workspace_daily_usd=100.0)


async def _enqueued(store: JobStore, job_id: str, at: float, user: str = "user-1", platform: str = "discord") -> None:
    job = replace(simple_job(job_id, created_at=at), origin=origin(platform=platform, user=user))
    assert await store.admit(job, 0.1, DAY) is None
    await store.enqueue(job_id, at)


async def test_jobs_are_claimed_in_the_order_they_were_enqueued(store: JobStore) -> None:
    for i, job_id in enumerate(("third001", "first001", "second01")):
        await _enqueued(store, job_id, NOW + (2, 0, 1)[i])
    claimed = [await store.claim("w1", ["discord"], ROOMY, LEASE, NOW + 5) for _ in range(4)]
    assert [c.job.id if c else None for c in claimed] == ["first001", "second01", "third001", None]
    assert all(c is None or (c.attempt == 1 and c.job.status is JobStatus.RUNNING) for c in claimed)


async def test_an_admitted_job_is_not_claimable_until_enqueued(store: JobStore) -> None:
    assert await store.admit(simple_job("gather01", created_at=NOW), 0.1, DAY) is None
    assert await store.claim("w1", ["discord"], ROOMY, LEASE, NOW) is None
    assert await store.queue_positions(NOW) == {}
    await store.enqueue("gather01", NOW)
    assert await store.queue_positions(NOW) == {"gather01": 1}


async def test_claims_only_the_platforms_asked_for(store: JobStore) -> None:
    await _enqueued(store, "slack001", NOW, platform="slack")
    assert await store.claim("w1", ["discord"], ROOMY, LEASE, NOW) is None
    assert await store.claim("w1", [], ROOMY, LEASE, NOW) is None
    claimed = await store.claim("w1", ["discord", "slack"], ROOMY, LEASE, NOW)
    assert claimed is not None and claimed.job.id == "slack001"


async def test_the_global_cap_counts_live_leases(store: JobStore) -> None:
    for i in range(3):
        await _enqueued(store, f"glob{i:04}", NOW + i, user=f"user-{i}")
    caps = Caps(global_concurrency=2, per_user_concurrency=2)
    first = await store.claim("w1", ["discord"], caps, LEASE, NOW + 5)
    assert first is not None
    assert await store.claim("w2", ["discord"], caps, LEASE, NOW + 5) is not None
    assert await store.claim("w3", ["discord"], caps, LEASE, NOW + 5) is None
    await store.save(replace(first.job, status=JobStatus.FAILED, error="It broke."))
    await store.end_lease("glob0000", "w1")
    third = await store.claim("w3", ["discord"], caps, LEASE, NOW + 5)
    assert third is not None and third.job.id == "glob0002"


async def test_a_persons_extra_job_waits_while_others_pass_it(store: JobStore) -> None:
    await _enqueued(store, "ana00001", NOW, user="ana")
    await _enqueued(store, "ana00002", NOW + 1, user="ana")
    await _enqueued(store, "ben00001", NOW + 2, user="ben")
    caps = Caps(global_concurrency=10, per_user_concurrency=1)
    first = await store.claim("w1", ["discord"], caps, LEASE, NOW + 5)
    second = await store.claim("w1", ["discord"], caps, LEASE, NOW + 5)
    assert first is not None and second is not None
    assert (first.job.id, second.job.id) == ("ana00001", "ben00001")
    assert await store.claim("w1", ["discord"], caps, LEASE, NOW + 5) is None
    assert await store.queue_positions(NOW + 5) == {"ana00002": 1}
    await store.save(replace(first.job, status=JobStatus.SUCCEEDED))
    await store.end_lease("ana00001", "w1")
    later = await store.claim("w1", ["discord"], caps, LEASE, NOW + 6)
    assert later is not None and later.job.id == "ana00002"


async def test_queue_positions_follow_the_line(store: JobStore) -> None:
    for i in range(4):
        await _enqueued(store, f"line{i:04}", NOW + i)
    assert await store.queue_positions(NOW + 5) == {f"line{i:04}": i + 1 for i in range(4)}
    await store.claim("w1", ["discord"], ROOMY, LEASE, NOW + 5)
    assert await store.queue_positions(NOW + 5) == {"line0001": 1, "line0002": 2, "line0003": 3}


async def test_an_expired_lease_is_claimed_again_as_a_resume(store: JobStore) -> None:
    await _enqueued(store, "lease001", NOW)
    first = await store.claim("dead", ["discord"], ROOMY, LEASE, NOW)
    assert first is not None and first.attempt == 1
    assert await store.claim("w2", ["discord"], ROOMY, LEASE, NOW + LEASE - 1) is None  # still held
    again = await store.claim("w2", ["discord"], ROOMY, LEASE, NOW + LEASE + 1)
    assert again is not None and again.job.id == "lease001" and again.attempt == 2
    assert not await store.renew("lease001", "dead", LEASE, NOW + LEASE + 2)  # the dead worker lost it
    assert await store.renew("lease001", "w2", LEASE, NOW + LEASE + 2)


async def test_renewing_keeps_the_job_from_being_claimed(store: JobStore) -> None:
    await _enqueued(store, "renew001", NOW)
    assert await store.claim("w1", ["discord"], ROOMY, LEASE, NOW) is not None
    for step in range(1, 5):
        assert await store.renew("renew001", "w1", LEASE, NOW + step * 20)
    assert await store.claim("w2", ["discord"], ROOMY, LEASE, NOW + 4 * 20 + LEASE - 1) is None


async def test_a_finished_job_is_never_claimed(store: JobStore) -> None:
    await _enqueued(store, "finish01", NOW)
    claimed = await store.claim("w1", ["discord"], ROOMY, LEASE, NOW)
    assert claimed is not None
    await store.save(replace(claimed.job, status=JobStatus.SUCCEEDED))
    await store.end_lease("finish01", "w1")
    assert await store.claim("w1", ["discord"], ROOMY, LEASE, NOW + 1) is None
    assert await store.claim("w1", ["discord"], ROOMY, LEASE, NOW + 10 * LEASE) is None


async def test_a_job_handed_back_is_claimable_at_once(store: JobStore) -> None:
    await _enqueued(store, "handed01", NOW)
    assert await store.claim("w1", ["discord"], ROOMY, LEASE, NOW) is not None
    await store.end_lease("handed01", "w1")  # stopped mid-run: left for the next start
    again = await store.claim("w2", ["discord"], ROOMY, LEASE, NOW + 1)
    assert again is not None and again.attempt == 2


async def test_jobs_too_old_to_resume_are_interrupted(store: JobStore) -> None:
    await _enqueued(store, "oldrun01", NOW)
    await _enqueued(store, "oldwait1", NOW + 1)
    await _enqueued(store, "fresh001", NOW + 100)
    assert await store.claim("dead", ["discord"], ROOMY, LEASE, NOW + 2) is not None  # oldrun01
    expired = await store.expire_unclaimed(created_before=NOW + 50, now=NOW + 2 + LEASE + 1)
    assert sorted(job.id for job in expired) == ["oldrun01", "oldwait1"]
    errors = {job.id: (job.status, job.error) for job in expired}
    assert errors["oldrun01"] == (JobStatus.INTERRUPTED, INTERRUPTED_WHILE_RUNNING)
    assert errors["oldwait1"] == (JobStatus.INTERRUPTED, INTERRUPTED_WHILE_QUEUED)
    assert await store.queue_positions(NOW + 200) == {"fresh001": 1}
    # the one that never reached a worker gave its reservation back; the other may have been billed
    assert await store.cost_since("discord", "guild-1", 0.0) == pytest.approx(0.2)


async def test_concurrent_claims_never_pass_the_caps(store: JobStore) -> None:
    for i in range(12):
        await _enqueued(store, f"race{i:04}", NOW + i, user=f"user-{i % 3}")
    caps = Caps(global_concurrency=5, per_user_concurrency=2)
    claims = await asyncio.gather(*(store.claim(f"w{i}", ["discord"], caps, LEASE, NOW + 20) for i in range(12)))
    won = [c for c in claims if c is not None]
    assert len(won) == 5
    assert len({c.job.id for c in won}) == 5
    per_user: dict[str, int] = {}
    for c in won:
        per_user[c.job.origin.user_id] = per_user.get(c.job.origin.user_id, 0) + 1
    assert max(per_user.values()) <= 2


async def test_two_stores_on_one_database_never_claim_a_job_twice(
    store_kind: str, tmp_path: Path, database_url: str | None
) -> None:
    if store_kind == "sqlite-memory":
        pytest.skip("an in-memory database is private to its connection")
    first = make_store(store_kind, tmp_path, database_url)
    second = make_store(store_kind, tmp_path, database_url)
    await first.open()
    await second.open()
    try:
        for i in range(8):
            await _enqueued(first, f"twice{i:03}", NOW + i, user=f"user-{i}")
        claims = await asyncio.gather(
            *((first if i % 2 else second).claim(f"w{i}", ["discord"], ROOMY, LEASE, NOW + 20) for i in range(16))
        )
        ids = [c.job.id for c in claims if c is not None]
        assert sorted(ids) == [f"twice{i:03}" for i in range(8)]
    finally:
        await first.close()
        await second.close()


async def test_jobs_taken_by_another_worker_or_finished_left_the_line(store: JobStore) -> None:
    for i, job_id in enumerate(("mine0001", "theirs01", "done0001", "waits001")):
        await _enqueued(store, job_id, NOW + i, user=job_id)
    assert await store.admit(simple_job("gather01", created_at=NOW), 0.1, DAY) is None  # not enqueued yet
    claims = {}
    for owner in ("me", "them", "them"):  # claims go in queue order: mine, theirs, done
        claimed = await store.claim(owner, ["discord"], ROOMY, LEASE, NOW + 5)
        assert claimed is not None
        claims[claimed.job.id] = claimed
    assert sorted(claims) == ["done0001", "mine0001", "theirs01"]
    done = claims["done0001"]
    await store.save(replace(done.job, status=JobStatus.SUCCEEDED))
    await store.end_lease("done0001", "them")
    asked = ["mine0001", "theirs01", "waits001", "done0001", "gather01", "unknown1"]
    assert await store.taken_elsewhere(asked, "me", NOW + 6) == {"theirs01", "done0001"}
    # once the other worker's lease has run out, the job is back in line, not elsewhere
    assert await store.taken_elsewhere(asked, "me", NOW + 5 + LEASE + 1) == {"done0001"}
    assert await store.taken_elsewhere([], "me", NOW) == set()


@contextlib.asynccontextmanager
async def _claims_held_up(store: JobStore, database_url: str | None) -> AsyncIterator[None]:
    """Hold what a claim waits for (the claim lock of PostgreSQL, the connection lock of SQLite)."""
    if isinstance(store, SqliteJobStore):
        async with store._lock:
            yield
        return
    assert database_url is not None
    other = await asyncpg.connect(database_url)
    try:
        await other.execute("SELECT pg_advisory_lock($1)", CLAIM_LOCK)
        yield
    finally:
        await other.close()


async def test_a_claim_that_waited_for_the_store_still_holds_a_live_lease(
    store: JobStore, database_url: str | None
) -> None:
    """Under load a claim may wait longer than the lease: the lease counts from the claim, not the call."""
    lease = 1.0
    await _enqueued(store, "waited01", time.time())
    async with _claims_held_up(store, database_url):
        claiming = asyncio.create_task(store.claim("w1", ["discord"], ROOMY, lease, time.time()))
        await asyncio.sleep(lease + 0.5)
        assert not claiming.done()
    claimed = await asyncio.wait_for(claiming, 10)
    assert claimed is not None and claimed.job.id == "waited01"
    assert await store.claim("w2", ["discord"], ROOMY, lease, time.time()) is None  # still w1's


async def test_a_finished_job_whose_worker_died_before_showing_it_is_claimed_to_show_it(store: JobStore) -> None:
    """The result is stored, the process died posting it: the next claim gets it, finished, to post."""
    await _enqueued(store, "posted01", NOW)
    claimed = await store.claim("dead", ["discord"], ROOMY, LEASE, NOW)
    assert claimed is not None
    await store.save(replace(claimed.job, status=JobStatus.SUCCEEDED, result_digests=("r" * 64,)))
    assert await store.claim("w2", ["discord"], ROOMY, LEASE, NOW + LEASE - 1) is None  # still the dead one's
    again = await store.claim("w2", ["discord"], ROOMY, LEASE, NOW + LEASE + 1)
    assert again is not None and again.job.id == "posted01" and again.attempt == 2
    assert again.job.status is JobStatus.SUCCEEDED and again.job.result_digests == ("r" * 64,)
    assert await store.queue_positions(NOW + LEASE + 1) == {}  # nothing waits to run
    await store.end_lease("posted01", "w2")  # shown
    assert await store.claim("w3", ["discord"], ROOMY, LEASE, NOW + 10 * LEASE) is None


async def test_an_outcome_whose_posting_was_cut_off_is_claimable_at_once(store: JobStore) -> None:
    await _enqueued(store, "cutoff01", NOW)
    claimed = await store.claim("w1", ["discord"], ROOMY, LEASE, NOW)
    assert claimed is not None
    await store.save(replace(claimed.job, status=JobStatus.FAILED, error="It broke."))
    await store.end_lease("cutoff01", "w1", shown=False)  # stopped while posting it
    again = await store.claim("w2", ["discord"], ROOMY, LEASE, NOW + 1)
    assert again is not None and again.job.status is JobStatus.FAILED and again.job.error == "It broke."
    await store.end_lease("cutoff01", "someone-else")  # not the lease holder: changes nothing
    assert await store.claim("w3", ["discord"], ROOMY, LEASE, NOW + 1 + LEASE + 1) is not None


async def test_showing_a_finished_job_takes_no_concurrency_slot(store: JobStore) -> None:
    """The caps are for generations: a job whose outcome is being posted lets the next one run,
    and one left to post is claimed to post even when every slot is taken."""
    caps = Caps(global_concurrency=1, per_user_concurrency=1)
    await _enqueued(store, "shows001", NOW)
    await _enqueued(store, "nextrun1", NOW + 1)
    first = await store.claim("w1", ["discord"], caps, LEASE, NOW + 2)
    assert first is not None and first.job.id == "shows001"
    assert await store.claim("w2", ["discord"], caps, LEASE, NOW + 2) is None  # the one slot is taken
    await store.save(replace(first.job, status=JobStatus.SUCCEEDED))  # now posting it, still under lease
    second = await store.claim("w2", ["discord"], caps, LEASE, NOW + 3)
    assert second is not None and second.job.id == "nextrun1"  # same person, same single slot: free
    # w1 dies while posting; w2 still holds the one slot, yet w1's outcome is claimed to be posted
    assert await store.renew("nextrun1", "w2", LEASE, NOW + 2 + LEASE)
    await _enqueued(store, "waiting1", NOW + 4, user="someone")
    again = await store.claim("w3", ["discord"], caps, LEASE, NOW + 3 + LEASE)
    assert again is not None and again.job.id == "shows001" and again.job.status is JobStatus.SUCCEEDED
    assert await store.claim("w4", ["discord"], caps, LEASE, NOW + 3 + LEASE) is None  # waiting1 has no slot


async def test_a_job_whose_gatherer_died_is_given_up_once_its_lease_ran_out(store: JobStore) -> None:
    """A process died gathering a merge's images: any replica finds it once the lease is over."""
    job = simple_job("gather02", created_at=NOW)
    assert await store.admit(job, 0.1, DAY, gatherer="dead", lease_until=NOW + LEASE) is None
    assert await store.expire_gathering(["discord"], NOW + LEASE - 1) == []  # it may still be gathering
    assert await store.expire_gathering(["slack"], NOW + LEASE + 1) == []  # not a platform asked for
    given_up = await store.expire_gathering(["discord"], NOW + LEASE + 1)
    assert [j.id for j in given_up] == ["gather02"]
    assert given_up[0].status is JobStatus.INTERRUPTED and given_up[0].error == INTERRUPTED_WHILE_GATHERING
    assert await store.count_user_jobs_since("discord", "guild-1", "user-1", 0.0) == 0  # released
    assert await store.expire_gathering(["discord"], NOW + LEASE + 2) == []  # told once
    assert not await store.enqueue("gather02", NOW + LEASE + 3)  # the stalled gatherer cannot bring it back
    assert await store.claim("w1", ["discord"], ROOMY, LEASE, NOW + LEASE + 3) is None


async def test_a_gathering_lease_is_renewed_ends_at_enqueue_and_takes_no_slot(store: JobStore) -> None:
    caps = Caps(global_concurrency=1, per_user_concurrency=1)
    job = simple_job("gather03", created_at=NOW)
    assert await store.admit(job, 0.1, DAY, gatherer="w1", lease_until=NOW + LEASE) is None
    await _enqueued(store, "runs0001", NOW + 1)
    assert (await store.claim("w2", ["discord"], caps, LEASE, NOW + 2)) is not None  # the gatherer holds no slot
    assert await store.renew("gather03", "w1", LEASE, NOW + LEASE - 1)
    assert await store.expire_gathering(["discord"], NOW + LEASE + 1) == []  # renewed
    assert await store.enqueue("gather03", NOW + LEASE + 2)
    assert not await store.enqueue("gather03", NOW + LEASE + 3)  # once
    assert await store.expire_gathering(["discord"], NOW + 10 * LEASE) == []
    assert await store.queue_positions(NOW + LEASE + 2) == {"gather03": 1}  # claimable: its lease ended


async def test_only_a_job_deleted_before_any_claim_gives_its_place_back(store: JobStore) -> None:
    for at, job_id in enumerate(("ran00001", "gone0001", "wait0001")):
        await _enqueued(store, job_id, NOW + at)
    claimed = await store.claim("w1", ["discord"], ROOMY, LEASE, NOW + 5)
    assert claimed is not None and claimed.job.id == "ran00001"
    assert await store.count_user_jobs_since("discord", "guild-1", "user-1", 0.0) == 3
    for job_id in ("ran00001", "gone0001"):  # deleted while it ran, deleted while it waited
        job = await store.get(job_id)
        assert job is not None
        await store.save(replace(job, status=JobStatus.DELETED))
    assert not await store.release_unclaimed("ran00001")  # it may have been billed: it stays counted
    assert await store.release_unclaimed("gone0001")
    assert not await store.release_unclaimed("wait0001")  # still in line, not deleted
    assert await store.count_user_jobs_since("discord", "guild-1", "user-1", 0.0) == 2
    next_up = await store.claim("w2", ["discord"], ROOMY, LEASE, NOW + 5)
    assert next_up is not None and next_up.job.id == "wait0001"  # the deleted one is never claimed
    assert await store.claim("w2", ["discord"], ROOMY, LEASE, NOW + 5) is None
