"""How well the sheet's layout reads and covers on hard mixes of shapes, as one command.

    python -m benchmarks.bench_layout

Prints figures, asserts nothing. For a fixed set of hard mixes (two clashing shapes, three
landscapes with the size on auto, six mixed with one weighted 2, nine mixed, 24 with tiny icons)
it arranges each on a 2048-px sheet whose aspect is free (the output size on ``auto``) and on the
fixed square, and prints:

* fill: the share of the sheet the pictures cover;
* best ordered: the best any slicing layout whose labels read in order covers for that set, every
  panel at exactly its weight's share, no gutters (exact, any set size); panels may grow into
  slack by up to ``MAX_GROWTH``, so the fill can pass it by a few points;
* any order: the best any slicing layout could cover with the labels in any order, no gutters and
  every panel grown by the full ``MAX_GROWTH`` (exhaustive for up to 9 pictures, "-" for larger
  sets): what the geometry allows when reading order does not matter;
* worst weight error: the largest gap between a panel's share of the covered area and its
  weight's share, over panels not capped at twice their picture's size (the target is 20 %);
* in order: whether the labels read A, B, C… left to right and top to bottom, on both sheets;
* capped: the panels kept at twice their picture's size (tiny icons);
* the CPU time one ``arrange`` call takes (median of 5), in ms.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compose import layout
from compose.layout import MAX_ASPECT, MAX_GROWTH, Arrangement, Item, arrange, clamp_weight, reads_in_order

SIDE = 2048
PANORAMA, TALL, PHOTO, PORTRAIT, SQUARE, PHONE, WIDE = 4.0, 1 / 3, 4 / 3, 3 / 4, 1.0, 9 / 16, 16 / 9
ICON = Item(SQUARE, native=(32, 32))

MIXES: dict[str, list[Item]] = {
    "2 clashing: 4:1 panorama, 1:3 portrait": [Item(PANORAMA), Item(TALL)],
    "3 landscapes (4:3)": [Item(PHOTO)] * 3,
    "6 mixed (panorama, tall), B weighted 2": [
        Item(PHOTO),
        Item(PANORAMA, 2.0),
        Item(TALL),
        Item(SQUARE),
        Item(PORTRAIT),
        Item(WIDE),
    ],
    "9 mixed": [Item(shape) for shape in (PORTRAIT, PHOTO, SQUARE, PHONE, WIDE, PHOTO, PANORAMA, SQUARE, TALL)],
    "24 mixed, 4 tiny icons": [
        ICON if index % 6 == 5 else Item((PORTRAIT, PHOTO, SQUARE, PHONE, WIDE)[index % 5], 1.0 + (index % 3) / 2)
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


def bound(items: Sequence[Item]) -> float | None:
    """The best cover of any slicing layout of ``items`` in any order (exhaustive), None past 9 items."""
    count = len(items)
    if count > 9:
        return None
    weights = [clamp_weight(item.weight) for item in items]
    total = sum(weights)
    shapes: dict[int, list[tuple[float, float]]] = {}
    for index, (item, weight) in enumerate(zip(items, weights, strict=True)):
        area = weight / total
        shapes[1 << index] = [(math.sqrt(area * item.aspect), math.sqrt(area / item.aspect))]
    for subset in range(1, 1 << count):
        if subset in shapes:
            continue
        found: list[tuple[float, float]] = []
        part = (subset - 1) & subset
        while part:
            rest = subset ^ part
            if part < rest:
                for w1, h1 in shapes[part]:
                    for w2, h2 in shapes[rest]:
                        found.append((w1 + w2, max(h1, h2)))
                        found.append((max(w1, w2), h1 + h2))
            part = (part - 1) & subset
        found.sort()
        frontier: list[tuple[float, float]] = []
        for w, h in found:
            if not frontier or h < frontier[-1][1] - 1e-12:
                frontier.append((w, h))
        shapes[subset] = frontier

    def cover(w: float, h: float) -> float:
        aspect = min(MAX_ASPECT, max(1 / MAX_ASPECT, w / h))
        return min(aspect / (w * w), 1 / (aspect * h * h))

    best = max(cover(w, h) for w, h in shapes[(1 << count) - 1])
    return min(1.0, best * (1 + MAX_GROWTH))


def ordered_bound(items: Sequence[Item]) -> float:
    """The best cover of any slicing layout whose labels read in order by the layout's own rules (rows
    may end in a stack, never start with one) with every panel at exactly its weight's share, found
    exactly: the layout's search without its pruning and without gutters."""
    weights = [clamp_weight(item.weight) for item in items]
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


def main() -> int:
    print(f"{SIDE}-px sheet; fill on the free aspect (size auto) and on the fixed square")
    print(
        f"{'mix':<40}{'canvas':>11}{'fill':>6}{'best ordered':>13}{'any order':>10}{'square':>8}{'weight err':>11}"
        f"{'in order':>9}{'capped':>7}{'cpu ms':>7}"
    )
    for name, items in MIXES.items():
        free, seconds = timed(items, fit=True)
        square, _ = timed(items, fit=False)
        best = bound(items)
        best_in_order = ordered_bound(items)
        ordered = reads_in_order(free.boxes) and reads_in_order(square.boxes)
        print(
            f"{name:<40}{free.size[0]:>6}x{free.size[1]:<4}{free.fill_ratio:>6.0%}"
            f"{best_in_order:>13.0%}{'-' if best is None else f'{best:.0%}':>10}{square.fill_ratio:>8.0%}"
            f"{worst_weight_error(items, free):>11.0%}{'yes' if ordered else 'NO':>9}"
            f"{len(free.capped):>7}{seconds * 1000:>7.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
