"""Caption text handling and badge sizing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.annotate import ELLIPSIS, badge_box, badge_side, clean_caption, fit_text
from compose.fonts import font, is_cjk, runs, text_width
from compose.layout import Box


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
    [(Box(0, 0, 60, 40), 22), (Box(0, 0, 1000, 800), 100)],
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
