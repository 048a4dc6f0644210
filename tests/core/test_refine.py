"""Refine and region edits through the service: the previous result goes first, the person's words
lead the prompt, and a marked copy becomes the mask (or markup) the OpenAI double checks."""

from __future__ import annotations

import io

from PIL import Image, ImageChops, ImageDraw

from bot.model import ActionKind, MergeOptions, Outcome, Stage
from bot.prompting import EDIT_AREAS, EDIT_BASE
from bot.service import MergeService
from bot.settings import Settings
from tests.core.chat import ChatSurface, control
from tests.doubles.openai_double import MAX_MASK_BYTES, OpenAIDouble, RecordedFile
from tests.imagegen import jpeg, png


async def merged(chat: ChatSurface, **options: object) -> Outcome:
    chat.post("cat.png", png(640, 480, seed=1), text="cat")
    chat.post("room.jpg", jpeg(640, 480, seed=2), text="room")
    outcome = await chat.merge("the cat in the room", size="1536x1024", **options)
    assert outcome.ok, outcome.view.text
    return outcome


def pixels(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def same_picture(a: bytes, b: bytes) -> bool:
    return ImageChops.difference(pixels(a), pixels(b)).getbbox() is None


def marked_copy(result: bytes, box: tuple[int, int, int, int], scale: float = 0.5) -> tuple[bytes, Image.Image]:
    """A copy of ``result`` with a magenta loop around ``box``, shrunk and sent as JPEG like a chat
    does, and the region the loop encloses (mode "L", at the result's size)."""
    picture = pixels(result)
    ImageDraw.Draw(picture).ellipse(box, outline=(255, 0, 255), width=6)
    region = Image.new("L", picture.size, 0)
    ImageDraw.Draw(region).ellipse(box, fill=255)
    small = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=80)
    return buffer.getvalue(), region


def opened_area(mask: RecordedFile) -> Image.Image:
    """Where a mask lets the model edit: its fully transparent pixels, as an "L" mask."""
    with Image.open(io.BytesIO(mask.data)) as image:
        alpha = image.convert("RGBA").getchannel("A")
    return alpha.point([255 if value == 0 else 0 for value in range(256)])


def iou(found: Image.Image, drawn: Image.Image) -> float:
    inside = ImageChops.multiply(found, drawn).histogram()[255]
    either = ImageChops.lighter(found, drawn).histogram()[255]
    return inside / either


async def test_refine_asks_what_should_change_before_it_spends_anything(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    first = await merged(chat)
    ask = await chat.press(control(first, ActionKind.REFINE))
    assert ask.needs_prompt and ask.ok
    assert len(openai_double.requests) == 1


async def test_refine_sends_the_previous_result_first_with_the_instruction(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    first = await merged(chat)
    assert first.view.image is not None
    refined = await chat.press(control(first, ActionKind.REFINE), prompt="make the cat's collar red")
    assert refined.ok, refined.view.text
    assert refined.job is not None and first.job is not None
    assert refined.job.parent_id == first.job.id and refined.job.action == "refine"
    request = openai_double.requests[-1]
    images = request.images
    assert images[0].filename is not None and images[0].filename.startswith("picture-to-edit")
    assert same_picture(images[0].data, first.view.image)
    assert [f.filename for f in images[1:]] == ["A.jpg", "B.jpg"]
    prompt = request.fields["prompt"]
    assert prompt.startswith("make the cat's collar red\n\n")
    assert EDIT_BASE in prompt
    assert "Image 2 (A)" in prompt and "Image 3 (B)" in prompt
    assert request.mask is None and request.markup is None
    assert "refined" in refined.view.text
    details = await chat.press(control(refined, ActionKind.DETAILS))
    assert "Refine: the previous result sent as image 1, changing only what was asked" in details.view.text


async def test_refines_chain_each_one_edits_the_latest_picture(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    first = await merged(chat)
    once = await chat.press(control(first, ActionKind.REFINE), prompt="brighter")
    twice = await chat.press(control(once, ActionKind.REFINE), prompt="now add a hat")
    assert twice.ok, twice.view.text
    assert once.view.image is not None and twice.job is not None and once.job is not None
    assert twice.job.parent_id == once.job.id
    assert same_picture(openai_double.requests[-1].images[0].data, once.view.image)
    assert openai_double.requests[-1].fields["prompt"].startswith("now add a hat")
    # Retry of a refine edits the same picture again, with the same words.
    again = await chat.press(control(twice, ActionKind.RETRY))
    assert again.ok and once.view.image is not None
    assert same_picture(openai_double.requests[-1].images[0].data, once.view.image)
    assert openai_double.requests[-1].fields["prompt"].startswith("now add a hat")


async def test_a_region_edit_sends_a_mask_of_the_marked_area_by_the_api_rules(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    first = await merged(chat)
    assert first.view.image is not None
    marked, drawn = marked_copy(first.view.image, (500, 300, 900, 700))
    edited = await chat.press(control(first, ActionKind.REFINE), prompt="a window here", marked=marked)
    assert edited.ok, edited.view.text
    assert edited.job is not None and edited.job.action == "region"
    request = openai_double.requests[-1]
    assert request.status == 200
    mask = request.mask
    assert mask is not None and request.markup is None
    assert mask.image_format == "PNG" and mask.content_type == "image/png"
    assert (mask.width, mask.height) == (request.images[0].width, request.images[0].height) == drawn.size
    assert len(mask.data) < MAX_MASK_BYTES
    assert iou(opened_area(mask), drawn) >= 0.9
    prompt = request.fields["prompt"]
    assert prompt.startswith("a window here") and EDIT_AREAS["mask"] in prompt
    # The marks are never sent as content: image 1 is the clean result, not the marked copy.
    assert same_picture(request.images[0].data, first.view.image)
    # Before generating, the status showed the area understood: the result with the region outlined.
    job_id = edited.job.id
    shown = [p for p in chat.progress if p.job_id == job_id and p.stage is Stage.COMPOSING and p.image]
    assert shown and "outlined" in shown[-1].text
    stages = chat.stages(job_id)
    assert stages.index(Stage.COMPOSING) < stages.index(Stage.GENERATING)
    outline = pixels(shown[-1].image or b"")
    assert outline.size == drawn.size and not same_picture(shown[-1].image or b"", first.view.image)


async def test_models_that_take_markup_get_markup_instead_of_a_mask(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    first = await merged(chat, model="gpt-image-2.5-flare")
    assert first.view.image is not None
    marked, drawn = marked_copy(first.view.image, (200, 200, 600, 500))
    edited = await chat.press(control(first, ActionKind.REFINE), prompt="a lamp", marked=marked)
    assert edited.ok, edited.view.text
    request = openai_double.requests[-1]
    assert request.mask is None and request.markup is not None
    markup = request.markup
    assert (markup.width, markup.height) == drawn.size and markup.image_format == "PNG"
    with Image.open(io.BytesIO(markup.data)) as image:
        tinted = image.getchannel("A").point([255 if value else 0 for value in range(256)])
    assert iou(tinted, drawn) >= 0.9
    assert EDIT_AREAS["markup"] in request.fields["prompt"]


async def test_a_copy_that_matches_nothing_is_refused_with_what_to_do(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    first = await merged(chat)
    other = png(1536, 1024, seed=9)
    refused = await chat.press(control(first, ActionKind.REFINE), prompt="a window", marked=other)
    assert not refused.ok
    assert "does not match the result" in refused.view.text and "copy of the result" in refused.view.text
    assert first.view.image is not None
    unmarked = await chat.press(control(first, ActionKind.REFINE), prompt="a window", marked=first.view.image)
    assert not unmarked.ok and "could not find any marks" in unmarked.view.text
    assert len(openai_double.requests) == 1  # nothing was sent


async def test_a_refine_press_survives_a_restart(settings: Settings, openai_double: OpenAIDouble) -> None:
    service = await MergeService.open(settings)
    try:
        chat = ChatSurface(service)
        first = await merged(chat)
        marked = marked_copy(first.view.image or b"", (300, 300, 700, 600))[0]
    finally:
        await service.aclose()
    reopened = await MergeService.open(settings)
    try:
        chat = ChatSurface(reopened)
        edited = await chat.press(control(first, ActionKind.REFINE), prompt="a door", marked=marked)
        assert edited.ok, edited.view.text
        assert openai_double.requests[-1].mask is not None
        # The stored child keeps what it edits: its Retry after another restart sends the same mask.
        assert edited.job is not None and edited.job.options.refine is not None
        stored = await reopened.job(edited.job.id)
        assert stored is not None and stored.options.refine == edited.job.options.refine
    finally:
        await reopened.aclose()


async def test_use_as_reference_after_a_refine_is_a_new_merge(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    first = await merged(chat)
    refined = await chat.press(control(first, ActionKind.REFINE), prompt="brighter")
    used = await chat.press(control(refined, ActionKind.USE_AS_REFERENCE), prompt="the cat on a boat")
    assert used.ok and used.job is not None
    assert used.job.options.refine is None
    assert not (openai_double.requests[-1].images[0].filename or "").startswith("picture-to-edit")


async def test_a_model_taking_one_image_gets_only_the_picture_to_edit(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    chat.post("cat.png", png(640, 480, seed=1))
    first = await chat.merge("the cat", model="gpt-image-2.6-flare", size="1536x1024")
    assert first.ok, first.view.text
    refined = await chat.press(control(first, ActionKind.REFINE), prompt="brighter")
    assert refined.ok, refined.view.text
    request = openai_double.requests[-1]
    assert len(request.images) == 1 and same_picture(request.images[0].data, first.view.image or b"")
    assert "Image 2" not in request.fields["prompt"]


def test_options_round_trip_a_refinement() -> None:
    from bot.model import Refinement
    from bot.store_rows import _options, _options_json

    options = MergeOptions(prompt="x", refine=Refinement("a" * 64, "b" * 64))
    assert _options(_options_json(options)) == options
    assert _options(_options_json(MergeOptions(prompt="y"))).refine is None
