"""Fixtures for the generation tests: the OpenAI double and a settings factory pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from bot.generate import Generator
from bot.settings import Limits, Secret, Settings
from tests.doubles.openai_double import OpenAIDouble, openai_double

__all__ = ["openai_double"]

TEST_KEY = "sk-test-SECRETVALUE1234"


@pytest.fixture
def settings_for() -> Callable[..., Settings]:
    def make(api: OpenAIDouble, *, timeout_s: float = 30.0, partial_images: int = 2) -> Settings:
        return Settings(
            openai_api_key=Secret(TEST_KEY),
            openai_base_url=api.base_url,
            partial_images=partial_images,
            limits=Limits(job_timeout_s=timeout_s),
        )

    return make


@pytest_asyncio.fixture
async def generator(openai_double: OpenAIDouble, settings_for: Callable[..., Settings]) -> AsyncIterator[Generator]:
    gen = Generator(settings_for(openai_double), backoff_s=0.0)
    yield gen
    await gen.aclose()
