"""Slack pushes back with 429s: the merge carries on, and what must land lands."""

from __future__ import annotations

from adapters.slack.commands import CANNOT_POST, NOT_POSTED
from tests.doubles.slack_double import SlackDouble
from tests.imagegen import png
from tests.slack.conftest import ANN, CHANNEL, Harness


def a_thread(slack: SlackDouble) -> str:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(64, 48, seed=1)), text="the cat")
    return str(root["ts"])


def told_ann(slack: SlackDouble) -> list[str]:
    return [str(m.get("text")) for m in slack.ephemeral if m["user"] == ANN]


async def test_a_rate_limited_first_post_is_tried_again_and_the_merge_runs(bot: Harness, slack: SlackDouble) -> None:
    thread = a_thread(slack)
    # more 429s in a row than slack_sdk's own retry handler waits out (three retries)
    slack.fail_next("chat.postMessage", status=429, retry_after=1, times=4)
    await slack.mention(CHANNEL, ANN, "the cat, twice", thread_ts=thread)

    [result] = await bot.results(thread)
    assert "Merged A" in result["text"]
    assert CANNOT_POST not in told_ann(slack), "a rate limit is not a missing invitation"
    refused = [c for c in slack.calls_to("chat.postMessage") if not c.ok]
    assert [c.error for c in refused] == ["ratelimited"] * 4


async def test_a_first_post_slack_refuses_for_another_reason_says_so_without_asking_for_an_invite(
    bot: Harness, slack: SlackDouble
) -> None:
    thread = a_thread(slack)
    slack.fail_next("chat.postMessage", error="msg_too_long")
    await slack.mention(CHANNEL, ANN, "the cat, twice", thread_ts=thread)
    await slack.wait_for(lambda: told_ann(slack), what="a private answer")
    await bot.idle()
    assert told_ann(slack) == [NOT_POSTED]
    assert bot.openai.requests == []


async def test_a_rate_limited_progress_edit_does_not_hold_up_the_merge(bot: Harness, slack: SlackDouble) -> None:
    thread = a_thread(slack)
    # The first status edit is told to wait a minute. Waiting that out inside the merge would
    # outlast the 30 s the test waits for the result; the merge goes on and the result lands.
    slack.fail_next("chat.update", status=429, retry_after=60)
    await slack.mention(CHANNEL, ANN, "the cat, twice", thread_ts=thread)

    [result] = await bot.results(thread)
    assert "Merged A" in result["text"]
    job = await bot.job_of(result)
    status = slack.message(*job.messages["status"].split(":"))
    assert status is not None and status["ts"] == result["ts"], "the status message became the result"
    updates = slack.calls_to("chat.update")
    assert updates[0].error == "ratelimited"
    assert [c.ok for c in updates[1:]] == [True], "progress waits out Retry-After; only the final edit goes"
