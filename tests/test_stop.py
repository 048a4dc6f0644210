"""`mergebot run` as a real process: SIGTERM keeps the answers that arrive, start-up refusals are one line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest
import pytest_asyncio

from tests.doubles.discord_double import DiscordDouble
from tests.doubles.openai_double import OpenAIDouble
from tests.doubles.slack_double import APP_TOKEN, BOT_TOKEN, SlackDouble
from tests.imagegen import png

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "C0GENERAL"
IDLE_STOP_LIMIT_S = 2.0  # the bound: an idle bot stops in under 2 s (Docker's grace is 10 s)


class Bot:
    """One ``python -m bot.cli run`` process with its environment and its stderr."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def stop(self, limit_s: float = 40.0) -> tuple[int, str, float]:
        """SIGTERM; the exit code, what it wrote to stderr, and how long it took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(self.process.communicate(), limit_s)
        return int(self.process.returncode or 0), err.decode(), time.monotonic() - started


def bot_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MERGEBOT_", "SLACK_", "OPENAI_"))}
    env.update(
        MERGEBOT_DATA_DIR=str(data_dir),
        MERGEBOT_LISTEN_HOST="127.0.0.1",
        MERGEBOT_MEDIA_HOSTS="127.0.0.1",
        MERGEBOT_SHEET_SIDE="512",
        OPENAI_API_KEY="sk-test-not-real",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


async def start_bot(env: Mapping[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        env=dict(env),
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest_asyncio.fixture
async def doubles() -> AsyncIterator[tuple[OpenAIDouble, SlackDouble]]:
    async with OpenAIDouble() as openai_api, SlackDouble() as slack_api:
        slack_api.add_user("U0ANN", "ann")
        slack_api.add_user("U0BOB", "bob")
        yield openai_api, slack_api


@pytest_asyncio.fixture
async def socket_bot(tmp_path: Path, doubles: tuple[OpenAIDouble, SlackDouble]) -> AsyncIterator[Bot]:
    openai_api, slack_api = doubles
    env = bot_env(
        tmp_path / "data",
        OPENAI_BASE_URL=openai_api.base_url,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=slack_api.api_url,
        MERGEBOT_CONCURRENCY="1",
    )
    process = await start_bot(env, tmp_path)
    bot = Bot(process)
    try:
        await slack_api.connected()
        yield bot
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def texts(slack_api: SlackDouble, thread_ts: str) -> list[str]:
    return [str(m.get("text", "")) for m in slack_api.bot_messages(CHANNEL, thread_ts)]


async def test_sigterm_mid_generation_keeps_the_answer_and_tells_who_waits(
    socket_bot: Bot, doubles: tuple[OpenAIDouble, SlackDouble]
) -> None:
    openai_api, slack_api = doubles
    openai_api.fail_next("slow", delay=3.0)  # the generation is under way when the stop comes
    first = slack_api.upload(CHANNEL, "U0ANN", ("cat.png", png(64, 48, seed=1)), text="the cat")["ts"]
    second = slack_api.upload(CHANNEL, "U0BOB", ("dog.png", png(64, 48, seed=2)), text="the dog")["ts"]
    await slack_api.mention(CHANNEL, "U0ANN", "the cat, twice", thread_ts=first)
    await slack_api.wait_for(lambda: openai_api.requests, what="the first generation to start")
    await slack_api.mention(CHANNEL, "U0BOB", "the dog, twice", thread_ts=second)
    await slack_api.wait_for(
        lambda: any("in line" in t or "next" in t for t in texts(slack_api, second)), what="Bob's merge to queue"
    )

    code, err, _ = await socket_bot.stop()

    assert code == 0, err
    assert any("Merged A" in t for t in texts(slack_api, first)), "Ann's answer arrived and was posted"
    assert any("restarting before this merge's turn came" in t for t in texts(slack_api, second)), texts(
        slack_api, second
    )
    assert len(openai_api.requests) == 1, "Bob's merge never reached the API"
    assert "Traceback" not in err


async def test_an_idle_bot_stops_at_once(socket_bot: Bot) -> None:
    code, err, took = await socket_bot.stop()
    assert code == 0, err
    assert took < IDLE_STOP_LIMIT_S, f"an idle bot took {took:.1f} s to stop"


async def test_an_idle_bot_in_http_mode_stops_at_once(
    tmp_path: Path, doubles: tuple[OpenAIDouble, SlackDouble]
) -> None:
    openai_api, slack_api = doubles
    env = bot_env(
        tmp_path / "data",
        OPENAI_BASE_URL=openai_api.base_url,
        SLACK_SIGNING_SECRET="test-double-signing-secret",
        SLACK_API_URL=slack_api.api_url,
        SLACK_PORT=str(free_port()),
    )
    bot = Bot(await start_bot(env, tmp_path))
    await slack_api.wait_for(lambda: slack_api.calls_to("auth.test"), what="the bot to start")
    await asyncio.sleep(0.5)  # past auth.test: the listener is up
    code, err, took = await bot.stop()
    assert code == 0, err
    assert took < IDLE_STOP_LIMIT_S, f"an idle bot took {took:.1f} s to stop"


async def test_an_idle_discord_bot_stops_at_once(tmp_path: Path) -> None:
    async with OpenAIDouble() as openai_api, DiscordDouble() as discord_api:
        discord_api.add_guild("Studio")
        env = bot_env(
            tmp_path / "data",
            OPENAI_BASE_URL=openai_api.base_url,
            DISCORD_TOKEN=discord_api.token,
            DISCORD_API_BASE_URL=discord_api.base_url,
            DISCORD_GATEWAY_URL=discord_api.gateway_url,
        )
        del env["SLACK_BOT_TOKEN"]  # Discord alone
        bot = Bot(await start_bot(env, tmp_path))
        try:
            await discord_api.wait_for(lambda: discord_api.connected, within=30)
            code, err, took = await bot.stop()
        finally:
            if bot.process.returncode is None:
                bot.process.kill()
                await bot.process.wait()
    assert code == 0, err
    assert took < IDLE_STOP_LIMIT_S, f"an idle Discord bot took {took:.1f} s to stop"


async def test_a_bot_that_ran_a_merge_stops_at_once_once_idle(
    socket_bot: Bot, doubles: tuple[OpenAIDouble, SlackDouble]
) -> None:
    _, slack_api = doubles
    root = slack_api.upload(CHANNEL, "U0ANN", ("cat.png", png(640, 480, seed=3)), text="the cat")["ts"]
    await slack_api.mention(CHANNEL, "U0ANN", "the cat from A, calmer", thread_ts=root)
    await slack_api.wait_for(lambda: any("Merged A" in t for t in texts(slack_api, root)), what="the result")
    await asyncio.sleep(0.5)  # idle

    code, err, took = await socket_bot.stop()

    assert code == 0, err
    assert took < IDLE_STOP_LIMIT_S, f"a bot that ran a merge took {took:.1f} s to stop once idle"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def read_only(data_dir: Path) -> Iterator[None]:
    """Make ``data_dir`` refuse writes, even to root (immutable), for the duration."""
    data_dir.mkdir(parents=True)
    if os.geteuid() != 0:
        data_dir.chmod(0o555)
        yield
        data_dir.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(data_dir)], check=False).returncode:
        pytest.skip("running as root without chattr: no way to make a directory read-only here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(data_dir)], check=True)


async def test_a_read_only_data_dir_is_refused_in_one_line_with_exit_2(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = bot_env(data_dir, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL="http://127.0.0.1:9/api/")
    with read_only(data_dir):
        process = await start_bot(env, tmp_path)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 2
    assert lines == [f"mergebot: MERGEBOT_DATA_DIR ({data_dir}) cannot be used: it is read-only or not writable."]


async def test_a_second_bot_on_the_same_data_dir_is_refused_in_one_line(
    socket_bot: Bot, tmp_path: Path, doubles: tuple[OpenAIDouble, SlackDouble]
) -> None:
    _, slack_api = doubles
    env = bot_env(tmp_path / "data", SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=slack_api.api_url)
    second = await start_bot(env, tmp_path)
    _, err = await asyncio.wait_for(second.communicate(), 30)
    lines = err.decode().strip().splitlines()
    assert second.returncode == 2, lines
    assert len(lines) == 1 and lines[0].startswith("mergebot: "), lines


