"""Generator against the OpenAI double, through the real AsyncOpenAI client."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from bot.errors import (
    AuthFailed,
    ContentBlocked,
    GenerationError,
    GenerationTimeout,
    ImageRejected,
    PromptTooLong,
    QuotaExhausted,
    RateLimited,
    ServiceUnavailable,
    TooManyImages,
    UnsupportedOption,
)
from bot.generate import Generator, InputImage, retry_after_seconds, safety_categories, sanitize_api_message
from bot.identity import load_salt, safety_identifier
from bot.model import MergeOptions, Origin
from bot.redact import Redactor
from bot.settings import Secret, Settings
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import encode, jpeg, pattern, png

from .conftest import TEST_KEY

OPTIONS = MergeOptions(prompt="merge them")


def sheet() -> list[InputImage]:
    return [InputImage("sheet.png", png(320, 240), "image/png")]


def three_refs() -> list[InputImage]:
    return [
        InputImage("B.png", png(64, 48, seed=1), "image/png"),
        InputImage("A.jpg", jpeg(80, 60, seed=2), "image/jpeg"),
        InputImage("C.webp", encode(pattern(50, 50, 3), "WEBP"), "image/webp"),
    ]


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_streamed_single_image_reports_partials(openai_double: OpenAIDouble, generator: Generator) -> None:
    seen: list[tuple[int, tuple[int, int]]] = []

    async def on_partial(index: int, data: bytes) -> None:
        seen.append((index, decoded(data).size))

    result = await generator.generate(sheet(), "merge them\n\nlegend", OPTIONS, on_partial)

    assert seen == [(0, (1024, 1024)), (1, (1024, 1024))]
    assert result.partials == 2
    assert len(result.images) == 1 and decoded(result.images[0]).format == "PNG"
    assert result.output_format == "png" and result.model == "gpt-image-2"
    request = openai_double.requests[-1]
    assert request.params["stream"] is True and request.params["partial_images"] == 2
    assert request.events == ["image_edit.partial_image", "image_edit.partial_image", "image_edit.completed"]
    expected = openai_double.usage_for(request)
    assert result.usage.input_tokens == expected["input_tokens"]
    assert result.usage.input_image_tokens == expected["input_tokens_details"]["image_tokens"]
    assert result.usage.input_text_tokens == expected["input_tokens_details"]["text_tokens"]
    assert result.usage.output_tokens == expected["output_tokens"] > 0
    assert result.elapsed_s > 0


async def test_one_image_goes_as_image_with_name_and_mime(openai_double: OpenAIDouble, generator: Generator) -> None:
    await generator.generate(sheet(), "p", OPTIONS)
    request = openai_double.requests[-1]
    assert request.image_field == "image"
    [file] = request.files
    assert (file.filename, file.content_type, file.width, file.height) == ("sheet.png", "image/png", 320, 240)
    assert request.fields["prompt"] == "p"
    assert request.headers["Authorization"] == f"Bearer {TEST_KEY}"


async def test_several_images_go_as_image_array_in_order(openai_double: OpenAIDouble, generator: Generator) -> None:
    options = replace(OPTIONS, size="1536x864", quality="high", output_format="webp")
    result = await generator.generate(three_refs(), "p", options)
    request = openai_double.requests[-1]
    assert request.image_field == "image[]"
    assert [(f.filename, f.content_type, f.image_format) for f in request.files] == [
        ("B.png", "image/png", "PNG"),
        ("A.jpg", "image/jpeg", "JPEG"),
        ("C.webp", "image/webp", "WEBP"),
    ]
    assert request.params["size"] == "1536x864" and request.params["quality"] == "high"
    assert decoded(result.images[0]).size == (1536, 864)
    assert decoded(result.images[0]).format == "WEBP" and result.output_format == "webp"


async def test_n_above_one_is_not_streamed(openai_double: OpenAIDouble, generator: Generator) -> None:
    calls: list[int] = []

    async def on_partial(index: int, data: bytes) -> None:
        calls.append(index)

    result = await generator.generate(sheet(), "p", replace(OPTIONS, n=3, output_format="jpeg"), on_partial)
    request = openai_double.requests[-1]
    assert "stream" not in request.params or request.params["stream"] is False
    assert "partial_images" not in request.params
    assert calls == [] and result.partials == 0
    assert len(result.images) == 3 and {decoded(i).format for i in result.images} == {"JPEG"}
    assert result.usage.output_tokens == openai_double.usage_for(request)["output_tokens"]


async def test_partial_images_setting_is_clamped(
    openai_double: OpenAIDouble, settings_for: Callable[..., Settings]
) -> None:
    generator = Generator(settings_for(openai_double, partial_images=9))
    try:
        result = await generator.generate(sheet(), "p", OPTIONS)
    finally:
        await generator.aclose()
    assert openai_double.requests[-1].params["partial_images"] == 3
    assert result.partials == 3


async def test_input_fidelity_is_sent_only_when_set(openai_double: OpenAIDouble, generator: Generator) -> None:
    await generator.generate(sheet(), "p", replace(OPTIONS, model="gpt-image-1.5", input_fidelity="high"))
    assert openai_double.requests[-1].params["input_fidelity"] == "high"
    await generator.generate(sheet(), "p", OPTIONS)
    assert "input_fidelity" not in openai_double.requests[-1].params


async def test_a_failing_preview_does_not_cost_the_merge(openai_double: OpenAIDouble, generator: Generator) -> None:
    async def broken(index: int, data: bytes) -> None:
        raise RuntimeError("chat platform down")

    result = await generator.generate(sheet(), "p", OPTIONS, broken)
    assert len(result.images) == 1 and result.partials == 2


# ---------------------------------------------------------------- refusals before any call


@pytest.mark.parametrize(
    ("options", "count", "error", "words"),
    [
        (replace(OPTIONS, input_fidelity="high"), 1, UnsupportedOption, "does not take input_fidelity"),
        (replace(OPTIONS, background="transparent", output_format="jpeg"), 1, UnsupportedOption, "png or webp"),
        (replace(OPTIONS, size="1000x700"), 1, UnsupportedOption, "multiples of 16"),
        (replace(OPTIONS, model="gpt-image-1"), 1, UnsupportedOption, "shut down"),
        (OPTIONS, 17, TooManyImages, "at most 16"),
    ],
)
async def test_capability_refusals_send_nothing(
    openai_double: OpenAIDouble,
    generator: Generator,
    options: MergeOptions,
    count: int,
    error: type[Exception],
    words: str,
) -> None:
    images = [InputImage(f"{i}.png", png(16, 16, seed=i), "image/png") for i in range(count)]
    with pytest.raises(error, match=words):
        await generator.generate(images, "p", options)
    assert openai_double.requests == []


async def test_built_prompt_over_the_limit_is_refused(openai_double: OpenAIDouble, generator: Generator) -> None:
    with pytest.raises(PromptTooLong):
        await generator.generate(sheet(), "x" * 32_001, OPTIONS)
    assert openai_double.requests == []


async def test_bad_input_file_is_refused_by_name(openai_double: OpenAIDouble, generator: Generator) -> None:
    with pytest.raises(ImageRejected, match=r"scan\.tiff"):
        await generator.generate([InputImage("scan.tiff", b"II*\x00", "image/tiff")], "p", OPTIONS)
    assert openai_double.requests == []


async def test_missing_key_fails_at_generate_time(openai_double: OpenAIDouble) -> None:
    generator = Generator(Settings(openai_base_url=openai_double.base_url))
    with pytest.raises(AuthFailed) as caught:
        await generator.generate(sheet(), "p", OPTIONS)
    assert caught.value.user_message == "No OpenAI API key is set: set OPENAI_API_KEY"
    assert openai_double.requests == []
    await generator.aclose()


# ---------------------------------------------------------------- failures mapped


async def test_moderation_blocked_names_the_categories(openai_double: OpenAIDouble, generator: Generator) -> None:
    openai_double.fail_next("moderation_blocked", categories=("sexual", "violence"))
    with pytest.raises(ContentBlocked) as caught:
        await generator.generate(sheet(), "p", OPTIONS)
    assert caught.value.categories == ("sexual", "violence")
    assert "flagged: sexual, violence" in caught.value.user_message
    assert "Change the prompt" in caught.value.user_message
    assert len(openai_double.requests) == 1  # never retried


async def test_moderation_inside_the_stream(openai_double: OpenAIDouble, generator: Generator) -> None:
    openai_double.fail_next("stream_moderation", categories=("self-harm",))
    partials: list[int] = []

    async def on_partial(index: int, data: bytes) -> None:
        partials.append(index)

    with pytest.raises(ContentBlocked) as caught:
        await generator.generate(sheet(), "p", OPTIONS, on_partial)
    assert caught.value.categories == ("self-harm",)
    assert partials == [0, 1]
    assert openai_double.requests[-1].events[-1] == "error"


async def test_bad_key(openai_double: OpenAIDouble, generator: Generator) -> None:
    openai_double.fail_next("invalid_api_key", message=f"Incorrect API key provided: {TEST_KEY}.")
    with pytest.raises(AuthFailed) as caught:
        await generator.generate(sheet(), "p", OPTIONS)
    assert "OPENAI_API_KEY" in caught.value.user_message
    assert TEST_KEY not in caught.value.user_message and "SECRETVALUE" not in str(caught.value)
    assert len(openai_double.requests) == 1


async def test_rate_limit_is_retried_after_the_servers_delay(openai_double: OpenAIDouble, generator: Generator) -> None:
    openai_double.fail_next("rate_limit", retry_after=0.05)
    result = await generator.generate(sheet(), "p", OPTIONS)
    assert len(result.images) == 1
    assert [r.status for r in openai_double.requests] == [429, 200]


async def test_rate_limit_that_outlives_the_retries(openai_double: OpenAIDouble, generator: Generator) -> None:
    openai_double.fail_next("rate_limit", retry_after=0.01, times=3)
    with pytest.raises(RateLimited) as caught:
        await generator.generate(sheet(), "p", OPTIONS)
    assert caught.value.retry_after == pytest.approx(0.01)
    assert "Try again in 1 s" in caught.value.user_message
    assert len(openai_double.requests) == 3


async def test_long_retry_after_is_reported_at_once(openai_double: OpenAIDouble, generator: Generator) -> None:
    openai_double.fail_next("rate_limit", retry_after=42)
    with pytest.raises(RateLimited) as caught:
        await generator.generate(sheet(), "p", OPTIONS)
    assert caught.value.retry_after == 42
    assert "Try again in 42 s" in caught.value.user_message
    assert len(openai_double.requests) == 1


async def test_quota_exhausted_is_not_retried(openai_double: OpenAIDouble, generator: Generator) -> None:
    openai_double.fail_next("insufficient_quota", times=3)
    with pytest.raises(QuotaExhausted, match="out of credit"):
        await generator.generate(sheet(), "p", OPTIONS)
    assert len(openai_double.requests) == 1


async def test_server_errors_after_retries(openai_double: OpenAIDouble, generator: Generator) -> None:
    openai_double.fail_next("server_error", times=3)
    with pytest.raises(ServiceUnavailable, match=r"kept failing \(HTTP 500\)"):
        await generator.generate(sheet(), "p", OPTIONS)
    assert len(openai_double.requests) == 3


async def test_one_server_error_is_absorbed(openai_double: OpenAIDouble, generator: Generator) -> None:
    openai_double.fail_next("server_error")
    result = await generator.generate(sheet(), "p", OPTIONS)
    assert len(result.images) == 1 and [r.status for r in openai_double.requests] == [500, 200]


async def test_other_bad_requests_carry_the_api_message(openai_double: OpenAIDouble, generator: Generator) -> None:
    openai_double.fail_next("bad_request", message=f"Invalid size for this account.\nKey {TEST_KEY} was used.")
    with pytest.raises(GenerationError) as caught:
        await generator.generate(sheet(), "p", OPTIONS)
    assert type(caught.value) is GenerationError
    assert (
        caught.value.user_message == "OpenAI refused the request: Invalid size for this account. Key *** was used."
    )
    assert len(openai_double.requests) == 1


async def test_slow_answer_times_out(openai_double: OpenAIDouble, settings_for: Callable[..., Settings]) -> None:
    generator = Generator(settings_for(openai_double, timeout_s=0.5), backoff_s=0.0)
    openai_double.fail_next("slow", delay=5.0)
    try:
        with pytest.raises(GenerationTimeout, match=r"did not answer within 0\.5 s"):
            await generator.generate(sheet(), "p", OPTIONS)
    finally:
        await generator.aclose()


async def test_unreachable_api_is_service_unavailable(settings_for: Callable[..., Settings]) -> None:
    async with OpenAIDouble() as api:
        settings = settings_for(api)
    generator = Generator(settings, backoff_s=0.0)  # the double is closed: connection refused
    try:
        with pytest.raises(ServiceUnavailable, match="could not be reached"):
            await generator.generate(sheet(), "p", OPTIONS)
    finally:
        await generator.aclose()


# ---------------------------------------------------------------- helpers and start-up cost


def test_helpers() -> None:
    assert safety_categories("... safety_violations=[sexual, violence].") == ("sexual", "violence")
    assert safety_categories("no list here") == ()
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({}) is None
    assert sanitize_api_message("use sk-proj-abcdefgh123 now", None) == "use sk-*** now"
    assert sanitize_api_message("key hunter2-long-secret", Redactor(["hunter2-long-secret"])) == "key ***"
    assert len(sanitize_api_message("x" * 1000)) == 300


def test_importing_the_generator_does_not_import_openai() -> None:
    code = "import sys, bot.generate, bot.capabilities, bot.prompting, bot.pricing; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=".")
    assert out.stdout.strip() == "False"


_FIRST_CLIENT = """
import asyncio, sys, threading
from bot.generate import Generator
from bot.settings import Secret, Settings
importers = set()  # the threads that imported any part of the SDK
sys.addaudithook(lambda event, args: importers.add(threading.current_thread().name)
                 if event == "import" and args[0].partition(".")[0] == "openai" else None)
async def first_call():
    generator = Generator(Settings(openai_api_key=Secret("sk-unused")))
    await generator.client()
    await generator.aclose()
    return threading.current_thread().name
loop_thread = asyncio.run(first_call())
print(loop_thread in importers, len(importers))
"""


def test_the_first_client_imports_the_sdk_off_the_event_loop() -> None:
    """The SDK's import (a second, several under load) must not hold up every chat event meanwhile."""
    out = subprocess.run([sys.executable, "-c", _FIRST_CLIENT], capture_output=True, text=True, check=True, cwd=".")
    assert out.stdout.split() == ["False", "1"], out.stdout  # one thread imported it, not the loop's


async def test_rate_limit_longer_than_the_time_left_is_reported_at_once(
    openai_double: OpenAIDouble, settings_for: Callable[..., Settings]
) -> None:
    generator = Generator(settings_for(openai_double, timeout_s=2.0), backoff_s=0.0)
    openai_double.fail_next("rate_limit", retry_after=5)
    try:
        with pytest.raises(RateLimited, match="Try again in 5 s"):
            await generator.generate(sheet(), "p", OPTIONS)
    finally:
        await generator.aclose()
    assert len(openai_double.requests) == 1


async def test_default_base_url_is_passed_explicitly() -> None:
    generator = Generator(Settings(openai_api_key=Secret("sk-unused")))
    try:
        assert str(generator._openai().base_url).rstrip("/") == "https://api.openai.com/v1"
    finally:
        await generator.aclose()


async def test_an_api_error_quoting_the_configured_key_shows_it_masked(
    openai_double: OpenAIDouble, settings_for: Callable[..., Settings]
) -> None:
    key = "gw-proxy-7f3kQ9zLmN2pX"  # a gateway's key in no well-known format
    settings = replace(settings_for(openai_double), openai_api_key=Secret(key))
    openai_double.fail_next("bad_request", message=f"Gateway: key {key} has no access to gpt-image-2")
    generator = Generator(settings, backoff_s=0.0)
    try:
        with pytest.raises(GenerationError) as caught:
            await generator.generate(sheet(), "p", OPTIONS)
    finally:
        await generator.aclose()
    assert key not in caught.value.user_message
    assert "Gateway: key *** has no access" in caught.value.user_message


def test_api_messages_mask_key_formats_of_gateways_and_azure() -> None:
    message = "keys gw_live_4eC39HqLyjWDarjtT1zdp7dc and 0123456789abcdef0123456789abcdef were refused"
    assert sanitize_api_message(message) == "keys gw_live_*** and *** were refused"


async def test_the_person_is_sent_as_a_safety_identifier(
    openai_double: OpenAIDouble, settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = replace(settings_for(openai_double), data_dir=tmp_path)
    generator = Generator(settings, backoff_s=0.0)
    person = Origin("discord", "9001", "42", "1234567890")
    try:
        await generator.generate(sheet(), "p", OPTIONS, person=person)  # streamed
        await generator.generate(sheet(), "p", replace(OPTIONS, n=2), person=person)  # not streamed
    finally:
        await generator.aclose()
    sent = [r.fields["safety_identifier"] for r in openai_double.requests]
    assert sent[0] == sent[1] == safety_identifier(person, load_salt(settings))
    assert "1234567890" not in sent[0]
    assert [r.status for r in openai_double.requests] == [200, 200]


def test_the_installed_sdk_takes_safety_identifier() -> None:
    import inspect

    from openai.resources.images import AsyncImages

    assert "safety_identifier" in inspect.signature(AsyncImages.edit).parameters
