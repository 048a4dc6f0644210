"""Every control on a result: retry, rebalance, edit prompt, use as reference, details, delete."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.controls import DELETE_CONFIRMED
from bot.model import ActionKind, Control, JobStatus, Outcome
from bot.service import MergeService
from bot.settings import Settings
from bot.views import next_reference_label
from tests.core.chat import ChatSurface, area, control, eventually
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import jpeg, png


async def merged(chat: ChatSurface) -> Outcome:
    chat.post("cat.png", png(640, 480, seed=1), text="cat")
    chat.post("room.jpg", jpeg(640, 480, seed=2), text="room")
    chat.post("light.png", png(640, 480, seed=3), text="light")
    outcome = await chat.merge("the cat in the room")
    assert outcome.ok, outcome.view.text
    return outcome


async def test_retry_makes_a_child_with_the_same_references(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    first = await merged(chat)
    second = await chat.press(control(first, ActionKind.RETRY))
    assert second.ok and second.job is not None and first.job is not None
    assert second.job.parent_id == first.job.id
    assert second.job.action == "retry"
    assert second.job.references == first.job.references
    assert len(openai_double.requests) == 2


async def test_more_b_gives_b_the_largest_panel_in_the_next_sheet(chat: ChatSurface) -> None:
    first = await merged(chat)
    boxes = first.job.sheet_boxes
    assert abs(area(boxes["A"]) - area(boxes["B"])) / area(boxes["A"]) < 0.2

    second = await chat.press(control(first, ActionKind.REBALANCE, "B"))
    assert second.ok, second.view.text
    job = second.job
    assert job is not None and job.action == "more:B"
    assert job.reference("B").weight == 1.5
    new = job.sheet_boxes
    assert area(new["B"]) > max(area(new["A"]), area(new["C"]))
    third = await chat.press(control(second, ActionKind.REBALANCE, "B"))
    assert third.job is not None
    assert area(third.job.sheet_boxes["B"]) > area(new["B"])


async def test_more_at_the_ceiling_lowers_the_others(chat: ChatSurface) -> None:
    chat.post("a.png", png(seed=1))
    chat.post("b.png", png(seed=2))
    first = await chat.merge("merge", weights={"B": 4.0})
    second = await chat.press(control(first, ActionKind.REBALANCE, "B"))
    assert second.job is not None
    assert second.job.reference("B").weight == 4.0
    assert second.job.reference("A").weight < 1.0


async def test_edit_prompt_asks_for_text_then_runs_with_it(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    first = await merged(chat)
    ask = await chat.press(control(first, ActionKind.EDIT_PROMPT))
    assert ask.needs_prompt and ask.view.text == "the cat in the room"
    assert len(openai_double.requests) == 1

    edited = await chat.press(control(first, ActionKind.EDIT_PROMPT), prompt="the cat on the sofa, at night")
    assert edited.ok and edited.job is not None
    assert edited.job.options.prompt == "the cat on the sofa, at night"
    assert openai_double.requests[-1].fields["prompt"].startswith("the cat on the sofa, at night")


async def test_use_as_reference_asks_for_the_next_prompt_before_it_spends_anything(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    first = await merged(chat)
    ask = await chat.press(control(first, ActionKind.USE_AS_REFERENCE))
    assert ask.needs_prompt and ask.view.ephemeral and ask.view.text == "the cat in the room"
    assert len(openai_double.requests) == 1, "nothing spent before the prompt is given"
    assert ask.job is not None and first.job is not None and ask.job.id == first.job.id, "no child job yet"


async def test_use_as_reference_adds_the_result_as_the_next_label(chat: ChatSurface) -> None:
    first = await merged(chat)
    second = await chat.press(control(first, ActionKind.USE_AS_REFERENCE), prompt="the cat from D on a poster")
    assert second.ok, second.view.text
    assert second.job is not None and second.job.options.prompt == "the cat from D on a poster"
    job = second.job
    assert job is not None
    assert [r.label for r in job.references] == ["A", "B", "C", "D"]
    assert job.references[-1].source == f"result of merge {first.job.id}"
    assert "D" in job.sheet_boxes
    assert len([c for c in second.view.controls if c.kind is ActionKind.REBALANCE]) == 4


async def test_details_are_private_and_complete(chat: ChatSurface) -> None:
    first = await merged(chat)
    details = await chat.press(control(first, ActionKind.DETAILS), user="someone-else")
    assert details.ok and details.view.ephemeral
    text = details.view.text
    shown = ("the cat in the room", "gpt-image-2", "auto → separate", "Tokens:", "Estimated cost: $", "(plain, medium")
    for expected in shown:
        assert expected in text


async def test_delete_by_someone_else_is_refused_then_the_requester_deletes(chat: ChatSurface) -> None:
    first = await merged(chat)
    refused = await chat.press(control(first, ActionKind.DELETE), user="mallory")
    assert not refused.ok and refused.view.ephemeral and "Only the person" in refused.view.text

    asked = await chat.press(control(first, ActionKind.DELETE), user="ana")
    assert asked.ok and not asked.deleted and asked.view.ephemeral and "cannot be undone" in asked.view.text
    assert first.job is not None
    still = await chat.service.job(first.job.id)
    assert still is not None and still.status is JobStatus.SUCCEEDED, "nothing is deleted before the answer"
    deleted = await chat.press(control(asked, ActionKind.DELETE), user="ana")
    assert deleted.deleted and deleted.job is not None and deleted.job.status is JobStatus.DELETED

    again = await chat.press(control(first, ActionKind.RETRY))
    assert not again.ok and "no longer stored" in again.view.text


async def test_a_moderator_may_delete(chat: ChatSurface) -> None:
    first = await merged(chat)
    asked = await chat.press(control(first, ActionKind.DELETE), user="mod", moderator=True)
    deleted = await chat.press(control(asked, ActionKind.DELETE), user="mod", moderator=True)
    assert deleted.deleted


async def test_requester_policy_refuses_other_people_s_presses(settings: Settings) -> None:
    service = await MergeService.open(replace(settings, control_policy="requester"))
    try:
        chat = ChatSurface(service)
        first = await merged(chat)
        refused = await chat.press(control(first, ActionKind.RETRY), user="ben")
        assert not refused.ok and refused.view.ephemeral
        assert "Only the person who asked" in refused.view.text
        allowed = await chat.press(control(first, ActionKind.RETRY), user="ana")
        assert allowed.ok
    finally:
        await service.aclose()


async def test_controls_from_another_workspace_find_nothing(chat: ChatSurface) -> None:
    first = await merged(chat)
    stranger = ChatSurface(chat.service, workspace="other-team")
    outcome = await stranger.press(control(first, ActionKind.RETRY))
    assert not outcome.ok and "no longer stored" in outcome.view.text


async def test_unknown_job_gets_a_polite_answer(chat: ChatSurface) -> None:
    first = await merged(chat)
    ghost = replace(control(first, ActionKind.RETRY), job_id="0000000000")
    outcome = await chat.press(ghost)
    assert not outcome.ok and outcome.view.ephemeral and "no longer stored" in outcome.view.text


async def test_a_merge_deleted_while_it_runs_stays_deleted(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    first = await merged(chat)
    openai_double.fail_next("slow", delay=0.5)
    running = asyncio.create_task(chat.press(control(first, ActionKind.RETRY)))
    await eventually(lambda: len(openai_double.requests) == 2)
    child_id = chat.progress[-1].job_id
    deleted = await chat.press(Control(ActionKind.DELETE, child_id, "Delete", arg=DELETE_CONFIRMED))
    assert deleted.deleted

    outcome = await running
    assert not outcome.ok and "deleted while it ran" in outcome.view.text
    stored = await chat.service.job(child_id)
    assert stored is not None and stored.status is JobStatus.DELETED


async def test_use_as_reference_names_the_next_free_letter(chat: ChatSurface) -> None:
    first = await merged(chat)
    assert first.job is not None and next_reference_label(first.job) == "D"
