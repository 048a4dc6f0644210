"""Refine and region edits on Discord: the Refine… form (with its optional marked copy), refines in a row,
and "Edit the marked area" on a person's post, with the mask the OpenAI double receives."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageChops, ImageDraw

from bot.prompting import EDIT_BASE
from tests.discord.conftest import RunningBot, World
from tests.discord.session import result_of, settled, status_edits, thread_with_images, uploaded_names
from tests.doubles.discord_double import DiscordDouble, button_labels
from tests.doubles.openai_double import OpenAIDouble, RecordedFile
from tests.imagegen import png

LOOP = (300, 250, 700, 650)


def pixels(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def same_picture(a: bytes, b: bytes) -> bool:
    return ImageChops.difference(pixels(a), pixels(b)).getbbox() is None


def result_bytes(discord_api: DiscordDouble, message: dict[str, Any]) -> bytes:
    return discord_api.attachment_bytes(message["attachments"][0])


def marked_copy(result: bytes) -> tuple[bytes, Image.Image]:
    """The result with a magenta loop drawn on it, halved and JPEG-encoded; the region it encloses."""
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


async def merged(discord_api: DiscordDouble, world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    interaction = await discord_api.slash_command(
        thread, world.alice, "merge", {"prompt": "a poster", "size": "1024x1024"}
    )
    return thread, await result_of(discord_api, interaction)


async def refine(
    discord_api: DiscordDouble, world: World, result: dict[str, Any], text: str, **files: tuple[str, bytes]
) -> dict[str, Any]:
    press = await discord_api.press(result, world.alice, button_labels(result)["Refine…"])
    await discord_api.wait_for(lambda: press.modal is not None)
    assert press.response_types == [9] and "What should change?" in str(press.modal)
    submitted = await discord_api.submit_modal(press, world.alice, {"prompt": text}, files=files)
    return await result_of(discord_api, submitted)


async def test_refine_twice_in_a_row_edits_the_latest_picture_each_time(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    _, first = await merged(discord_api, world)
    assert len(openai_api.requests) == 1
    once = await refine(discord_api, world, first, "make the sky stormy")
    request = openai_api.requests[-1]
    assert same_picture(request.images[0].data, result_bytes(discord_api, first))
    assert request.fields["prompt"].startswith("make the sky stormy\n\n") and EDIT_BASE in request.fields["prompt"]
    assert [f.filename for f in request.images[1:]] == ["A.jpg", "B.jpg"]
    assert "refined" in once["content"]

    twice = await refine(discord_api, world, once, "add a red kite")
    request = openai_api.requests[-1]
    assert same_picture(request.images[0].data, result_bytes(discord_api, once))
    assert request.fields["prompt"].startswith("add a red kite")
    assert "Refine…" in button_labels(twice)  # every result has it, a refine's too


async def test_the_refine_form_takes_a_marked_copy_for_a_region_edit(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    _, first = await merged(discord_api, world)
    marked, drawn = marked_copy(result_bytes(discord_api, first))
    edited = await refine(discord_api, world, first, "a window here", marked=("marked.jpg", marked))
    request = openai_api.requests[-1]
    assert request.status == 200 and request.mask is not None
    assert (request.mask.width, request.mask.height) == (request.images[0].width, request.images[0].height)
    assert iou_of_mask(request.mask, drawn) >= 0.9
    assert "marked area edited" in edited["content"]


async def test_edit_the_marked_area_on_a_post_sends_the_mask_and_shows_the_area_first(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread, first = await merged(discord_api, world)
    marked, drawn = marked_copy(result_bytes(discord_api, first))
    post = await discord_api.post_message(thread, world.alice, "put a window here", files=[("mine.jpg", marked)])
    menu = await discord_api.message_command(thread, world.alice, "Edit the marked area", post)
    await discord_api.wait_for(lambda: menu.modal is not None)
    assert "put a window here" in str(menu.modal), "pre-filled with the post's text"
    openai_api.fail_next("slow", delay=2.5)  # a generation long enough for the status to show each step
    submitted = await discord_api.submit_modal(menu, world.alice, {"prompt": "put a window here"})
    edited = await result_of(discord_api, submitted)

    request = openai_api.requests[-1]
    mask = request.mask
    assert mask is not None and mask.image_format == "PNG" and len(mask.data) < 4 * 2**20
    assert (mask.width, mask.height) == (request.images[0].width, request.images[0].height) == drawn.size
    assert iou_of_mask(mask, drawn) >= 0.9
    assert same_picture(request.images[0].data, result_bytes(discord_api, first))  # the clean result, no marks
    assert request.fields["prompt"].startswith("put a window here")
    contents = [edit.get("content") or "" for edit in status_edits(discord_api, submitted)]
    outlined = next(index for index, text in enumerate(contents) if "outlined area" in text)
    assert outlined < len(contents) - 1, "the outlined area shows before the result"
    shown = uploaded_names(discord_api, submitted)
    assert any(name.startswith("refine-") and name.endswith(".jpg") for name in shown), shown
    assert "marked area edited" in edited["content"]


async def test_a_post_that_matches_nothing_gets_a_reply_saying_what_to_do(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread, _ = await merged(discord_api, world)
    post = await discord_api.post_message(thread, world.alice, "here", files=[("other.png", png(512, 512, seed=7))])
    menu = await discord_api.message_command(thread, world.alice, "Edit the marked area", post)
    await discord_api.wait_for(lambda: menu.modal is not None)
    submitted = await discord_api.submit_modal(menu, world.alice, {"prompt": "a window"})
    answer = await settled(discord_api, submitted)
    assert "does not match the result" in answer["content"] and "copy of the result" in answer["content"]
    assert len(openai_api.requests) == 1
    bot.check_alive()


async def test_the_refine_button_survives_a_restart(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    _, first = await merged(discord_api, world)
    await bot.restart()
    await refine(discord_api, world, first, "warmer light")
    assert same_picture(openai_api.requests[-1].images[0].data, result_bytes(discord_api, first))
