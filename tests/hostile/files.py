"""Hostile files, made here: small on disk, huge or slow to decode.

Each reproduces a finding of issue 8 (the sizes on disk match the review's):
a progressive JPEG whose last scan is repeated, a 16-bit PNG, a float TIFF and
an AVIF declaring 7000x7000 pixels; beside them files just under each format's
cap, which must still decode.
"""

from __future__ import annotations

import io
import re
import struct

from PIL import Image

HUGE = (7000, 7000)  # 49 MP: under the 50-megapixel cap, the review's size
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def flat(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    colour: float | tuple[int, ...] = {"RGB": (100, 120, 140), "RGBA": (100, 120, 140, 200), "L": 120}.get(mode, 0)
    if mode == "I;16":
        colour = 30000
    if mode == "F":
        colour = 0.5
    return Image.new(mode, size, colour)


def scans_of(data: bytes) -> list[bytes]:
    """Each SOS segment of a JPEG with its entropy-coded data (marker surgery needs no decoder)."""
    scans, pos = [], 2
    while pos < len(data) - 1:
        marker = data[pos + 1]
        if marker == 0xD9:
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if marker == 0xDA:
            found = _NEXT_MARKER.search(data, end)
            end = found.start() if found else len(data)
            scans.append(data[pos:end])
        pos = end
    return scans


def repeated_scans(size: tuple[int, int] = HUGE, repeats: int = 200, subsampling: int = 2) -> bytes:
    """A valid progressive JPEG whose last scan comes ``repeats`` more times: each walks every block again."""
    data = encode(flat(size), "JPEG", progressive=True, quality=90, subsampling=subsampling)
    last = scans_of(data)[-1]
    assert data.endswith(b"\xff\xd9")
    return data[:-2] + last * repeats + b"\xff\xd9"


def many_small_scans(scans: int) -> bytes:
    """A small progressive JPEG with ``scans`` scans in all: cheap to decode, but past any encoder's count."""
    data = encode(flat((64, 64)), "JPEG", progressive=True, quality=90)
    parts = scans_of(data)
    return data[:-2] + parts[-1] * (scans - len(parts)) + b"\xff\xd9"


def sixteen_bit_png(size: tuple[int, int] = HUGE) -> bytes:
    return encode(flat(size, "I;16"), "PNG")


def float_tiff(size: tuple[int, int] = HUGE) -> bytes:
    return encode(flat(size, "F"), "TIFF", compression="tiff_adobe_deflate")


def avif(size: tuple[int, int] = HUGE) -> bytes:
    return encode(flat(size), "AVIF", speed=10, quality=10)


def png(size: tuple[int, int], mode: str = "RGBA") -> bytes:
    return encode(flat(size, mode), "PNG")


def webp(size: tuple[int, int]) -> bytes:
    return encode(flat(size), "WEBP", quality=10)


def gif(size: tuple[int, int] = HUGE) -> bytes:
    return encode(flat(size).convert("P"), "GIF")


def progressive_jpeg(size: tuple[int, int], subsampling: int = 2) -> bytes:
    return encode(flat(size), "JPEG", progressive=True, quality=90, subsampling=subsampling)
