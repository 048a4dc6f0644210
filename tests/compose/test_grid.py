"""The variations grid: one cell per picture, in order, each with a large readable number."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from compose.grid import BADGE_SHARE, arrangement, compose_grid
from tests.imagegen import png


def picture(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@pytest.mark.parametrize(
    ("count", "aspect", "expected"),
    [(2, 1.0, (2, 1)), (3, 1.0, (2, 2)), (4, 1.0, (2, 2)), (4, 3.0, (1, 4)), (2, 0.5, (2, 1)), (3, 0.4, (3, 1))],
)
def test_the_arrangement_is_the_one_closest_to_square(count: int, aspect: float, expected: tuple[int, int]) -> None:
    assert arrangement(count, aspect) == expected


def test_four_pictures_sit_in_order_in_their_own_cells_each_under_its_number() -> None:
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (220, 220, 40)]
    sources = []
    for colour in colours:
        buffer = io.BytesIO()
        Image.new("RGB", (600, 400), colour).save(buffer, "PNG")
        sources.append(buffer.getvalue())
    grid = compose_grid(sources, side=1024)
    image = picture(grid.data)
    assert image.size == grid.size and max(grid.size) <= 1024
    assert len(grid.cells) == 4
    for index, cell in enumerate(grid.cells):
        assert all(not cell.overlaps(other) for other in grid.cells[index + 1 :])
        # the cell's lower right quarter is the picture's colour, untouched by the badge
        corner = image.crop((cell.x0 + cell.width // 2, cell.y0 + cell.height // 2, cell.x1, cell.y1))
        mean = ImageStat.Stat(corner).mean
        assert all(abs(m - c) < 12 for m, c in zip(mean, colours[index], strict=True)), (index, mean)
    # reading order: 1 and 2 on the first row, 3 and 4 below
    assert grid.cells[0].y0 == grid.cells[1].y0 < grid.cells[2].y0 == grid.cells[3].y0
    assert grid.cells[0].x0 < grid.cells[1].x0
    for badge, cell in zip(grid.badges, grid.cells, strict=True):
        assert badge.width >= BADGE_SHARE * min(cell.width, cell.height) - 1  # a fifth of the cell: readable small
        disc = image.crop((badge.x0, badge.y0, badge.x1, badge.y1)).convert("L")
        levels = disc.histogram()
        dark, light = sum(levels[:60]), sum(levels[201:])
        assert dark > 0.3 * badge.area and light > 0.05 * badge.area  # light digit on a dark disc


def test_the_numbers_differ_from_cell_to_cell() -> None:
    same = png(512, 512, seed=3)
    grid = compose_grid([same, same, same], side=1024)
    image = picture(grid.data)
    badges = [image.crop((b.x0, b.y0, b.x1, b.y1)).convert("L").tobytes() for b in grid.badges]
    assert len(set(badges)) == 3


def test_same_input_same_bytes_and_no_picture_is_blown_up() -> None:
    small = [png(100, 80, seed=s) for s in range(2)]
    first, second = compose_grid(small), compose_grid(small)
    assert first.data == second.data
    assert all(cell.width <= 100 and cell.height <= 80 for cell in first.cells)


def test_an_empty_or_oversized_grid_is_refused() -> None:
    with pytest.raises(ValueError):
        compose_grid([])
    with pytest.raises(ValueError):
        arrangement(11, 1.0)
