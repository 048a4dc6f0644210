"""Encoding pictures to PNG, JPEG or WebP, and fitting encoded images into a byte budget."""

from __future__ import annotations

import io
import logging
import math
import struct
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from PIL import Image

from compose.decode import DEFAULT_MAX_PIXELS, RESAMPLE, decode_within, has_transparency, open_image, probe
from compose.errors import ComposeError

logger = logging.getLogger(__name__)

FORMATS = ("png", "jpeg", "webp")
DEFAULT_QUALITY = 90
QUALITY_STEPS = (90, 84, 78, 70, 62, 54, 46)
MIN_SIDE = 16
_OPAQUE_BACKGROUND = (255, 255, 255)


def check_format(fmt: str) -> str:
    """The canonical lowercase name of ``fmt`` ("jpg" is "jpeg"); ValueError when not png, jpeg or webp."""
    canonical = fmt.lower().replace("jpg", "jpeg")
    if canonical not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return canonical


def encode(picture: Image.Image, fmt: str, quality: int = DEFAULT_QUALITY, compact: bool = True) -> bytes:
    """Encode an RGB or RGBA picture; JPEG drops alpha onto white. Same picture, same bytes.

    ``compact`` JPEGs use optimized Huffman tables: a few percent smaller, but libjpeg then buffers the
    whole picture's coefficients (12 MB for a 2048-px sheet) and takes about three times as long.
    Without ``compact``, PNG and WebP take their fastest settings too (PNG: ``fast_png``; WebP method 0).
    """
    fmt = check_format(fmt)
    if fmt == "jpeg" and picture.mode != "RGB":
        picture = _opaque(picture)
    buffer = io.BytesIO()
    if fmt == "jpeg":
        picture.save(buffer, "JPEG", quality=quality, optimize=compact)
    elif fmt == "webp":
        picture.save(buffer, "WEBP", quality=quality, method=4 if compact else 0)
    elif compact or picture.mode not in _PNG_COLOUR_TYPES:
        picture.save(buffer, "PNG", compress_level=6 if compact else 1)
    else:
        return fast_png(picture)
    return buffer.getvalue()


_PNG_COLOUR_TYPES = {"RGB": 2, "RGBA": 6}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_BAND_BYTES = 1 << 20  # raw bytes of rows deflated at a time
_DEFLATE_WORTH = 0.8  # deflate a band when a sample of it shrinks below this share of its size
_ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KiB window, the "fastest" level flag


def fast_png(picture: Image.Image) -> bytes:
    """An RGB or RGBA picture as a PNG, written for speed (see ``fast_png_pieces``)."""
    return b"".join(fast_png_pieces(picture))


def fast_png_pieces(picture: Image.Image, threads: int = 2) -> Iterator[bytes]:
    """An RGB or RGBA picture as a PNG, in pieces to write one after the other: rows unfiltered,
    deflated at level 1 with run-length matching only where a sample says it pays (stored where
    not: photos), bands of rows on ``threads`` threads.

    Pillow always runs PNG's adaptive row filters, which cost more than the deflating itself: at its
    fastest level a 2048-px sheet takes about three times as long as this, for a file about two thirds
    the size. The pixels are the same either way. Each band is its own raw deflate stream ended on a
    byte boundary (a sync flush, as pigz does), so the bands deflate in parallel (zlib releases the
    GIL) into one valid zlib stream; run-length matches reach back one pixel at most, so cutting
    costs nothing in size. Only a few bands are held at once, never the whole picture's bytes.
    """
    colour_type = _PNG_COLOUR_TYPES[picture.mode]
    width, height = picture.size
    band_rows = max(1, _PNG_BAND_BYTES // (width * len(picture.mode)))
    tops = range(0, height, band_rows)

    def band(top: int) -> tuple[bytes, bytes]:
        raw = picture.crop((0, top, width, min(height, top + band_rows))).tobytes()
        stride = width * len(picture.mode)
        rows = b"".join(b"\x00" + raw[at : at + stride] for at in range(0, len(raw), stride))
        level = 1 if _worth_deflating(rows, stride + 1) else 0  # 0: stored, the bytes as they are
        deflater = zlib.compressobj(level, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
        last = top + band_rows >= height
        return rows, deflater.compress(rows) + deflater.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    yield _PNG_SIGNATURE + _chunk(b"IHDR", header)
    checksum = zlib.adler32(b"")
    first = True
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="png") as pool:
        pending: deque[Future[tuple[bytes, bytes]]] = deque()
        for top in tops:
            pending.append(pool.submit(band, top))
            if len(pending) > threads:
                rows, deflated = pending.popleft().result()
                checksum = zlib.adler32(rows, checksum)
                yield _chunk(b"IDAT", (_ZLIB_HEADER if first else b"") + deflated)
                first = False
        while pending:
            rows, deflated = pending.popleft().result()
            checksum = zlib.adler32(rows, checksum)
            trailer = b"" if pending else struct.pack(">I", checksum)
            yield _chunk(b"IDAT", (_ZLIB_HEADER if first else b"") + deflated + trailer)
            first = False
    yield _chunk(b"IEND", b"")


def _worth_deflating(rows: bytes, row_bytes: int) -> bool:
    """Whether run-length deflating ``rows`` pays: every eighth row is tried. A photo's rows shrink by
    a tenth for nine times the time of storing them; flat backgrounds and graphics shrink several fold."""
    sample = b"".join(rows[at : at + row_bytes] for at in range(0, len(rows), 8 * row_bytes))
    deflater = zlib.compressobj(1, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    return len(deflater.compress(sample) + deflater.flush()) < _DEFLATE_WORTH * len(sample)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _opaque(picture: Image.Image) -> Image.Image:
    if picture.mode == "RGBA":
        base = Image.new("RGB", picture.size, _OPAQUE_BACKGROUND)
        base.paste(picture, mask=picture.getchannel("A"))
        return base
    return picture.convert("RGB")


def encode_within(
    picture: Image.Image, fmt: str, max_bytes: int | None, name: str = "result", compact: bool = True
) -> tuple[bytes, Image.Image]:
    """Encode ``picture`` as ``fmt`` in at most ``max_bytes``: lower quality first, then smaller.

    Returns the bytes and the picture they encode (smaller than the input when it had to shrink).
    Raises ComposeError when even a tiny picture does not fit.
    """
    fmt = check_format(fmt)
    data = encode(picture, fmt, compact=compact)
    if max_bytes is None or len(data) <= max_bytes:
        return data, picture
    if fmt != "png":
        for quality in QUALITY_STEPS[1:]:
            data = encode(picture, fmt, quality, compact)
            if len(data) <= max_bytes:
                return data, picture
    quality = QUALITY_STEPS[2]
    current = picture
    while True:
        # Bytes scale roughly with pixel count; aim a little under the budget.
        ratio = min(0.9, math.sqrt(max_bytes / len(data)) * 0.95)
        size = (round(current.width * ratio), round(current.height * ratio))
        if min(size) < MIN_SIDE:
            raise ComposeError(name, f"cannot fit the image in {max_bytes} bytes")
        current = picture.resize(size, RESAMPLE, reducing_gap=2.0)
        data = encode(current, fmt, quality, compact)
        logger.debug("shrunk to %dx%d: %d bytes (budget %d)", size[0], size[1], len(data), max_bytes)
        if len(data) <= max_bytes:
            return data, current


def fit_to_bytes(data: bytes, max_bytes: int, name: str = "result") -> tuple[bytes, str]:
    """``data`` re-encoded to at most ``max_bytes``; returns (bytes, format).

    Unchanged when it already fits. Otherwise opaque pictures become JPEG, pictures with
    transparency stay PNG when that fits and become WebP (which keeps alpha) when not;
    quality is lowered first, then the picture is shrunk. ComposeError when it cannot fit.
    """
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    info = probe(data, name, max_pixels=DEFAULT_MAX_PIXELS * 4)
    if len(data) <= max_bytes:
        return data, info.format.lower()
    image = open_image(data, name, max_pixels=DEFAULT_MAX_PIXELS * 4)
    with image:
        picture = decode_within(image, name, max(info.width, info.height))
    formats = ("png", "webp") if has_transparency(picture) else ("jpeg",)
    if picture.mode == "RGBA" and formats == ("jpeg",):
        picture = picture.convert("RGB")
    last_error: ComposeError | None = None
    for fmt in formats:
        if fmt == "png":
            encoded = encode(picture, "png")
            if len(encoded) <= max_bytes:
                return encoded, "png"
            continue
        try:
            encoded, _picture = encode_within(picture, fmt, max_bytes, name)
        except ComposeError as error:
            last_error = error
            continue
        return encoded, fmt
    raise ComposeError(name, f"cannot fit the image in {max_bytes} bytes") from last_error
