"""Pure geometry of the reference sheet: aspect ratios and weights in, boxes out.

No image library here. The arrangement is found in four named phases:

1. targets: each item gets a rectangle of unit-free area proportional to its
   weight and exactly its aspect ratio.
2. search: a slicing tree over those rectangles (a postfix expression of items
   and two cuts, "side by side" and "stacked") whose tight bounding box best
   matches the canvas, found by a seeded simulated annealing that starts from
   the best of several row, column and treemap layouts, so the same input
   always yields the same tree. Runs of one cut (a row, a column) are then
   sorted by label, and identical items swap so that labels read in order;
   neither changes the geometry.
3. scale: the largest scale at which that tree, with real pixel gutters, fits
   the canvas.
4. place: the tree is walked top-down handing out the canvas; every item gets at
   least its exact-weight rectangle, grows into local slack by at most
   ``MAX_GROWTH`` of its area, and is centred in its cell.

Because every panel is at least its exact share and at most ``1 + MAX_GROWTH``
times it, the panel areas follow the weights within that factor (plus pixel
rounding), whatever the aspect ratios.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MIN_WEIGHT = 0.25
MAX_WEIGHT = 4.0
MAX_ITEMS = 24
MIN_CANVAS_SIDE = 64
MAX_GROWTH = 0.12

_SIDE = -1  # children side by side: widths add, heights share
_STACK = -2  # children one above the other: heights add, widths share
_SEED = 0x5EED
_TIE_BREAK = 1e-9


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
    """One picture to place: its aspect ratio (width / height) and its weight."""

    aspect: float
    weight: float = 1.0


@dataclass(frozen=True)
class Arrangement:
    """Where each item goes, in item order, and how much of the canvas the items cover."""

    size: tuple[int, int]
    boxes: tuple[Box, ...]
    fill_ratio: float


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
    """Gutter (and outer margin) in pixels: about 0.8 % of the shorter side, at least 2."""
    return max(2, round(min(size) * 0.008))


def arrange(items: Sequence[Item], size: tuple[int, int], gutter: int | None = None) -> Arrangement:
    """Place ``items`` on a ``size`` canvas; see the module docstring for the guarantees."""
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
    gap = default_gutter(size) if gutter is None else gutter
    if gap < 0 or 2 * gap >= min(width, height) // 2:
        raise ValueError(f"gutter must be >= 0 and leave room for pictures, got {gap}")

    units = _targets(items)
    inner = (width - 2 * gap, height - 2 * gap)
    expression = _reading_order(_twins_in_order(items, _reading_order(_search(units, inner, gap))))
    scale = _fit_scale(expression, units, inner, gap)
    base = [(w * scale, h * scale) for w, h in units]
    grown = _inflate(expression, base, inner, gap)
    boxes = _place(expression, base, grown, items, gap, size)
    fill = sum(box.area for box in boxes) / (width * height)
    logger.debug("arranged %d items on %dx%d, fill %.3f", len(items), width, height, fill)
    return Arrangement(size=size, boxes=tuple(boxes), fill_ratio=fill)


# phase 1: targets


def _targets(items: Sequence[Item]) -> list[tuple[float, float]]:
    weights = [clamp_weight(item.weight) for item in items]
    total = sum(weights)
    units = []
    for item, weight in zip(items, weights, strict=True):
        area = weight / total
        units.append((math.sqrt(area * item.aspect), math.sqrt(area / item.aspect)))
    return units


# phase 2: search


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


def _cost(expression: Sequence[int], units: Sequence[tuple[float, float]], inner: tuple[int, int], gap: float) -> float:
    # Units have total area 1, so the tight fill of the canvas is 1 / cost**2: lower is better.
    # Among equal layouts (a grid is rows or columns) prefer rows, which read in label order.
    box_w, box_h = _bounding(expression, units, gap)
    stacks = sum(1 for token in expression if token == _STACK)
    return max(box_w / inner[0], box_h / inner[1]) * math.sqrt(inner[0] * inner[1]) + stacks * _TIE_BREAK


def _balanced(count: int, inner: tuple[int, int]) -> list[int]:
    """A balanced tree in reading order, cutting the longer side first, like a treemap."""

    def build(first: int, last: int, width: float, height: float) -> list[int]:
        if first == last:
            return [first]
        middle = (first + last) // 2
        share = (middle - first + 1) / (last - first + 1)
        if width >= height:
            return (
                build(first, middle, width * share, height)
                + build(middle + 1, last, width * (1 - share), height)
                + [_SIDE]
            )
        return (
            build(first, middle, width, height * share)
            + build(middle + 1, last, width, height * (1 - share))
            + [_STACK]
        )

    return build(0, count - 1, float(inner[0]), float(inner[1]))


def _bands(units: Sequence[tuple[float, float]], rows: bool, count: int) -> list[int]:
    """Rows (or columns) of items of similar height (or width), ``count`` bands of similar length."""
    across = 1 if rows else 0  # the dimension items in one band share
    along = 1 - across
    order = sorted(range(len(units)), key=lambda i: (-units[i][across], i))
    target = sum(units[i][along] for i in order) / count
    groups: list[list[int]] = []
    current: list[int] = []
    length = 0.0
    for index in order:
        if current and length + units[index][along] / 2 > target and len(groups) < count - 1:
            groups.append(current)
            current, length = [], 0.0
        current.append(index)
        length += units[index][along]
    groups.append(current)
    inner_cut, outer_cut = (_SIDE, _STACK) if rows else (_STACK, _SIDE)
    expression: list[int] = []
    for position, group in enumerate(groups):
        expression.append(group[0])
        for index in group[1:]:
            expression += [index, inner_cut]
        if position:
            expression.append(outer_cut)
    return expression


def _starts(units: Sequence[tuple[float, float]], inner: tuple[int, int]) -> list[list[int]]:
    count = len(units)
    starts = [_balanced(count, inner)]
    for bands in range(1, count + 1):
        starts.append(_bands(units, True, bands))
        starts.append(_bands(units, False, bands))
    return starts


def _valid(expression: Sequence[int]) -> bool:
    operands = 0
    for token in expression:
        if token >= 0:
            operands += 1
        else:
            operands -= 1
            if operands < 1:
                return False
    return operands == 1


def _neighbour(expression: list[int], rng: random.Random) -> list[int] | None:
    candidate = list(expression)
    move = rng.randrange(3)
    if move == 0:
        operands = [i for i, token in enumerate(candidate) if token >= 0]
        first, second = rng.sample(operands, 2)
        candidate[first], candidate[second] = candidate[second], candidate[first]
    elif move == 1:
        operators = [i for i, token in enumerate(candidate) if token < 0]
        index = rng.choice(operators)
        candidate[index] = _SIDE if candidate[index] == _STACK else _STACK
    else:
        pairs = [i for i in range(len(candidate) - 1) if (candidate[i] >= 0) != (candidate[i + 1] >= 0)]
        index = rng.choice(pairs)
        candidate[index], candidate[index + 1] = candidate[index + 1], candidate[index]
        if not _valid(candidate):
            return None
    return candidate


def _search(units: Sequence[tuple[float, float]], inner: tuple[int, int], gap: int) -> list[int]:
    count = len(units)
    if count == 1:
        return [0]
    # Gutters are fixed pixels; express them in unit lengths at a typical final scale.
    unit_gap = gap / math.sqrt(0.8 * inner[0] * inner[1])
    current_cost, current = min((_cost(start, units, inner, unit_gap), start) for start in _starts(units, inner))
    rng = random.Random(_SEED)
    best, best_cost = current, current_cost
    steps = 400 + 160 * count
    temperature = 0.05
    cooling = (0.0005 / temperature) ** (1 / steps)
    for _ in range(steps):
        candidate = _neighbour(current, rng)
        temperature *= cooling
        if candidate is None:
            continue
        cost = _cost(candidate, units, inner, unit_gap)
        if cost <= current_cost or rng.random() < math.exp((current_cost - cost) / temperature):
            current, current_cost = candidate, cost
            if cost < best_cost:
                best, best_cost = candidate, cost
    return best


_Tree = int | tuple[int, list["_Tree"]]


def _reading_order(expression: Sequence[int]) -> list[int]:
    """The same geometry with labels read left to right, top to bottom where the tree allows.

    A run of the same cut is one row (or column) whose bounding box does not depend on the order of
    its members, so each run is sorted by the first label it holds.
    """
    stack: list[_Tree] = []
    for token in expression:
        if token >= 0:
            stack.append(token)
            continue
        right = stack.pop()
        left = stack.pop()
        members: list[_Tree] = []
        for child in (left, right):
            if isinstance(child, tuple) and child[0] == token:
                members.extend(child[1])
            else:
                members.append(child)
        stack.append((token, members))

    def first(node: _Tree) -> int:
        return node if isinstance(node, int) else min(first(child) for child in node[1])

    ordered: list[int] = []

    def emit(node: _Tree) -> None:
        if isinstance(node, int):
            ordered.append(node)
            return
        cut, members = node
        head, *rest = sorted(members, key=first)
        emit(head)
        for member in rest:
            emit(member)
            ordered.append(cut)

    emit(stack[0])
    return ordered


def _twins_in_order(items: Sequence[Item], expression: Sequence[int]) -> list[int]:
    """Items of identical shape and weight can trade places; give the earlier label the earlier place."""
    groups: dict[tuple[float, float], list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault((item.aspect, clamp_weight(item.weight)), []).append(index)
    group_of = {index: members for members in groups.values() for index in members}
    handed_out = {id(members): 0 for members in groups.values()}
    relabelled = []
    for token in expression:
        if token < 0:
            relabelled.append(token)
            continue
        members = group_of[token]
        relabelled.append(members[handed_out[id(members)]])
        handed_out[id(members)] += 1
    return relabelled


# phase 3: scale


def _fit_scale(
    expression: Sequence[int], units: Sequence[tuple[float, float]], inner: tuple[int, int], gap: int
) -> float:
    """Largest scale whose bounding box, with pixel gutters, fits ``inner`` (bisection: size grows with scale)."""
    free_w, free_h = _bounding(expression, units, 0.0)
    high = min(inner[0] / free_w, inner[1] / free_h)
    low = 0.0
    for _ in range(48):
        middle = (low + high) / 2
        box_w, box_h = _bounding(expression, [(w * middle, h * middle) for w, h in units], gap)
        if box_w <= inner[0] and box_h <= inner[1]:
            low = middle
        else:
            high = middle
    return low


def _inflate(
    expression: Sequence[int], base: Sequence[tuple[float, float]], inner: tuple[int, int], gap: int
) -> list[tuple[float, float]]:
    """Grow each item into slack its neighbours leave, up to MAX_GROWTH of its area, keeping the tree inside."""
    limit = math.sqrt(1 + MAX_GROWTH)
    factors = [1.0] * len(base)

    def fits(dims: Sequence[tuple[float, float]]) -> bool:
        box_w, box_h = _bounding(expression, dims, gap)
        return box_w <= inner[0] and box_h <= inner[1]

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
    base: Sequence[tuple[float, float]],
    grown: Sequence[tuple[float, float]],
    items: Sequence[Item],
    gap: int,
    size: tuple[int, int],
) -> list[Box]:
    root = _tree(expression, grown, gap)
    boxes: list[Box | None] = [None] * len(items)
    growth = math.sqrt(1 + MAX_GROWTH)

    def visit(node: _Node, x: float, y: float, width: float, height: float) -> None:
        if node.left is None or node.right is None:
            wanted_w, wanted_h = base[node.token]
            boxes[node.token] = _fit(items[node.token].aspect, wanted_w, wanted_h, growth, x, y, width, height)
            return
        left, right = node.left, node.right
        if node.token == _SIDE:
            free = max(0.0, width - gap)
            left_w = free * left.width / (left.width + right.width)
            visit(left, x, y, left_w, height)
            visit(right, x + left_w + gap, y, free - left_w, height)
        else:
            free = max(0.0, height - gap)
            top_h = free * left.height / (left.height + right.height)
            visit(left, x, y, width, top_h)
            visit(right, x, y + top_h + gap, width, free - top_h)

    visit(root, float(gap), float(gap), float(size[0] - 2 * gap), float(size[1] - 2 * gap))
    placed = [box for box in boxes if box is not None]
    if len(placed) != len(items):
        raise AssertionError("layout lost an item")
    return placed


def _fit(
    aspect: float, wanted_w: float, wanted_h: float, growth: float, x: float, y: float, width: float, height: float
) -> Box:
    """The largest box of ``aspect`` within the cell, at most ``growth`` times the wanted side lengths."""
    factor = min(width / wanted_w, height / wanted_h, growth) if wanted_w > 0 and wanted_h > 0 else 0.0
    # Rounding both edges keeps neighbours apart: cells are separated by the gutter or share an edge exactly.
    left, top = round(x), round(y)
    room_w = max(1, round(x + width) - left)
    room_h = max(1, round(y + height) - top)
    box_w = min(room_w, max(1, round(wanted_w * factor)), max(1, math.floor((room_h + 0.49) * aspect)))
    box_h = min(room_h, max(1, round(box_w / aspect)))
    x0 = left + (room_w - box_w) // 2
    y0 = top + (room_h - box_h) // 2
    return Box(x0, y0, x0 + box_w, y0 + box_h)
