"""Refine and region edits on Slack: the Refine modal, a mention with no new images refining the latest
result, a mention carrying a marked copy editing only that area, and new images starting a new merge."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageChops, ImageDraw

from adapters.slack.controls import EDIT_MODAL_ID
from adapters.slack.refine import NEW_MERGE_RULE, REFINE_RULE, REGION_RULE
from bot.prompting import EDIT_BASE
from tests.doubles.openai_double import RecordedFile
from tests.doubles.slack_double import SlackDouble
from tests.imagegen import png

from .conftest import ANN, CHANNEL, Harness, control_id
from .test_roles import open_modal

LOOP = (250, 300, 650, 700)


def pixels(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def same_picture(a: bytes, b: bytes) -> bool:
    return ImageChops.difference(pixels(a), pixels(b)).getbbox() is None


def thread_with_two(slack: SlackDouble) -> str:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(64, 48, seed=1)), text="the cat")
    thread = str(root["ts"])
    slack.upload(CHANNEL, ANN, ("room.png", png(80, 60, seed=2)), text="the room", thread_ts=thread)
    return thread


async def stored_result(bot: Harness, message: dict[str, Any]) -> bytes:
    """The result picture the bot keeps for a result message (what a refine edits)."""
    job = await bot.job_of(message)
    assert bot.service is not None
    return await bot.service._blob(job, job.result_digests[0])


def marked_copy(result: bytes) -> tuple[bytes, Image.Image]:
    picture = pixels(result)
    ImageDraw.Draw(picture).ellipse(LOOP, outline=(255, 0, 255), width=6)
    region = Image.new("L", picture.size, 0)
    ImageDraw.Draw(region).ellipse(LOOP, fill=255)
    buffer = io.BytesIO()
    picture.resize((picture.width // 2, picture.height // 2), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=80)
    return buffer.getvalue(), region


def iou_of_mask(mask: RecordedFile, drawn: Image.Image) -> float:
    with Image.open(io.BytesIO(mask.data)) as image:
        opened = image.convert("RGBA").getchannel("A").point([255 if value == 0 else 0 for value in range(256)])
    inside = ImageChops.multiply(opened, drawn).histogram()[255]
    return inside / ImageChops.lighter(opened, drawn).histogram()[255]


async def test_refine_twice_in_a_row_through_the_refine_modal(bot: Harness, slack: SlackDouble) -> None:
    thread = thread_with_two(slack)
    await slack.mention(CHANNEL, ANN, "the cat in the room", thread_ts=thread)
    [first] = await bot.results(thread)

    await slack.press(CHANNEL, first["ts"], ANN, control_id(first, "mb:refine:"))
    view_id = await open_modal(slack, EDIT_MODAL_ID)
    modal = slack.views[view_id]
    assert modal["blocks"][0]["label"]["text"] == "What should change?"
    assert "initial_value" not in modal["blocks"][0]["element"]
    await slack.submit(view_id, ANN, {"prompt": "make it night"})
    second = (await bot.results(thread, 2))[-1]
    request = bot.openai.requests[-1]
    assert same_picture(request.images[0].data, await stored_result(bot, first))
    assert request.fields["prompt"].startswith("make it night\n\n") and EDIT_BASE in request.fields["prompt"]
    assert len(request.images) == 3  # the picture to edit, then A and B

    slack.views.clear()
    await slack.press(CHANNEL, second["ts"], ANN, control_id(second, "mb:refine:"))
    view_id = await open_modal(slack, EDIT_MODAL_ID)
    await slack.submit(view_id, ANN, {"prompt": "add the moon"})
    third = (await bot.results(thread, 3))[-1]
    assert same_picture(bot.openai.requests[-1].images[0].data, await stored_result(bot, second))
    child = await bot.job_of(third)
    assert child.parent_id == (await bot.job_of(second)).id and child.action == "refine"


async def test_a_mention_without_new_images_refines_the_latest_result_and_says_so(
    bot: Harness, slack: SlackDouble
) -> None:
    thread = thread_with_two(slack)
    await slack.mention(CHANNEL, ANN, "the cat in the room", thread_ts=thread)
    [first] = await bot.results(thread)

    await slack.mention(CHANNEL, ANN, "make the cat orange", thread_ts=thread)
    second = (await bot.results(thread, 2))[-1]
    assert REFINE_RULE in second["text"]
    request = bot.openai.requests[-1]
    assert same_picture(request.images[0].data, await stored_result(bot, first))
    assert request.fields["prompt"].startswith("make the cat orange")

    await slack.mention(CHANNEL, ANN, "and give it a hat", thread_ts=thread)
    third = (await bot.results(thread, 3))[-1]
    assert same_picture(bot.openai.requests[-1].images[0].data, await stored_result(bot, second))
    assert (await bot.job_of(third)).parent_id == (await bot.job_of(second)).id


async def test_a_mention_with_new_images_starts_a_new_merge_and_says_so(bot: Harness, slack: SlackDouble) -> None:
    thread = thread_with_two(slack)
    await slack.mention(CHANNEL, ANN, "the cat in the room", thread_ts=thread)
    await bot.results(thread)
    slack.upload(CHANNEL, ANN, ("lamp.png", png(40, 40, seed=3)), text="a lamp", thread_ts=thread)

    await slack.mention(CHANNEL, ANN, "the cat, the room and the lamp", thread_ts=thread)
    second = (await bot.results(thread, 2))[-1]
    assert NEW_MERGE_RULE in second["text"]
    job = await bot.job_of(second)
    assert job.options.refine is None and [r.label for r in job.references] == ["A", "B", "C"]


async def test_a_mention_with_a_marked_copy_edits_only_the_marked_area(bot: Harness, slack: SlackDouble) -> None:
    thread = thread_with_two(slack)
    await slack.mention(CHANNEL, ANN, "the cat in the room", thread_ts=thread)
    [first] = await bot.results(thread)
    result = await stored_result(bot, first)
    marked, drawn = marked_copy(result)

    bot.openai.fail_next("slow", delay=2.5)  # long enough for the status to show the area understood
    await slack.mention(CHANNEL, ANN, "a window here", thread_ts=thread, images=(("marked.jpg", marked),))
    second = (await bot.results(thread, 2))[-1]
    assert REGION_RULE in second["text"]
    # Before generating, the status message showed the result with the marked area outlined.
    updates = [c.args for c in slack.calls_to("chat.update") if c.ok and c.args.get("ts") == second["ts"]]
    assert any("outlined area" in str(update.get("text") or update.get("blocks")) for update in updates)
    request = bot.openai.requests[-1]
    mask = request.mask
    assert request.status == 200 and mask is not None and mask.image_format == "PNG"
    assert (mask.width, mask.height) == (request.images[0].width, request.images[0].height) == drawn.size
    assert len(mask.data) < 4 * 2**20 and iou_of_mask(mask, drawn) >= 0.9
    assert same_picture(request.images[0].data, result)
    job = await bot.job_of(second)
    assert job.action == "region" and [r.label for r in job.references] == ["A", "B"]


async def test_a_marked_copy_matching_nothing_gets_a_reply_saying_what_to_do(
    bot: Harness, slack: SlackDouble
) -> None:
    thread = thread_with_two(slack)
    await slack.mention(CHANNEL, ANN, "the cat in the room", thread_ts=thread)
    await bot.results(thread)
    other = png(1024, 1024, seed=8)

    await slack.mention(CHANNEL, ANN, "a window here", thread_ts=thread, images=(("other.png", other),))
    text = await bot.status_text(thread, "does not match the result")
    assert "copy of the result" in text and REGION_RULE in text
    assert len(bot.openai.requests) == 1
