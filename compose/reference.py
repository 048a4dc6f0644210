"""Normalizing one uploaded reference into the form the bot stores and sends."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from compose.decode import DEFAULT_MAX_PIXELS, decode_within, has_transparency, open_image
from compose.encode import encode

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Normalized:
    """A reference re-encoded upright and bounded in size: PNG when it has real transparency, else JPEG."""

    data: bytes
    format: str
    width: int
    height: int


def normalize(data: bytes, name: str, max_side: int = 2048, max_pixels: int = DEFAULT_MAX_PIXELS) -> Normalized:
    """Decode ``data`` once (first frame, upright, any mode), shrink it to ``max_side``, re-encode.

    Raises ComposeError naming ``name`` for empty, truncated, oversized or non-image input.
    """
    if max_side < 1:
        raise ValueError("max_side must be positive")
    image = open_image(data, name, max_pixels)
    with image:
        picture = decode_within(image, name, max_side)
    if has_transparency(picture):
        fmt, encoded = "png", encode(picture, "png")
    else:
        fmt, encoded = "jpeg", encode(picture.convert("RGB"), "jpeg")
    logger.debug("normalized %s: %dx%d %s, %d bytes", name, picture.width, picture.height, fmt, len(encoded))
    return Normalized(data=encoded, format=fmt, width=picture.width, height=picture.height)
