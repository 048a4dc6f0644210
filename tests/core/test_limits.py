"""Every limit refuses with a message that names it and says when it resets."""

from __future__ import annotations

import asyncio

from bot.controls import DELETE_CONFIRMED
from bot.model import ActionKind, Control, JobStatus, Stage
from bot.pricing import estimate_request_cost
from bot.service import MergeService
from bot.settings import Settings
from tests.core.chat import ChatSurface, eventually
from tests.core.conftest import with_limits
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png


async def open_chat(settings: Settings) -> ChatSurface:
    chat = ChatSurface(await MergeService.open(settings))
    chat.post("a.png", png(seed=1))
    chat.post("b.png", png(seed=2))
    return chat


async def test_daily_merges_per_person(settings: Settings, openai_double: OpenAIDouble) -> None:
    chat = await open_chat(with_limits(settings, per_user_daily=2))
    try:
        assert (await chat.merge("one")).ok
        assert (await chat.merge("two")).ok
        refused = await chat.merge("three")
        assert not refused.ok and refused.job is None
        assert "2 merges for today" in refused.view.text and "resets at 00:00 UTC" in refused.view.text
        assert len(openai_double.requests) == 2
        assert (await chat.merge("someone else's", user="ben")).ok
    finally:
        await chat.service.aclose()


async def test_workspace_daily_cost_cap(settings: Settings, openai_double: OpenAIDouble) -> None:
    one = estimate_request_cost("gpt-image-2", size="auto", quality="auto", n=1, prompt_chars=3, input_images=1)
    assert one is not None
    chat = await open_chat(with_limits(settings, workspace_daily_cost_usd=one * 1.2))  # room for one reservation
    try:
        assert (await chat.merge("one")).ok
        refused = await chat.merge("two", user="ben")
        assert not refused.ok and "daily image budget" in refused.view.text
        assert len(openai_double.requests) == 1
    finally:
        await chat.service.aclose()


async def test_a_persons_extra_merge_waits_its_turn_instead_of_being_refused(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    chat = await open_chat(with_limits(settings, per_user_concurrency=1))
    try:
        openai_double.fail_next("slow", delay=1.0)
        first = asyncio.create_task(chat.merge("slow one"))
        await eventually(lambda: openai_double.requests)
        second = asyncio.create_task(chat.merge("second at once"))
        third = asyncio.create_task(chat.merge("someone else's", user="ben"))
        assert (await third).ok  # ben is not held up by ana's cap
        assert not first.done() and not second.done()
        outcomes = [await first, await second]
        assert all(o.ok for o in outcomes) and outcomes[1].job is not None
        waited = [p.text for p in chat.progress if p.stage is Stage.QUEUED and p.job_id == outcomes[1].job.id]
        assert waited and waited[-1] == "Queued: you are next"  # told its place, not refused
        prompts = [r.fields["prompt"].split("\n")[0] for r in openai_double.requests]
        assert prompts == ["slow one", "someone else's", "second at once"]
    finally:
        await chat.service.aclose()


async def test_global_queue_reports_positions_in_order(settings: Settings, openai_double: OpenAIDouble) -> None:
    chat = await open_chat(with_limits(settings, global_concurrency=1))
    try:
        openai_double.fail_next("slow", delay=0.5)
        first = asyncio.create_task(chat.merge("first", user="ana"))
        await eventually(lambda: openai_double.requests)
        second = asyncio.create_task(chat.merge("second", user="ben"))
        third = asyncio.create_task(chat.merge("third", user="cy"))
        outcomes = await asyncio.gather(first, second, third)
        assert all(o.ok for o in outcomes)
        positions = {
            o.job.id: [p.queue_position for p in chat.progress if p.job_id == o.job.id and p.stage is Stage.QUEUED]
            for o in outcomes
            if o.job
        }
        assert positions[outcomes[0].job.id] == []  # type: ignore[union-attr]
        assert positions[outcomes[1].job.id] == [1]  # type: ignore[union-attr]
        assert positions[outcomes[2].job.id] == [2, 1]  # type: ignore[union-attr]
        third_updates = [p.text for p in chat.progress if p.job_id == outcomes[2].job.id and p.stage is Stage.QUEUED]  # type: ignore[union-attr]
        assert third_updates == ["Queued: number 2 in line", "Queued: you are next"]
        prompts = [r.fields["prompt"].split("\n")[0] for r in openai_double.requests]
        assert prompts == ["first", "second", "third"]
    finally:
        await chat.service.aclose()


async def test_too_many_images_keeps_the_most_recent_and_names_the_rest(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    for index in range(18):
        chat.post(f"{index}.png", png(32, 32, seed=index))
    outcome = await chat.merge("all of them")
    assert outcome.ok, outcome.view.text
    assert outcome.job is not None
    assert [r.source for r in outcome.job.references] == [f"{index}.png" for index in range(2, 18)]
    assert outcome.job.references[0].label == "C", "the kept ones keep the letters they were found with"
    assert "Left out A and B: I merge at most 16 images at once" in outcome.view.text
    assert "start from a later message" in outcome.view.text
    assert len(openai_double.requests) == 1


async def test_an_over_long_prompt_is_refused(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    chat.post("a.png", png())
    refused = await chat.merge("x" * 5000)
    assert not refused.ok and "5000 characters; the limit is 4000" in refused.view.text
    assert openai_double.requests == []


async def test_a_merge_deleted_while_it_waits_its_turn_ends_at_once_and_gives_its_place_back(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    """The person waiting is told it was deleted (it does not wait forever for a turn that never
    comes), nothing is sent for it, and it no longer counts against the day's merges."""
    chat = await open_chat(with_limits(settings, per_user_concurrency=1, per_user_daily=2))
    try:
        openai_double.fail_next("slow", delay=2.5)
        first = asyncio.create_task(chat.merge("slow one"))
        await eventually(lambda: openai_double.requests)
        second = asyncio.create_task(chat.merge("second at once"))
        await eventually(lambda: any(p.stage is Stage.QUEUED for p in chat.progress))
        queued = next(p.job_id for p in chat.progress if p.stage is Stage.QUEUED)
        deleted = await chat.press(Control(ActionKind.DELETE, queued, "Delete", arg=DELETE_CONFIRMED))
        assert deleted.deleted
        async with asyncio.timeout(5):
            told = await second
        assert not told.ok and told.view.ephemeral and "deleted before its turn came" in told.view.text
        assert (await first).ok
        assert (await chat.merge("a second one after all")).ok  # the deleted one gave its place back
        prompts = [r.fields["prompt"].split("\n")[0] for r in openai_double.requests]
        assert prompts == ["slow one", "a second one after all"]
        stored = await chat.service.job(queued)
        assert stored is not None and stored.status is JobStatus.DELETED
    finally:
        await chat.service.aclose()
