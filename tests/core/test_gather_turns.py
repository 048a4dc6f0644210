"""A burst of merges gathers a few at a time (``bot.turns``), fairly between people, and a stop
lets go of the merges still waiting for their turn without spending anything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest_asyncio
from aiohttp import web

from bot.controls import DELETE_CONFIRMED
from bot.limits import day_window
from bot.model import (
    Action,
    ActionKind,
    Actor,
    ImageSource,
    JobStatus,
    MergeOptions,
    MergeRequest,
    Origin,
    Outcome,
    Progress,
)
from bot.service import NOT_STARTED_AT_STOP, WAITING_TO_GATHER, MergeService
from bot.settings import Settings
from bot.turns import GATHERING_AT_ONCE, GatherTurns
from tests.core.chat import eventually
from tests.core.conftest import with_limits
from tests.doubles.server import serve_locally
from tests.imagegen import png


class ImageHost:
    """Serves one PNG per path, holding each download until ``open`` is set; counts downloads in flight."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.order: list[str] = []  # paths in the order their downloads began
        self.port = 0

    async def _image(self, request: web.Request) -> web.Response:
        self.order.append(request.path)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.open.wait()
            await asyncio.sleep(0.02)
        finally:
            self.in_flight -= 1
        return web.Response(body=png(48, 32, seed=len(self.order)), content_type="image/png")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{name}", self._image)
        return app

    def source(self, name: str) -> ImageSource:
        return ImageSource(name=f"{name}.png", url=f"http://127.0.0.1:{self.port}/{name}")


@pytest_asyncio.fixture
async def host() -> AsyncIterator[ImageHost]:
    host = ImageHost()
    runner, host.port = await serve_locally(host.app())
    try:
        yield host
    finally:
        host.open.set()
        await runner.cleanup()


def request_of(host: ImageHost, user: str, name: str) -> MergeRequest:
    origin = Origin("chat", "team-1", "general", user, thread_id=f"t-{name}", user_name=user)
    return MergeRequest(origin, (host.source(name),), MergeOptions(prompt="the cat from A"))


async def open_service(settings: Settings) -> MergeService:
    limits = {"per_user_concurrency": 20, "per_user_daily": 100, "global_concurrency": 8}
    return await MergeService.open(replace(with_limits(settings, **limits), sheet_side=256))


async def test_a_burst_of_merges_gathers_a_few_at_a_time_and_every_merge_gets_its_result(
    settings: Settings, host: ImageHost
) -> None:
    service = await open_service(settings)
    try:
        merges = [
            asyncio.create_task(service.merge(request_of(host, f"person{i}", f"ref{i}"))) for i in range(12)
        ]
        await eventually(lambda: host.in_flight >= GATHERING_AT_ONCE)
        await asyncio.sleep(0.2)  # time for any other merge to start downloading too
        assert host.in_flight == GATHERING_AT_ONCE, "only a few merges gather at once"
        host.open.set()
        outcomes = await asyncio.wait_for(asyncio.gather(*merges), 60)
    finally:
        await service.aclose()
    assert host.most_in_flight == GATHERING_AT_ONCE
    assert all(outcome.ok for outcome in outcomes), [o.view.text for o in outcomes if not o.ok]
    assert len(host.order) == 12


async def test_merges_that_wait_for_a_turn_say_so(settings: Settings, host: ImageHost) -> None:
    service = await open_service(settings)
    seen: list[Progress] = []

    async def sink(progress: Progress) -> None:
        seen.append(progress)

    try:
        first = [service.merge(request_of(host, f"person{i}", f"ref{i}")) for i in range(GATHERING_AT_ONCE)]
        merges = [asyncio.create_task(merge) for merge in first]
        await eventually(lambda: host.in_flight == GATHERING_AT_ONCE)
        last = asyncio.create_task(service.merge(request_of(host, "zoe", "zoe"), sink))
        await eventually(lambda: any(p.text == WAITING_TO_GATHER for p in seen))
        host.open.set()
        outcomes = await asyncio.wait_for(asyncio.gather(*merges, last), 60)
    finally:
        await service.aclose()
    assert all(outcome.ok for outcome in outcomes)


async def test_a_stop_lets_go_of_merges_waiting_to_gather_and_spends_nothing_on_them(
    settings: Settings, host: ImageHost
) -> None:
    service = await open_service(settings)
    try:
        gathering = [
            asyncio.create_task(service.merge(request_of(host, f"person{i}", f"ref{i}")))
            for i in range(GATHERING_AT_ONCE)
        ]
        await eventually(lambda: host.in_flight == GATHERING_AT_ONCE)
        waiting = asyncio.create_task(service.merge(request_of(host, "zoe", "zoe")))
        await asyncio.sleep(0.1)
        assert not waiting.done()

        released = service.stop()

        outcome: Outcome = await asyncio.wait_for(waiting, 10)
        assert released >= 1
        assert not outcome.ok
        assert NOT_STARTED_AT_STOP in outcome.view.text
        assert outcome.job is not None
        stored = await service.job(outcome.job.id)
        assert stored is not None and stored.status is JobStatus.FAILED
        since, _ = day_window()
        assert await service._store.count_user_jobs_since("chat", "team-1", "zoe", since) == 0, "nothing reserved"
        assert "/zoe" not in host.order, "its files were never downloaded"
        host.open.set()
        await asyncio.wait_for(asyncio.gather(*gathering), 30)
    finally:
        await service.aclose()


async def test_a_freed_turn_goes_to_the_person_gathering_the_fewest() -> None:
    turns = GatherTurns(2)
    await turns.wait("ann")
    await turns.wait("ann")
    granted: list[str] = []

    async def take(owner: str) -> None:
        await turns.wait(owner)
        granted.append(owner)

    ann = asyncio.create_task(take("ann"))  # asked first
    await asyncio.sleep(0)
    bob = asyncio.create_task(take("bob"))
    await asyncio.sleep(0)
    assert not granted and not turns.free()
    turns.leave("ann")
    await asyncio.sleep(0)
    assert granted == ["bob"], "Bob gathers nothing yet, so the freed turn is his"
    turns.leave("ann")
    await asyncio.wait_for(ann, 1)
    await bob
    assert granted == ["bob", "ann"]


async def test_a_cancelled_wait_takes_no_turn() -> None:
    turns = GatherTurns(1)
    await turns.wait("ann")
    waiting = asyncio.create_task(turns.wait("bob"))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    turns.leave("ann")
    assert turns.free(), "the cancelled wait holds no turn"
    await asyncio.wait_for(turns.wait("cy"), 1)


async def test_a_merge_deleted_while_its_images_download_ends_there_and_spends_nothing(
    settings: Settings, host: ImageHost
) -> None:
    service = await open_service(settings)
    seen: list[Progress] = []

    async def sink(progress: Progress) -> None:
        seen.append(progress)

    try:
        merging = asyncio.create_task(service.merge(request_of(host, "zoe", "zoe"), sink))
        await eventually(lambda: host.in_flight == 1 and seen)
        delete = Action(ActionKind.DELETE, seen[0].job_id, DELETE_CONFIRMED)
        assert (await service.act(delete, Actor("chat", "team-1", "zoe"))).deleted
        host.open.set()
        outcome: Outcome = await asyncio.wait_for(merging, 10)
        assert not outcome.ok and outcome.view.ephemeral and "deleted before its turn came" in outcome.view.text
        stored = await service.job(seen[0].job_id)
        assert stored is not None and stored.status is JobStatus.DELETED
        since, _ = day_window()
        assert await service._store.count_user_jobs_since("chat", "team-1", "zoe", since) == 0, "its place given back"
    finally:
        await service.aclose()
