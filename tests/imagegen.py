"""Small, deterministic test images shared by every test package."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

COLORS = ((220, 60, 60), (60, 160, 80), (50, 90, 200), (230, 180, 40), (150, 70, 170), (40, 170, 170))


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def solid(width: int, height: int, color: tuple[int, int, int] = COLORS[0]) -> Image.Image:
    return Image.new("RGB", (width, height), color)


def pattern(width: int, height: int, seed: int = 0) -> Image.Image:
    """A busy, recognisable picture: a coloured field with shapes, not a flat fill."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), COLORS[seed % len(COLORS)])
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(1, max(2, width // 3)), y0 + rng.randrange(1, max(2, height // 3))
        draw.ellipse((x0, y0, x1, y1), fill=COLORS[rng.randrange(len(COLORS))])
    return image


def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    return encode(pattern(width, height, seed), "PNG")


def jpeg(width: int = 64, height: int = 48, seed: int = 0, quality: int = 90) -> bytes:
    return encode(pattern(width, height, seed), "JPEG", quality=quality)
