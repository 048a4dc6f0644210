from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio

from bot.service import MergeService
from bot.settings import Limits, Secret, Settings
from tests.core.chat import ChatSurface
from tests.doubles.openai_double import OpenAIDouble, openai_double  # noqa: F401 (fixture)


@pytest.fixture
def settings(tmp_path: Path, openai_double: OpenAIDouble) -> Settings:  # noqa: F811
    return Settings(
        data_dir=tmp_path / "data",
        openai_api_key=Secret("sk-test-not-a-real-key"),
        openai_base_url=openai_double.base_url,
        media_hosts=("127.0.0.1",),
        limits=Limits(job_timeout_s=10.0),
        partial_images=2,
    )


def with_limits(settings: Settings, **limits: object) -> Settings:
    return replace(settings, limits=replace(settings.limits, **limits))


@pytest_asyncio.fixture
async def service(settings: Settings) -> AsyncIterator[MergeService]:
    service = await MergeService.open(settings)
    yield service
    await service.aclose()


@pytest.fixture
def chat(service: MergeService) -> ChatSurface:
    return ChatSurface(service)
