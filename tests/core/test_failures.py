"""Each OpenAI failure becomes a message a person can act on; the service keeps working."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.errors import (
    AuthFailed,
    ContentBlocked,
    GenerationTimeout,
    QuotaExhausted,
    RateLimited,
    ServiceUnavailable,
    UnsupportedOption,
)
from bot.model import ActionKind, JobStatus
from bot.service import MergeService
from bot.settings import Settings
from tests.core.chat import ChatSurface
from tests.core.conftest import with_limits
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png


@pytest.mark.parametrize(
    ("failure", "knobs", "error", "words"),
    [
        ("moderation_blocked", {"categories": ("violence",)}, ContentBlocked, "violence"),
        ("rate_limit", {"retry_after": 0.01, "times": 5}, RateLimited, "rate"),
        ("insufficient_quota", {}, QuotaExhausted, "out of credit"),
        ("invalid_api_key", {}, AuthFailed, "key"),
        ("server_error", {"times": 5}, ServiceUnavailable, "OpenAI"),
    ],
)
async def test_failure_is_explained_and_the_next_merge_works(
    chat: ChatSurface,
    openai_double: OpenAIDouble,
    failure: str,
    knobs: dict[str, object],
    error: type[Exception],
    words: str,
) -> None:
    chat.post("a.png", png(seed=1))
    chat.post("b.png", png(seed=2))
    openai_double.fail_next(failure, **knobs)  # type: ignore[arg-type]
    failed = await chat.merge("merge them")

    assert not failed.ok and isinstance(failed.error, error)
    assert words.lower() in failed.view.text.lower()
    assert "sk-test" not in failed.view.text
    assert failed.job is not None and failed.job.status is JobStatus.FAILED
    assert (await chat.service.job(failed.job.id)) == failed.job

    openai_double.reset()
    assert (await chat.merge("merge them again")).ok


async def test_rate_limited_failure_offers_retry_which_works(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    chat.post("a.png", png(seed=1))
    openai_double.fail_next("rate_limit", retry_after=0.01, times=5)
    failed = await chat.merge("merge")
    retry = next(c for c in failed.view.controls if c.kind is ActionKind.RETRY)
    openai_double.reset()
    retried = await chat.press(retry)
    assert retried.ok and retried.job is not None and retried.job.parent_id == failed.job.id  # type: ignore[union-attr]


async def test_a_slow_model_times_out(settings: Settings, openai_double: OpenAIDouble) -> None:
    service = await MergeService.open(with_limits(settings, job_timeout_s=1.0))
    try:
        chat = ChatSurface(service)
        chat.post("a.png", png())
        openai_double.fail_next("slow", delay=5.0, times=5)
        failed = await chat.merge("merge")
        assert not failed.ok and isinstance(failed.error, GenerationTimeout)
    finally:
        await service.aclose()


async def test_unsupported_options_are_refused_before_any_call(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    chat.post("a.png", png())
    refused = await chat.merge("merge", input_fidelity="high")
    assert not refused.ok and isinstance(refused.error, UnsupportedOption)
    assert "input_fidelity" in refused.view.text
    refused = await chat.merge("merge", background="transparent", output_format="jpeg")
    assert not refused.ok and isinstance(refused.error, UnsupportedOption)
    refused = await chat.merge("merge", model="gpt-image-1")
    assert not refused.ok and "shut down" in refused.view.text
    assert openai_double.requests == []


async def test_no_images_says_how_to_attach_them(chat: ChatSurface) -> None:
    refused = await chat.merge("merge")
    assert not refused.ok and "Attach images" in refused.view.text


async def test_only_bad_files_names_each_of_them(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    chat.post("page.html", b"<!doctype html><html><body>Sign in</body></html>")
    chat.post("empty.png", b"")
    failed = await chat.merge("merge")
    assert not failed.ok
    assert "page.html" in failed.view.text and "empty.png" in failed.view.text
    assert openai_double.requests == []


async def test_missing_api_key_is_explained(settings: Settings) -> None:
    service = await MergeService.open(replace(settings, openai_api_key=None))
    try:
        chat = ChatSurface(service)
        chat.post("a.png", png())
        failed = await chat.merge("merge")
        assert not failed.ok and "OPENAI_API_KEY" in failed.view.text
    finally:
        await service.aclose()


@pytest.mark.parametrize(
    ("failure", "knobs"),
    [
        ("moderation_blocked", {"categories": ("violence",)}),
        ("insufficient_quota", {}),
        ("invalid_api_key", {}),
        ("rate_limit", {"retry_after": 0.01, "times": 5}),
    ],
)
async def test_every_failed_merge_keeps_retry_and_edit_prompt(
    chat: ChatSurface, openai_double: OpenAIDouble, failure: str, knobs: dict[str, object]
) -> None:
    chat.post("a.png", png(seed=1))
    openai_double.fail_next(failure, **knobs)  # type: ignore[arg-type]
    failed = await chat.merge("a knight fighting", user="ana")
    kinds = [c.kind for c in failed.view.controls]
    assert ActionKind.RETRY in kinds and ActionKind.EDIT_PROMPT in kinds
    assert "ana" in failed.view.text, "the failure names who asked"

    openai_double.reset()
    ask = await chat.press(next(c for c in failed.view.controls if c.kind is ActionKind.EDIT_PROMPT))
    assert ask.needs_prompt and ask.view.text == "a knight fighting"
    edited = await chat.press(
        next(c for c in failed.view.controls if c.kind is ActionKind.EDIT_PROMPT), prompt="a knight resting"
    )
    assert edited.ok and edited.job is not None and edited.job.parent_id == failed.job.id  # type: ignore[union-attr]


async def test_a_moderation_refusal_says_what_was_flagged_and_suggests_rewording(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    chat.post("a.png", png(seed=1))
    openai_double.fail_next("moderation_blocked", categories=("violence", "self-harm"))
    failed = await chat.merge("a knight fighting")
    assert "violence" in failed.view.text and "self-harm" in failed.view.text
    assert "Edit prompt to reword" in failed.view.text


async def test_a_refusal_before_any_job_offers_nothing_to_retry(chat: ChatSurface) -> None:
    refused = await chat.merge("merge")  # no images at all
    assert not refused.ok and refused.view.controls == ()
