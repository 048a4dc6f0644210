"""How events arrive and how Slack's failures are survived: HTTP mode with signatures,
repeated deliveries, rate limits and Web API errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.slack import serve
from adapters.slack.commands import help_text
from adapters.slack.render import UPLOAD_FAILED
from bot.errors import ConfigError
from bot.service import MergeService
from bot.settings import Secret
from tests.doubles.slack_double import SlackDouble, sign
from tests.imagegen import png

from .conftest import ANN, BOB, CHANNEL, Harness


def thread_with_two_images(slack: SlackDouble) -> str:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)))
    slack.upload(CHANNEL, BOB, ("room.png", png(seed=2)), thread_ts=str(root["ts"]))
    return str(root["ts"])


async def post_event(url: str, body: str, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers={"Content-Type": "application/json", **headers}) as response,
    ):
        return response.status


@pytest.fixture
async def http_bot(harness_factory: Callable[[], Harness]) -> AsyncIterator[Harness]:
    harness = harness_factory()
    harness.http_mode()
    await harness.start()
    yield harness
    await harness.stop()


async def test_http_mode_accepts_a_signed_event(http_bot: Harness, slack: SlackDouble) -> None:
    thread = thread_with_two_images(slack)
    body = json.dumps(slack.mention_event(CHANNEL, ANN, "merge over http", thread_ts=thread))
    assert await post_event(http_bot.events_url, body, sign(body)) == 200
    [result] = await http_bot.results(thread)
    assert (await http_bot.job_of(result)).options.prompt == "merge over http"
    assert slack.connections == 0


async def test_http_mode_refuses_a_bad_signature(http_bot: Harness, slack: SlackDouble) -> None:
    thread = thread_with_two_images(slack)
    body = json.dumps(slack.mention_event(CHANNEL, ANN, "forged", thread_ts=thread))
    assert await post_event(http_bot.events_url, body, sign(body, secret="not-the-secret")) == 401
    stale = sign(body, timestamp=1_600_000_000)  # right secret, replayed from long ago
    assert await post_event(http_bot.events_url, body, stale) == 401
    await http_bot.idle()
    assert [c.method for c in slack.calls] == ["auth.test"]
    assert http_bot.openai.requests == []


async def test_http_mode_answers_the_url_verification_challenge(http_bot: Harness) -> None:
    body = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"})
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            http_bot.events_url, data=body, headers={"Content-Type": "application/json", **sign(body)}
        ) as response,
    ):
        assert response.status == 200
        assert (await response.json())["challenge"] == "c-123"


async def test_a_redelivered_http_event_makes_one_job(http_bot: Harness, slack: SlackDouble) -> None:
    thread = thread_with_two_images(slack)
    body = json.dumps(slack.mention_event(CHANNEL, ANN, "once", thread_ts=thread))
    assert await post_event(http_bot.events_url, body, sign(body)) == 200
    retry_headers = {**sign(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert await post_event(http_bot.events_url, body, retry_headers) == 200
    await http_bot.results(thread)
    await http_bot.idle()
    assert len(http_bot.openai.requests) == 1
    assert len([m for m in slack.bot_messages(CHANNEL, thread) if "Merged" in m.get("text", "")]) == 1


async def test_a_redelivered_socket_mode_event_makes_one_job(bot: Harness, slack: SlackDouble) -> None:
    thread = thread_with_two_images(slack)
    body = slack.mention_event(CHANNEL, ANN, "once", thread_ts=thread)
    await slack.deliver("events_api", body)
    await slack.deliver("events_api", body, retry_attempt=1)
    await bot.results(thread)
    await bot.idle()
    assert len(bot.openai.requests) == 1


async def test_rate_limits_and_server_errors_are_retried(bot: Harness, slack: SlackDouble) -> None:
    thread = thread_with_two_images(slack)
    slack.fail_next("chat.postMessage", status=429, retry_after=0)
    slack.fail_next("conversations.replies", status=503, error="service_unavailable")
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    await bot.results(thread)
    assert [c.error for c in slack.calls_to("chat.postMessage")[:2]] == ["ratelimited", None]
    assert [c.error for c in slack.calls_to("conversations.replies")] == ["service_unavailable", None]


async def test_web_api_errors_never_stop_the_bot(bot: Harness, slack: SlackDouble) -> None:
    thread = thread_with_two_images(slack)
    slack.fail_next("chat.update", error="message_not_found", times=100)
    slack.fail_next("files.completeUploadExternal", error="invalid_arguments", times=100)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [result] = await bot.results(thread)
    assert UPLOAD_FAILED.strip() in result["text"]

    slack.clear_failures()
    await slack.mention(CHANNEL, ANN, "again", thread_ts=thread)
    results = await bot.results(thread, 2)
    assert UPLOAD_FAILED.strip() not in results[-1]["text"]


async def test_a_refused_bot_token_stops_the_start_with_a_reason(harness_factory: Callable[[], Harness]) -> None:
    settings = replace(harness_factory().settings, slack_bot_token=Secret("xoxb-wrong"))
    service = await MergeService.open(settings)
    try:
        with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
            await serve(settings, service)
    finally:
        await service.aclose()


async def test_a_refused_app_token_stops_the_start_with_a_reason(harness_factory: Callable[[], Harness]) -> None:
    settings = replace(harness_factory().settings, slack_app_token=Secret("xapp-wrong"))
    service = await MergeService.open(settings)
    try:
        with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
            await serve(settings, service)
    finally:
        await service.aclose()


async def test_nothing_is_generated_where_the_bot_cannot_post(bot: Harness, slack: SlackDouble) -> None:
    thread = thread_with_two_images(slack)
    slack.fail_next("chat.postMessage", error="not_in_channel")
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    await slack.wait_for(lambda: slack.calls_to("chat.postMessage"), what="the attempt to post")
    await bot.idle()
    assert bot.openai.requests == []
    assert slack.calls_to("conversations.replies") == []


async def test_http_mode_answers_slash_commands(http_bot: Harness, slack: SlackDouble) -> None:
    form = urlencode(
        {
            "command": "/merge",
            "text": "help",
            "team_id": "T0MERGE",
            "channel_id": CHANNEL,
            "user_id": ANN,
            "trigger_id": "1.T0MERGE.trigger",
            "response_url": slack.base_url + "/r",
        }
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            http_bot.events_url,
            data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded", **sign(form)},
        ) as response,
    ):
        assert response.status == 200
        assert (await response.json())["text"] == help_text({})
