"""Pure geometry of the reference sheet: aspect ratios and weights in, boxes out.

No image library here. The arrangement is found in six named phases:

1. targets: each item gets a rectangle of unit-free area proportional to its
   weight and exactly its aspect ratio.
2. search: slicing layouts (a tree of two cuts, "side by side" and "stacked")
   whose leaves read A, B, C… in tree order, so that labels follow reading
   order: a dynamic programme over runs of consecutive labels keeps, for each
   run, the bounding shapes no other tree beats in both width and height, and
   the whole run's best shapes are tried against the canvas, best cover first,
   until one reads left to right, top to bottom (``reads_in_order``); plain rows
   always do. With ``fit_aspect`` the canvas keeps its long side and takes the
   aspect (1:3 to 3:1) that the best layout covers most.
3. scale: the largest scale at which that tree, with real pixel gutters between
   panels, fits the canvas (no margin at the sheet's edge: the edge frames the
   outer panels, and a margin would only leave a grey frame uncovered).
4. balance: a panel on a critical path of the tree's box (a full-width panorama,
   the tallest panel of a row) that gives way a little lets the whole tree, and so
   every other panel, grow. Panels are shrunk and grown into the slack left while
   the cover grows, every panel's share of the covered area kept within
   ``SHARE_TOLERANCE`` of its weight's share; with ``fit_aspect`` the canvas is then
   chosen again for the balanced tree. A result further from the exact shares is
   taken only when it covers clearly more (``_WORTH``).
5. place: the tree is walked top-down handing out the canvas; every item gets its
   balanced rectangle, centred in its cell.
6. cap: an item whose ``native`` pixel size is given is never shown more than
   ``MAX_UPSCALE`` times larger. One that no sheet could show within its cap (a
   32-px icon) gets the share its cap allows before the search (``_precap``), so
   the rows and the canvas are made for the panel it will have; any other that
   comes out too big gets a smaller share and, when that frees 1 % of the sheet,
   the layout is made again, so the others use the room (``Arrangement.capped``
   names them all).

So the panel areas follow the weights: each panel's share of the covered area is
within ``SHARE_TOLERANCE`` (15 %) of its weight's share, 20 % with pixel rounding
(issue 13's limit), whatever the aspect ratios; capped items excepted. Same input,
same boxes.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MIN_WEIGHT = 0.25
MAX_WEIGHT = 4.0
MAX_ITEMS = 24
MIN_CANVAS_SIDE = 64
SHARE_TOLERANCE = 0.15  # a panel's share of the covered area may differ from its weight's by this (issue 13: 20 %)
MAX_UPSCALE = 2.0
MAX_ASPECT = 3.0  # the image API's limit on a picture's sides: 1:3 to 3:1

_SIDE = -1  # children side by side: widths add, heights share
_STACK = -2  # children one above the other: heights add, widths share
_SHAPES_KEPT = 10  # bounding shapes kept per run of labels: enough variety, bounded time
_TRIES = 16  # best layouts placed and checked for reading order before falling back to rows
_CAP_ROUNDS = 3
_CAP_RELAYOUT = 0.01  # share of the sheet capped panels must free for the layout to be made again
_PRECAP_FILL = 0.75  # the fill a small picture's share is first reckoned at (see ``_precap``)
_TREES_BALANCED = 2  # trees that read in order balanced before the better is kept
_BALANCE_STEPS = (0.93, 0.98)  # side factors tried on the critical panels, boldest first
_WORTH = 0.005  # fill a layout further from the exact shares must add to be taken
_BALANCE_EVALUATIONS = 300  # covers tried per tree, at most


@dataclass(frozen=True)
class Box:
    """A half-open pixel rectangle: x0 <= x < x1, y0 <= y < y1."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return self.width * self.height

    def overlaps(self, other: Box) -> bool:
        """True when the two boxes share at least one pixel."""
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def inside(self, width: int, height: int) -> bool:
        """True when the box lies within a ``width`` x ``height`` canvas."""
        return 0 <= self.x0 < self.x1 <= width and 0 <= self.y0 < self.y1 <= height

    def as_tuple(self) -> tuple[int, int, int, int]:
        """The (x0, y0, x1, y1) tuple Pillow takes for crops and pastes."""
        return (self.x0, self.y0, self.x1, self.y1)


@dataclass(frozen=True)
class Item:
    """One picture to place: its aspect ratio (width / height), its weight, and optionally its pixel size.

    With ``native`` (width, height) its panel is never more than ``MAX_UPSCALE`` times that size.
    """

    aspect: float
    weight: float = 1.0
    native: tuple[int, int] | None = None


@dataclass(frozen=True)
class Arrangement:
    """Where each item goes, in item order, how much of the canvas the items cover, and which were capped.

    ``size`` is the canvas: the one asked for, or with ``fit_aspect`` the one chosen.
    """

    size: tuple[int, int]
    boxes: tuple[Box, ...]
    fill_ratio: float
    capped: tuple[int, ...] = ()


def sheet_label(index: int) -> str:
    """The label of the item at ``index``: A..Z, then AA, AB... (bijective base 26)."""
    if index < 0:
        raise ValueError(f"label index must be >= 0, got {index}")
    letters = ""
    number = index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def clamp_weight(weight: float) -> float:
    """Weights outside [MIN_WEIGHT, MAX_WEIGHT] are clamped so one panel never swallows the sheet."""
    if not math.isfinite(weight):
        raise ValueError(f"weight must be finite, got {weight}")
    return min(MAX_WEIGHT, max(MIN_WEIGHT, weight))


def default_gutter(size: tuple[int, int]) -> int:
    """Gutter between panels in pixels: about 0.8 % of the shorter side, at least 2."""
    return max(2, round(min(size) * 0.008))


def reads_in_order(boxes: Sequence[Box]) -> bool:
    """True when the boxes read in their order, left to right and top to bottom, as a page does.

    For every pair, the later box is not wholly above the earlier one, does not start higher when it
    stands to its right (a reader scanning the top line takes it first), and when the two share a row
    (their heights overlap) is not wholly left of it.
    """
    for index, first in enumerate(boxes):
        for later in boxes[index + 1 :]:
            if later.y1 <= first.y0:
                return False
            if later.x0 >= first.x1 and later.y0 < first.y0:
                return False
            if later.y0 < first.y1 and first.y0 < later.y1 and later.x1 <= first.x0:
                return False
    return True


def aspect_canvas(size: tuple[int, int], aspect: float) -> tuple[int, int]:
    """A canvas of ``aspect`` (clamped to 1:3..3:1) whose long side is the long side of ``size``."""
    side = max(size)
    aspect = min(MAX_ASPECT, max(1 / MAX_ASPECT, aspect))
    # The short side rounds up, so the canvas never passes 3:1 (256 / 3 is 85.3: 86, not 85).
    if aspect >= 1:
        return side, max(MIN_CANVAS_SIDE, math.ceil(round(side / aspect, 6)))
    return max(MIN_CANVAS_SIDE, math.ceil(round(side * aspect, 6))), side


def arrange(
    items: Sequence[Item], size: tuple[int, int], gutter: int | None = None, *, fit_aspect: bool = False
) -> Arrangement:
    """Place ``items`` on a ``size`` canvas; see the module docstring for the guarantees.

    With ``fit_aspect`` the canvas keeps the long side of ``size`` and takes the aspect ratio, from 1:3
    to 3:1, that covers best; the chosen canvas is ``Arrangement.size``.
    """
    width, height = size
    if width < MIN_CANVAS_SIDE or height < MIN_CANVAS_SIDE:
        raise ValueError(f"canvas must be at least {MIN_CANVAS_SIDE}x{MIN_CANVAS_SIDE}, got {width}x{height}")
    if not items:
        raise ValueError("nothing to arrange")
    if len(items) > MAX_ITEMS:
        raise ValueError(f"at most {MAX_ITEMS} items, got {len(items)}")
    for item in items:
        if not (math.isfinite(item.aspect) and item.aspect > 0):
            raise ValueError(f"aspect ratio must be a positive number, got {item.aspect}")
        if item.native is not None and min(item.native) < 1:
            raise ValueError(f"native size must be positive, got {item.native}")
    if gutter is not None and (gutter < 0 or 2 * gutter >= min(width, height) // 2):
        raise ValueError(f"gutter must be >= 0 and leave room for pictures, got {gutter}")

    weights = [clamp_weight(item.weight) for item in items]
    memo: _Memo = {}
    capped = _precap(items, weights, size, fit_aspect)
    arrangement = _best_canvas(items, weights, size, gutter, fit_aspect, memo)
    for _ in range(_CAP_ROUNDS):
        over = _over_cap(items, arrangement.boxes)
        freed = sum(arrangement.boxes[index].area * (1 - 1 / excess) for index, excess in over.items())
        capped.update(over)
        if freed < _CAP_RELAYOUT * arrangement.size[0] * arrangement.size[1]:
            break  # too little room freed to lay the sheet out again: the panels are shrunk below
        for index, excess in over.items():
            weights[index] /= excess * 1.02
        # The canvas stays the one chosen: the shares change a little, the shape of the set hardly.
        arrangement = _arrange(items, weights, arrangement.size, gutter, False, memo)
    boxes = tuple(_capped(box, item) for box, item in zip(arrangement.boxes, items, strict=True))
    capped.update(index for index, (box, new) in enumerate(zip(arrangement.boxes, boxes, strict=True)) if box != new)
    gap = default_gutter(arrangement.size) if gutter is None else gutter
    boxes = _up_to_cap(boxes, items, sorted(capped), arrangement.size, gap)
    fill = sum(box.area for box in boxes) / (arrangement.size[0] * arrangement.size[1])
    logger.debug("arranged %d items on %dx%d, fill %.3f", len(items), *arrangement.size, fill)
    return Arrangement(size=arrangement.size, boxes=boxes, fill_ratio=fill, capped=tuple(sorted(capped)))


def _precap(items: Sequence[Item], weights: list[float], size: tuple[int, int], fit_aspect: bool) -> set[int]:
    """Pictures every sheet would show past ``MAX_UPSCALE``, given from the start the share their cap allows.

    A 32-px icon's exact share of a 2048-px sheet is some ten times its cap. Laid out at that share
    first, it shaped the rows and the canvas with a panel it never got: capping it afterwards left
    holes the other panels could not take (24 mixed with 4 icons: 69 % against 77 % without them).
    Only pictures whose cap is under a quarter of their exact share of the smallest canvas possible
    are taken (no layout would show them within their cap); each gets the weight that makes its
    panel about its cap at a fill of 75 % of a canvas of middle size. The cap rounds after the
    layout still shrink a panel that came out too big, and a panel left a little under its cap is
    grown to it where there is room (``_up_to_cap``).
    """
    smallest = max(size) ** 2 / MAX_ASPECT if fit_aspect else size[0] * size[1]
    middle = max(size) ** 2 / 2 if fit_aspect else size[0] * size[1]
    total = sum(weights)
    shares: dict[int, float] = {}
    for index, item in enumerate(items):
        if item.native is None:
            continue
        width, height = item.native[0] * MAX_UPSCALE, item.native[1] * MAX_UPSCALE
        cap = min(width * width / item.aspect, height * height * item.aspect)
        if cap < 0.25 * weights[index] / total * smallest:
            shares[index] = cap / (_PRECAP_FILL * middle)
    taken = sum(shares.values())
    if not shares or len(shares) == len(items) or taken >= 0.5:
        return set()  # all small, or the small ones half the sheet: the cap rounds decide
    rest = sum(weight for index, weight in enumerate(weights) if index not in shares)
    for index, share in shares.items():
        weights[index] = rest * share / (1 - taken)
    return set(shares)


def _best_canvas(
    items: Sequence[Item],
    weights: Sequence[float],
    size: tuple[int, int],
    gutter: int | None,
    fit_aspect: bool,
    memo: _Memo,
) -> Arrangement:
    """The layout on ``size``, or with ``fit_aspect`` on the better of ``size`` and the canvas fitted to it.

    The search ranks shapes by their tight cover; gutters and growth decide the last percent, so the
    fitted canvas is only taken when it really covers more.
    """
    if not fit_aspect:
        return _arrange(items, weights, size, gutter, False, memo)
    # The size given may lie outside what the API takes (1:3 to 3:1); the sheet never does.
    fixed = _arrange(items, weights, aspect_canvas(size, size[0] / size[1]), gutter, False, memo)
    fitted = _arrange(items, weights, size, gutter, True, memo)
    fixed_in_range = 1 / MAX_ASPECT <= size[0] / size[1] <= MAX_ASPECT  # the API takes no other sheet
    return fitted if fitted.fill_ratio > fixed.fill_ratio or not fixed_in_range else fixed


def _arrange(
    items: Sequence[Item],
    weights: Sequence[float],
    size: tuple[int, int],
    gutter: int | None,
    fit_aspect: bool,
    memo: _Memo,
) -> Arrangement:
    units = _targets(items, weights)
    gap = default_gutter(size) if gutter is None else gutter
    key = (tuple(units), gap, size)
    if key not in memo:  # the fixed and the fitted canvas of one sheet search the same runs
        memo[key] = _shapes(units, gap, size)
    shapes = memo[key]
    ranked = _canvases(shapes, size, fit_aspect)
    best: Arrangement | None = None
    balanced = 0
    for canvas, tree in ranked[:_TRIES]:
        gap = default_gutter(canvas) if gutter is None else gutter
        expression = _postfix(tree)
        plain = _realise(expression, units, items, canvas, gap, None)
        if not reads_in_order(plain.boxes):
            continue
        # Growth and balance change the order the tight cover gives: the first few trees are balanced.
        found = _balanced(expression, units, items, plain, size, gutter, fit_aspect)
        if best is None or found.fill_ratio > best.fill_ratio:
            best = found
        balanced += 1
        if balanced == _TREES_BALANCED:
            break
    if best is not None:
        return best
    canvas = ranked[0][0]
    gap = default_gutter(canvas) if gutter is None else gutter
    unit_gap = _unit_gap(gap, canvas)
    rows = min(_row_layouts(len(units)), key=lambda expression: _cost(expression, units, canvas, unit_gap))
    return _balanced(rows, units, items, _realise(rows, units, items, canvas, gap, None), size, gutter, fit_aspect)


def _balanced(
    expression: Sequence[int],
    units: Sequence[tuple[float, float]],
    items: Sequence[Item],
    plain: Arrangement,
    size: tuple[int, int],
    gutter: int | None,
    fit_aspect: bool,
) -> Arrangement:
    """The tree grown into its slack, and balanced (``_balance``) on the canvas that then suits it best.

    Of those and the tree at exact shares, each one further from the exact shares is taken only when it
    covers ``_WORTH`` more and its labels read in order.
    """
    gap = default_gutter(plain.size) if gutter is None else gutter
    candidates = [plain, _realise(expression, units, items, plain.size, gap, [1.0] * len(units))]
    factors = _balance(expression, units, plain.size, gap, fit_aspect)
    canvas = plain.size
    if fit_aspect:
        box_w, box_h = _bounding(
            expression, [(w * f, h * f) for (w, h), f in zip(units, factors, strict=True)], _unit_gap(gap, canvas)
        )
        canvas = aspect_canvas(size, box_w / box_h)
        gap = default_gutter(canvas) if gutter is None else gutter
    candidates.append(_realise(expression, units, items, canvas, gap, factors))
    # Later candidates stray further from the exact shares: each must cover clearly more to be taken.
    chosen = plain
    for candidate in candidates[1:]:
        if candidate.fill_ratio >= chosen.fill_ratio + _WORTH and reads_in_order(candidate.boxes):
            chosen = candidate
    return chosen


def _cost(expression: Sequence[int], units: Sequence[tuple[float, float]], inner: tuple[int, int], gap: float) -> float:
    """Lower is better: the tight fill of the canvas is 1 / cost**2 (units have total area 1)."""
    box_w, box_h = _bounding(expression, units, gap)
    return max(box_w / inner[0], box_h / inner[1]) * math.sqrt(inner[0] * inner[1])


def _realise(
    expression: Sequence[int],
    units: Sequence[tuple[float, float]],
    items: Sequence[Item],
    size: tuple[int, int],
    gap: int,
    factors: Sequence[float] | None,
) -> Arrangement:
    """The tree on the canvas at exact shares, or with ``factors`` (from ``_balance``) grown into the slack."""
    if factors is None:
        scale = _fit_scale(expression, units, size, gap)
        grown = [(w * scale, h * scale) for w, h in units]
    else:
        sized = [(w * f, h * f) for (w, h), f in zip(units, factors, strict=True)]
        scale = _fit_scale(expression, sized, size, gap)
        grown = _inflate(expression, [(w * scale, h * scale) for w, h in sized], units, size, gap)
    boxes = _place(expression, grown, items, gap, size)
    fill = sum(box.area for box in boxes) / (size[0] * size[1])
    return Arrangement(size=size, boxes=tuple(boxes), fill_ratio=fill)


# phase 1: targets


def _targets(items: Sequence[Item], weights: Sequence[float]) -> list[tuple[float, float]]:
    total = sum(weights)
    units = []
    for item, weight in zip(items, weights, strict=True):
        area = weight / total
        units.append((math.sqrt(area * item.aspect), math.sqrt(area / item.aspect)))
    return units


# phase 2: search

_Tree = int | tuple[int, "_Tree", "_Tree"]
# Bounding width and height (unit lengths), the top of the lowest panel and the bottom of the highest
# (panels sit at the top of their cells), and the tree.
_Shape = tuple[float, float, float, float, _Tree]
# The search's shapes per (exact shares, gutter, canvas), within one call of ``arrange``.
_Memo = dict[tuple[tuple[tuple[float, float], ...], int, tuple[int, int]], list[_Shape]]


def _unit_gap(gap: int, size: tuple[int, int]) -> float:
    """Gutters are fixed pixels; express them in unit lengths at a typical final scale."""
    return gap / math.sqrt(0.8 * size[0] * size[1])


def _shapes(units: Sequence[tuple[float, float]], gap: int, size: tuple[int, int]) -> list[_Shape]:
    """The bounding shapes of label-ordered slicing trees over all items that no other beats in both sides.

    ``runs[i][j]`` holds those of items i..j; a run's shapes come from cutting it once, anywhere, side by
    side or stacked, and combining the shapes of the two parts. Side by side is allowed only when every
    panel on the left starts at the top: the right part starts there too, so a stack on the left would
    put something on the right above a panel a reader should take first. A row may end in a stack.
    """
    count = len(units)
    unit_gap = _unit_gap(gap, size)
    runs: list[list[list[_Shape]]] = [[[] for _ in range(count)] for _ in range(count)]
    for index, (w, h) in enumerate(units):
        runs[index][index] = [(w, h, 0.0, h, index)]
    for length in range(2, count + 1):
        for first in range(count - length + 1):
            last = first + length - 1
            found: list[_Shape] = []
            for cut in range(first, last):
                left, right = runs[first][cut], runs[cut + 1][last]
                found += _side_by_side(left, right, unit_gap)
                found += _stacked(left, right, unit_gap)
            runs[first][last] = _frontier(found, None if length == count else _SHAPES_KEPT)
    return runs[0][count - 1]


def _side_by_side(left: list[_Shape], right: list[_Shape], gap: float) -> list[_Shape]:
    # Shapes are sorted by width, so heights fall: the narrowest shape no taller than h starts a tail.
    out: list[_Shape] = []
    for one, other, one_is_left in ((left, right, True), (right, left, False)):
        falling = [-shape[1] for shape in other]
        for shape in one:
            for candidate in other[bisect.bisect_left(falling, -shape[1] * (1 + 1e-12)) :]:
                first, second = (shape, candidate) if one_is_left else (candidate, shape)
                if first[2] <= 0.0 < second[3]:
                    out.append(
                        (
                            first[0] + gap + second[0],
                            max(first[1], second[1]),
                            max(first[2], second[2]),
                            min(first[3], second[3]),
                            (_SIDE, first[4], second[4]),
                        )
                    )
                    break
    return out


def _stacked(upper: list[_Shape], lower: list[_Shape], gap: float) -> list[_Shape]:
    # The flattest shape no wider than w ends a head.
    out: list[_Shape] = []
    for one, other, one_is_upper in ((upper, lower, True), (lower, upper, False)):
        widths = [shape[0] for shape in other]
        for shape in one:
            at = bisect.bisect_right(widths, shape[0] * (1 + 1e-12)) - 1
            if at < 0:
                continue
            top, bottom = (shape, other[at]) if one_is_upper else (other[at], shape)
            offset = top[1] + gap
            out.append(
                (
                    max(top[0], bottom[0]),
                    offset + bottom[1],
                    max(top[2], offset + bottom[2]),
                    min(top[3], offset + bottom[3]),
                    (_STACK, top[4], bottom[4]),
                )
            )
    return out


def _frontier(shapes: list[_Shape], keep: int | None) -> list[_Shape]:
    """The shapes no other beats in both width and height, sorted by width; at most ``keep``, spread by aspect."""
    shapes.sort(key=lambda shape: (shape[0], shape[1]))
    pareto: list[_Shape] = []
    lowest = math.inf
    for shape in shapes:
        if shape[1] < lowest * (1 - 1e-12):
            pareto.append(shape)
            lowest = shape[1]
    if keep is None or len(pareto) <= keep:
        return pareto
    # Keep the most compact shape in each of ``keep`` bands of log aspect ratio (1:40 to 40:1).
    bands: dict[int, _Shape] = {}
    for shape in pareto:
        spread = math.log(shape[0] / shape[1]) / (2 * math.log(40)) + 0.5
        band = min(keep - 1, max(0, int(spread * keep)))
        kept = bands.get(band)
        if kept is None or shape[0] * shape[1] < kept[0] * kept[1]:
            bands[band] = shape
    return sorted(bands.values(), key=lambda shape: shape[0])


def _canvases(shapes: list[_Shape], size: tuple[int, int], fit_aspect: bool) -> list[tuple[tuple[int, int], _Tree]]:
    """The shapes as (canvas, tree), best cover first; with ``fit_aspect`` each on the canvas that suits it."""
    ranked: list[tuple[float, int, tuple[int, int], _Tree]] = []
    for order, (w, h, _top, _bottom, tree) in enumerate(shapes):
        canvas = aspect_canvas(size, w / h) if fit_aspect else size
        scale = min(canvas[0] / w, canvas[1] / h)
        cover = scale * scale / (canvas[0] * canvas[1])
        ranked.append((-cover, order, canvas, tree))
    ranked.sort(key=lambda entry: (entry[0], entry[1]))
    return [(canvas, tree) for _cover, _order, canvas, tree in ranked]


def _postfix(tree: _Tree) -> list[int]:
    if isinstance(tree, int):
        return [tree]
    cut, first, second = tree
    return [*_postfix(first), *_postfix(second), cut]


def _row_layouts(count: int) -> list[list[int]]:
    """Plain rows in label order, 1 to ``count`` of them, of similar length: they always read in order."""
    layouts = []
    for rows in range(1, count + 1):
        per_row = math.ceil(count / rows)
        expression: list[int] = []
        for row, start in enumerate(range(0, count, per_row)):
            members = list(range(start, min(count, start + per_row)))
            expression.append(members[0])
            for index in members[1:]:
                expression += [index, _SIDE]
            if row:
                expression.append(_STACK)
        layouts.append(expression)
    return layouts


def _bounding(expression: Sequence[int], dims: Sequence[tuple[float, float]], gap: float) -> tuple[float, float]:
    stack: list[tuple[float, float]] = []
    for token in expression:
        if token >= 0:
            stack.append(dims[token])
            continue
        right_w, right_h = stack.pop()
        left_w, left_h = stack.pop()
        if token == _SIDE:
            stack.append((left_w + gap + right_w, max(left_h, right_h)))
        else:
            stack.append((max(left_w, right_w), left_h + gap + right_h))
    return stack[0]


# phase 5: cap


def _cap_factor(box: Box, item: Item) -> float:
    """How many times larger than allowed the box is (by side), 1 or less when within the cap."""
    if item.native is None:
        return 0.0
    return max(box.width / (item.native[0] * MAX_UPSCALE), box.height / (item.native[1] * MAX_UPSCALE))


def _over_cap(items: Sequence[Item], boxes: Sequence[Box]) -> dict[int, float]:
    """Items shown more than MAX_UPSCALE times their size, with the area factor by which they are too big."""
    over = {}
    for index, (box, item) in enumerate(zip(boxes, items, strict=True)):
        factor = _cap_factor(box, item)
        if factor > 1 + 1e-9:
            over[index] = factor * factor
    return over


def _capped(box: Box, item: Item) -> Box:
    """``box`` shrunk to at most MAX_UPSCALE times the item's size, keeping its aspect, its top and its centre line.

    Panels hang from the top of their cells, so the shrunk one still starts its row with its neighbours.
    """
    factor = _cap_factor(box, item)
    if factor <= 1 or item.native is None:
        return box
    width = max(1, math.floor(box.width / factor + 1e-6))  # 64 px for a 32-px icon, not 63 by rounding
    height = max(1, min(box.height, round(width / item.aspect)))
    x0 = box.x0 + (box.width - width) // 2
    return Box(x0, box.y0, x0 + width, box.y0 + height)


def _up_to_cap(
    boxes: tuple[Box, ...], items: Sequence[Item], capped: Sequence[int], size: tuple[int, int], gap: int
) -> tuple[Box, ...]:
    """Capped panels a pixel or two under their cap (the shares were cut with a margin) grown to it.

    Same top, the same centre line or one of the same sides; only where the grown box stays on the
    canvas, a gutter away from every other panel, and the labels still read in order.
    """
    for index in capped:
        item, box = items[index], boxes[index]
        if item.native is None:
            continue
        width = min(math.floor(item.native[0] * MAX_UPSCALE), math.floor(item.native[1] * MAX_UPSCALE * item.aspect))
        height = round(width / item.aspect)
        if width <= box.width or height > item.native[1] * MAX_UPSCALE:
            continue
        for x0 in (box.x0 + (box.width - width) // 2, box.x0, box.x1 - width):  # centred, else either way
            grown = Box(x0, box.y0, x0 + width, box.y0 + height)
            apart = all(
                not Box(other.x0 - gap, other.y0 - gap, other.x1 + gap, other.y1 + gap).overlaps(grown)
                for number, other in enumerate(boxes)
                if number != index
            )
            trial = (*boxes[:index], grown, *boxes[index + 1 :])
            if grown.inside(*size) and apart and reads_in_order(trial):
                boxes = trial
                break
    return boxes


# phase 3: scale


def _fit_scale(
    expression: Sequence[int], units: Sequence[tuple[float, float]], inner: tuple[int, int], gap: int
) -> float:
    """Largest scale whose bounding box, with pixel gutters, fits ``inner``.

    Each side of the box is a convex, piecewise linear, growing function of the scale (sums and maxima
    of lines), so Newton's method from the gutter-free scale, above the answer, falls onto it in a few
    exact steps: every tangent lies under the function, so no step passes the answer.
    """
    free_w, free_h = _bounding(expression, units, 0.0)
    scale = min(inner[0] / free_w, inner[1] / free_h)
    for _ in range(4 * len(units) + 8):
        (box_w, slope_w), (box_h, slope_h) = _bounding_slopes(expression, units, gap, scale)
        steps = [scale]
        if box_w > inner[0]:
            steps.append(scale - (box_w - inner[0]) / slope_w)
        if box_h > inner[1]:
            steps.append(scale - (box_h - inner[1]) / slope_h)
        following = min(steps)
        if following >= scale * (1 - 1e-12):
            break
        scale = following
    scale = max(0.0, scale)
    while scale > 0:  # rounding aside, the answer; make sure of it
        box_w, box_h = _bounding(expression, [(w * scale, h * scale) for w, h in units], gap)
        if box_w <= inner[0] and box_h <= inner[1]:
            break
        scale *= 1 - 1e-9
    return scale


def _bounding_slopes(
    expression: Sequence[int], units: Sequence[tuple[float, float]], gap: float, scale: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The bounding width and height at ``scale``, each with its slope (growth per unit of scale)."""
    stack: list[tuple[float, float, float, float]] = []
    for token in expression:
        if token >= 0:
            w, h = units[token]
            stack.append((w * scale, w, h * scale, h))
            continue
        right = stack.pop()
        left = stack.pop()
        if token == _SIDE:
            high = max(left, right, key=lambda part: (part[2], part[3]))
            stack.append((left[0] + gap + right[0], left[1] + right[1], high[2], high[3]))
        else:
            wide = max(left, right, key=lambda part: (part[0], part[1]))
            stack.append((wide[0], wide[1], left[2] + gap + right[2], left[3] + right[3]))
    width, slope_w, height, slope_h = stack[0]
    return (width, slope_w), (height, slope_h)


def _shares_ok(dims: Sequence[tuple[float, float]], units: Sequence[tuple[float, float]]) -> bool:
    """True when every panel's share of the covered area is within SHARE_TOLERANCE of its weight's share.

    ``units`` are the exact shares (total area 1), so a panel's weight share is its unit's area.
    """
    total = sum(w * h for w, h in dims)
    low, high = (1 - SHARE_TOLERANCE) * total, (1 + SHARE_TOLERANCE) * total
    return all(low <= w * h / (uw * uh) <= high for (w, h), (uw, uh) in zip(dims, units, strict=True))


def _critical(
    expression: Sequence[int], dims: Sequence[tuple[float, float]], gap: float, width_binds: bool
) -> set[int]:
    """The leaves whose size sets the binding side of the tree's bounding box (its critical paths).

    Along that side the parts of a cut either add up (all critical) or share it (only the largest).
    """
    root = _tree(expression, dims, gap)
    found: set[int] = set()

    def visit(node: _Node) -> None:
        if node.left is None or node.right is None:
            found.add(node.token)
            return
        adds = (node.token == _SIDE) == width_binds
        if adds:
            visit(node.left)
            visit(node.right)
            return
        left = node.left.width if width_binds else node.left.height
        right = node.right.width if width_binds else node.right.height
        if left >= right * (1 - 1e-9):
            visit(node.left)
        if right >= left * (1 - 1e-9):
            visit(node.right)

    visit(root)
    return found


def _balance(
    expression: Sequence[int],
    units: Sequence[tuple[float, float]],
    canvas: tuple[int, int],
    gap: int,
    fit_aspect: bool,
) -> list[float]:
    """Per-item side factors (1 or less) that let the tree cover most, shares kept within SHARE_TOLERANCE.

    A full-width panorama or the tallest panel of a row sets a side of the tree's box: shrinking such a
    panel on a critical path a little lets the whole tree, and so every other panel, grow. Moves (the
    whole critical set, then each of its panels, by a few percent) are kept while the cover of the
    canvas grows, the cover taken as the tight fill at gutters of ``gap`` pixels; with ``fit_aspect``
    on the canvas of the box's own aspect (1:3 to 3:1), so the aspect is chosen with the sizes.
    """
    unit_gap = _unit_gap(gap, canvas)
    fixed = canvas[0] / canvas[1]

    def dims(trial: Sequence[float]) -> list[tuple[float, float]]:
        return [(w * f, h * f) for (w, h), f in zip(units, trial, strict=True)]

    def cover(trial: Sequence[float]) -> tuple[float, float, float]:
        box_w, box_h = _bounding(expression, dims(trial), unit_gap)
        aspect = min(MAX_ASPECT, max(1 / MAX_ASPECT, box_w / box_h)) if fit_aspect else fixed
        area = sum(w * h * f * f for (w, h), f in zip(units, trial, strict=True))
        return (
            area * min(aspect / (box_w * box_w), 1 / (aspect * box_h * box_h)),
            box_w * box_w / aspect,
            box_h * box_h * aspect,
        )

    factors = [1.0] * len(units)
    best, width_need, height_need = cover(factors)
    evaluations = 0
    while evaluations < _BALANCE_EVALUATIONS:
        tight = max(width_need, height_need) * (1 - 1e-6)
        critical: set[int] = set()
        for width_binds, need in ((True, width_need), (False, height_need)):
            if need >= tight:
                critical |= _critical(expression, dims(factors), unit_gap, width_binds)
        moves = (
            [sorted(critical), *([index] for index in sorted(critical))] if len(critical) > 1 else [sorted(critical)]
        )
        chosen: tuple[float, float, float, list[float]] | None = None
        for move in moves:
            for step in _BALANCE_STEPS:
                trial = list(factors)
                for index in move:
                    trial[index] *= step
                if not _shares_ok(dims(trial), units):
                    continue
                evaluations += 1
                found = cover(trial)
                if found[0] > best * (1 + 1e-6) and (chosen is None or found[0] > chosen[0]):
                    chosen = (*found, trial)
        if chosen is None:
            break
        best, width_need, height_need, factors = chosen
    return factors


def _inflate(
    expression: Sequence[int],
    base: Sequence[tuple[float, float]],
    units: Sequence[tuple[float, float]],
    inner: tuple[int, int],
    gap: int,
) -> list[tuple[float, float]]:
    """Grow each item into slack its neighbours leave, shares kept within SHARE_TOLERANCE, the tree inside."""
    limit = math.sqrt(1 + 2 * SHARE_TOLERANCE)
    factors = [1.0] * len(base)

    def fits(dims: Sequence[tuple[float, float]]) -> bool:
        box_w, box_h = _bounding(expression, dims, gap)
        return box_w <= inner[0] and box_h <= inner[1] and _shares_ok(dims, units)

    def scaled() -> list[tuple[float, float]]:
        return [(w * f, h * f) for (w, h), f in zip(base, factors, strict=True)]

    for _ in range(2):
        for index in range(len(base)):
            low, high = factors[index], limit
            if high - low < 1e-3:
                continue
            for _ in range(10):
                factors[index] = (low + high) / 2
                if fits(scaled()):
                    low = factors[index]
                else:
                    high = factors[index]
            factors[index] = low
    return scaled()


# phase 4: place


@dataclass
class _Node:
    token: int
    width: float
    height: float
    left: _Node | None = None
    right: _Node | None = None


def _tree(expression: Sequence[int], dims: Sequence[tuple[float, float]], gap: float) -> _Node:
    stack: list[_Node] = []
    for token in expression:
        if token >= 0:
            stack.append(_Node(token, *dims[token]))
            continue
        right = stack.pop()
        left = stack.pop()
        if token == _SIDE:
            node = _Node(token, left.width + gap + right.width, max(left.height, right.height), left, right)
        else:
            node = _Node(token, max(left.width, right.width), left.height + gap + right.height, left, right)
        stack.append(node)
    return stack[0]


def _place(
    expression: Sequence[int],
    grown: Sequence[tuple[float, float]],
    items: Sequence[Item],
    gap: int,
    size: tuple[int, int],
) -> list[Box]:
    root = _tree(expression, grown, gap)
    boxes: list[Box | None] = [None] * len(items)

    def visit(node: _Node, x: float, y: float, width: float, height: float) -> None:
        if node.left is None or node.right is None:
            wanted_w, wanted_h = grown[node.token]
            boxes[node.token] = _fit(items[node.token].aspect, wanted_w, wanted_h, x, y, width, height)
            return
        left, right = node.left, node.right
        if node.token == _SIDE:
            free = max(0.0, width - gap)
            left_w = free * left.width / (left.width + right.width)
            visit(left, x, y, left_w, height)
            visit(right, x + left_w + gap, y, free - left_w, height)
        else:
            # Stacked parts keep their own heights and the slack goes below, as on a page: spreading it
            # would push a lower panel down past a neighbour's and break the reading order.
            free = max(0.0, height - gap)
            needed = left.height + right.height
            top_h = free * left.height / needed if free < needed else left.height
            visit(left, x, y, width, top_h)
            visit(right, x, y + top_h + gap, width, free - top_h)

    visit(root, 0.0, 0.0, float(size[0]), float(size[1]))
    placed = [box for box in boxes if box is not None]
    if len(placed) != len(items):
        raise AssertionError("layout lost an item")
    # Centre the whole page vertically in what is left below it.
    shift = (size[1] - max(box.y1 for box in placed)) // 2
    return [Box(box.x0, box.y0 + shift, box.x1, box.y1 + shift) for box in placed] if shift > 0 else placed


def _fit(aspect: float, wanted_w: float, wanted_h: float, x: float, y: float, width: float, height: float) -> Box:
    """The largest box of ``aspect`` within the cell, at most the wanted side lengths."""
    factor = min(width / wanted_w, height / wanted_h, 1.0) if wanted_w > 0 and wanted_h > 0 else 0.0
    # Rounding both edges keeps neighbours apart: cells are separated by the gutter or share an edge exactly.
    left, top = round(x), round(y)
    room_w = max(1, round(x + width) - left)
    room_h = max(1, round(y + height) - top)
    box_w = min(room_w, max(1, round(wanted_w * factor)), max(1, math.floor((room_h + 0.49) * aspect)))
    box_h = min(room_h, max(1, round(box_w / aspect)))
    x0 = left + (room_w - box_w) // 2
    y0 = top  # top-aligned: a short panel beside a tall one still reads as part of its row
    return Box(x0, y0, x0 + box_w, y0 + box_h)
