"""The OpenAI double itself: it must refuse what the real API refuses and send what the spec says."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

import aiohttp
import jsonschema
import openai
import pytest

from tests.core.chat import eventually
from tests.doubles.openai_double import OpenAIDouble, load_spec
from tests.imagegen import png

from .conftest import TEST_KEY

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


def pure_spec_validator(name: str) -> jsonschema.Draft202012Validator:
    """The spec's schema with no overlay, to check the double against the document itself."""
    root = {"$ref": f"#/components/schemas/{name}", "components": load_spec()["components"]}
    return jsonschema.Draft202012Validator(root)


def client_for(api: OpenAIDouble) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=TEST_KEY, base_url=api.base_url, max_retries=0)


def form(**fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        data.add_field(name, value)
    return data


async def post_form(api: OpenAIDouble, data: aiohttp.FormData, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{api.base_url}/images/edits", data=data, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_bare_bytes_are_refused_like_the_real_api(openai_double: OpenAIDouble) -> None:
    async with client_for(openai_double) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.edit(image=png(), prompt="p")
    assert caught.value.code == "unsupported_file_mimetype"
    assert "unsupported mimetype ('application/octet-stream')" in caught.value.message
    request = openai_double.requests[-1]
    assert request.status == 400
    assert (request.files[0].filename, request.files[0].content_type) == ("upload", "application/octet-stream")


async def test_image_part_without_filename_is_refused(openai_double: OpenAIDouble) -> None:
    writer = aiohttp.MultipartWriter("form-data")
    writer.append("p").set_content_disposition("form-data", name="prompt")
    writer.append(png(), {"Content-Type": "image/png"}).set_content_disposition("form-data", name="image")
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{openai_double.base_url}/images/edits", data=writer, headers=AUTH) as response,
    ):
        status, body = response.status, await response.json()
    assert status == 400 and body["error"]["code"] == "unsupported_file_mimetype"
    assert openai_double.requests[-1].files[0].filename is None


async def test_a_file_that_is_not_an_image_is_refused(openai_double: OpenAIDouble) -> None:
    async with client_for(openai_double) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.edit(image=("a.png", b"<html>login</html>", "image/png"), prompt="p")
    assert caught.value.code == "invalid_image_file"


@pytest.mark.parametrize(
    ("extra", "code", "param"),
    [
        ({"quality": "bogus"}, "invalid_value", "quality"),
        ({"n": 11}, "invalid_value", "n"),
        ({"partial_images": 4, "stream": True}, "invalid_value", "partial_images"),
        ({"output_format": "gif"}, "invalid_value", "output_format"),
        ({"input_fidelity": "extreme"}, "invalid_value", "input_fidelity"),
    ],
)
async def test_fields_are_checked_against_the_spec(
    openai_double: OpenAIDouble, extra: dict[str, Any], code: str, param: str
) -> None:
    async with client_for(openai_double) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.edit(image=("a.png", png(), "image/png"), prompt="p", **extra)
    assert caught.value.code == code
    assert caught.value.param == param


async def test_unknown_fields_are_refused(openai_double: OpenAIDouble) -> None:
    async with client_for(openai_double) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.edit(image=("a.png", png(), "image/png"), prompt="p", extra_body={"weights": "A=2"})
    assert caught.value.code == "unknown_parameter" and caught.value.param == "weights"


async def test_more_than_sixteen_images_are_refused(openai_double: OpenAIDouble) -> None:
    images = [(f"{i}.png", png(8, 8, seed=i), "image/png") for i in range(17)]
    async with client_for(openai_double) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.edit(image=images, prompt="p")
    assert caught.value.param == "image"


@pytest.mark.parametrize("n", [0, 11])
async def test_n_outside_1_to_10_is_refused(openai_double: OpenAIDouble, n: int) -> None:
    async with client_for(openai_double) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.edit(image=("a.png", png(), "image/png"), prompt="p", n=n)
    assert (caught.value.code, caught.value.param) == ("invalid_value", "n")


async def test_n_pictures_come_back_different_with_their_usage_scaled(openai_double: OpenAIDouble) -> None:
    async with client_for(openai_double) as client:
        one = await client.images.edit(image=("a.png", png(), "image/png"), prompt="p", quality="low")
        three = await client.images.edit(image=("a.png", png(), "image/png"), prompt="p", quality="low", n=3)
    assert one.data is not None and three.data is not None and len(three.data) == 3
    assert len({item.b64_json for item in three.data}) == 3
    assert one.usage is not None and three.usage is not None
    assert three.usage.output_tokens == 3 * one.usage.output_tokens
    assert three.usage.input_tokens == one.usage.input_tokens


@pytest.mark.parametrize(
    ("model", "fidelity", "code"),
    [
        ("gpt-image-2", "low", "unsupported_parameter"),
        ("gpt-image-2-2026-04-21", "high", "unsupported_parameter"),
        ("gpt-image-1-mini", "high", "invalid_value"),
        ("gpt-image-1.5", "high", None),
        ("gpt-image-1-mini", "low", None),
    ],
)
async def test_input_fidelity_is_refused_where_the_model_takes_none(
    openai_double: OpenAIDouble, model: str, fidelity: str, code: str | None
) -> None:
    async with client_for(openai_double) as client:
        call = client.images.edit(
            image=("a.png", png(), "image/png"), prompt="p", model=model, input_fidelity=fidelity  # type: ignore[arg-type]
        )
        if code is None:
            assert (await call).data
            return
        with pytest.raises(openai.BadRequestError) as caught:
            await call
    assert (caught.value.code, caught.value.param) == (code, "input_fidelity")


async def test_missing_prompt_and_missing_key(openai_double: OpenAIDouble) -> None:
    data = form()
    data.add_field("image", png(), filename="a.png", content_type="image/png")
    status, body = await post_form(openai_double, data, AUTH)
    assert status == 400 and body["error"]["code"] == "missing_required_parameter"
    data = form(prompt="p")
    data.add_field("image", png(), filename="a.png", content_type="image/png")
    status, body = await post_form(openai_double, data, {})
    assert status == 401 and "didn't provide an API key" in body["error"]["message"]


async def test_json_answer_matches_the_spec(openai_double: OpenAIDouble) -> None:
    async with client_for(openai_double) as client:
        raw = await client.images.with_raw_response.edit(
            image=("a.png", png(), "image/png"), prompt="p", size="1536x1024", quality="low", n=2
        )
    body = json.loads(raw.content)
    pure_spec_validator("ImagesResponse").validate(body)
    assert body["size"] == "1536x1024" and len(body["data"]) == 2
    pure_spec_validator("ImagesUsage").validate(body["usage"])


async def test_stream_events_match_the_spec(openai_double: OpenAIDouble) -> None:
    data = form(prompt="p", stream="true", partial_images="3", size="1024x1536", quality="high")
    data.add_field("image", png(), filename="a.png", content_type="image/png")
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{openai_double.base_url}/images/edits", data=data, headers=AUTH) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        text = await response.text()
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        payload = json.loads(lines["data"])
        assert lines["event"] == payload["type"]
        pure_spec_validator("ImageEditStreamEvent").validate(payload)
        events.append(payload)
    assert [e["type"] for e in events] == ["image_edit.partial_image"] * 3 + ["image_edit.completed"]
    assert [e["partial_image_index"] for e in events[:3]] == [0, 1, 2]
    assert base64.b64decode(events[-1]["b64_json"]).startswith(b"\x89PNG")


async def test_answers_are_deterministic(openai_double: OpenAIDouble) -> None:
    async with client_for(openai_double) as client:
        first = await client.images.edit(image=("a.png", png(), "image/png"), prompt="same")
        second = await client.images.edit(image=("a.png", png(), "image/png"), prompt="same")
        other = await client.images.edit(image=("a.png", png(), "image/png"), prompt="different")
    assert first.data and second.data and other.data
    assert first.data[0].b64_json == second.data[0].b64_json != other.data[0].b64_json


async def test_generations_endpoint(openai_double: OpenAIDouble) -> None:
    async with client_for(openai_double) as client:
        result = await client.images.generate(prompt="a fox", model="gpt-image-2", size="1024x1536")
        stream = await client.images.generate(prompt="a fox", stream=True, partial_images=1)
        kinds = [event.type async for event in stream]
        with pytest.raises(openai.BadRequestError):
            await client.images.generate(prompt="a fox", extra_body={"quality": "ultra"})
    assert result.size == "1024x1536" and result.usage is not None
    assert kinds == ["image_generation.partial_image", "image_generation.completed"]
    assert [r.path for r in openai_double.requests] == ["/v1/images/generations"] * 3


async def test_failures_are_consumed_in_order_and_reset(openai_double: OpenAIDouble) -> None:
    openai_double.fail_next("server_error", times=2)
    openai_double.fail_next("rate_limit", retry_after=3)
    assert openai_double.pending_failures == 3
    statuses = []
    async with client_for(openai_double) as client:
        for _ in range(4):
            try:
                await client.images.edit(image=("a.png", png(), "image/png"), prompt="p")
                statuses.append(200)
            except openai.APIStatusError as exc:
                statuses.append(exc.status_code)
                if exc.status_code == 429:
                    assert exc.response.headers["Retry-After"] == "3"
    assert statuses == [500, 500, 429, 200]
    openai_double.fail_next("server_error")
    openai_double.reset()
    assert openai_double.pending_failures == 0 and openai_double.requests == []


def _mask(size: tuple[int, int], *, mode: str = "RGBA", fmt: str = "PNG", opened: bool = True) -> bytes:
    import io

    from PIL import Image

    image = Image.new(mode, size, (0, 0, 0, 255) if mode == "RGBA" else 0)
    if opened and mode == "RGBA":
        image.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1] // 2))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


async def _edit_with(api: OpenAIDouble, model: str = "gpt-image-2", **area: tuple[str, bytes, str]) -> int:
    picture = ("picture.png", png(64, 48), "image/png")
    async with client_for(api) as client:
        try:
            await client.images.edit(image=picture, prompt="p", model=model, **area)  # type: ignore[arg-type]
        except openai.BadRequestError as exc:
            return exc.status_code
    return 200


@pytest.mark.parametrize(
    "mask",
    [
        pytest.param(("mask.png", _mask((32, 24)), "image/png"), id="another size than image 1"),
        pytest.param(("mask.png", _mask((64, 48), mode="RGB"), "image/png"), id="no alpha channel"),
        pytest.param(("mask.jpg", _mask((64, 48), mode="RGB", fmt="JPEG"), "image/jpeg"), id="not a PNG"),
        pytest.param(("mask.png", _mask((64, 48), opened=False), "image/png"), id="nothing transparent"),
    ],
)
async def test_a_mask_is_held_to_the_api_rules(openai_double: OpenAIDouble, mask: tuple[str, bytes, str]) -> None:
    assert await _edit_with(openai_double, mask=mask) == 400
    assert openai_double.requests[-1].mask is not None  # recorded, whatever it answered


async def test_a_good_mask_and_markup_where_the_model_takes_it_are_recorded(openai_double: OpenAIDouble) -> None:
    mask = ("mask.png", _mask((64, 48)), "image/png")
    assert await _edit_with(openai_double, mask=mask) == 200
    recorded = openai_double.requests[-1].mask
    assert recorded is not None and recorded.data == mask[1] and (recorded.width, recorded.height) == (64, 48)
    assert await _edit_with(openai_double, "gpt-image-2.5-flare", markup=mask) == 200
    assert openai_double.requests[-1].markup is not None
    assert await _edit_with(openai_double, "gpt-image-2", markup=mask) == 400  # markup: GPT Image 2.5 only
    assert await _edit_with(openai_double, "gpt-image-2.5-flare", markup=mask, mask=mask) == 400  # never both


async def test_a_mask_of_4_mb_or_more_is_refused(openai_double: OpenAIDouble) -> None:
    import os

    big = _mask((64, 48)) + os.urandom(4 * 2**20)  # a valid PNG followed by junk past the limit
    assert await _edit_with(openai_double, mask=("mask.png", big, "image/png")) == 400


async def test_it_counts_the_calls_answered_at_once() -> None:
    async with OpenAIDouble(latency_s=(0.3, 0.3)) as api, client_for(api) as client:
        calls = [client.images.edit(image=("a.png", png(), "image/png"), prompt=f"p{n}") for n in range(3)]
        await asyncio.gather(*calls)
        await client.images.edit(image=("a.png", png(), "image/png"), prompt="alone")
        assert api.max_in_flight == 3
        assert api.in_flight == 0
        first, *_, last = api.requests
        assert first.ended is not None and last.started >= first.ended  # the fourth came after the three
        assert api.in_flight_at(first.started + 0.1) == api.requests[:3]
        assert not any(r.cut for r in api.requests)


async def test_a_client_that_goes_away_is_cut_at_once() -> None:
    async with OpenAIDouble(latency_s=(30.0, 30.0)) as api, client_for(api) as client:
        call = asyncio.create_task(client.images.edit(image=("a.png", png(), "image/png"), prompt="p"))
        await eventually(lambda: api.in_flight == 1)
        call.cancel()  # the client closes its connection, as a killed process's kernel would
        with contextlib.suppress(asyncio.CancelledError):
            await call
        await eventually(lambda: api.in_flight == 0)
        [request] = api.requests
        assert request.cut
        assert request.ended is not None and request.ended - request.started < 5.0
