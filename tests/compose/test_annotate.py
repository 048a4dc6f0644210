"""Caption text handling and badge sizing."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from compose.annotate import (
    CAPTION_SHRINK,
    ELLIPSIS,
    badge_box,
    badge_side,
    caption_band,
    caption_size,
    clean_caption,
    fit_caption,
    fit_text,
)
from compose.fonts import drawable, font, has_glyph, is_cjk, runs, text_width
from compose.layout import Box, Item, arrange, sheet_label


def test_clean_caption_keeps_one_displayable_line() -> None:
    assert clean_caption("  two\nlines\r\n\tand\x00 nul\x1b ") == "two lines and nul"
    assert clean_caption("bad \ud800 surrogate") == "bad ? surrogate"
    assert clean_caption("e\u0301") == "é"  # NFC
    assert len(clean_caption("y" * 10_000)) == 200


@settings(max_examples=80, deadline=None)
@given(text=st.text(min_size=0, max_size=120), width=st.integers(min_value=0, max_value=600))
def test_fit_text_never_exceeds_the_width_and_marks_cuts(text: str, width: int) -> None:
    line = clean_caption(text)
    shown = fit_text(line, 16, width)
    assert text_width(shown, 16) <= width or shown == ""
    if shown != line:
        assert shown == "" or shown.endswith(ELLIPSIS)


def test_fit_text_cuts_with_an_ellipsis() -> None:
    shown = fit_text("a rather long caption about a cat", 20, 150)
    assert shown.endswith(ELLIPSIS)
    assert "a rather long caption about a cat".startswith(shown[:-1])
    assert fit_text("short", 20, 500) == "short"


def test_cjk_runs_use_the_cjk_font() -> None:
    assert is_cjk("漢") and is_cjk("か") and is_cjk("한") and not is_cjk("a") and not is_cjk("ש")
    assert runs("abc漢字def") == [("abc", False), ("漢字", True), ("def", False)]
    # The shipped fonts carry real glyphs: CJK text is not drawn as the zero-width or box fallback.
    assert font(20, cjk=True).getbbox("漢")[2] > 10
    assert font(20).getlength("A") > 5


@pytest.mark.parametrize(
    ("panel", "minimum"),
    [(Box(0, 0, 60, 40), 33), (Box(0, 0, 1000, 800), 100)],
)
def test_badge_scales_with_the_panel_above_a_floor(panel: Box, minimum: int) -> None:
    assert badge_side(panel, (1024, 1024)) >= minimum
    box = badge_box("A", panel, (1024, 1024))
    assert box.height == badge_side(panel, (1024, 1024))
    assert box.width >= box.height


def test_long_labels_widen_the_badge() -> None:
    panel = Box(100, 100, 500, 400)
    assert badge_box("AB", panel, (1024, 1024)).width > badge_box("A", panel, (1024, 1024)).width


def test_badge_stays_on_the_canvas_for_a_panel_in_the_corner() -> None:
    box = badge_box("W", Box(1010, 1010, 1024, 1024), (1024, 1024))
    assert box.inside(1024, 1024)


def test_panels_of_equal_area_get_equal_badges_whatever_their_shape() -> None:
    """Equal weights look equal: a wide panel's badge is not smaller than a square one's of the same area."""
    canvas = (2048, 2048)
    square, wide = Box(0, 0, 600, 600), Box(0, 0, 1039, 346)
    assert abs(badge_side(square, canvas) - badge_side(wide, canvas)) <= 1
    assert badge_side(Box(0, 0, 1200, 1200), canvas) > badge_side(square, canvas)


@settings(max_examples=60, deadline=None)
@given(
    shapes=st.lists(
        st.tuples(
            st.floats(min_value=math.log(0.25), max_value=math.log(4.0)).map(math.exp),
            st.sampled_from([0.25, 4.0, 1.0]),
        ),
        min_size=1,
        max_size=24,
    ),
    canvas=st.sampled_from([(1024, 1024), (1536, 1024), (1024, 1536), (2048, 2048), (512, 512)]),
)
@example(  # found by the search: the last panel, 112x32, lies against the bottom edge
    shapes=[
        (1.0, 0.25), *[(1.0, 4.0)] * 7, (math.exp(0.5), 4.0), (1.0, 0.25), *[(1.0, 4.0)] * 2, (math.exp(1.25), 0.25)
    ],
    canvas=(1024, 1024),
)
def test_badges_keep_their_floor_and_never_collide(shapes: list[tuple[float, float]], canvas: tuple[int, int]) -> None:
    """Tiny panels next to huge ones (weights 0.25 and 4): every badge keeps the readable floor, starts in
    its own panel, stays on the sheet and leaves every other badge whole."""
    panels = arrange([Item(aspect, weight) for aspect, weight in shapes], canvas).boxes
    floor = round(math.sqrt(canvas[0] * canvas[1]) * 0.032)
    badges: list[Box] = []
    for index, panel in enumerate(panels):
        badges.append(badge_box(sheet_label(index), panel, canvas, taken=badges))
    for panel, badge in zip(panels, badges, strict=True):
        # A panel that starts within the floor of the sheet's bottom edge (a low panorama of weight 0.25
        # among weights of 4, its share 15 % under) is lower than the floor: its badge is as tall as it.
        assert badge.height >= floor or (panel.y0 > canvas[1] - floor and badge.y1 == canvas[1]), (panel, badge)
        assert badge.inside(*canvas)
        assert panel.x0 <= badge.x0 < panel.x1 and panel.y0 <= badge.y0 < panel.y1, (panel, badge)
    for first, second in itertools.combinations(badges, 2):
        assert not first.overlaps(second), (first, second)


def test_caption_shrinks_a_little_to_read_to_its_end() -> None:
    text = "launch in the background, dusk light"
    full = text_width(text, 30)
    size, shown = fit_caption(text, 30, full * 0.9)
    assert shown == text and size < 30
    assert text_width(shown, size) <= full * 0.9
    assert fit_caption(text, 30, full + 1) == (30, text)


def test_caption_too_long_even_smaller_is_cut_at_the_smallest_size() -> None:
    size, shown = fit_caption("word " * 40, 30, 300)
    assert size == round(30 * CAPTION_SHRINK)
    assert shown.endswith(ELLIPSIS) and text_width(shown, size) <= 300


def test_thumbnail_panels_get_no_caption_band() -> None:
    canvas = (1024, 1024)
    assert caption_band(Box(0, 0, 76, 57), canvas) is None
    band = caption_band(Box(0, 0, 400, 300), canvas)
    assert band is not None
    assert band.y1 == 300 and band.width == 400
    assert 4 * band.height <= 300
    assert caption_size(Box(0, 0, 400, 300), canvas) >= 12


def test_characters_no_font_has_are_left_out_not_drawn_as_boxes() -> None:
    assert drawable("🐈\u200d⬛ cat 👩🏽\u200d🚀 emoji") == "cat emoji"
    assert drawable("🎉🎉") == ""
    # What the shipped fonts do have stays, joiners inside a word included.
    kept = "漢字 한글 שלום مرحبا Ωμέγα Привет ★ é a\u200db"
    assert drawable(kept) == kept
    assert has_glyph("A") and has_glyph("漢") and has_glyph("\u0301")
    assert not has_glyph("\U0010fffd") and not has_glyph("🐈")


def test_panoramas_get_a_caption_too() -> None:
    """A 4:1 strip across a 2048-px sheet is low but wide: its caption shrinks to fit, it is not left off."""
    canvas = (2048, 2048)
    strip = Box(16, 16, 2032, 200)
    band = caption_band(strip, canvas)
    assert band is not None and 4 * band.height <= strip.height and band.width == strip.width
    assert caption_size(strip, canvas) >= round(2048 * 0.012)


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(min_value=8, max_value=2048),
    height=st.integers(min_value=8, max_value=2048),
    canvas=st.sampled_from([(1024, 1024), (1536, 1024), (2048, 2048), (2048, 683)]),
)
def test_every_panel_large_enough_for_a_caption_has_one(width: int, height: int, canvas: tuple[int, int]) -> None:
    """Large enough: a band at the smallest caption size fits in a quarter of its height and holds 6 letters."""
    panel = Box(0, 0, min(width, canvas[0]), min(height, canvas[1]))
    floor = max(11, round(math.sqrt(canvas[0] * canvas[1]) * 0.012))
    band = caption_band(panel, canvas)
    if 4 * round(floor * 1.6) <= panel.height and panel.width >= 6 * floor:
        assert band is not None
    if band is not None:
        assert 4 * band.height <= panel.height and band.y1 == panel.y1 and band.width == panel.width
