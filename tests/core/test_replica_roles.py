"""Replicas with roles on one shared store: events-only replicas enqueue, workers run and show."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from bot.model import JobStatus, Progress, Stage
from bot.service import RUNNING_ELSEWHERE, MergeService
from bot.settings import ReplicaRole, Secret, Settings
from tests.core.chat import ChatSurface, eventually
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png


@dataclass
class StatusSurface(ChatSurface):
    """A chat surface that stores a status message for each job, as both adapters do."""

    async def _on_progress(self, update: Progress) -> None:
        if not any(p.job_id == update.job_id for p in self.progress):
            await self.service.record_message(update.job_id, "status", f"status-{update.job_id}")
        await super()._on_progress(update)

    def positions(self) -> list[int | None]:
        return [p.queue_position for p in self.progress if p.stage is Stage.QUEUED]


@pytest.fixture
def shared(settings: Settings, postgres_url: str) -> Settings:
    return replace(settings, store_driver="postgres", database_url=Secret(postgres_url))


@pytest.fixture
async def events_and_worker(shared: Settings) -> AsyncIterator[tuple[StatusSurface, StatusSurface]]:
    events = StatusSurface(await MergeService.open(replace(shared, role=ReplicaRole.EVENTS)))
    worker = StatusSurface(await MergeService.open(replace(shared, role=ReplicaRole.WORKER)))
    try:
        for replica in (events, worker):  # an events-only replica never claims, resumer or not
            replica.service.deliver_for("chat", replica.resume)
        yield events, worker
    finally:
        await events.service.aclose()
        await worker.service.aclose()


async def test_an_events_replica_hands_its_merge_to_a_worker(
    events_and_worker: tuple[StatusSurface, StatusSurface], openai_double: OpenAIDouble
) -> None:
    events, worker = events_and_worker
    events.post("a.png", png(seed=1))
    events.post("b.png", png(seed=2))
    handed = await asyncio.wait_for(events.merge("merge them"), 30)
    assert handed.elsewhere and handed.ok and handed.view.text == RUNNING_ELSEWHERE
    assert handed.job is not None
    job_id = handed.job.id
    await eventually(lambda: worker.outcome_of(job_id), within=30)
    result = worker.outcome_of(job_id)
    assert result is not None and result.ok and result.job is not None
    assert result.job.status is JobStatus.SUCCEEDED
    assert len(openai_double.requests) == 1
    assert Stage.GENERATING in worker.stages(job_id)  # the worker showed the run's progress
    assert Stage.GENERATING not in events.stages(job_id) and events.outcome_of(job_id) is handed


async def test_an_events_replica_alone_keeps_its_merges_in_line(shared: Settings, openai_double: OpenAIDouble) -> None:
    events = StatusSurface(await MergeService.open(replace(shared, role=ReplicaRole.EVENTS)))
    try:
        events.service.deliver_for("chat", events.resume)
        events.post("a.png", png(seed=1))
        merging = asyncio.create_task(events.merge("merge"))
        await eventually(lambda: any(p.stage is Stage.QUEUED for p in events.progress))
        await asyncio.sleep(2.5)  # two polls of its worker: it still does not claim
        assert not merging.done() and openai_double.requests == []
        job_id = events.progress[0].job_id
        assert await events.service._store.queue_positions(time.time()) == {job_id: 1}
        merging.cancel()
        await asyncio.gather(merging, return_exceptions=True)
    finally:
        await events.service.aclose()


async def test_queue_positions_count_every_replicas_merges(shared: Settings, openai_double: OpenAIDouble) -> None:
    first = StatusSurface(await MergeService.open(replace(shared, role=ReplicaRole.EVENTS)))
    second = StatusSurface(await MergeService.open(replace(shared, role=ReplicaRole.EVENTS)))
    one_at_a_time = replace(shared, role=ReplicaRole.WORKER, limits=replace(shared.limits, global_concurrency=1))
    worker: StatusSurface | None = None
    try:
        first.post("a.png", png(seed=1))
        second.post("b.png", png(seed=2))
        ahead = asyncio.create_task(first.merge("first", user="ana"))
        await eventually(lambda: first.positions())
        behind = asyncio.create_task(second.merge("second", user="ben"))
        await eventually(lambda: second.positions())
        assert (first.positions(), second.positions()) == ([1], [2])  # one line across both replicas

        openai_double.fail_next("slow", delay=3.0)  # the first merge runs long enough to watch
        worker = StatusSurface(await MergeService.open(one_at_a_time))
        worker.service.deliver_for("chat", worker.resume)
        assert (await asyncio.wait_for(ahead, 30)).elsewhere
        await eventually(lambda: second.positions() == [2, 1], within=10)  # moved up while the first runs
        assert (await asyncio.wait_for(behind, 30)).elsewhere
        await eventually(lambda: len([o for o in worker.replies if o.ok]) == 2, within=30)
    finally:
        for replica in (first, second, *([worker] if worker else [])):
            await replica.service.aclose()
