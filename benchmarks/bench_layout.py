"""How well the sheet's layout reads and covers on hard mixes of shapes, as one command.

    python -m benchmarks.bench_layout [--exhaustive]

Prints figures, asserts nothing. For a fixed set of hard mixes (two clashing shapes, three
landscapes with the size on auto, six mixed with one weighted 2, nine mixed, 24 with tiny icons)
it arranges each on a 2048-px sheet whose aspect is free (the output size on ``auto``) and on the
fixed square, and prints:

* fill: the share of the sheet the pictures cover (auto, then the square);
* bound: ``compose.layout_bound.fill_bound``, the most ANY arrangement of the set could cover (any
  placement, any label order, no gutters, panels within 20 % of their weight's share, never more
  than twice their picture): a proof, not another layout, so a fill below it is not necessarily
  lost; 100 % means the shapes alone do not limit the cover;
* in-order search: the best cover of the layouter's whole family of reading-order layouts
  (slicing trees whose leaves read A, B, C…, a row ending in a stack) found without its pruning,
  without gutters, every panel at exactly its share and capped pictures at the size they got: how
  much of the gap to the bound the pruning and the gutters cost, and how much the reading order;
  the layouter's balancing (a panel on a critical path giving way, every share within 15 % of its
  weight's) takes the fill past it;
* wider: ``benchmarks.reading_search``, every slicing layout in ANY tree order (a right part level
  with its left part or lowered to its lowest panel) whose labels read in order, exhaustive, exact
  shares, no gutters: whether the layouter's family misses better reading-order layouts. Sets of
  up to 6 pictures, up to 9 with ``--exhaustive`` (about two minutes for the nine), "-" past that;
* weight err: the largest gap between a panel's share of the covered area and its weight's share,
  over panels not capped at twice their picture's size (the target is 20 %);
* in order: whether the labels read A, B, C… left to right and top to bottom, on both sheets;
* upscale: the largest factor any picture is shown at over its own pixel size (at most 2), and how
  many were capped (tiny icons);
* the CPU time one ``arrange`` call takes (median of 5), in ms.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.reading_search import best_in_order_cover
from compose import layout
from compose.layout import MAX_ASPECT, Arrangement, Item, arrange, clamp_weight, reads_in_order
from compose.layout_bound import fill_bound

SIDE = 2048
PANORAMA, TALL, PHOTO, PORTRAIT, SQUARE, PHONE, WIDE = 4.0, 1 / 3, 4 / 3, 3 / 4, 1.0, 9 / 16, 16 / 9
ICON = Item(SQUARE, native=(32, 32))


def photo(aspect: float, weight: float = 1.0) -> Item:
    """A phone photo's worth of pixels (12 MP) at ``aspect``: never capped on a 2048-px sheet."""
    height = round((12e6 / aspect) ** 0.5)
    return Item(aspect, weight, native=(round(height * aspect), height))


MIXES: dict[str, list[Item]] = {
    "2 clashing: 4:1 panorama, 1:3 portrait": [photo(PANORAMA), photo(TALL)],
    "3 landscapes (4:3)": [photo(PHOTO)] * 3,
    "6 mixed (panorama, tall), B weighted 2": [
        photo(PHOTO),
        photo(PANORAMA, 2.0),
        photo(TALL),
        photo(SQUARE),
        photo(PORTRAIT),
        photo(WIDE),
    ],
    "9 mixed": [photo(shape) for shape in (PORTRAIT, PHOTO, SQUARE, PHONE, WIDE, PHOTO, PANORAMA, SQUARE, TALL)],
    "24 mixed, 4 tiny icons": [
        ICON if index % 6 == 5 else photo((PORTRAIT, PHOTO, SQUARE, PHONE, WIDE)[index % 5], 1.0 + (index % 3) / 2)
        for index in range(24)
    ],
}


def worst_weight_error(items: Sequence[Item], arrangement: Arrangement) -> float:
    kept = [index for index in range(len(items)) if index not in arrangement.capped]
    if len(kept) < 2:
        return 0.0
    areas = [arrangement.boxes[index].area for index in kept]
    weights = [clamp_weight(items[index].weight) for index in kept]
    return max(
        abs((area / sum(areas)) / (weight / sum(weights)) - 1) for area, weight in zip(areas, weights, strict=True)
    )


def upscale(items: Sequence[Item], arrangement: Arrangement) -> float:
    """The largest factor by which a panel's side exceeds its picture's."""
    factors = [
        max(box.width / item.native[0], box.height / item.native[1])
        for box, item in zip(arrangement.boxes, items, strict=True)
        if item.native is not None
    ]
    return max(factors, default=0.0)


def in_order_search(items: Sequence[Item], arrangement: Arrangement) -> float:
    """The best tight cover of any layout in the layouter's reading-order family (see the docstring).

    Capped pictures count at the share of the covered area they got in ``arrangement``; the others
    at their weights' share of the rest.
    """
    covered = sum(box.area for box in arrangement.boxes)
    capped_area = sum(arrangement.boxes[index].area for index in arrangement.capped)
    free_weight = sum(clamp_weight(item.weight) for index, item in enumerate(items) if index not in arrangement.capped)
    weights = [
        arrangement.boxes[index].area / max(1, covered - capped_area) * free_weight
        if index in arrangement.capped
        else clamp_weight(item.weight)
        for index, item in enumerate(items)
    ]
    units = layout._targets(items, weights)
    kept = layout._SHAPES_KEPT
    layout._SHAPES_KEPT = 10**9
    try:
        shapes = layout._shapes(units, 0, (SIDE, SIDE))
    finally:
        layout._SHAPES_KEPT = kept

    def cover(w: float, h: float) -> float:
        aspect = min(MAX_ASPECT, max(1 / MAX_ASPECT, w / h))
        return min(aspect / (w * w), 1 / (aspect * h * h))

    return min(1.0, max(cover(w, h) for w, h, *_ in shapes))


def timed(items: Sequence[Item], fit: bool) -> tuple[Arrangement, float]:
    runs = []
    for _ in range(5):
        started = time.process_time()  # CPU time: a busy machine stretches wall time, not this much
        arrangement = arrange(items, (SIDE, SIDE), fit_aspect=fit)
        runs.append(time.process_time() - started)
    return arrangement, statistics.median(runs)


def main(argv: Sequence[str] = ()) -> int:
    widest = 9 if "--exhaustive" in argv else 6
    print(f"{SIDE}-px sheet; the size on auto (aspect free), then the fixed square")
    print(
        f"{'mix':<40}{'canvas':>11}{'fill':>6}{'bound':>7}{'in-order search':>16}{'wider':>7}{'square':>8}"
        f"{'bound':>7}{'weight err':>11}{'in order':>9}{'upscale':>8}{'capped':>7}{'cpu ms':>7}"
    )
    for name, items in MIXES.items():
        free, seconds = timed(items, fit=True)
        square, _ = timed(items, fit=False)
        ordered = reads_in_order(free.boxes) and reads_in_order(square.boxes)
        wider = f"{best_in_order_cover(items)[0]:.0%}" if len(items) <= widest else "-"
        print(
            f"{name:<40}{free.size[0]:>6}x{free.size[1]:<4}{free.fill_ratio:>6.0%}"
            f"{fill_bound(items, (SIDE, SIDE), fit_aspect=True):>7.0%}{in_order_search(items, free):>16.0%}"
            f"{wider:>7}{square.fill_ratio:>8.0%}{fill_bound(items, (SIDE, SIDE)):>7.0%}"
            f"{max(worst_weight_error(items, free), worst_weight_error(items, square)):>11.0%}"
            f"{'yes' if ordered else 'NO':>9}{max(upscale(items, free), upscale(items, square)):>7.2f}x"
            f"{len(free.capped):>7}{seconds * 1000:>7.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
