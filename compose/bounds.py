"""What decoding one file will cost, judged from its header before any pixel exists.

Two costs can be forced by a small hostile file, and both are bounded here:

- **Memory.** Most formats decode at full size whatever the panel needs (only JPEG
  scales while decoding), and some decoders hold several full-size copies (WebP,
  AVIF, HEIF). Each format and colour mode has a measured peak in bytes per pixel;
  a file whose full-size peak passes ``DECODE_BUDGET_BYTES`` is refused, so the
  pixel cap is lower for the formats that cost more. A JPEG with more than one scan
  (progressive, or non-interleaved) keeps every DCT coefficient of the full picture
  in memory whatever the output scale: 128 bytes per 8x8 block, counted from the
  frame header's sampling factors.
- **Time.** A progressive JPEG may repeat its scans: each one walks every block of
  the picture again, so a 300 KB file can cost minutes of CPU. The markers are
  counted (``jpeg_layout``, a pass over the bytes without decoding) and a file with
  too many scans, or too much scan work for its size, is refused at once.

``compose.decode.needs_budget`` uses the ``LIGHT_*`` limits (and, for a PNG, a count of
its chunks: ``png_chunks_within``) to tell which files need no time budget at all: their
decode is cheap and predictable, so the bot keeps them on its threads and sends the rest
to a process it can stop (``bot/imagework.py``).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass

from PIL import Image

from compose.errors import ComposeError, DecodeTooSlow

# Pixel memory one decode may hold. With the ~30 MB a decode needs whatever the file
# (the output, the encoder, Pillow's plugins), no file takes a process more than
# 150 MB above its resting size.
DECODE_BUDGET_BYTES = 100 * 2**20

MAX_JPEG_SCANS = 100  # encoders write 1 to ~20; the JPEG standard sets no limit
MAX_JPEG_SCAN_BLOCKS = 12_000_000  # blocks read over all scans: ~2x a 40 MP 4:2:0 progressive photo
MAX_JPEG_SEGMENTS = 2_000  # markers before EOI; each costs a step of Python in Pillow's parser

LIGHT_SCAN_BLOCKS = 2_500_000  # a 50 MP baseline photo reads 1.2 M blocks once
LIGHT_FILE_BYTES = 1 << 20
LIGHT_PIXELS = 4_000_000
# A PNG's decode costs its pixels plus a step of Python per chunk (Pillow walks them), not its size on
# disk: one of up to 16 MiB in few chunks is as quick as a small one (a 1 MP photo saved as PNG is ~2.5 MB).
LIGHT_PNG_BYTES = 16 << 20
LIGHT_PNG_CHUNKS = 4096  # 8 KiB chunks (libpng's default) fill 32 MiB; a file of tiny chunks passes it
LIGHT_FORMATS = frozenset({"PNG", "GIF", "BMP", "WEBP", "HEIF", "AVIF"})  # TIFF may hold JPEG scans

# Bytes one pixel of each mode takes in a Pillow image.
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# What a format's decoder holds per full-size pixel beyond Pillow's image while it
# decodes (its own canvas and copies), measured with benchmarks/bench_hostile.py.
_DECODER_EXTRA = {"WEBP": 11.0, "AVIF": 4.5, "HEIF": 2.5}
# Converting and resampling work in bands (compose/decode.py): a little per pixel.
_SHRINK_EXTRA = 0.1
# A progressive JPEG's output, at its DCT-scaled size, beside its coefficients.
_JPEG_OUTPUT_ALLOWANCE = 16 * 2**20

_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_LOSSLESS = frozenset({0xC3, 0xC7, 0xCB, 0xCF})
_ARITHMETIC = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_SEQUENTIAL_HUFFMAN = frozenset({0xC0, 0xC1})  # baseline and extended sequential DCT
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# The next marker after entropy-coded data: 0xFF followed by anything but a stuffed
# zero, a restart marker or another fill byte.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


@dataclass(frozen=True)
class Component:
    id: int
    h: int
    v: int


_Frame = tuple[int, int, int, tuple[Component, ...]]  # marker, width, height, components


@dataclass(frozen=True)
class JpegLayout:
    """A JPEG's frame and scans as its markers declare them (up to the first EOI, or the one scan that
    completes a sequential picture)."""

    frame: int  # the SOF marker
    width: int
    height: int
    components: tuple[Component, ...]
    scans: tuple[tuple[int, ...], ...]  # the component ids each scan covers

    @property
    def progressive(self) -> bool:
        return self.frame in _PROGRESSIVE

    @property
    def lossless(self) -> bool:
        return self.frame in _LOSSLESS

    @property
    def buffers_coefficients(self) -> bool:
        """The decoder keeps the whole picture's coefficients until the last scan."""
        return self.progressive or len(self.scans) > 1

    def blocks(self, component: Component) -> int:
        """8x8 blocks of ``component`` as libjpeg allocates them (padded to whole MCUs)."""
        h_max = max(c.h for c in self.components)
        v_max = max(c.v for c in self.components)
        wide = math.ceil(math.ceil(self.width * component.h / h_max) / 8)
        tall = math.ceil(math.ceil(self.height * component.v / v_max) / 8)
        return _round_up(wide, component.h) * _round_up(tall, component.v)

    @property
    def coefficient_bytes(self) -> int:
        return sum(self.blocks(component) for component in self.components) * 64 * 2

    @property
    def scan_blocks(self) -> int:
        """Blocks read over all scans: what the decoder's time grows with."""
        by_id = {component.id: self.blocks(component) for component in self.components}
        return sum(by_id.get(component_id, 0) for scan in self.scans for component_id in scan)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def jpeg_layout(data: bytes, name: str) -> JpegLayout | None:
    """Read a JPEG's markers without decoding; None when they are too damaged to tell (the decoder says why).

    Raises DecodeTooSlow as soon as the count of scans or markers passes its limit, so
    even a file made of nothing but markers costs one bounded pass.
    """
    frame: _Frame | None = None
    scans: list[tuple[int, ...]] = []
    segments = 0
    pos, end = 2, len(data)
    while pos + 1 < end:
        if data[pos] != 0xFF:  # stray bytes: libjpeg skips to the next marker, and so do we
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                break
            pos = found.start()
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:
            break
        if marker in _STANDALONE or marker == 0xD8:
            pos += 2
            continue
        if pos + 4 > end:
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            return None
        body = data[pos + 4 : pos + 2 + length]
        pos += 2 + length
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise DecodeTooSlow(name, f"more than {MAX_JPEG_SEGMENTS} JPEG markers")
        if marker in _SOF and frame is None:
            frame = _read_frame(marker, body)
            if frame is None:
                return None
        elif marker == 0xDA:
            if not body:
                return None
            scans.append(tuple(body[1 + 2 * index] for index in range(body[0]) if 1 + 2 * index < len(body)))
            if _complete_in_one_scan(frame, scans):
                break
            if len(scans) > MAX_JPEG_SCANS:
                raise DecodeTooSlow(name, f"more than {MAX_JPEG_SCANS} JPEG scans")
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                break
            pos = found.start()
    if frame is None:
        return None
    marker, width, height, components = frame
    return JpegLayout(marker, width, height, components, tuple(scans))


def _complete_in_one_scan(frame: _Frame | None, scans: list[tuple[int, ...]]) -> bool:
    """Whether the picture is whole after its first scan: a sequential frame whose first scan holds every
    component (a camera's or an editor's baseline JPEG). libjpeg reads no further scan of such a file (a
    later one is "broken data stream", at once), and Pillow's own parser stops at the first scan, so the
    rest of the file costs nothing to decode and need not be read: 4 MB of a 12 MP photo, 1.2 ms that
    hold the GIL."""
    if frame is None or frame[0] not in _SEQUENTIAL_HUFFMAN or len(scans) != 1:
        return False
    return {component.id for component in frame[3]} <= set(scans[0])


def _read_frame(marker: int, body: bytes) -> _Frame | None:
    if len(body) < 6:
        return None
    _precision, height, width, count = struct.unpack_from(">BHHB", body)
    if len(body) < 6 + 3 * count or count == 0 or width == 0 or height == 0:
        return None
    components = []
    for index in range(count):
        component_id, sampling = body[6 + 3 * index], body[7 + 3 * index]
        h, v = sampling >> 4, sampling & 0x0F
        if not (1 <= h <= 4 and 1 <= v <= 4):
            return None
        components.append(Component(component_id, h, v))
    return marker, width, height, tuple(components)


def check_jpeg(layout: JpegLayout, name: str) -> None:
    """Refuse a JPEG whose scans would take too long, or whose coefficients would not fit the budget."""
    if layout.scan_blocks > MAX_JPEG_SCAN_BLOCKS:
        raise DecodeTooSlow(name, f"{len(layout.scans)} JPEG scans over {layout.width}x{layout.height} pixels")
    if layout.buffers_coefficients and layout.coefficient_bytes > DECODE_BUDGET_BYTES - _JPEG_OUTPUT_ALLOWANCE:
        per_pixel = (layout.coefficient_bytes + _JPEG_OUTPUT_ALLOWANCE) / (layout.width * layout.height)
        kind = "progressive JPEG" if layout.progressive else "multi-scan JPEG"
        raise ComposeError(name, _too_large(layout.width, layout.height, per_pixel, kind))


def peak_bytes_per_pixel(image: Image.Image) -> float:
    """Peak memory per pixel of ``image`` at its current (possibly drafted) size, decoded and shrunk."""
    return _MODE_BYTES.get(image.mode, 4) + _SHRINK_EXTRA + _DECODER_EXTRA.get(str(image.format), 0.0)


def check_memory(image: Image.Image, name: str) -> None:
    """Refuse to decode ``image`` when its pixels, at the size it will decode to, pass the budget."""
    width, height = image.size
    per_pixel = peak_bytes_per_pixel(image)
    if width * height * per_pixel > DECODE_BUDGET_BYTES:
        raise ComposeError(name, _too_large(width, height, per_pixel, str(image.format)))


def _too_large(width: int, height: int, per_pixel: float, kind: str) -> str:
    megapixels = DECODE_BUDGET_BYTES / per_pixel / 1_000_000
    return f"image too large: {width}x{height} pixels (at most {megapixels:.0f} megapixels for {kind})"


def png_chunks_within(data: bytes, limit: int) -> bool:
    """True when the PNG ``data`` ends (IEND, or its bytes) within ``limit`` chunks: one bounded pass
    over the chunk headers, no decompression. A length running past the end counts as the end."""
    pos, end = 8, len(data)
    for _ in range(limit):
        if pos + 8 > end:
            return True
        (length,) = struct.unpack_from(">I", data, pos)
        if data[pos + 4 : pos + 8] == b"IEND":
            return True
        pos += 12 + length
    return pos + 8 > end


def is_light_jpeg(layout: JpegLayout) -> bool:
    """True when a JPEG's scans read few enough blocks to decode quickly whatever its size."""
    return not layout.lossless and layout.frame not in _ARITHMETIC and layout.scan_blocks <= LIGHT_SCAN_BLOCKS
