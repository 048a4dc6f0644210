"""Roles on Discord: the /merge roles: option, a caption's role word, and the Roles… form on a result."""

from __future__ import annotations

from bot.model import Role, Strength
from tests.discord.conftest import RunningBot, World
from tests.discord.session import result_of, settled, thread_with_images
from tests.doubles.discord_double import DiscordDouble, button_labels
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png


def legend(openai_api: OpenAIDouble) -> list[str]:
    return openai_api.requests[-1].fields["prompt"].split("\n\n", 1)[1].splitlines()


async def test_the_default_sends_each_reference_as_its_own_image(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 3)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "a poster"})
    await result_of(discord_api, interaction)

    request = openai_api.requests[-1]
    assert request.image_field == "image[]" and len(request.files) == 3
    assert [line.split(":")[0] for line in legend(openai_api)] == ["Image 1 (A)", "Image 2 (B)", "Image 3 (C)"]


async def test_roles_in_merge_reach_the_legend_and_the_result(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 3)
    interaction = await discord_api.slash_command(
        thread, world.alice, "merge", {"prompt": "a poster", "roles": "B=subject:high c=style"}
    )
    result = await result_of(discord_api, interaction)

    lines = legend(openai_api)
    assert lines[0].startswith("Image 1 (B, subject, high): keep this subject's identity exactly")
    assert lines[1].startswith("Image 2 (A)")  # the rest by strength, then by label
    assert lines[2].startswith("Image 3 (C, style only): take its medium")
    assert "B (subject · high), C (style)" in result["content"]


async def test_bad_roles_in_merge_get_a_clear_reply_and_nothing_runs(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    bad = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "x", "roles": "A=hero"})
    answer = await settled(discord_api, bad)
    assert "“hero” for A is neither a role nor a strength" in answer["content"]
    assert "A=subject C=style:high B=off" in answer["content"]
    unknown = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "x", "roles": "E=style"})
    answer = await settled(discord_api, unknown)
    assert "There is no reference E in this merge (it has A, B)" in answer["content"]
    masked = await discord_api.slash_command(
        thread, world.alice, "merge", {"prompt": "x", "roles": "A=[verify](https://evil.example)"}
    )
    answer = await settled(discord_api, masked)
    assert "verify" in answer["content"] and "[verify](https://evil.example)" not in answer["content"]
    assert openai_api.requests == []


async def test_a_style_caption_gives_its_image_the_style_role(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    await discord_api.post_message(thread, world.alice, "style: like this one", files=[("s.png", png(64, 64, seed=9))])
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "a poster"})
    await result_of(discord_api, interaction)

    assert legend(openai_api)[2] == (
        "Image 3 (C, style only): take its medium, palette, lighting and brushwork; do not copy what it shows. "
        "Caption: “like this one”."
    )


async def test_the_roles_form_changes_the_next_requests_legend(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 3)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "a poster"})
    result = await result_of(discord_api, interaction)

    press = await discord_api.press(result, world.alice, button_labels(result)["Roles…"])
    await discord_api.wait_for(lambda: press.modal is not None)
    assert press.response_types == [9]
    assert "A=none:medium B=none:medium C=none:medium" in str(press.modal), "pre-filled with the current roles"

    submitted = await discord_api.submit_modal(press, world.alice, {"roles": "A=subject:max B=off C=style:low"})
    second = await result_of(discord_api, submitted)

    lines = legend(openai_api)
    assert lines[0].startswith("Image 1 (A, subject, max)")
    assert lines[1].startswith("Image 2 (C, style only, low)")
    assert len(lines) == 2 and len(openai_api.requests[-1].files) == 2
    assert "roles changed" in second["content"]
    assert bot.service is not None
    child = await bot.service.job(button_labels(second)["Retry"].split(":")[2])
    assert child is not None
    assert [(r.role, r.strength) for r in child.references] == [
        (Role.SUBJECT, Strength.MAX),
        (Role.OFF, Strength.MEDIUM),
        (Role.STYLE, Strength.LOW),
    ]


async def test_a_bad_roles_form_is_explained_privately(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "a poster"})
    result = await result_of(discord_api, interaction)
    sent = len(openai_api.requests)

    press = await discord_api.press(result, world.alice, button_labels(result)["Roles…"])
    await discord_api.wait_for(lambda: press.modal is not None)
    submitted = await discord_api.submit_modal(press, world.alice, {"roles": "Q=style"})
    answer = await settled(discord_api, submitted)
    assert "There is no reference Q" in answer["content"]
    assert len(openai_api.requests) == sent
