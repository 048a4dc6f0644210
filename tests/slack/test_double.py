"""The Slack double refuses what Slack refuses, so the scenario tests can fail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.doubles.slack_double import APP_TOKEN, BOT_TOKEN, LOGIN_PAGE, SlackDouble
from tests.imagegen import png

CHANNEL = "C0TEST"


@pytest_asyncio.fixture
async def double() -> AsyncIterator[SlackDouble]:
    async with SlackDouble(ack_window_s=0.2) as slack:
        slack.add_user("U0ANN", "ann")
        yield slack


def client(slack: SlackDouble, token: str = BOT_TOKEN) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=slack.api_url)


def button(n: int) -> dict[str, object]:
    return {"type": "button", "text": {"type": "plain_text", "text": f"b{n}"}, "action_id": f"a{n}"}


@pytest.mark.parametrize(
    ("blocks", "why"),
    [
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51, "at most 50"),
        ([{"type": "actions", "elements": [button(n) for n in range(26)]}], "25 elements"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": " "}}], "empty"),
        ([{"type": "actions", "elements": [button(1) | {"colour": "red"}]}], "unknown field"),
        ([{"type": "actions", "elements": [button(1), button(1)]}], "duplicate action_id"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "3000"),
        ([{"type": "sparkle"}], "unknown block"),
        ([{"type": "image", "slack_file": {"id": "F0NOPE"}, "alt_text": "x"}], "not an uploaded image"),
    ],
)
async def test_blocks_slack_would_refuse_are_refused(double: SlackDouble, blocks: list[Any], why: str) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client(double).chat_postMessage(channel=CHANNEL, text="t", blocks=blocks)
    assert caught.value.response["error"] == "invalid_blocks"
    assert why in double.problems[-1]
    double.problems.clear()


async def test_tokens_are_checked(double: SlackDouble) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client(double, "xoxb-wrong").auth_test()
    assert caught.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as caught:
        await client(double).apps_connections_open(app_token=BOT_TOKEN)
    assert caught.value.response["error"] == "not_allowed_token_type"
    opened = await client(double).apps_connections_open(app_token=APP_TOKEN)
    assert str(opened["url"]).startswith("ws://127.0.0.1")


async def test_files_need_the_bot_token_or_a_login_page_comes_back(double: SlackDouble) -> None:
    message = double.upload(CHANNEL, "U0ANN", ("cat.png", png()))
    history = await client(double).conversations_history(channel=CHANNEL)
    file = history["messages"][0]["files"][0]
    assert file["id"] == message["files"][0] and file["thumb_360"]
    assert "thumb_1024" not in file  # a 64 px image has no 1024 px thumbnail, as on Slack
    async with aiohttp.ClientSession() as http:
        async with http.get(file["url_private"]) as anonymous:
            assert anonymous.status == 200 and await anonymous.text() == LOGIN_PAGE
        async with http.get(file["url_private"], headers={"Authorization": f"Bearer {BOT_TOKEN}"}) as authorised:
            assert await authorised.read() == png()


async def test_files_upload_v2_lands_in_the_thread(double: SlackDouble) -> None:
    root = double.post(CHANNEL, "U0ANN", "hello")
    done = await client(double).files_upload_v2(
        channel=CHANNEL, thread_ts=root["ts"], file=png(), filename="r.png", title="Result"
    )
    assert done["file"]["title"] == "Result"
    [shared] = double.files_in(CHANNEL, root["ts"])
    assert shared.data == png() and shared.complete


async def test_an_unacknowledged_envelope_is_a_problem(double: SlackDouble) -> None:
    async with aiohttp.ClientSession() as http:
        opened = await client(double).apps_connections_open(app_token=APP_TOKEN)
        async with http.ws_connect(opened["url"]) as socket:
            hello = json.loads((await socket.receive()).data)
            assert hello["type"] == "hello"
            with pytest.raises(AssertionError, match="did not acknowledge"):
                await double.deliver("events_api", double.event_callback({"type": "app_mention"}))
    assert double.problems == ["events_api envelope not acknowledged within 0.2 s"]
    double.problems.clear()


async def test_a_channel_the_bot_is_not_in_refuses_reads_and_posts(double: SlackDouble) -> None:
    double.post(CHANNEL, "U0ANN", "hello")
    double.outside.add(CHANNEL)
    for attempt in (
        client(double).conversations_history(channel=CHANNEL),
        client(double).chat_postMessage(channel=CHANNEL, text="hi"),
        client(double).files_upload_v2(channel=CHANNEL, file=png(), filename="r.png"),
    ):
        with pytest.raises(SlackApiError) as caught:
            await attempt
        assert caught.value.response["error"] == "not_in_channel"


async def test_response_urls_take_valid_messages_only(double: SlackDouble) -> None:
    url = f"{double.base_url}/respond/1"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"text": "only you", "response_type": "ephemeral"}) as ok:
            assert ok.status == 200
        async with http.post(url, json={"text": "x", "blocks": [{"type": "sparkle"}]}) as bad:
            assert bad.status == 400
    assert double.responses == [{"url": url, "text": "only you", "response_type": "ephemeral"}]
    assert "unknown block" in double.problems[-1]
    double.problems.clear()


async def test_a_trigger_id_opens_one_modal(double: SlackDouble) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": [{"type": "divider"}]}
    trigger = double.trigger_id()
    await client(double).views_open(trigger_id=trigger, view=modal)
    for used_or_made_up in (trigger, "987654.T0MERGE.trigger"):
        with pytest.raises(SlackApiError) as caught:
            await client(double).views_open(trigger_id=used_or_made_up, view=modal)
        assert caught.value.response["error"] == "invalid_trigger_id"
