"""Letters never move under the person: skipped files keep theirs, captions pin them, and a
prompt that points at a letter with no usable image stops before any money is spent."""

from __future__ import annotations

import pytest

from bot.captions import display_caption, parse_caption, sheet_caption
from bot.labels import assign_labels, named_labels
from bot.model import ActionKind, ImageSource
from tests.core.chat import ChatSurface, control
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import jpeg, png


@pytest.mark.parametrize(
    ("prompt", "named"),
    [
        ("the cat from A riding the motorbike of C", ("A", "C")),
        ("A cat sits in the room of B", ("B",)),  # the article starting a sentence is no label
        ("B's hat, lit like D", ("B", "D")),
        ("put image C behind A's dog", ("C", "A")),
        ("like I said, image I is the sky", ("I",)),  # the pronoun names nothing, "image I" does
        ("mix A, B and C", ("A", "B", "C")),
        ("Plan B with vitamin C, a B-52 over the U.S.", ()),
        ("I'm making a poster", ()),
    ],
)
def test_the_letters_a_prompt_names(prompt: str, named: tuple[str, ...]) -> None:
    assert named_labels(prompt) == named


@pytest.mark.parametrize(
    ("text", "label", "rest"),
    [
        ("A: the cat", "A", "the cat"),
        ("B - the cliffs", "B", "the cliffs"),
        ("(C) the sea", "C", "the sea"),
        ("[D] logo", "D", "logo"),
        ("E", "E", ""),
        ("A cat on a mat", None, "A cat on a mat"),
        ("B-52 bomber", None, "B-52 bomber"),
        ("OK: looks good", None, "OK: looks good"),
    ],
)
def test_a_caption_prefix_pins_a_label(text: str, label: str | None, rest: str) -> None:
    prefix = parse_caption(text)
    assert (prefix.label, prefix.text) == (label, rest)


def test_captions_are_the_text_or_the_file_name_and_say_1_of_3() -> None:
    assert display_caption("the cliffs", "cliffs.jpg") == "the cliffs"
    assert display_caption("", "IMG_0042.jpg") == "IMG_0042.jpg"
    assert display_caption("three cats", "c.png", 2, 3) == "three cats (2 of 3)"
    assert sheet_caption("Ana", "the cliffs (1 of 3)") == "Ana: the cliffs (1 of 3)"
    assert sheet_caption("", "IMG_0042.jpg") == "IMG_0042.jpg"


def test_a_pinned_message_takes_its_letter_and_the_next_images_follow() -> None:
    def source(name: str, text: str = "", message: str = "") -> ImageSource:
        return ImageSource(name=name, data=b"x", caption=text, message_id=message or name)

    labeled, notes = assign_labels(
        [
            source("cliffs.jpg", "B: the cliffs"),
            source("sea.jpg"),
            source("cat.png", "A: the cat"),
            source("dog1.png", "(B) dogs", "m4"),
            source("dog2.png", "(B) dogs", "m4"),
        ]
    )
    assert [(item.label, item.source.name) for item in labeled] == [
        ("B", "cliffs.jpg"),
        ("C", "sea.jpg"),
        ("A", "cat.png"),
        ("D", "dog1.png"),
        ("E", "dog2.png"),
    ]
    assert [item.caption for item in labeled] == ["the cliffs", "sea.jpg", "the cat", "dogs (1 of 2)", "dogs (2 of 2)"]
    assert notes == ("Two messages claim B: it stays with the first; dog1.png is D.",)


async def test_a_skipped_file_keeps_its_letter_and_the_reply_names_it(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    chat.post("coffee.png", png(seed=1), text="the coffee")
    chat.post("holiday.jpg", jpeg(seed=2)[:200], text="the beach")
    chat.post("motorbike.png", png(seed=3), text="the motorbike")

    outcome = await chat.merge("the coffee from A on the motorbike of C")

    assert outcome.ok, outcome.view.text
    assert outcome.job is not None
    assert [(r.label, r.source) for r in outcome.job.references] == [("A", "coffee.png"), ("C", "motorbike.png")]
    assert "Skipped B (holiday.jpg): damaged or truncated JPEG file" in outcome.view.text
    sent = openai_double.requests[-1].fields["prompt"]
    assert "ana: the coffee" not in sent, "the legend names the caption, not the author"
    assert "Image 1 (A): a reference. Caption: “the coffee”." in sent
    assert "Image 2 (C): a reference. Caption: “the motorbike”." in sent


async def test_a_prompt_naming_a_skipped_letter_stops_before_any_call_and_offers_two_ways_on(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    chat.post("cat.png", png(seed=1), text="the cat")
    chat.post("coffee.png", png(seed=2), text="the coffee")
    chat.post("bike.jpg", b"<html>login</html>", text="the motorbike")

    stopped = await chat.merge("the cat from A riding the motorbike of C")

    assert not stopped.ok
    assert openai_double.requests == [], "no money spent on a prompt that points at nothing"
    assert stopped.view.text.startswith("Your prompt names C, but C (bike.jpg) could not be used: the file is a text")
    assert "Nothing was sent to the image model" in stopped.view.text
    assert [c.label for c in stopped.view.controls] == ["Merge anyway", "Edit prompt"]

    anyway = await chat.press(control(stopped, ActionKind.MERGE_ANYWAY))
    assert anyway.ok, anyway.view.text
    assert anyway.job is not None and anyway.job.action == "anyway"
    assert [r.label for r in anyway.job.references] == ["A", "B"]
    assert len(openai_double.requests) == 1

    retried = await chat.press(control(anyway, ActionKind.RETRY))
    assert retried.ok, "a retry of a merge run anyway is not stopped again"


async def test_edit_prompt_on_a_stopped_merge_checks_the_new_text(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    chat.post("cat.png", png(seed=1))
    chat.post("room.png", png(seed=2))

    stopped = await chat.merge("the cat from A in the room from D")
    assert not stopped.ok and "there is no D here (this merge has A and B)" in stopped.view.text

    edit = control(stopped, ActionKind.EDIT_PROMPT)
    asked = await chat.press(edit)
    assert asked.needs_prompt and asked.view.text == "the cat from A in the room from D"
    still = await chat.press(edit, prompt="the cat from A on E")
    assert not still.ok and "Your prompt names E" in still.view.text
    fixed = await chat.press(edit, prompt="the cat from A in the room from B")
    assert fixed.ok, fixed.view.text
    assert len(openai_double.requests) == 1


async def test_a_caption_pin_keeps_its_letter_when_merging_from_a_later_message(chat: ChatSurface) -> None:
    chat.post("cliffs.jpg", jpeg(seed=1), text="B: the cliffs")
    chat.post("sea.png", png(seed=2), text="the sea")

    outcome = await chat.merge("the cliffs from B under the sea of C")

    assert outcome.ok, outcome.view.text
    assert outcome.job is not None
    assert [(r.label, r.caption) for r in outcome.job.references] == [("B", "the cliffs"), ("C", "the sea")]
    assert [c.label for c in outcome.view.controls if c.kind is ActionKind.REBALANCE] == ["More B", "More C"]


async def test_one_message_with_three_images_says_1_of_3(chat: ChatSurface) -> None:
    for index in range(3):
        chat.post(f"cat{index}.png", png(seed=index), author="bo", text="three cats", message="m1")
    chat.post("IMG_0042.jpg", jpeg(seed=9), author="ana")

    outcome = await chat.merge("one cat")

    assert outcome.job is not None
    assert [(r.label, r.author, r.caption) for r in outcome.job.references] == [
        ("A", "bo", "three cats (1 of 3)"),
        ("B", "bo", "three cats (2 of 3)"),
        ("C", "bo", "three cats (3 of 3)"),
        ("D", "ana", "IMG_0042.jpg"),
    ]


async def test_use_as_reference_after_a_skip_takes_a_new_letter(chat: ChatSurface) -> None:
    chat.post("cat.png", png(seed=1))
    chat.post("broken.png", png(seed=2)[:50])
    chat.post("room.png", png(seed=3))
    first = await chat.merge("merge")
    assert first.job is not None and [r.label for r in first.job.references] == ["A", "C"]

    asked = await chat.press(control(first, ActionKind.USE_AS_REFERENCE))
    assert asked.needs_prompt and asked.view.text == "merge"
    used = await chat.press(control(first, ActionKind.USE_AS_REFERENCE), prompt="merge with D")

    assert used.ok, used.view.text
    assert used.job is not None and [r.label for r in used.job.references] == ["A", "C", "D"]


def test_a_letter_the_conversation_already_gave_is_kept() -> None:
    labeled, _ = assign_labels(
        [
            ImageSource(name="cliffs.jpg", data=b"x", label="B", caption="A: not this letter"),
            ImageSource(name="sea.jpg", data=b"x", label="C"),
            ImageSource(name="new.jpg", data=b"x"),
        ]
    )
    assert [item.label for item in labeled] == ["B", "C", "D"]
