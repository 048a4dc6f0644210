"""A person's session on Discord: /merge with 4 variations, Pick 2, then Vary 3."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from bot.controls import decode
from tests.discord.conftest import RunningBot, World
from tests.discord.session import original, thread_with_images
from tests.doubles.discord_double import DiscordDouble, Interaction, button_labels
from tests.doubles.openai_double import OpenAIDouble


async def shown_with(discord_api: DiscordDouble, interaction: Interaction, label: str) -> dict[str, Any]:
    """The status message of ``interaction`` once it shows a picture and the button ``label``."""

    def ready() -> dict[str, Any] | None:
        message = original(discord_api, interaction)
        return message if message and message["attachments"] and label in button_labels(message) else None

    found: dict[str, Any] = await discord_api.wait_for(ready)
    return found


def job_of(message: dict[str, Any]) -> str:
    action = decode(button_labels(message)["Retry"])
    assert action is not None
    return action.job_id


async def test_four_variations_then_pick_2_then_vary_3(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    interaction = await discord_api.slash_command(
        thread, world.alice, "merge", {"prompt": "a poster", "variations": 4, "quality": "low"}
    )
    grid = await shown_with(discord_api, interaction, "Pick 4")

    assert len(openai_api.requests) == 1 and openai_api.requests[0].params["n"] == 4
    labels = button_labels(grid)
    assert [f"Pick {n}" in labels and f"Vary {n}" in labels for n in range(1, 5)] == [True] * 4
    rows = [[c.get("label") for c in row["components"]] for row in grid["components"]]
    assert ["Pick 1", "Pick 2", "Pick 3", "Pick 4"] in rows and ["Vary 1", "Vary 2", "Vary 3", "Vary 4"] in rows
    assert "4 variations" in grid["content"]
    assert bot.service is not None
    parent = await bot.service.job(job_of(grid))
    assert parent is not None and len(parent.result_digests) == 4
    pictures = await bot.service.result_images(parent)

    pick = await discord_api.press(grid, world.alice, labels["Pick 2"])
    picked = await shown_with(discord_api, pick, "More B")
    assert len(openai_api.requests) == 1, "Pick makes no API call"
    assert "variation 2" in picked["content"]
    assert {"Retry", "More A", "More B", "Edit prompt", "Use as reference", "Details", "Delete"} <= set(
        button_labels(picked)
    )
    child = await bot.service.job(job_of(picked))
    assert child is not None and child.action == "pick:2" and child.parent_id == parent.id
    assert child.cost_usd == 0.0 and child.result_digests == (parent.result_digests[1],)
    posted = discord_api.attachment_bytes(picked["attachments"][0])
    with Image.open(io.BytesIO(posted)) as shown, Image.open(io.BytesIO(pictures[1])) as stored:
        assert shown.size == stored.size

    vary = await discord_api.press(grid, world.alice, labels["Vary 3"])
    varied = await shown_with(discord_api, vary, "Pick 4")
    assert len(openai_api.requests) == 2 and openai_api.requests[1].params["n"] == 4
    assert str(openai_api.requests[1].images[0].filename).startswith("C.")
    again = await bot.service.job(job_of(varied))
    assert again is not None and again.action == "vary:3" and again.options.lead == "C"
    assert "variation 3" in again.references[-1].source
