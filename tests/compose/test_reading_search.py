"""benchmarks.reading_search, the wider search the layout benchmark compares the layouter with."""

from __future__ import annotations

from benchmarks.reading_search import best_in_order_cover
from compose.layout import Item, arrange

PANORAMA, TALL, PHOTO, PORTRAIT, SQUARE, WIDE = 4.0, 1 / 3, 4 / 3, 3 / 4, 1.0, 16 / 9


def test_three_in_a_row_cover_a_canvas_of_their_shape() -> None:
    cover, count = best_in_order_cover([Item(PHOTO)] * 3)
    assert cover == 1.0 and count >= 2


def test_two_pictures_read_in_order_only_side_by_side_or_stacked_a_first() -> None:
    cover, count = best_in_order_cover([Item(PANORAMA), Item(TALL)])
    assert count == 2  # B right of A, or B under A; never B first
    assert 0.44 <= cover <= 0.46


def test_the_layouter_misses_no_better_reading_order_layout_of_a_hard_mix() -> None:
    """bench_layout's "6 mixed": every slicing layout in any tree order that reads in order covers no
    more than the layouter's sheet does (its growth into slack may take it a little past)."""
    placed = [Item(PHOTO), Item(PANORAMA, 2.0), Item(TALL), Item(SQUARE), Item(PORTRAIT), Item(WIDE)]
    best, _count = best_in_order_cover(placed)
    assert arrange(placed, (2048, 2048), fit_aspect=True).fill_ratio >= best - 0.005
