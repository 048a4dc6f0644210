"""One person's file cannot hold up another person's merge (issue 8).

Uploads that might be slow decode in worker processes under a time budget; a
worker past it is killed. Owners share the workers fairly.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest

from bot import imagework
from bot.fetch import Fetcher
from bot.gather import gather
from bot.imagework import FairSlots, ProcessLane, normalize_upload
from bot.model import ImageSource
from bot.settings import Limits, Settings
from compose import ComposeError, normalize
from compose.errors import DecodeTooSlow
from tests.hostile import files


@pytest.fixture
async def lane() -> AsyncIterator[ProcessLane]:
    workers = ProcessLane(workers=2)
    yield workers
    workers.close()


def slow_png() -> bytes:
    """16 MP of 16-bit grey: valid, under every cap, and far slower to decode than 50 ms."""
    return files.sixteen_bit_png((4000, 4000))


def quick_png() -> bytes:
    """4.2 MP: past the size decoded on the threads, quick in a worker."""
    return files.png((2100, 2000), "RGB")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1][0] != "Z"


async def test_a_decode_past_its_budget_is_refused_and_its_worker_stopped(lane: ProcessLane) -> None:
    with pytest.raises(DecodeTooSlow) as refused:
        await lane.run("ann", 0.05, "deep.png", normalize, slow_png(), "deep.png", 1536)
    assert str(refused.value) == "deep.png: this file takes too long to decode"
    assert lane.worker_pids() == []  # the overrunning worker is gone, not left decoding
    picture = await lane.run("ann", 30.0, "quick.png", normalize, quick_png(), "quick.png", 1536)
    assert (picture.width, picture.height) == (1536, 1463)


async def test_errors_from_a_worker_name_the_file_as_on_the_threads(lane: ProcessLane) -> None:
    with pytest.raises(ComposeError, match=r"^page\.png: not an image \(looks like HTML\)$"):
        await lane.run("ann", 30.0, "page.png", normalize, b"<html><body>hi</body></html>", "page.png")
    (pid,) = lane.worker_pids()  # a refusal is an answer: the worker is kept
    with pytest.raises(ComposeError, match=r"^x\.png: could not be decoded \(the decoder failed on this file\)$"):
        await lane.run("ann", 30.0, "x.png", os._exit, 3)  # what a decoder crash looks like from outside
    assert not alive(pid)


async def test_a_cancelled_merge_stops_its_decode(lane: ProcessLane) -> None:
    data = slow_png()
    task = asyncio.create_task(lane.run("ann", 60.0, "deep.png", normalize, data, "deep.png", 1536))
    for _ in range(200):
        if lane.worker_pids():
            break
        await asyncio.sleep(0.02)
    (pid,) = lane.worker_pids()
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(pid)


async def test_one_persons_slow_files_do_not_hold_up_another_persons_merge() -> None:
    settings = Settings()
    fetcher = Fetcher(settings)
    slow = [ImageSource(name=f"deep-{index}.png", data=slow_png()) for index in range(10)]
    mine = [ImageSource(name="screenshot.png", data=quick_png())]
    finished: dict[str, float] = {}

    async def merge(person: str, sources: list[ImageSource], limits: Limits) -> tuple[str, ...]:
        started = time.perf_counter()
        try:
            gathered = await gather(sources, fetcher, limits, owner=person)
            return tuple(item.source.name for item in gathered.images)
        except Exception as error:  # NoImages: every file refused
            return (str(error),)
        finally:
            finished[person] = time.perf_counter() - started

    try:
        # A budget well under the slow file's decode, which normalising for speed (BICUBIC) made quicker.
        hostile = asyncio.create_task(merge("mallory", slow, Limits(decode_timeout_s=0.15)))
        await asyncio.sleep(0.2)
        mine_started = time.perf_counter()
        assert await merge("ann", mine, Limits(decode_timeout_s=60.0)) == ("screenshot.png",)
        ann_waited = time.perf_counter() - mine_started
        assert not hostile.done(), "the hostile merge is still decoding while Ann's is served"
        refused = await hostile
    finally:
        await fetcher.aclose()
    assert len(refused) == 1 and refused[0].count("this file takes too long to decode") == 10
    # Mallory's ten files went one at a time through one worker (at least 1.5 s); Ann's took the other.
    assert finished["mallory"] >= 1.5 > ann_waited


async def test_a_merge_of_phone_photos_never_starts_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_workers() -> ProcessLane:
        raise AssertionError("a light file was sent to a worker process")

    monkeypatch.setattr(imagework, "process_lane", no_workers)
    photo = files.encode(files.flat((4000, 3000)), "JPEG", quality=90)
    picture = await normalize_upload(
        photo, "IMG_0001.jpg", owner="ann", budget_s=10.0, max_side=1536, max_pixels=50_000_000
    )
    assert (picture.width, picture.height) == (1536, 1152)


async def test_free_places_go_to_the_owner_holding_fewest() -> None:
    slots = FairSlots(2, per_owner=1)
    order: list[str] = []
    release = asyncio.Event()

    async def job(owner: str, tag: str) -> None:
        async with slots.place(owner):
            order.append(tag)
            await release.wait()

    arrivals = [("m", "m1"), ("m", "m2"), ("m", "m3"), ("a", "a1")]
    tasks = [asyncio.create_task(job(owner, tag)) for owner, tag in arrivals]
    await asyncio.sleep(0.05)
    assert order == ["m1", "a1"]  # m holds one place at most, so a1 is not queued behind m2 and m3
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["m1", "a1", "m2", "m3"]
    assert slots.held("m") == 0 and slots.held("a") == 0


async def test_a_cancelled_wait_gives_its_turn_away() -> None:
    slots = FairSlots(1)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with slots.place("a"):
            holding.set()
            await release.wait()

    async def wait(owner: str) -> str:
        async with slots.place(owner):
            return owner

    holder = asyncio.create_task(hold())
    await holding.wait()
    gone, kept = asyncio.create_task(wait("b")), asyncio.create_task(wait("c"))
    await asyncio.sleep(0.01)
    gone.cancel()
    release.set()
    assert await kept == "c"
    await holder
    assert gone.cancelled()
