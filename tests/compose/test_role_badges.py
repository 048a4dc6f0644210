"""A panel's role beside its badge ("A · subject"), so people see what the model is told."""

from __future__ import annotations

from compose import SheetInput, compose_sheet
from compose.annotate import badge_text
from compose.layout import Box
from tests.imagegen import png


def test_the_badge_carries_the_role_when_it_fits_across_the_panel() -> None:
    canvas = (2048, 2048)
    assert badge_text("A", "subject", Box(0, 0, 1000, 1000), canvas) == "A · subject"
    assert badge_text("A", "", Box(0, 0, 1000, 1000), canvas) == "A"
    assert badge_text("A", "subject · high", Box(0, 0, 120, 400), canvas) == "A"  # too narrow: the letter only


def test_a_tagged_badge_is_wider_and_the_rest_of_the_sheet_is_unchanged() -> None:
    images = [png(400, 300, seed=1), png(300, 300, seed=2)]
    plain = compose_sheet([SheetInput(images[0], "A"), SheetInput(images[1], "B")], size=(1024, 1024))
    tagged = compose_sheet([SheetInput(images[0], "A", tag="subject"), SheetInput(images[1], "B")], size=(1024, 1024))
    assert plain.boxes == tagged.boxes
    assert tagged.badge_boxes["A"].width > plain.badge_boxes["A"].width
    assert tagged.badge_boxes["B"] == plain.badge_boxes["B"]
    assert tagged.data != plain.data
