"""A person's merge from start to finish, in both modes, against the OpenAI double."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from PIL import Image

from bot.dryrun import DryRunGenerator
from bot.model import ActionKind, JobStatus, Mode, Stage
from bot.service import MergeService
from bot.settings import Settings
from compose import Normalized
from tests.core.chat import ChatSurface
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import encode, jpeg, pattern, png


def translucent_png(width: int, height: int) -> bytes:
    image = pattern(width, height, seed=3).convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize((width, height)))
    return encode(image, "PNG")


def three_images(chat: ChatSurface) -> None:
    chat.post("cat.png", png(640, 480, seed=1), author="ana", text="my cat")
    chat.post("room.jpg", jpeg(800, 600, seed=2), author="ben", text="the living room")
    chat.post("style.png", translucent_png(300, 600), author="cy", text="this lighting")


async def test_collage_merge_sends_one_labeled_sheet_and_returns_the_result(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    three_images(chat)
    outcome = await chat.merge("the cat from A in the room from B, lit like C", size="1536x1024", mode=Mode.COLLAGE)

    assert outcome.ok, outcome.view.text
    job = outcome.job
    assert job is not None and job.status is JobStatus.SUCCEEDED
    assert [r.label for r in job.references] == ["A", "B", "C"]
    assert [r.caption for r in job.references] == ["my cat", "the living room", "this lighting"]
    request = openai_double.requests[-1]
    assert request.image_field == "image"
    [sheet] = request.files
    assert (sheet.filename, sheet.content_type) == ("reference-sheet.jpg", "image/jpeg")
    assert abs(sheet.width / sheet.height - 1536 / 1024) < 0.01  # the sheet follows the output aspect ratio
    prompt = request.fields["prompt"]
    assert prompt.startswith("the cat from A in the room from B, lit like C")
    assert "A" in prompt and "my cat" in prompt
    assert request.fields["model"] == "gpt-image-2"
    assert "input_fidelity" not in request.fields
    result = Image.open(io.BytesIO(outcome.view.image or b""))
    assert result.size == (1536, 1024)
    assert outcome.view.image_name == f"mergebot-{job.id}.png"
    kinds = [c.kind for c in outcome.view.controls]
    assert kinds.count(ActionKind.REBALANCE) == 3
    assert {
        ActionKind.RETRY,
        ActionKind.EDIT_PROMPT,
        ActionKind.USE_AS_REFERENCE,
        ActionKind.DETAILS,
        ActionKind.DELETE,
    } <= set(kinds)


async def test_progress_reports_sheet_then_partial_previews_then_done(chat: ChatSurface) -> None:
    three_images(chat)
    outcome = await chat.merge("merge them")
    assert outcome.job is not None
    updates = [p for p in chat.progress if p.job_id == outcome.job.id]
    stages = [p.stage for p in updates]
    assert stages[0] is Stage.FETCHING and stages[-1] is Stage.DONE
    sheet_update = next(p for p in updates if p.stage is Stage.COMPOSING and p.image)
    partials = [p for p in updates if p.partial_index is not None]
    assert [p.partial_index for p in partials] == [0, 1]
    assert updates.index(sheet_update) < updates.index(partials[0])
    assert all(Image.open(io.BytesIO(p.image or b"")).size for p in partials)


async def test_separate_mode_sends_each_reference_heaviest_first(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    three_images(chat)
    outcome = await chat.merge("merge them", weights={"B": 2.0, "C": 0.5}, mode=Mode.SEPARATE)

    assert outcome.ok, outcome.view.text
    request = openai_double.requests[-1]
    assert request.image_field == "image[]"
    # opaque references travel as JPEG, the translucent one keeps its alpha as PNG
    assert [f.filename for f in request.files] == ["B.jpg", "A.jpg", "C.png"]
    assert [f.content_type for f in request.files] == ["image/jpeg", "image/jpeg", "image/png"]
    prompt = request.fields["prompt"]
    assert prompt.index("Image 1 (B, high)") < prompt.index("Image 2 (A)") < prompt.index("Image 3 (C, low)")


async def test_usage_and_cost_are_recorded(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    three_images(chat)
    outcome = await chat.merge("merge them")
    job = outcome.job
    assert job is not None and job.usage is not None
    reported = openai_double.usage_for(openai_double.requests[-1])
    assert job.usage.input_tokens == reported["input_tokens"]
    assert job.usage.output_tokens == reported["output_tokens"]
    assert job.cost_usd is not None and job.cost_usd > 0
    stored = await chat.service.job(job.id)
    assert stored == job


async def test_a_bad_file_among_good_ones_is_named_and_the_rest_merged(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    chat.post("cat.png", png(seed=1))
    chat.post("notes.txt", b"shopping list: milk, eggs")
    chat.post("broken.png", png(seed=2)[:60])
    chat.post("room.jpg", jpeg(seed=3))
    outcome = await chat.merge("merge them")

    assert outcome.ok, outcome.view.text
    assert outcome.job is not None
    assert [r.source for r in outcome.job.references] == ["cat.png", "room.jpg"]
    assert [r.label for r in outcome.job.references] == ["A", "D"], "letters stay with their sources"
    assert "Skipped B (notes.txt): the file is not an image" in outcome.view.text
    assert "Skipped C (broken.png)" in outcome.view.text
    assert len(openai_double.requests) == 1


async def test_a_tiny_image_is_shown_small_and_the_reply_says_so(chat: ChatSurface) -> None:
    chat.post("photo.jpg", jpeg(1200, 900, seed=1), author="ana", text="the room")
    chat.post("icon.png", png(24, 24, seed=2), author="ben", text="this logo")
    outcome = await chat.merge("the logo from B on the wall of A")

    assert outcome.ok, outcome.view.text
    job = outcome.job
    assert job is not None and job.sheet_boxes is not None
    x0, y0, x1, y1 = job.sheet_boxes["B"]
    assert x1 - x0 <= 48 and y1 - y0 <= 48
    assert "B is only 24x24 px, so it is shown small" in outcome.view.text


async def test_with_the_size_on_auto_the_sheet_takes_the_shape_that_covers_best(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    for seed in range(3):
        chat.post(f"photo{seed}.jpg", jpeg(800, 600, seed=seed), author="ana")
    outcome = await chat.merge("one picture from these three", mode=Mode.COLLAGE)

    assert outcome.ok, outcome.view.text
    [sheet] = openai_double.requests[-1].files
    assert sheet.width != sheet.height and max(sheet.width, sheet.height) == 2048


async def test_the_sheet_is_built_from_the_downloads_and_the_stored_copies_are_normalised(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    """The sheet decodes each download once at its panel's scale; the copies kept for later merges
    are still the normalised ones, and a file whose body is damaged is skipped, not fatal."""
    chat.post("big.jpg", jpeg(3000, 2000, seed=1), author="ana")
    whole = jpeg(900, 600, seed=2)
    chat.post("cut.jpg", whole[: len(whole) // 3], author="ben")
    chat.post("small.png", png(640, 480, seed=3), author="cy")
    outcome = await chat.merge("A and C together", mode=Mode.COLLAGE)

    assert outcome.ok, outcome.view.text
    job = outcome.job
    assert job is not None
    assert [ref.label for ref in job.references] == ["A", "C"]
    assert "Skipped B (cut.jpg)" in outcome.view.text
    big = job.references[0]
    assert (big.width, big.height) == (1536, 1024)
    stored = await chat.service._blobs.get(big.digest)
    assert Image.open(io.BytesIO(stored)).size == (1536, 1024)
    retried = await chat.press(next(c for c in outcome.view.controls if c.kind is ActionKind.RETRY))
    assert retried.ok, retried.view.text
    assert len(openai_double.requests) == 2


async def test_a_damaged_body_named_by_the_prompt_asks_before_merging(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    """Found only while composing, a damaged file answers the prompt-letter check as a damaged header does."""
    chat.post("a.jpg", jpeg(900, 600, seed=1), author="ana")
    whole = jpeg(900, 600, seed=2)
    chat.post("cut.jpg", whole[: len(whole) // 3], author="ben")
    outcome = await chat.merge("the dog from B on the beach from A", mode=Mode.COLLAGE)

    assert not outcome.ok
    assert "B" in outcome.view.text and "cut.jpg" in outcome.view.text
    assert {ActionKind.MERGE_ANYWAY, ActionKind.EDIT_PROMPT} <= {c.kind for c in outcome.view.controls}
    assert openai_double.requests == []


async def test_the_request_does_not_wait_for_the_stored_copies(
    chat: ChatSurface, openai_double: OpenAIDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When only the sheet is sent, the normalised copies are made while the request runs: a copy that
    cannot finish before the call has reached the model does not hold the call up, and the finished
    job holds the copies."""
    import bot.service

    made: list[str] = []
    real = bot.service.normalize_upload

    async def after_the_call(data: bytes, name: str, **kwargs: Any) -> Normalized:
        for _ in range(500):  # up to 10 s: had the call waited for this copy, it would never come
            if openai_double.requests:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the request waited for the stored copies")
        result = await real(data, name, **kwargs)
        made.append(name)
        return result

    monkeypatch.setattr(bot.service, "normalize_upload", after_the_call)
    chat.post("one.jpg", jpeg(2400, 1600, seed=1), author="ana")
    chat.post("two.jpg", jpeg(2400, 1600, seed=2), author="ben")
    outcome = await chat.merge("both", mode=Mode.COLLAGE)

    assert outcome.ok, outcome.view.text
    assert sorted(made) == ["one.jpg", "two.jpg"]
    job = outcome.job
    assert job is not None and all(max(ref.width, ref.height) == 1536 for ref in job.references)
    stored = await chat.service.job(job.id)
    assert stored is not None and stored.references == job.references


async def test_a_dry_run_makes_no_copy_the_request_does_not_need(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its store is thrown away: the sheet is built from the files, and nothing else is made of them."""
    import bot.service

    copies: list[str] = []
    real = bot.service.normalize_upload

    async def counting(data: bytes, name: str, **kwargs: Any) -> Normalized:
        copies.append(name)
        return await real(data, name, **kwargs)

    monkeypatch.setattr(bot.service, "normalize_upload", counting)
    recorder = DryRunGenerator()
    service = await MergeService.open(settings, generator=recorder, keep_references=False)
    try:
        chat = ChatSurface(service)
        chat.post("one.jpg", jpeg(2400, 1600, seed=1), author="ana")
        chat.post("two.png", png(640, 480, seed=2), author="ben")
        outcome = await chat.merge("both", mode=Mode.COLLAGE)
        assert outcome.ok, outcome.view.text
        assert copies == []
        [sheet] = recorder.calls[-1].images
        assert sheet.name == "reference-sheet.jpg"
        separate = await chat.merge("both", mode=Mode.SEPARATE)  # its own images are the normalised copies
        assert separate.ok, separate.view.text
        sizes = [Image.open(io.BytesIO(file.data)).size for file in recorder.calls[-1].images]
        assert sizes == [(1536, 1024), (640, 480)]
    finally:
        await service.aclose()
