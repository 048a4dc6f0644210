"""Which mode a merge really uses, what it sends and in what order, and input_fidelity."""

from __future__ import annotations

import pytest

from bot.capabilities import wanted_input_fidelity
from bot.model import STRENGTH_WEIGHTS, MergeOptions, Mode, Reference, Role, Strength
from bot.modes import choose_mode, sends_sheet_only
from compose import sheet_label


def refs(
    count: int, roles: dict[str, Role] | None = None, strengths: dict[str, Strength] | None = None
) -> list[Reference]:
    made = []
    for index in range(count):
        label = sheet_label(index)
        strength = (strengths or {}).get(label, Strength.MEDIUM)
        made.append(
            Reference(
                label=label,
                digest=f"d{label}",
                width=8,
                height=8,
                byte_size=1,
                weight=STRENGTH_WEIGHTS[strength],
                role=(roles or {}).get(label, Role.NONE),
            )
        )
    return made


def labels(references: tuple[Reference, ...]) -> list[str]:
    return [ref.label for ref in references]


def test_auto_sends_each_reference_within_the_limit_subjects_first() -> None:
    choice = choose_mode(Mode.AUTO, "gpt-image-2", refs(4, {"C": Role.SUBJECT}, {"B": Strength.HIGH}))
    assert choice.mode is Mode.SEPARATE and choice.note == ""
    assert labels(choice.sent) == ["C", "B", "A", "D"]
    assert choice.image_count == 4 and choice.summary() == "auto → separate, 4 images"


def test_auto_at_the_limit_still_sends_every_image() -> None:
    choice = choose_mode(Mode.AUTO, "gpt-image-2", refs(16))
    assert choice.mode is Mode.SEPARATE and choice.image_count == 16


def test_auto_falls_back_to_the_collage_past_the_models_limit_and_says_why() -> None:
    choice = choose_mode(Mode.AUTO, "gpt-image-2", refs(17))
    assert choice.mode is Mode.COLLAGE and choice.image_count == 1
    assert labels(choice.sent) == [sheet_label(i) for i in range(17)]
    assert choice.note == "17 references are more than the 16 images gpt-image-2 takes, so they went as one sheet"
    assert choice.summary() == "auto → collage, 1 image"


def test_references_that_are_off_do_not_count_against_the_limit() -> None:
    choice = choose_mode(Mode.AUTO, "gpt-image-2", refs(17, {"A": Role.OFF}))
    assert choice.mode is Mode.SEPARATE and "A" not in labels(choice.sent) and choice.image_count == 16
    assert "A" not in labels(choice.panels)


@pytest.mark.parametrize("mode", [Mode.AUTO, Mode.HYBRID])
def test_a_one_image_model_gets_the_sheet(mode: Mode) -> None:
    choice = choose_mode(mode, "gpt-image-2.6-sunburst", refs(3))
    assert choice.mode is Mode.COLLAGE and choice.image_count == 1
    assert choice.note == "gpt-image-2.6-sunburst takes one image, so the references went as one labeled sheet"


def test_explicit_modes_are_kept() -> None:
    assert choose_mode(Mode.COLLAGE, "gpt-image-2", refs(3)).image_count == 1
    separate = choose_mode(Mode.SEPARATE, "gpt-image-2", refs(20))
    assert separate.mode is Mode.SEPARATE and separate.image_count == 20  # check_request refuses it, by name
    assert choose_mode(Mode.SEPARATE, "gpt-image-2", refs(2)).summary() == "separate, 2 images"


def test_hybrid_sends_the_sheet_then_what_fits_and_keeps_the_rest_on_the_sheet() -> None:
    small = choose_mode(Mode.HYBRID, "gpt-image-2", refs(3, {"C": Role.SUBJECT}))
    assert labels(small.sent) == ["C", "A", "B"] and small.image_count == 4 and small.note == ""
    big = choose_mode(Mode.HYBRID, "gpt-image-2", refs(18, {"R": Role.SUBJECT}))
    assert big.image_count == 16 and labels(big.sent)[0] == "R" and len(big.sent) == 15
    assert labels(big.sheet_only) == ["O", "P", "Q"]
    assert labels(big.panels) == [sheet_label(i) for i in range(18)]
    assert big.note == "gpt-image-2 takes 16 images: the sheet and 15 references; O, P, Q only on the sheet"


@pytest.mark.parametrize(
    ("model", "role", "strength", "expected"),
    [
        ("gpt-image-1.5", Role.SUBJECT, Strength.HIGH, "high"),
        ("gpt-image-1.5", Role.SUBJECT, Strength.MAX, "high"),
        ("gpt-image-1.5", Role.SUBJECT, Strength.MEDIUM, None),
        ("gpt-image-1.5", Role.STYLE, Strength.MAX, None),
        ("gpt-image-1-mini", Role.SUBJECT, Strength.MAX, None),  # takes only "low"
        ("gpt-image-2", Role.SUBJECT, Strength.MAX, None),  # refuses the parameter
        ("gpt-image-2.5-flare", Role.SUBJECT, Strength.MAX, None),
    ],
)
def test_input_fidelity_for_a_strong_subject(model: str, role: Role, strength: Strength, expected: str | None) -> None:
    options = MergeOptions(prompt="p", model=model)
    assert wanted_input_fidelity(options, refs(2, {"B": role}, {"B": strength})) == expected


def test_a_persons_own_input_fidelity_wins() -> None:
    options = MergeOptions(prompt="p", model="gpt-image-1.5", input_fidelity="low")
    assert wanted_input_fidelity(options, refs(1, {"A": Role.SUBJECT}, {"A": Strength.MAX})) == "low"


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-2.6-flare"])
@pytest.mark.parametrize("mode", list(Mode))
def test_sheet_only_is_known_before_gathering_as_choose_mode_decides_it(mode: Mode, model: str) -> None:
    """Gathering keeps the files as they came only when the sheet alone will be sent."""
    for count in (1, 2, 16, 17, 24):
        chosen = choose_mode(mode, model, refs(count)).mode
        assert sends_sheet_only(mode, model, count) == (chosen is Mode.COLLAGE), (mode, model, count)
