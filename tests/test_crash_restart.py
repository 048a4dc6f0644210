"""kill -9 of `mergebot run` during a generation: the next start finishes the merge by itself.

The bot runs as a real process against the Slack and OpenAI doubles of this test process;
the OpenAI double holds the first call until the process is killed. Started again, the
bot resumes the job from its stored references, edits the same status message (saying it
resumed) and posts exactly one result.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.core.chat import eventually
from tests.doubles.openai_double import OpenAIDouble
from tests.doubles.slack_double import APP_TOKEN, BOT_TOKEN, SlackDouble
from tests.imagegen import png

CHANNEL = "C0GENERAL"
STOP_WITHIN_S = 20.0

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def doubles() -> AsyncIterator[tuple[OpenAIDouble, SlackDouble]]:
    async with OpenAIDouble() as openai_api, SlackDouble() as slack_api:
        yield openai_api, slack_api
        assert slack_api.problems == []


def _environment(data_dir: Path, openai_api: OpenAIDouble, slack_api: SlackDouble) -> dict[str, str]:
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("MERGEBOT_", "SLACK_", "DISCORD_", "OPENAI_"))
    }
    return {
        **inherited,
        "MERGEBOT_DATA_DIR": str(data_dir),
        "MERGEBOT_MEDIA_HOSTS": "127.0.0.1",
        "MERGEBOT_SHEET_SIDE": "512",
        "OPENAI_API_KEY": "sk-test-not-real",
        "OPENAI_BASE_URL": openai_api.base_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack_api.api_url,
    }


async def _start(env: dict[str, str], cwd: Path, log: Path) -> asyncio.subprocess.Process:
    mergebot = Path(sys.executable).with_name("mergebot")
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            str(mergebot), "run", env=env, cwd=cwd, stdout=sink, stderr=sink, stdin=asyncio.subprocess.DEVNULL
        )


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
    await asyncio.wait_for(process.wait(), STOP_WITHIN_S)


async def test_a_merge_killed_mid_generation_finishes_after_a_restart(
    tmp_path: Path, doubles: tuple[OpenAIDouble, SlackDouble]
) -> None:
    openai_api, slack_api = doubles
    slack_api.add_user("U0ANN", "ann")
    env = _environment(tmp_path / "data", openai_api, slack_api)
    log = tmp_path / "mergebot.log"
    openai_api.fail_next("slow", delay=120.0)  # holds the first call until the process is gone

    first = await _start(env, tmp_path, log)
    try:
        await slack_api.wait_for(lambda: slack_api.calls_to("apps.connections.open"), what="the first start")
        await slack_api.connected()
        root = slack_api.upload(CHANNEL, "U0ANN", ("cat.png", png(64, 48, seed=1)), ("room.png", png(seed=2)))
        await slack_api.mention(CHANNEL, "U0ANN", "the cat in the room", thread_ts=root["ts"])
        # the call is being held once the double has read it whole and taken the "slow" knob
        await eventually(lambda: openai_api.requests and openai_api.pending_failures == 0, within=60)
    finally:
        await _stop(first)  # SIGKILL: nothing gets to write a final status
    assert first.returncode == -9
    statuses = [m for m in slack_api.bot_messages(CHANNEL, root["ts"]) if not m.get("files")]  # not the sheet
    assert len(statuses) == 1, slack_api.bot_messages(CHANNEL, root["ts"])
    status_ts = statuses[0]["ts"]
    updates_before = len(slack_api.calls_to("chat.update"))

    second = await _start(env, tmp_path, log)
    try:
        await slack_api.wait_for(
            lambda: any("Merged A, B" in m.get("text", "") for m in slack_api.bot_messages(CHANNEL, root["ts"])),
            what="the result after the restart",
            limit_s=90,
        )
        await asyncio.sleep(1.0)  # a second result, if one were coming, would arrive now
    finally:
        await _stop(second)

    results = [m for m in slack_api.bot_messages(CHANNEL, root["ts"]) if "Merged A, B" in m.get("text", "")]
    assert len(results) == 1, log.read_text()
    assert len(openai_api.requests) == 2  # the killed call and the resumed one; gathering did not re-run
    resumed_edits = [c for c in slack_api.calls_to("chat.update")[updates_before:] if c.args.get("ts") == status_ts]
    assert any("Resumed after a restart" in str(c.args.get("text")) for c in resumed_edits)
    final = slack_api.message(CHANNEL, status_ts)
    assert final is not None and "Merged A, B" in final.get("text", "")  # the status message became the result
    posted_statuses = [
        c for c in slack_api.calls_to("chat.postMessage") if "Looking for images" in str(c.args.get("text"))
    ]
    assert len(posted_statuses) == 1  # the same status message, not a new one
