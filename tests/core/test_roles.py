"""Roles and strengths from the request, captions and the Roles control, through to the request the model gets."""

from __future__ import annotations

from dataclasses import replace

from bot.model import ActionKind, Mode, Role, Strength
from bot.service import MergeService
from bot.settings import Settings
from tests.core.chat import ChatSurface, control
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import jpeg, png


def three_images(chat: ChatSurface, style_caption: str = "this lighting") -> None:
    chat.post("cat.png", png(640, 480, seed=1), author="ana", text="my cat")
    chat.post("room.jpg", jpeg(800, 600, seed=2), author="ben", text="the living room")
    chat.post("style.jpg", jpeg(300, 600, seed=3), author="cy", text=style_caption)


def legend_lines(openai_double: OpenAIDouble) -> list[str]:
    prompt = openai_double.requests[-1].fields["prompt"]
    return prompt.split("\n\n", 1)[1].splitlines()


async def test_the_default_sends_every_reference_as_its_own_image_with_the_legend(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    three_images(chat)
    outcome = await chat.merge("the cat from A in the room from B, lit like C")

    assert outcome.ok, outcome.view.text
    request = openai_double.requests[-1]
    assert request.image_field == "image[]"
    assert [f.filename for f in request.files] == ["A.jpg", "B.jpg", "C.jpg"]
    assert request.fields["prompt"].startswith("the cat from A in the room from B, lit like C\n\n")
    assert legend_lines(openai_double) == [
        "Image 1 (A): a reference. Caption: “my cat”.",
        "Image 2 (B): a reference. Caption: “the living room”.",
        "Image 3 (C): a reference. Caption: “this lighting”.",
    ]
    assert outcome.job is not None and outcome.job.sheet_digest  # the sheet is still built for people


async def test_roles_in_the_request_order_the_images_and_shape_the_legend(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    three_images(chat)
    outcome = await chat.merge("merge", roles={"C": Role.SUBJECT, "B": Role.SCENE}, weights={"C": 2.0, "A": 0.5})

    assert outcome.ok, outcome.view.text
    assert [f.filename for f in openai_double.requests[-1].files] == ["C.jpg", "B.jpg", "A.jpg"]
    lines = legend_lines(openai_double)
    assert lines[0].startswith("Image 1 (C, subject, high): keep this subject's identity exactly")
    assert lines[1].startswith("Image 2 (B, scene): use its setting")
    assert lines[2].startswith("Image 3 (A, low): a reference; a light touch")
    job = outcome.job
    assert job is not None and [r.role for r in job.references] == [Role.NONE, Role.SCENE, Role.SUBJECT]
    assert "A (low), B (scene), C (subject · high)" in outcome.view.text
    assert await chat.service.job(job.id) == job  # roles survive the store


async def test_a_caption_starting_with_a_role_word_gives_its_images_that_role(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    three_images(chat, style_caption="style: this lighting")
    outcome = await chat.merge("merge")

    assert outcome.ok, outcome.view.text
    assert outcome.job is not None
    style = outcome.job.references[2]
    assert (style.role, style.caption) == (Role.STYLE, "this lighting")
    assert legend_lines(openai_double)[2].startswith("Image 3 (C, style only): take its medium")


async def test_an_unknown_label_in_the_roles_is_a_clear_refusal(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    three_images(chat)
    outcome = await chat.merge("merge", roles={"E": Role.STYLE})

    assert not outcome.ok
    assert "There is no reference E in this merge (it has A, B, C)" in outcome.view.text
    assert openai_double.requests == []


async def test_the_roles_control_changes_the_next_requests_legend_and_keeps_lineage(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    three_images(chat)
    first = await chat.merge("merge", roles={"A": Role.SUBJECT})
    roles = control(first, ActionKind.ROLES)

    form = await chat.press(roles)
    assert form.needs_roles and form.view.ephemeral
    assert form.view.text == "A=subject:medium B=none:medium C=none:medium"

    second = await chat.press(roles, roles="A=subject:max B=off C=style:low")
    assert second.ok, second.view.text
    assert second.job is not None and first.job is not None
    assert (second.job.parent_id, second.job.action) == (first.job.id, "roles")
    request = openai_double.requests[-1]
    assert [f.filename for f in request.files] == ["A.jpg", "C.jpg"]  # B is off
    lines = legend_lines(openai_double)
    assert lines[0].startswith("Image 1 (A, subject, max)")
    assert lines[1].startswith("Image 2 (C, style only, low)")
    assert not any("(B" in line for line in lines)
    assert "More B" not in [c.label for c in second.view.controls]

    retried = await chat.press(control(second, ActionKind.RETRY))  # Retry keeps the roles
    assert retried.job is not None
    assert [(r.role, r.strength) for r in retried.job.references] == [
        (Role.SUBJECT, Strength.MAX),
        (Role.OFF, Strength.MEDIUM),
        (Role.STYLE, Strength.LOW),
    ]
    more = await chat.press(control(retried, ActionKind.REBALANCE, "C"))  # More C: low becomes medium
    assert more.job is not None and more.job.references[2].role is Role.STYLE
    assert more.job.references[2].strength is Strength.MEDIUM

    reset = await chat.press(control(more, ActionKind.ROLES), roles="reset")
    assert reset.job is not None
    assert {(r.role, r.weight) for r in reset.job.references} == {(Role.NONE, 1.0)}
    assert len(openai_double.requests[-1].files) == 3


async def test_a_bad_roles_form_is_explained_and_nothing_runs(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    three_images(chat)
    first = await chat.merge("merge")
    sent = len(openai_double.requests)
    for text, expected in (
        ("A=hero", "“hero” for A is neither a role nor a strength"),
        ("subject", "I can't read “subject” as a role"),
        ("Q=style", "There is no reference Q"),
        ("A=off B=off C=off", "keep at least one"),
    ):
        outcome = await chat.press(control(first, ActionKind.ROLES), roles=text)
        assert not outcome.ok and expected in outcome.view.text, outcome.view.text
    assert len(openai_double.requests) == sent


async def test_use_as_reference_and_edit_prompt_keep_the_roles(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    three_images(chat)
    first = await chat.merge("merge", roles={"B": Role.SCENE})
    edited = await chat.press(control(first, ActionKind.EDIT_PROMPT), prompt="again")
    used = await chat.press(control(first, ActionKind.USE_AS_REFERENCE), prompt="with the result too")
    for outcome in (edited, used):
        assert outcome.job is not None and outcome.job.references[1].role is Role.SCENE
    assert used.job is not None and used.job.references[3].role is Role.NONE


async def test_details_say_the_mode_used_and_the_roles(chat: ChatSurface) -> None:
    three_images(chat)
    first = await chat.merge("merge", roles={"A": Role.SUBJECT}, weights={"A": 4.0})
    text = (await chat.press(control(first, ActionKind.DETAILS))).view.text
    assert "mode auto → separate, 3 images" in text
    assert "A (subject, max, my cat); B (plain, medium, the living room)" in text


async def test_auto_falls_back_to_the_sheet_for_a_one_image_model_and_says_so(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    service = await MergeService.open(replace(settings, model="gpt-image-2.6-flare"))
    try:
        chat = ChatSurface(service)
        three_images(chat)
        outcome = await chat.merge("merge", model="gpt-image-2.6-flare")
        assert outcome.ok, outcome.view.text
        request = openai_double.requests[-1]
        assert [f.filename for f in request.files] == ["reference-sheet.jpg"]
        assert legend_lines(openai_double)[0].startswith("Image 1 is a reference sheet")
        details = (await chat.press(control(outcome, ActionKind.DETAILS))).view.text
        assert "mode auto → collage, 1 image (gpt-image-2.6-flare takes one image" in details
    finally:
        await service.aclose()


async def test_hybrid_sends_the_sheet_first_then_each_reference(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    three_images(chat)
    outcome = await chat.merge("merge", mode=Mode.HYBRID, roles={"B": Role.SUBJECT})
    assert outcome.ok, outcome.view.text
    assert [f.filename for f in openai_double.requests[-1].files] == ["reference-sheet.jpg", "B.jpg", "A.jpg", "C.jpg"]
    lines = legend_lines(openai_double)
    assert lines[0].startswith("Image 1 is a reference sheet showing every reference")
    assert lines[1].startswith("Image 2 (B, subject)")


async def test_a_strong_subject_asks_for_high_input_fidelity_only_where_the_model_takes_it(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    three_images(chat)
    strong = {"roles": {"A": Role.SUBJECT}, "weights": {"A": 2.0}}
    await chat.merge("merge", model="gpt-image-1.5", **strong)  # type: ignore[arg-type]
    assert openai_double.requests[-1].fields["input_fidelity"] == "high"
    await chat.merge("merge", model="gpt-image-1.5", roles={"A": Role.SUBJECT})  # medium: not asked
    assert "input_fidelity" not in openai_double.requests[-1].fields
    for model in ("gpt-image-2", "gpt-image-1-mini"):
        outcome = await chat.merge("merge", model=model, **strong)  # type: ignore[arg-type]
        assert outcome.ok, outcome.view.text
        assert "input_fidelity" not in openai_double.requests[-1].fields
