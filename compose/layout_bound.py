"""The most of the sheet any arrangement of a set could cover: an upper bound, not another layout.

``fill_bound`` answers "could any layout do better here?" for a set of pictures. It holds for every
placement, slicing or not, in any label order, with no gutters, in which

* every panel keeps its picture's aspect ratio and lies inside the canvas, and no two overlap;
* a picture with a ``native`` size is never shown more than ``MAX_UPSCALE`` times larger;
* the panels not held at that cap cover areas within ``tolerance`` of their weights' shares
  (so any two of them are within ``(1 + tolerance) / (1 - tolerance)`` of their weights' ratio).

How it is computed. Let ``mu`` be the smallest area per unit of weight among the panels the weight
rule binds (those that can never reach their cap); each of them then has an area between ``mu * w``
and ``rho * mu * w``, with ``rho = (1 + tolerance) / (1 - tolerance)``. For a canvas and a range of
``mu`` the bound is the least of: the canvas itself, the sum of the largest areas each panel may
take alone (its range, the canvas, its cap), and for every pair of panels the largest area the two
can take *side by side or stacked* plus the others' largest areas. The pair term is what makes it
bite: any two non-overlapping rectangles are separated by a vertical or a horizontal line, so they
fit side by side (widths add) or stacked (heights add). In square-root coordinates the two panels'
widths are linear, so the largest sum of areas lies on a corner of a small polygon, found exactly.

The ranges of canvas aspect (with the size on ``auto``: every canvas from 1:3 to 3:1) and of ``mu``
are split into boxes; each box is bounded with the most generous values in it (the widest and
tallest canvas, the smallest lower and largest upper areas), so its figure holds for all of it, and
the box with the highest figure is split further (branch and bound). The highest figure left is the
answer: an upper bound whenever the search stops, tighter the longer it runs.

A 4:1 panorama and a 1:3 portrait of equal weight cannot cover more than 48 % of any canvas; for
most mixes of ordinary photos the bound is 100 %. What keeps a layout below it then is what this
bound does not model (the labels' reading order, the gutters, the layouter's family of trees); by
how much each costs is not proven here, so a fill under a bound of 100 % is a shortfall, not a limit.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence

from compose.layout import MAX_ASPECT, MAX_UPSCALE, Item, clamp_weight

WEIGHT_TOLERANCE = 0.2
_MU_FLOOR = 1e-4  # below this share of the canvas per unit of weight a single box covers the rest
_STEPS = 4000  # boxes split at most; the figure is an upper bound whenever the search stops
_PRECISION = 0.002  # stop once the best box's figure is within this of the next split's


def fill_bound(
    items: Sequence[Item],
    size: tuple[int, int],
    *,
    fit_aspect: bool = False,
    tolerance: float = WEIGHT_TOLERANCE,
) -> float:
    """The largest share of the canvas any arrangement of ``items`` could cover (see the module docstring).

    With ``fit_aspect`` the canvas keeps the long side of ``size`` and may take any aspect from 1:3 to
    3:1, as ``compose.layout.arrange`` does; without it the canvas is ``size``.
    """
    if not items:
        raise ValueError("nothing to bound")
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    side = max(size)
    free = (math.log(1 / MAX_ASPECT), math.log(MAX_ASPECT))
    aspects = free if fit_aspect else (math.log(size[0] / size[1]),) * 2
    problem = _Problem(items, side if fit_aspect else None, size, tolerance)
    return problem.solve(aspects)


class _Problem:
    def __init__(self, items: Sequence[Item], side: int | None, size: tuple[int, int], tolerance: float) -> None:
        self.aspects = [item.aspect for item in items]
        self.weights = [clamp_weight(item.weight) for item in items]
        self.natives = [item.native for item in items]
        self.side = side
        self.size = size
        self.rho = (1 + tolerance) / (1 - tolerance)
        # Panels that could sit at their cap on some canvas are free of the weight rule (a looser
        # problem, so still a bound); the rest are bound by it.
        self.bound = [index for index in range(len(items)) if self._cap_area(index, self._smallest_pixels()) >= 1]
        self.mu_top = 1 / sum(self.weights[index] for index in self.bound) if self.bound else 1.0

    def _smallest_pixels(self) -> float:
        if self.side is None:
            return float(self.size[0] * self.size[1])
        return self.side * self.side / MAX_ASPECT

    def _cap_area(self, index: int, canvas_pixels: float) -> float:
        """The largest area (share of a canvas of ``canvas_pixels``) the upscale cap allows, inf without one."""
        native = self.natives[index]
        if native is None:
            return math.inf
        aspect = self.aspects[index]
        width, height = native[0] * MAX_UPSCALE, native[1] * MAX_UPSCALE
        return min(width * width / aspect, height * height * aspect) / canvas_pixels

    def _pixels(self, log_aspect: float) -> float:
        if self.side is None:
            return float(self.size[0] * self.size[1])
        aspect = math.exp(log_aspect)
        return self.side * self.side / max(aspect, 1 / aspect)

    def solve(self, aspects: tuple[float, float]) -> float:
        mu_low = math.log(self.mu_top * _MU_FLOOR)
        mu_high = math.log(self.mu_top)
        queue: list[tuple[float, int, tuple[float, float], tuple[float, float]]] = []
        counter = itertools.count()

        def push(aspect_range: tuple[float, float], mu_range: tuple[float, float]) -> None:
            figure = self._box(aspect_range, mu_range)
            heapq.heappush(queue, (-figure, next(counter), aspect_range, mu_range))

        push(aspects, (-math.inf, mu_low))
        slices = 8
        aspect_cuts = [aspects[0] + (aspects[1] - aspects[0]) * step / slices for step in range(slices + 1)]
        mu_cuts = [mu_low + (mu_high - mu_low) * step / slices for step in range(slices + 1)]
        for first, second in itertools.pairwise(aspect_cuts):
            for low, high in itertools.pairwise(mu_cuts):
                push((first, second), (low, high))
        best = -queue[0][0]
        for _ in range(_STEPS):
            negative, _order, aspect_range, mu_range = heapq.heappop(queue)
            best = -negative
            if best <= 0 or best >= 1:  # nothing can do better than the whole canvas: no need to look closer
                return max(0.0, best)
            halves = _split(aspect_range, mu_range)
            if not halves:
                return best
            for parts in halves:
                push(*parts)
            if best - (-queue[0][0]) < _PRECISION and _narrow(aspect_range, mu_range):
                return best
        return -queue[0][0] if queue else best

    def _box(self, aspect_range: tuple[float, float], mu_range: tuple[float, float]) -> float:
        """An upper bound on the fill for every canvas aspect and every ``mu`` in the ranges."""
        low_aspect, high_aspect = math.exp(aspect_range[0]), math.exp(aspect_range[1])
        # Canvas of area 1: the widest and the tallest canvas of the range, so nothing fits here that fits there.
        width, height = math.sqrt(high_aspect), 1 / math.sqrt(low_aspect)
        pixels = min(self._pixels(aspect_range[0]), self._pixels(aspect_range[1]))
        if aspect_range[0] < 0 < aspect_range[1]:
            pixels = min(pixels, self._pixels(0.0))
        mu_low = math.exp(mu_range[0]) if math.isfinite(mu_range[0]) else 0.0
        mu_high = math.exp(mu_range[1])
        lows, highs = [], []
        bound = set(self.bound)
        for index, aspect in enumerate(self.aspects):
            fits = min(width * width / aspect, height * height * aspect, self._cap_area(index, pixels))
            low = mu_low * self.weights[index] if index in bound else 0.0
            high = min(fits, self.rho * mu_high * self.weights[index]) if index in bound else fits
            if low > high:
                return 0.0
            lows.append(low)
            highs.append(high)
        total = sum(highs)
        worst_pair = 0.0
        for first, second in itertools.combinations(range(len(self.aspects)), 2):
            pair = _pair(
                (lows[first], highs[first], self.aspects[first]),
                (lows[second], highs[second], self.aspects[second]),
                width,
                height,
            )
            if pair is None:
                return 0.0
            worst_pair = min(worst_pair, pair - highs[first] - highs[second])
        return min(1.0, total + worst_pair)


def _split(
    aspect_range: tuple[float, float], mu_range: tuple[float, float]
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The box cut in two along its wider side (in log units), none when it cannot be cut further."""
    aspect_width = aspect_range[1] - aspect_range[0]
    if not math.isfinite(mu_range[0]):
        return []  # the bottom box: every panel smaller than _MU_FLOOR of its share; never the best
    mu_width = mu_range[1] - mu_range[0]
    if max(aspect_width, mu_width) < 1e-6:
        return []
    if aspect_width >= mu_width:
        middle = (aspect_range[0] + aspect_range[1]) / 2
        return [((aspect_range[0], middle), mu_range), ((middle, aspect_range[1]), mu_range)]
    middle = (mu_range[0] + mu_range[1]) / 2
    return [(aspect_range, (mu_range[0], middle)), (aspect_range, (middle, mu_range[1]))]


def _narrow(aspect_range: tuple[float, float], mu_range: tuple[float, float]) -> bool:
    return aspect_range[1] - aspect_range[0] < 0.01 and mu_range[1] - mu_range[0] < 0.01


_Range = tuple[float, float, float]  # smallest area, largest area, aspect ratio


def _pair(first: _Range, second: _Range, width: float, height: float) -> float | None:
    """The largest sum of the two panels' areas when they sit side by side or stacked; None when neither fits."""
    best: float | None = None
    for across, along, turned in ((width, height, False), (height, width, True)):
        # Side by side: widths x * sqrt(aspect) (x the square root of the area) add up to at most
        # ``across`` and each height, x / sqrt(aspect), is at most ``along``. Stacked is the same with
        # the canvas turned: the aspect inverted.
        limits: list[tuple[float, float, float]] = []
        for low, high, aspect in (first, second):
            slope = math.sqrt(1 / aspect if turned else aspect)
            top = min(high, (along * slope) ** 2)
            if low > top:
                limits = []
                break
            limits.append((math.sqrt(low), math.sqrt(top), slope))
        if not limits:
            continue
        found = _corner_max(limits[0], limits[1], across)
        if found is not None and (best is None or found > best):
            best = found
    return best


def _corner_max(first: tuple[float, float, float], second: tuple[float, float, float], limit: float) -> float | None:
    """max x^2 + y^2 over x in [x0, x1], y in [y0, y1] with sx * x + sy * y <= limit (a convex maximum: a corner)."""
    x0, x1, sx = first
    y0, y1, sy = second
    candidates = [(x, y) for x in (x0, x1) for y in (y0, y1)]
    for x in (x0, x1):
        candidates.append((x, (limit - sx * x) / sy))
    for y in (y0, y1):
        candidates.append(((limit - sy * y) / sx, y))
    best: float | None = None
    slack = 1e-12 * max(1.0, limit)
    for x, y in candidates:
        if x0 - slack <= x <= x1 + slack and y0 - slack <= y <= y1 + slack and sx * x + sy * y <= limit + slack:
            value = min(x, x1) ** 2 + min(y, y1) ** 2
            if best is None or value > best:
                best = value
    return best
