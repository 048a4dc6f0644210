"""Variations: N pictures from one call, a numbered grid, Pick N (no call, no cost) and Vary N
(a child merge led by the picked picture); quotas and the cost cap count pictures."""

from __future__ import annotations

import io
import secrets
from dataclasses import replace

import pytest
from PIL import Image, ImageChops, ImageStat

from bot.blobs import open_blobs
from bot.limits import day_window
from bot.model import ActionKind, JobStatus, Outcome
from bot.pricing import prices_for
from bot.service import MergeService
from bot.settings import Settings
from bot.views import result_controls
from tests.core.chat import ChatSurface, control
from tests.core.conftest import with_limits
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png
from tests.servers import S3Server

FOUR = {"n": 4, "size": "1024x1024", "quality": "low"}


def thread(chat: ChatSurface) -> ChatSurface:
    chat.post("cat.png", png(320, 240, seed=1), text="cat")
    chat.post("room.png", png(320, 240, seed=2), text="room")
    return chat


async def four_variations(chat: ChatSurface) -> Outcome:
    outcome = await thread(chat).merge("the cat from A in the room from B", **FOUR)
    assert outcome.ok, outcome.view.text
    return outcome


def difference(first: bytes, second: bytes) -> float:
    """Mean absolute difference of two pictures brought to 64x64 RGB (0 alike, 255 opposite)."""
    one, two = (Image.open(io.BytesIO(data)).convert("RGB").resize((64, 64)) for data in (first, second))
    return float(sum(ImageStat.Stat(ImageChops.difference(one, two)).mean) / 3)


async def daily_count(service: MergeService, user: str = "ana") -> int:
    return await service._store.count_user_jobs_since("chat", "team-1", user, day_window()[0])


async def test_four_variations_are_one_call_with_n_4_posted_as_one_numbered_grid(
    chat: ChatSurface, service: MergeService, openai_double: OpenAIDouble
) -> None:
    outcome = await four_variations(chat)
    assert len(openai_double.requests) == 1
    assert openai_double.requests[0].params["n"] == 4
    job = outcome.job
    assert job is not None and len(job.result_digests) == 4 and len(set(job.result_digests)) == 4
    grid = Image.open(io.BytesIO(outcome.view.image or b""))
    assert grid.format == "JPEG" and max(grid.size) <= 2048
    assert grid.size[0] > 1024 and grid.size[1] > 1024  # 2x2 cells of the 1024-px results
    kinds = [(c.kind, c.arg) for c in outcome.view.controls]
    assert [arg for kind, arg in kinds if kind is ActionKind.PICK] == ["1", "2", "3", "4"]
    assert [arg for kind, arg in kinds if kind is ActionKind.VARY] == ["1", "2", "3", "4"]
    assert "4 variations" in outcome.view.text
    stored = await service.result_images(job)
    assert [len(data) for data in stored] and len(set(stored)) == 4


async def test_pick_2_posts_the_stored_picture_with_no_call_no_cost_and_its_lineage(
    chat: ChatSurface, service: MergeService, openai_double: OpenAIDouble
) -> None:
    grid = await four_variations(chat)
    assert grid.job is not None
    counted, calls = await daily_count(service), len(openai_double.requests)
    spent = await service._store.cost_since("chat", "team-1", day_window()[0])
    assert counted == 4 and spent > 0

    picked = await chat.press(control(grid, ActionKind.PICK, "2"))

    assert picked.ok, picked.view.text
    assert len(openai_double.requests) == calls  # no API call
    job = picked.job
    assert job is not None and job.parent_id == grid.job.id and job.action == "pick:2"
    assert job.status is JobStatus.SUCCEEDED and job.cost_usd == 0.0
    assert job.result_digests == (grid.job.result_digests[1],)
    assert picked.view.image == (await service.result_images(grid.job))[1]
    assert [c.kind for c in picked.view.controls] == [c.kind for c in result_controls(job)]
    assert await daily_count(service) == counted
    assert await service._store.cost_since("chat", "team-1", day_window()[0]) == spent
    stored = await service.job(job.id)
    assert stored is not None and stored.action == "pick:2" and stored.parent_id == grid.job.id


async def test_vary_3_is_one_new_call_led_by_variation_3_with_the_same_references_and_prompt(
    chat: ChatSurface, service: MergeService, openai_double: OpenAIDouble
) -> None:
    grid = await four_variations(chat)
    assert grid.job is not None
    pictures = await service.result_images(grid.job)

    varied = await chat.press(control(grid, ActionKind.VARY, "3"))

    assert varied.ok, varied.view.text
    job = varied.job
    assert job is not None and job.parent_id == grid.job.id and job.action == "vary:3"
    assert job.options.prompt == grid.job.options.prompt and job.options.n == 4
    assert [r.label for r in job.references] == ["A", "B", "C"]
    assert job.references[:2] == grid.job.references
    assert job.options.lead == "C" and "variation 3" in job.references[2].source
    request = openai_double.requests[-1]
    assert len(openai_double.requests) == 2 and request.params["n"] == 4
    assert str(request.images[0].filename).startswith("C.")
    first = request.images[0].data
    distances = [difference(first, picture) for picture in pictures]
    assert distances.index(min(distances)) == 2 and distances[2] < 3
    assert "Image 1 (C)" in request.fields["prompt"] and "variation 3" in request.fields["prompt"]
    assert len(job.result_digests) == 4  # a new grid to pick from


async def test_vary_of_a_vary_starts_from_the_newest_picture_only(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    grid = await four_variations(chat)
    varied = await chat.press(control(grid, ActionKind.VARY, "1"))
    again = await chat.press(control(varied, ActionKind.VARY, "4"))
    assert again.ok and again.job is not None
    assert [r.label for r in again.job.references] == ["A", "B", "C"]
    assert again.job.options.lead == "C" and "variation 4" in again.job.references[2].source


async def test_pick_keeps_working_after_a_restart(settings: Settings, openai_double: OpenAIDouble) -> None:
    before = ChatSurface(await MergeService.open(settings))
    grid = await four_variations(before)
    await before.service.aclose()

    after = ChatSurface(await MergeService.open(settings))
    try:
        picked = await after.press(control(grid, ActionKind.PICK, "4"))
        assert picked.ok, picked.view.text
        assert grid.job is not None and picked.job is not None
        assert picked.job.result_digests == (grid.job.result_digests[3],)
        assert len(openai_double.requests) == 1
    finally:
        await after.service.aclose()


async def test_a_pick_out_of_range_or_on_a_single_result_is_refused_clearly(chat: ChatSurface) -> None:
    grid = await four_variations(chat)
    wrong = await chat.press(replace(control(grid, ActionKind.PICK, "4"), arg="5"))
    assert not wrong.ok and "variations 1 to 4" in wrong.view.text
    single = await chat.merge("just one")
    assert single.ok and single.job is not None
    pick = await chat.press(replace(control(grid, ActionKind.PICK, "1"), job_id=single.job.id))
    assert not pick.ok and "no variations" in pick.view.text


async def test_variations_outside_1_to_4_are_refused_before_any_call(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    thread(chat)
    outcome = await chat.merge("too many", n=5)
    assert not outcome.ok and "1 to 4 variations" in outcome.view.text
    assert openai_double.requests == []


async def test_the_daily_limit_counts_each_variation(settings: Settings, openai_double: OpenAIDouble) -> None:
    chat = thread(ChatSurface(await MergeService.open(with_limits(settings, per_user_daily=5))))
    try:
        assert (await chat.merge("four", **FOUR)).ok
        refused = await chat.merge("two more", **{**FOUR, "n": 2})
        assert not refused.ok and "each counts as a merge" in refused.view.text
        assert len(openai_double.requests) == 1
        assert (await chat.merge("one more", **{**FOUR, "n": 1})).ok
        assert await daily_count(chat.service) == 5
        last = await chat.merge("a sixth", **{**FOUR, "n": 1})
        assert not last.ok and "used your 5 merges" in last.view.text
    finally:
        await chat.service.aclose()


async def test_the_cost_cap_refuses_four_variations_up_front_where_one_fits(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    # gpt-image-2 at 1024x1024 high: about $0.14 of output a picture, $0.56 for four (estimates err high)
    options = {"size": "1024x1024", "quality": "high"}
    chat = thread(ChatSurface(await MergeService.open(with_limits(settings, workspace_daily_cost_usd=0.4))))
    try:
        four = await chat.merge("four", n=4, **options)
        assert not four.ok and "daily image budget" in four.view.text
        assert openai_double.requests == []
        one = await chat.merge("one", n=1, **options)
        assert one.ok, one.view.text
    finally:
        await chat.service.aclose()


async def test_four_variations_cost_four_times_one_and_details_shows_each_call(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    single = await thread(chat).merge("one", **{**FOUR, "n": 1})
    grid = await chat.merge("four", **FOUR)
    assert single.job is not None and grid.job is not None
    assert single.job.usage is not None and grid.job.usage is not None
    assert grid.job.usage.output_tokens == 4 * single.job.usage.output_tokens
    assert grid.job.cost_usd is not None and single.job.cost_usd is not None
    per_picture = single.job.usage.output_tokens * (prices_for("gpt-image-2") or {})["output_image"] / 1e6
    assert grid.job.cost_usd - single.job.cost_usd == pytest.approx(3 * per_picture, abs=1e-5)

    details = await chat.press(control(grid, ActionKind.DETAILS))
    assert f"${grid.job.cost_usd:.4f} for 4 images (${grid.job.cost_usd / 4:.4f} each)" in details.view.text
    varied = await chat.press(control(grid, ActionKind.VARY, "2"))
    picked = await chat.press(control(varied, ActionKind.PICK, "1"))
    assert varied.job is not None and varied.job.cost_usd is not None and picked.job is not None
    text = (await chat.press(control(picked, ActionKind.DETAILS))).view.text
    each = next(line for line in text.splitlines() if line.startswith("Each call: "))
    assert f"{grid.job.id} ${grid.job.cost_usd:.4f} for 4 images" in each
    assert f"{varied.job.id} ${varied.job.cost_usd:.4f} for 4 images" in each
    assert f"{picked.job.id} $0 (picked from a stored variation, no call)" in each


async def test_variations_live_in_postgres_and_s3_and_pick_works_after_a_restart(
    settings: Settings, openai_double: OpenAIDouble, postgres_url: str, s3_server: S3Server
) -> None:
    shared = Settings.from_env({"MERGEBOT_DATABASE_URL": postgres_url, **s3_server.env(f"vars-{secrets.token_hex(4)}")})
    servers = replace(
        settings,
        store_driver=shared.store_driver,
        database_url=shared.database_url,
        object_storage=shared.object_storage,
    )
    before = ChatSurface(await MergeService.open(servers))
    try:
        grid = await four_variations(before)
    finally:
        await before.service.aclose()
    assert grid.job is not None
    remote = open_blobs(servers)
    stored = [await remote.get(digest) for digest in grid.job.result_digests]
    assert len(set(stored)) == 4

    after = ChatSurface(await MergeService.open(servers))
    try:
        picked = await after.press(control(grid, ActionKind.PICK, "3"))
        assert picked.ok, picked.view.text
        assert picked.view.image == stored[2] and len(openai_double.requests) == 1
        assert picked.job is not None and await after.service.job(picked.job.id) is not None
    finally:
        await after.service.aclose()
