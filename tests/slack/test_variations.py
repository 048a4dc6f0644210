"""A person's session in a Slack thread: the merge modal with 4 variations, Pick 2, then Vary 3."""

from __future__ import annotations

from adapters.slack.commands import SHORTCUT_ID
from tests.doubles.slack_double import SlackDouble
from tests.imagegen import png

from .conftest import ANN, CHANNEL, Harness, control_ids


async def test_four_variations_then_pick_2_then_vary_3(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)), text="the cat")
    thread = str(root["ts"])
    slack.upload(CHANNEL, ANN, ("hat.png", png(seed=2)), text="the hat", thread_ts=thread)
    await slack.shortcut(CHANNEL, thread, ANN, SHORTCUT_ID)
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the merge modal")
    field = next(b for b in slack.views[view_id]["blocks"] if b["block_id"] == "variations")
    assert [o["value"] for o in field["element"]["options"]] == ["1", "2", "3", "4"]
    assert field["element"]["initial_option"]["value"] == "1"

    await slack.submit(view_id, ANN, {"prompt": "the cat wearing the hat", "variations": "4", "quality": "low"})
    [grid] = await bot.results(thread)
    parent = await bot.job_of(grid)
    assert len(bot.openai.requests) == 1 and bot.openai.requests[0].params["n"] == 4
    assert len(parent.result_digests) == 4
    rows = {b["block_id"]: [e["action_id"] for e in b["elements"]] for b in grid["blocks"] if b["type"] == "actions"}
    assert rows["mb-pick"] == [f"mb:pick:{parent.id}:{n}" for n in range(1, 5)]
    assert rows["mb-vary"] == [f"mb:vary:{parent.id}:{n}" for n in range(1, 5)]
    assert "4 variations" in grid["text"]

    await slack.press(CHANNEL, grid["ts"], ANN, f"mb:pick:{parent.id}:2")
    picked = (await bot.results(thread, 2))[-1]
    child = await bot.job_of(picked)
    assert len(bot.openai.requests) == 1, "Pick makes no API call"
    assert child.action == "pick:2" and child.parent_id == parent.id and child.cost_usd == 0.0
    assert child.result_digests == (parent.result_digests[1],)
    assert f"mb:more:{child.id}:B" in control_ids(picked) and f"mb:use:{child.id}" in control_ids(picked)
    assert "variation 2" in picked["text"]

    await slack.press(CHANNEL, grid["ts"], ANN, f"mb:vary:{parent.id}:3")
    varied = (await bot.results(thread, 3))[-1]
    again = await bot.job_of(varied)
    assert len(bot.openai.requests) == 2 and bot.openai.requests[1].params["n"] == 4
    assert str(bot.openai.requests[1].images[0].filename).startswith("C.")
    assert again.action == "vary:3" and again.options.lead == "C" and len(again.result_digests) == 4
