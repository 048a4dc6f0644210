"""The picture of a merge's variations: each one in its own cell with a large number.

Several variations come back from one call; the chat shows them as one picture people
pick from ("Pick 2", "Vary 3"), so each cell carries its number in a badge big enough
to read in a phone-sized preview: a disc of a fifth of the cell's shorter side, light
on dark with a ring, in the cell's top-left corner. Cells sit in one row, one column
or two columns, whichever arrangement is closest to square for the pictures' shape,
on a dark background with gutters between them. Same input, same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from compose.decode import decode_within, open_image
from compose.encode import encode
from compose.errors import ComposeError
from compose.fonts import font
from compose.layout import Box

MAX_CELLS = 10  # what one images.edit call can return
DEFAULT_SIDE = 2048
BACKGROUND = (24, 24, 24)
DISC = (18, 18, 18)
INK = (250, 250, 250)
BADGE_SHARE = 0.2  # of the cell's shorter side
GUTTER_SHARE = 0.015  # of the grid's longer side


@dataclass(frozen=True)
class Grid:
    """The encoded grid, its size, and where each variation's cell and number badge are (from 1)."""

    data: bytes
    size: tuple[int, int]
    cells: tuple[Box, ...]
    badges: tuple[Box, ...]


def arrangement(count: int, aspect: float) -> tuple[int, int]:
    """Columns and rows for ``count`` cells of width/height ``aspect``: one row, one column or
    two columns, the one whose whole is closest to square (a row wins ties)."""
    if not 1 <= count <= MAX_CELLS:
        raise ValueError(f"a grid holds 1 to {MAX_CELLS} pictures, not {count}")
    shapes = [(count, 1), (1, count), (2, math.ceil(count / 2))]

    def squareness(shape: tuple[int, int]) -> float:
        columns, rows = shape
        return abs(math.log(aspect * columns / rows))

    return min(dict.fromkeys(shapes), key=squareness)


def compose_grid(images: Sequence[bytes], *, side: int = DEFAULT_SIDE, fmt: str = "jpeg") -> Grid:
    """The variations ``images`` (in order, numbered from 1) as one picture whose longer side
    is at most ``side``. The cells take the first picture's shape; others are fitted inside."""
    if not images:
        raise ValueError("a grid needs at least one picture")
    opened = [open_image(data, f"variation {index}") for index, data in enumerate(images, start=1)]
    first_w, first_h = opened[0].size
    columns, rows = arrangement(len(images), first_w / first_h)
    gutter = max(2, round(side * GUTTER_SHARE))
    cell_w, cell_h = _cell_size(first_w, first_h, columns, rows, side, gutter)
    size = (columns * cell_w + (columns + 1) * gutter, rows * cell_h + (rows + 1) * gutter)
    canvas = Image.new("RGB", size, BACKGROUND)
    cells: list[Box] = []
    badges: list[Box] = []
    for index, image in enumerate(opened):
        column, row = index % columns, index // columns
        cell = Box(
            gutter + column * (cell_w + gutter),
            gutter + row * (cell_h + gutter),
            gutter + column * (cell_w + gutter) + cell_w,
            gutter + row * (cell_h + gutter) + cell_h,
        )
        with image:
            picture = decode_within(image, f"variation {index + 1}", max(cell_w, cell_h))
        picture.thumbnail((cell_w, cell_h), Image.Resampling.LANCZOS)
        left = cell.x0 + (cell_w - picture.width) // 2
        top = cell.y0 + (cell_h - picture.height) // 2
        if picture.mode == "RGBA":
            canvas.paste(picture, (left, top), picture)
        else:
            canvas.paste(picture.convert("RGB"), (left, top))
        cells.append(cell)
        badges.append(_draw_number(canvas, index + 1, cell))
    return Grid(encode(canvas, fmt), size, tuple(cells), tuple(badges))


def _cell_size(width: int, height: int, columns: int, rows: int, side: int, gutter: int) -> tuple[int, int]:
    """The largest cell of the pictures' shape that keeps the grid within ``side``, never
    larger than the pictures themselves."""
    room_w = (side - (columns + 1) * gutter) / columns
    room_h = (side - (rows + 1) * gutter) / rows
    scale = min(room_w / width, room_h / height, 1.0)
    if scale <= 0:
        raise ComposeError("variations", f"a {side}-px grid has no room for {columns * rows} cells")
    return max(1, int(width * scale)), max(1, int(height * scale))


def _draw_number(canvas: Image.Image, number: int, cell: Box) -> Box:
    diameter = max(24, round(min(cell.width, cell.height) * BADGE_SHARE))
    margin = max(4, diameter // 6)
    badge = Box(cell.x0 + margin, cell.y0 + margin, cell.x0 + margin + diameter, cell.y0 + margin + diameter)
    draw = ImageDraw.Draw(canvas)
    ring = max(2, diameter // 14)
    draw.ellipse((badge.x0, badge.y0, badge.x1 - 1, badge.y1 - 1), fill=DISC, outline=INK, width=ring)
    centre = ((badge.x0 + badge.x1) / 2, (badge.y0 + badge.y1) / 2)
    draw.text(centre, str(number), font=font(round(diameter * 0.62)), fill=INK, anchor="mm")
    return badge
