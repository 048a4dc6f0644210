"""The best cover of every slicing layout of a small set whose labels read in order: a search wider than the layouter's.

The layouter (``compose.layout``) only builds trees whose leaves read A, B, C… in tree order, a row
ending in a stack. This search drops that restriction: every way to cut the set in two (any subset
on either side, so any tree order), side by side or stacked, and a right part either level with the
left part's top or lowered to its lowest panel; a layout is kept when its panels pass
``compose.layout.reads_in_order``'s rule pair by pair (checked as parts are joined, so a part that
already reads out of order is dropped at once). Every panel is at exactly its weight's share, no
gutters, and the canvas takes the aspect from 1:3 to 3:1 that covers best. Exhaustive, so only for
small sets: 6 pictures take a fraction of a second, 9 about two minutes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from compose.layout import MAX_ASPECT, Item, clamp_weight

_Rect = tuple[float, float, float, float]
_Panels = tuple[tuple[int, _Rect], ...]
_Layout = tuple[float, float, _Panels]  # width, height, (label index, rectangle) for each panel
_EPSILON = 1e-12


def best_in_order_cover(items: Sequence[Item]) -> tuple[float, int]:
    """The best cover of any slicing layout of ``items`` that reads in order, and how many such layouts exist."""
    count = len(items)
    weights = [clamp_weight(item.weight) for item in items]
    total = sum(weights)
    units = [
        (math.sqrt(weight / total * item.aspect), math.sqrt(weight / total / item.aspect))
        for item, weight in zip(items, weights, strict=True)
    ]
    memo: dict[int, list[_Layout]] = {}

    def layouts(mask: int) -> list[_Layout]:
        if mask in memo:
            return memo[mask]
        members = [index for index in range(count) if mask >> index & 1]
        if len(members) == 1:
            index = members[0]
            width, height = units[index]
            memo[mask] = [(width, height, ((index, (0.0, 0.0, width, height)),))]
            return memo[mask]
        found: dict[tuple[object, ...], _Layout] = {}
        part = (mask - 1) & mask
        while part:
            for left_w, left_h, left in layouts(part):
                lowest = max(rect[1] for _, rect in left)
                for right_w, right_h, right in layouts(mask ^ part):
                    for drop in {0.0, lowest}:
                        _keep(found, left, _moved(right, left_w, drop), left_w + right_w, max(left_h, drop + right_h))
                    _keep(found, left, _moved(right, 0.0, left_h), max(left_w, right_w), left_h + right_h)
            part = (part - 1) & mask
        memo[mask] = list(found.values())
        return memo[mask]

    every = layouts((1 << count) - 1)
    return max(_cover(width, height) for width, height, _ in every), len(every)


def _moved(panels: _Panels, dx: float, dy: float) -> _Panels:
    return tuple((index, (x0 + dx, y0 + dy, x1 + dx, y1 + dy)) for index, (x0, y0, x1, y1) in panels)


def _keep(
    found: dict[tuple[object, ...], _Layout], first: _Panels, second: _Panels, width: float, height: float
) -> None:
    for index, rect in first:
        for other, other_rect in second:
            earlier, later = (rect, other_rect) if index < other else (other_rect, rect)
            if not _reads_after(earlier, later):
                return
    panels = first + second
    key = tuple(sorted((index, tuple(round(value, 9) for value in rect)) for index, rect in panels))
    found.setdefault(key, (width, height, panels))


def _reads_after(first: _Rect, later: _Rect) -> bool:
    """``compose.layout.reads_in_order`` for one pair: ``later`` is read after ``first``."""
    fx0, fy0, fx1, fy1 = first
    lx0, ly0, lx1, ly1 = later
    if ly1 <= fy0 + _EPSILON:
        return False
    if lx0 >= fx1 - _EPSILON and ly0 < fy0 - _EPSILON:
        return False
    return not (ly0 < fy1 - _EPSILON and fy0 < ly1 - _EPSILON and lx1 <= fx0 + _EPSILON)


def _cover(width: float, height: float) -> float:
    """The share of the best canvas from 1:3 to 3:1 a layout of area 1 and this bounding box covers."""
    aspect = min(MAX_ASPECT, max(1 / MAX_ASPECT, width / height))
    return min(1.0, aspect / (width * width), 1 / (aspect * height * height))
