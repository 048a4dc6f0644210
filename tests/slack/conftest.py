"""A Slack workspace (the double), OpenAI (the double) and the real adapter on a real core service."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters.slack import serve
from adapters.slack.context import SlackContext
from bot.model import Job
from bot.service import MergeService
from bot.settings import Secret, Settings
from tests.doubles.openai_double import OpenAIDouble
from tests.doubles.slack_double import APP_TOKEN, BOT_TOKEN, BOT_USER_ID, SIGNING_SECRET, SlackDouble

CHANNEL = "C0GENERAL"
ANN = "U0ANN"  # asks for merges
BOB = "U0BOB"  # another member
ADA = "U0ADA"  # a workspace admin


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Harness:
    """The bot under test: a real MergeService and the Slack adapter, restartable on the same data dir."""

    def __init__(self, slack: SlackDouble, openai: OpenAIDouble, data_dir: Path) -> None:
        self.slack = slack
        self.openai = openai
        self.settings = Settings(
            data_dir=data_dir,
            openai_api_key=Secret("sk-test-not-real"),
            openai_base_url=openai.base_url,
            media_hosts=("127.0.0.1",),
            slack_bot_token=Secret(BOT_TOKEN),
            slack_app_token=Secret(APP_TOKEN),
            slack_api_url=slack.api_url,
            sheet_side=512,
        )
        self.service: MergeService | None = None
        self.ctx: SlackContext | None = None
        self._task: asyncio.Task[None] | None = None

    def http_mode(self) -> None:
        """Serve HTTP deliveries on a free local port instead of connecting with Socket Mode."""
        self.settings = replace(
            self.settings,
            slack_app_token=None,
            slack_signing_secret=Secret(SIGNING_SECRET),
            slack_port=free_port(),
            listen_host="127.0.0.1",
        )

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.slack_port}/slack/events"

    async def start(self) -> None:
        self.service = await MergeService.open(self.settings)
        ready = asyncio.Event()

        def started(ctx: SlackContext) -> None:
            self.ctx = ctx
            ready.set()

        self._task = asyncio.create_task(serve(self.settings, self.service, started=started))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            waiter.cancel()
            await self._task  # raises why the adapter did not start
        if self.settings.slack_app_token is not None:
            await self.slack.connected()
        else:
            await _wait_listening(self.settings.slack_port)

    async def stop(self) -> None:
        if self._task is not None:
            if self.ctx is not None:
                await self.ctx.background.idle()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.service is not None:
            await self.service.aclose()
            self.service = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def idle(self) -> None:
        assert self.ctx is not None
        await self.ctx.background.idle()

    async def job_of(self, message: dict[str, Any]) -> Job:
        assert self.service is not None
        job = await self.service.job_for_message("slack", f"{message['channel']}:{message['ts']}")
        assert job is not None, "no job recorded for that message"
        return job

    async def results(self, thread_ts: str, count: int = 1) -> list[dict[str, Any]]:
        """Wait for ``count`` result messages (the ones carrying a Retry button) in a thread."""
        found = await self.slack.wait_for(
            lambda: (
                len(matches := [m for m in self.slack.bot_messages(CHANNEL, thread_ts) if _has_retry(m)]) >= count
                and matches
            ),
            what=f"{count} result message(s)",
        )
        await self.idle()
        return list(found)

    async def status_text(self, thread_ts: str, contains: str) -> str:
        """Wait for a bot message in the thread whose text contains ``contains``."""
        message = await self.slack.wait_for(
            lambda: next(
                (m for m in self.slack.bot_messages(CHANNEL, thread_ts) if contains in m.get("text", "")), None
            ),
            what=f"a message containing {contains!r}",
        )
        await self.idle()
        return str(message["text"])


def _has_retry(message: dict[str, Any]) -> bool:
    return any(
        str(e.get("action_id", "")).startswith("mb:retry:")
        for b in message.get("blocks", [])
        if b.get("type") == "actions"
        for e in b["elements"]
    ) and "Merged" in message.get("text", "")


def control_ids(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message.get("blocks", []) if b.get("type") == "actions" for e in b["elements"]]


def control_id(message: dict[str, Any], prefix: str) -> str:
    return next(i for i in control_ids(message) if i.startswith(prefix))


async def _wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise AssertionError(f"nothing listens on {port}")


@pytest_asyncio.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble() as double:
        double.add_user(ANN, "ann")
        double.add_user(BOB, "bob")
        double.add_user(ADA, "ada", is_admin=True)
        yield double
        assert double.problems == [], double.problems


@pytest_asyncio.fixture
async def openai() -> AsyncIterator[OpenAIDouble]:
    async with OpenAIDouble() as api:
        yield api


@pytest.fixture
def harness_factory(slack: SlackDouble, openai: OpenAIDouble, tmp_path: Path) -> Callable[[], Harness]:
    return lambda: Harness(slack, openai, tmp_path / "data")


@contextlib.asynccontextmanager
async def started_with_limits(harness_factory: Callable[[], Harness], **limits: Any) -> AsyncIterator[Harness]:
    """A harness whose limits differ from the defaults by ``limits``, started, and stopped at the end."""
    harness = harness_factory()
    harness.settings = replace(harness.settings, limits=replace(harness.settings.limits, **limits))
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


@pytest_asyncio.fixture
async def bot(harness_factory: Callable[[], Harness]) -> AsyncIterator[Harness]:
    harness = harness_factory()
    await harness.start()
    yield harness
    await harness.stop()


__all__ = ["ADA", "ANN", "BOB", "BOT_USER_ID", "CHANNEL", "Harness", "control_id", "control_ids", "started_with_limits"]
