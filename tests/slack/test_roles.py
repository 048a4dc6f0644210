"""Roles on Slack: the shortcut modal's roles field, the Roles modal on a result (Block Kit
selects), a caption's role word, and the default sending each reference as its own image."""

from __future__ import annotations

from adapters.slack.commands import SHORTCUT_ID
from adapters.slack.controls import ROLES_MODAL_ID
from bot.model import Role, Strength
from tests.doubles.slack_double import SlackDouble
from tests.imagegen import jpeg, png

from .conftest import ANN, BOB, CHANNEL, Harness, control_id


def three_images(slack: SlackDouble, lamp_text: str = "lit like this") -> str:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(64, 48, seed=1)), text="the cat")
    thread = str(root["ts"])
    slack.upload(CHANNEL, BOB, ("room.jpg", jpeg(80, 60, seed=2)), text="this room", thread_ts=thread)
    slack.upload(CHANNEL, ANN, ("lamp.png", png(40, 40, seed=3)), text=lamp_text, thread_ts=thread)
    return thread


def legend(bot: Harness) -> list[str]:
    return bot.openai.requests[-1].fields["prompt"].split("\n\n", 1)[1].splitlines()


async def open_modal(slack: SlackDouble, callback_id: str) -> str:
    def found() -> str | None:
        return next((v for v, view in slack.views.items() if view["callback_id"] == callback_id), None)

    view_id: str = await slack.wait_for(found, what=f"the {callback_id} modal")
    return view_id


async def test_a_mention_sends_each_reference_as_its_own_image(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "the cat from A in the room from B", thread_ts=thread)
    await bot.results(thread)
    request = bot.openai.requests[-1]
    assert request.image_field == "image[]" and len(request.files) == 3
    assert [line.split(":")[0] for line in legend(bot)] == ["Image 1 (A)", "Image 2 (B)", "Image 3 (C)"]


async def test_roles_typed_in_the_shortcut_modal_reach_the_legend(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.shortcut(CHANNEL, thread, BOB, SHORTCUT_ID)
    view_id = await open_modal(slack, "mb_merge_modal")
    await slack.submit(view_id, BOB, {"prompt": "the cat in the room", "roles": "A=subject:high C=style B=scene"})
    [result] = await bot.results(thread)

    lines = legend(bot)
    assert lines[0].startswith("Image 1 (A, subject, high): keep this subject's identity exactly")
    assert lines[1].startswith("Image 2 (B, scene)")
    assert lines[2].startswith("Image 3 (C, style only)")
    job = await bot.job_of(result)
    assert [r.role for r in job.references] == [Role.SUBJECT, Role.SCENE, Role.STYLE]


async def test_bad_roles_in_the_shortcut_modal_are_refused_in_the_modal(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.shortcut(CHANNEL, thread, BOB, SHORTCUT_ID)
    view_id = await open_modal(slack, "mb_merge_modal")
    ack = await slack.submit(view_id, BOB, {"prompt": "x", "roles": "A=hero"})
    assert ack.payload is not None and ack.payload["response_action"] == "errors"
    assert "“hero” for A is neither a role nor a strength" in ack.payload["errors"]["roles"]
    await bot.idle()
    assert bot.openai.requests == []


async def test_a_style_caption_gives_its_image_the_style_role(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack, lamp_text="#style lit like this")
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    await bot.results(thread)
    assert legend(bot)[2].startswith("Image 3 (C, style only): take its medium")
    assert legend(bot)[2].endswith("Caption: “lit like this”.")


async def test_the_roles_modal_changes_the_next_requests_legend(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [first] = await bot.results(thread)
    parent = await bot.job_of(first)

    await slack.press(CHANNEL, first["ts"], ANN, control_id(first, "mb:roles:"))
    view_id = await open_modal(slack, ROLES_MODAL_ID)
    modal = slack.views[view_id]
    selects = {b["block_id"]: b["element"]["initial_option"]["value"] for b in modal["blocks"]}
    assert selects == {
        "reset": "keep",
        "role-A": "none",
        "strength-A": "medium",
        "role-B": "none",
        "strength-B": "medium",
        "role-C": "none",
        "strength-C": "medium",
    }

    await slack.submit(view_id, ANN, {"role-A": "subject", "strength-A": "max", "role-B": "off", "role-C": "style"})
    second = (await bot.results(thread, 2))[-1]
    child = await bot.job_of(second)
    assert (child.parent_id, child.action) == (parent.id, "roles")
    assert [(r.role, r.strength) for r in child.references] == [
        (Role.SUBJECT, Strength.MAX),
        (Role.OFF, Strength.MEDIUM),
        (Role.STYLE, Strength.MEDIUM),
    ]
    lines = legend(bot)
    assert lines[0].startswith("Image 1 (A, subject, max)") and lines[1].startswith("Image 2 (C, style only)")
    assert len(lines) == 2 and len(bot.openai.requests[-1].files) == 2

    slack.views.clear()
    await slack.press(CHANNEL, second["ts"], ANN, control_id(second, "mb:roles:"))
    view_id = await open_modal(slack, ROLES_MODAL_ID)
    assert {b["block_id"]: b["element"]["initial_option"]["value"] for b in slack.views[view_id]["blocks"]}[
        "role-B"
    ] == "off"
    await slack.submit(view_id, ANN, {"reset": "reset"})
    third = (await bot.results(thread, 3))[-1]
    assert {(r.role, r.weight) for r in (await bot.job_of(third)).references} == {(Role.NONE, 1.0)}
    assert len(bot.openai.requests[-1].files) == 3
