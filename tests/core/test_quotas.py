"""Quotas and the cost cap hold in bursts: admission reserves in the store, atomically.

A merge takes its place in the person's daily count and its estimated cost from the
workspace's budget in one store transaction when it is admitted; the reservation is settled
to the real cost when it finishes and given back when it fails before the API call.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot import pricing
from bot.limits import day_window
from bot.model import Usage
from bot.pricing import estimate_cost
from bot.service import MergeService
from bot.settings import Settings
from tests.core.chat import ChatSurface, eventually
from tests.core.conftest import with_limits
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png

HIGH_LANDSCAPE = {"quality": "high", "size": "1536x1024"}  # about $0.19 a merge on gpt-image-2


async def open_chat(settings: Settings) -> ChatSurface:
    chat = ChatSurface(await MergeService.open(replace(settings, sheet_side=512)))
    chat.post("a.png", png(seed=1))
    chat.post("b.png", png(seed=2))
    return chat


def spent(openai_double: OpenAIDouble, model: str = "gpt-image-2") -> float:
    """What the API calls the double answered cost, by the price table: the store is not asked."""
    total = 0.0
    for request in openai_double.requests:
        raw = openai_double.usage_for(request)
        usage = Usage(
            input_tokens=raw["input_tokens"],
            input_text_tokens=raw["input_tokens_details"]["text_tokens"],
            input_image_tokens=raw["input_tokens_details"]["image_tokens"],
            output_tokens=raw["output_tokens"],
        )
        total += estimate_cost(model, usage) or 0.0
    return total


async def test_a_burst_of_40_merges_never_spends_past_the_budget(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    budget = 2.0
    chat = await open_chat(
        with_limits(
            settings, workspace_daily_cost_usd=budget, per_user_concurrency=40, per_user_daily=100, global_concurrency=8
        )
    )
    try:
        outcomes = await asyncio.gather(
            *(chat.merge(f"burst {i}", user=f"user{i % 8}", **HIGH_LANDSCAPE) for i in range(40))
        )
        ran = [o for o in outcomes if o.ok]
        refused = [o for o in outcomes if not o.ok]
        assert ran and refused
        assert all("daily image budget" in o.view.text for o in refused)
        assert len(openai_double.requests) == len(ran)
        assert spent(openai_double) <= budget
        since, _ = day_window()
        assert await chat.service._store.cost_since("chat", chat.workspace, since) <= budget
    finally:
        await chat.service.aclose()


async def test_ten_simultaneous_merges_of_one_person_against_a_daily_limit_of_3_run_3(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    chat = await open_chat(with_limits(settings, per_user_daily=3, per_user_concurrency=10, global_concurrency=10))
    try:
        outcomes = await asyncio.gather(*(chat.merge(f"at once {i}") for i in range(10)))
        assert sum(o.ok for o in outcomes) == 3
        assert all("3 merges for today" in o.view.text for o in outcomes if not o.ok)
        assert len(openai_double.requests) == 3
    finally:
        await chat.service.aclose()


async def test_running_merges_count_against_the_budget(settings: Settings, openai_double: OpenAIDouble) -> None:
    one = pricing.estimate_request_cost(
        "gpt-image-2", size="1536x1024", quality="high", n=1, prompt_chars=len("slow one"), input_images=1
    )
    assert one is not None
    chat = await open_chat(with_limits(settings, workspace_daily_cost_usd=one * 1.5))
    try:
        openai_double.fail_next("slow", delay=1.0)
        first = asyncio.create_task(chat.merge("slow one", **HIGH_LANDSCAPE))
        await eventually(lambda: openai_double.requests)
        refused = await chat.merge("slow two", user="ben", **HIGH_LANDSCAPE)
        assert not refused.ok and "daily image budget" in refused.view.text
        assert (await first).ok
    finally:
        await chat.service.aclose()


async def test_a_merge_that_fails_before_the_api_call_gives_its_place_back(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    chat = await open_chat(with_limits(settings, per_user_daily=1))
    try:
        images, chat.thread = chat.thread, []
        chat.post("broken.png", b"not an image at all")
        failed = await chat.merge("only a broken file")
        assert not failed.ok and failed.job is not None
        assert openai_double.requests == []
        chat.thread = images
        assert (await chat.merge("the good ones")).ok
    finally:
        await chat.service.aclose()


async def test_a_response_without_usage_is_charged_at_the_estimate(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    chat = await open_chat(settings)
    try:
        openai_double.omit_usage = True  # only non-streamed answers (n > 1) may omit it
        outcome = await chat.merge("no usage", n=2, **HIGH_LANDSCAPE)
        assert outcome.ok and outcome.job is not None
        since, _ = day_window()
        charged = await chat.service._store.cost_since("chat", chat.workspace, since)
        estimate = pricing.estimate_request_cost(
            "gpt-image-2",
            size="1536x1024",
            quality="high",
            n=2,
            prompt_chars=len("no usage"),
            input_images=len(openai_double.requests[-1].images),  # auto: each reference on its own
        )
        assert estimate is not None and charged == pytest.approx(estimate)
        assert outcome.job.usage is None
    finally:
        await chat.service.aclose()


async def test_a_finished_merge_is_settled_to_its_real_cost(settings: Settings, openai_double: OpenAIDouble) -> None:
    chat = await open_chat(settings)
    try:
        outcome = await chat.merge("settled", **HIGH_LANDSCAPE)
        assert outcome.ok
        since, _ = day_window()
        charged = await chat.service._store.cost_since("chat", chat.workspace, since)
        assert charged == pytest.approx(spent(openai_double))
    finally:
        await chat.service.aclose()


@pytest.fixture
def unpriced_mini(monkeypatch: pytest.MonkeyPatch) -> str:
    """gpt-image-1-mini as a model the price table lacks."""
    table = {k: v for k, v in pricing.DEFAULT_PRICES.items() if k != "gpt-image-1-mini"}
    monkeypatch.setattr(pricing, "DEFAULT_PRICES", table)
    return "gpt-image-1-mini"


async def test_an_unpriced_model_is_refused(
    settings: Settings, openai_double: OpenAIDouble, unpriced_mini: str
) -> None:
    chat = await open_chat(settings)
    try:
        refused = await chat.merge("mini", model=unpriced_mini)
        assert not refused.ok and refused.job is None
        assert "no price for the model gpt-image-1-mini" in refused.view.text
        assert "MERGEBOT_PRICES" in refused.view.text
        assert openai_double.requests == []
    finally:
        await chat.service.aclose()


async def test_an_unpriced_model_runs_once_the_operator_prices_it(
    settings: Settings, openai_double: OpenAIDouble, unpriced_mini: str
) -> None:
    prices = {unpriced_mini: {"input_text": 2.0, "input_image": 2.5, "output_image": 8.0}}
    chat = await open_chat(replace(settings, prices=prices))
    try:
        outcome = await chat.merge("mini", model=unpriced_mini)
        assert outcome.ok and outcome.job is not None and outcome.job.cost_usd
    finally:
        await chat.service.aclose()


async def test_an_unpriced_model_runs_when_the_operator_opted_out(
    settings: Settings, openai_double: OpenAIDouble, unpriced_mini: str
) -> None:
    chat = await open_chat(with_limits(settings, allow_unpriced_models=True))
    try:
        outcome = await chat.merge("mini", model=unpriced_mini)
        assert outcome.ok and outcome.job is not None and outcome.job.cost_usd is None
    finally:
        await chat.service.aclose()
