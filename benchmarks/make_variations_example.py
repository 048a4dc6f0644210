"""Build docs/variations-grid.jpg, the README picture of a variations grid, with the bot's own grid.

Run from the repository root: ``python -m benchmarks.make_variations_example`` (needs the ``bench``
extra, scikit-image). No API is called, so the four "variations" are stand-ins: one of
scikit-image's sample photos (the cat) turned four ways (as is, mirrored, warmer and cooler,
cropped closer). ``compose.grid.compose_grid`` lays them out and numbers them exactly as the bot
does for a merge asked for ``n=4``.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import skimage.data
from PIL import Image, ImageEnhance, ImageOps

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compose.grid import compose_grid

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "variations-grid.jpg"
SIDE = 1024  # what the README shows; the bot's grids are 2048 on their long side


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def stand_ins() -> list[bytes]:
    """Four pictures of the same 1024x1024 shape, different enough to tell apart."""
    cat = Image.fromarray(skimage.data.chelsea()).convert("RGB")  # 451x300
    square = ImageOps.fit(cat, (300, 300)).resize((1024, 1024), Image.Resampling.LANCZOS)
    red, green, blue = square.split()
    warm = Image.merge("RGB", (red.point(lambda v: min(255, v + 30)), green, blue.point(lambda v: max(0, v - 30))))
    cool = Image.merge("RGB", (red.point(lambda v: max(0, v - 30)), green, blue.point(lambda v: min(255, v + 40))))
    close = ImageOps.fit(square.crop((200, 100, 900, 800)), (1024, 1024))
    return [
        _png(square),
        _png(ImageOps.mirror(warm)),
        _png(ImageEnhance.Contrast(cool).enhance(1.2)),
        _png(close),
    ]


def main() -> int:
    grid = compose_grid(stand_ins(), side=SIDE)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(grid.data)
    print(f"wrote {OUTPUT} ({len(grid.data)} bytes, {grid.size[0]}x{grid.size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
