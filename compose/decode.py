"""Safe, fast decoding of one uploaded image.

Everything a person can upload passes through here: the file is identified
from its header, refused early when it is not an accepted image or declares
more pixels than allowed (before any pixel memory is allocated), then decoded
once at the smallest size that serves the caller (JPEG DCT scaling with
``draft``, Pillow's ``reducing_gap``), turned upright per its EXIF orientation
and brought to 8-bit RGB or RGBA whatever its mode.

Memory and time are bounded from the header first (``compose/bounds.py``). Modes
that need converting (palette, 16-bit, float…) are converted and reduced one band
of rows at a time, so no full-size converted copy of the picture ever exists.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import logging
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageFile, UnidentifiedImageError

from compose.bounds import (
    LIGHT_FILE_BYTES,
    LIGHT_FORMATS,
    LIGHT_PIXELS,
    LIGHT_PNG_BYTES,
    LIGHT_PNG_CHUNKS,
    JpegLayout,
    check_jpeg,
    check_memory,
    is_light_jpeg,
    jpeg_layout,
    png_chunks_within,
)
from compose.errors import ComposeError

if TYPE_CHECKING:
    from PIL import ImageCms

logger = logging.getLogger(__name__)

ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF")
# Pillow's plugins for each format its header names (HEIF comes from pillow-heif, registered on first use).
_PLUGINS = {
    "JPEG": ("JpegImagePlugin",),  # which opens a JPEG holding several pictures as MPO by itself
    "PNG": ("PngImagePlugin",),
    "WEBP": ("WebPImagePlugin",),
    "GIF": ("GifImagePlugin",),
    "BMP": ("BmpImagePlugin",),
    "TIFF": ("TiffImagePlugin",),
    "AVIF": ("AvifImagePlugin",),
}
DEFAULT_MAX_PIXELS = 50_000_000
RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 2.0
# A sheet's panel is made where the eye cannot tell, for speed: it differs from a fair LANCZOS picture
# less than the sheet's own JPEG encoding moves it (tests/compose/test_decode.py). It may come from a
# JPEG decoded at a DCT scale up to 3 % smaller, then enlarged: a 4000-px photo in a 503-px panel decodes
# at 1/8 (500 px) as a 4032-px one does, not at 1/4 (a sixth more CPU per photo); and it is resampled
# with BICUBIC after the box reduction, as normalised copies are (a 1155-px PNG into a 503-px panel:
# 6 ms instead of LANCZOS's 8). A normalised copy, which goes to the model as its own image, is decoded
# at its full target (``decode_within``).
DRAFT_SLACK = 0.97
BAND_PIXELS = 1 << 20  # source pixels converted and resampled at a time
_LANCZOS_SUPPORT = 3.0  # the filter reaches this many source pixels (scaled by the reduction) each side

_ORIENTATION_TAG = 0x0112
_SWAPS_AXES = frozenset({5, 6, 7, 8})
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
# Pillow reports a failed decode with any of these, depending on the format plugin.
DECODE_FAILURES = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError)


@dataclass(frozen=True)
class ImageInfo:
    """What the header says: format, upright size (after EXIF orientation), frame count."""

    format: str
    width: int
    height: int
    frames: int
    orientation: int = 1


@functools.cache
def _register_heif() -> bool:
    """Teach Pillow HEIC/HEIF once, on first use; AVIF is native in Pillow."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        logger.warning("pillow-heif is not installed: HEIC/HEIF uploads will be refused")
        return False
    register_heif_opener()
    return True


def _open_formats(magic: str | None) -> list[str]:
    """The accepted formats Pillow can open here (``Image.open`` fails on unregistered names), given
    the format the header names (None when it names none of them).

    Only the plugins that can open it are imported (beside the five Pillow always loads):
    ``Image.init()`` would import all forty (about 40 ms at start-up).
    """
    everything = tuple(plugin for group in _PLUGINS.values() for plugin in group)
    plugins = everything if magic is None else _PLUGINS.get(magic, ())
    for plugin in plugins:
        # Always through the import system, which waits while another thread is still importing the
        # plugin: one found half-imported in sys.modules has not registered its format yet.
        with contextlib.suppress(ImportError):  # a plugin whose codec this build lacks
            importlib.import_module(f"PIL.{plugin}")
    return [name for name in ACCEPTED_FORMATS if name in Image.OPEN]


def _magic_format(data: bytes) -> str | None:
    for prefix, name in _MAGIC:
        if data.startswith(prefix):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        return "AVIF" if brand in (b"avif", b"avis") else "HEIF"
    return None


def describe_non_image(data: bytes) -> str:
    """A person-readable guess at what a non-image file is, for the refusal message."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%pdf"):
        return "not an image (looks like a PDF)"
    if b"<svg" in head:
        return "not an image (looks like SVG, which is not supported)"
    if head.startswith(b"<") and any(tag in head for tag in (b"<html", b"<!doctype html", b"<head", b"<body")):
        return "not an image (looks like HTML)"
    if head.startswith(b"<?xml") or head.startswith(b"<"):
        return "not an image (looks like XML or HTML)"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as error:
            # A multi-byte character cut at the 4096-byte boundary is still text.
            if error.start < len(head) - 4:
                return "not a supported image"
        return "not an image (looks like text)"
    return "not a supported image (accepted: PNG, JPEG, WebP, GIF, BMP, TIFF, HEIC, AVIF)"


def open_image(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageFile.ImageFile:
    """Identify ``data`` from its header and refuse what cannot be decoded safely; no pixels are read."""
    if not data:
        raise ComposeError(name, "empty file")
    magic = _magic_format(data)
    if magic == "JPEG":
        # Before Pillow reads the markers: a file made of markers or scans is refused in one bounded pass.
        _checked_jpeg_layout(data, name)
    return _open_screened(data, name, max_pixels, magic)


def _checked_jpeg_layout(data: bytes, name: str) -> JpegLayout | None:
    layout = jpeg_layout(data, name)
    if layout is not None:
        check_jpeg(layout, name)
    return layout


def _open_screened(data: bytes, name: str, max_pixels: int, magic: str | None) -> ImageFile.ImageFile:
    """``open_image`` once a JPEG's markers have been checked."""
    if magic == "HEIF":
        _register_heif()
    try:
        image = Image.open(io.BytesIO(data), formats=_open_formats(magic))
    except Image.DecompressionBombError as error:
        raise ComposeError(name, _bomb_reason(error, max_pixels)) from error
    except UnidentifiedImageError as error:
        if magic is not None:
            raise ComposeError(name, f"damaged or truncated {magic} file") from error
        raise ComposeError(name, describe_non_image(data)) from error
    except DECODE_FAILURES as error:
        raise ComposeError(name, f"damaged or truncated {magic or 'image'} file") from error
    if not isinstance(image, ImageFile.ImageFile):
        raise ComposeError(name, "not a supported image")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ComposeError(name, "image has no pixels")
    if width * height > max_pixels:
        raise ComposeError(
            name, f"image too large: {width}x{height} pixels (at most {max_pixels // 1_000_000} megapixels)"
        )
    return image


def needs_budget(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> bool:
    """True unless decoding ``data`` is known to be quick: a JPEG whose scans read few
    blocks, a PNG of few chunks, or a small file of a simple format, with a small picture.
    Raises ComposeError for what ``open_image`` refuses from the header."""
    return probe_if_light(data, name, max_pixels) is None


def probe_if_light(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo | None:
    """``probe(data)`` when decoding ``data`` is known to be quick (see ``needs_budget``), else None;
    a JPEG's markers are read once for both. Raises ComposeError like ``probe``."""
    if not data:
        raise ComposeError(name, "empty file")
    magic = _magic_format(data)
    if magic == "JPEG":
        layout = _checked_jpeg_layout(data, name)
        if layout is None or not is_light_jpeg(layout):
            return None
    elif magic == "PNG":
        if len(data) > LIGHT_PNG_BYTES or not png_chunks_within(data, LIGHT_PNG_CHUNKS):
            return None
    elif len(data) > LIGHT_FILE_BYTES or magic not in LIGHT_FORMATS | {None}:
        return None
    with _open_screened(data, name, max_pixels, magic) as image:
        info = _info(image, name)
    light = magic == "JPEG" or (info.format in LIGHT_FORMATS and info.width * info.height <= LIGHT_PIXELS)
    return info if light else None


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:g} megapixels"


def _bomb_reason(error: Exception, max_pixels: int) -> str:
    """Pillow refused the header before we saw its size; its message carries the pixel count."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    declared = f"{int(found.group(1)) // 1_000_000} megapixels" if found else "too many pixels"
    return f"image too large: {declared} (at most {_megapixels(max_pixels)})"


def orientation(image: Image.Image) -> int:
    """The EXIF orientation (1..8), 1 when absent or unreadable."""
    # PNG keeps eXIf wherever it likes; reading it before the pixels would force a full decode.
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # broken metadata must not reject a good picture
        logger.debug("unreadable EXIF ignored")
        return 1
    return value if isinstance(value, int) and value in range(1, 9) else 1


def upright_size(image: Image.Image) -> tuple[int, int]:
    """Width and height as the picture is meant to be seen."""
    width, height = image.size
    return (height, width) if orientation(image) in _SWAPS_AXES else (width, height)


def probe(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Read only the header: format, upright size and frame count. Refuses non-images and bombs."""
    with open_image(data, name, max_pixels) as image:
        return _info(image, name)


def _info(image: ImageFile.ImageFile, name: str) -> ImageInfo:
    turn = orientation(image)
    width, height = image.size
    if turn in _SWAPS_AXES:
        width, height = height, width
    try:
        frames = int(getattr(image, "n_frames", 1))
    except DECODE_FAILURES as error:
        raise ComposeError(name, f"damaged or truncated {image.format} file") from error
    return ImageInfo(format=str(image.format), width=width, height=height, frames=frames, orientation=turn)


def decode_to(image: ImageFile.ImageFile, name: str, size: tuple[int, int]) -> Image.Image:
    """First frame of ``image``, upright, resized to exactly ``size`` (upright); mode RGB or RGBA.

    For a panel: a JPEG may decode at a DCT scale up to ``DRAFT_SLACK`` under ``size`` and be enlarged,
    and the resampling after the box reduction is BICUBIC."""
    return _decode(image, name, lambda _upright: size, Image.Resampling.BICUBIC, panel=True)


def decode_within(
    image: ImageFile.ImageFile, name: str, max_side: int, resample: Image.Resampling = RESAMPLE
) -> Image.Image:
    """First frame of ``image``, upright, shrunk (never enlarged) so its longer side is at most ``max_side``,
    with the ``resample`` filter after the box reduction."""

    def target(upright: tuple[int, int]) -> tuple[int, int]:
        longest = max(upright)
        if longest <= max_side:
            return upright
        ratio = max_side / longest
        return (max(1, round(upright[0] * ratio)), max(1, round(upright[1] * ratio)))

    return _decode(image, name, target, resample)


def _decode(
    image: ImageFile.ImageFile,
    name: str,
    target_for: Callable[[tuple[int, int]], tuple[int, int]],
    resample: Image.Resampling = RESAMPLE,
    *,
    panel: bool = False,
) -> Image.Image:
    header_size = image.size
    if image.format in ("JPEG", "MPO") and image.mode in ("RGB", "L", "CMYK"):
        # JPEG keeps EXIF in its header, so the DCT scale can be chosen before decoding.
        raw_target = _raw_target(header_size, orientation(image), target_for)
        if raw_target != header_size:
            wanted = (int(raw_target[0] * DRAFT_SLACK), int(raw_target[1] * DRAFT_SLACK)) if panel else raw_target
            image.draft(image.mode, (max(1, wanted[0]), max(1, wanted[1])))
    check_memory(image, name)
    try:
        image.load()
    except Image.DecompressionBombError as error:
        raise ComposeError(name, _bomb_reason(error, DEFAULT_MAX_PIXELS)) from error
    except DECODE_FAILURES as error:
        reason = "truncated file" if "truncated" in str(error) else f"damaged {image.format} file"
        raise ComposeError(name, reason) from error
    turn = orientation(image)
    raw_target = _raw_target(header_size, turn, target_for)
    picture = _shrink(image, raw_target, name, resample)
    picture = _to_srgb(picture, image.info.get("icc_profile"))
    if turn in _TRANSPOSE:
        picture = picture.transpose(_TRANSPOSE[turn])
    # Callers close the file as soon as this returns; the picture must not be the file itself.
    return picture.copy() if picture is image else picture


def _raw_target(
    header_size: tuple[int, int], turn: int, target_for: Callable[[tuple[int, int]], tuple[int, int]]
) -> tuple[int, int]:
    """The size to decode to in stored (not upright) orientation."""
    swaps = turn in _SWAPS_AXES
    upright = (header_size[1], header_size[0]) if swaps else header_size
    target = target_for(upright)
    return (target[1], target[0]) if swaps else target


def _shrink(
    image: Image.Image, size: tuple[int, int], name: str, resample: Image.Resampling = RESAMPLE
) -> Image.Image:
    """``image`` at ``size`` in RGB, RGBA or CMYK (which ``_to_srgb`` converts), never copied at full size.

    A picture that resamples as it is and needs no box reduction (a JPEG decoded at its DCT scale, mostly)
    is resized whole: Pillow's intermediate, ``size[0]`` by the source's height, is no larger than the
    picture already held (twice it at most, for a small picture enlarged), and the crops, blank canvas
    and pastes of bands would cost a seventh more time.
    Otherwise the output is made a band of rows at a time: the source rows a band needs (with the
    filter's support on both sides) are converted to a mode that resamples right,
    box-reduced as Pillow's reducing gap would, then resampled with ``box`` set to the
    band's exact source span, so the bands join as one ``resize`` of the whole would.
    """
    convert = _band_converter(image, name)
    if image.size == size:  # nothing to resample: straight to the final mode, alpha kept as it is
        alpha = image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info)
        return image.convert("RGBA") if alpha else _final(convert(image))
    width, height = image.size
    factor_x, factor_y = _reduce_factor(width, size[0]), _reduce_factor(height, size[1])
    if convert is _keep and (factor_x, factor_y) == (1, 1):
        return _final(image.resize(size, resample))
    rows_per_row = height / size[1]
    band_rows = max(1, int(BAND_PIXELS / width / rows_per_row))
    margin = math.ceil(_LANCZOS_SUPPORT * max(rows_per_row, 1.0)) + 2 * factor_y
    picture: Image.Image | None = None
    for out_top in range(0, size[1], band_rows):
        out_bottom = min(size[1], out_top + band_rows)
        span_top, span_bottom = out_top * rows_per_row, out_bottom * rows_per_row
        top = max(0, math.floor(span_top) - margin) // factor_y * factor_y
        bottom = min(height, math.ceil(span_bottom) + margin)
        band = convert(image.crop((0, top, width, bottom)))
        if (factor_x, factor_y) != (1, 1):
            band = band.reduce((factor_x, factor_y))
        box = (0.0, (span_top - top) / factor_y, width / factor_x, (span_bottom - top) / factor_y)
        piece = band.resize((size[0], out_bottom - out_top), resample, box=box)
        if picture is None:
            picture = Image.new(piece.mode, size)
        picture.paste(piece, (0, out_top))
    if picture is None:
        raise ValueError("an image with no rows")
    return _final(picture)


def _reduce_factor(source: int, target: int) -> int:
    """The box reduction Pillow's reducing gap applies before the final resampling."""
    return max(1, int(source / target / REDUCING_GAP))


def _final(picture: Image.Image) -> Image.Image:
    """Resampled modes back to what callers take: L to RGB, premultiplied alpha to plain RGBA."""
    final_mode = {"L": "RGB", "RGBa": "RGBA", "La": "RGBA", "LA": "RGBA"}.get(picture.mode, picture.mode)
    return picture if picture.mode == final_mode else picture.convert(final_mode)


_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


def _keep(band: Image.Image) -> Image.Image:
    return band


def _band_converter(image: Image.Image, name: str) -> Callable[[Image.Image], Image.Image]:
    """How to bring one band of ``image`` to a mode that resamples right: 8-bit L, RGB or CMYK, or
    premultiplied RGBa when it carries transparency (so transparent pixels do not bleed their colour)."""
    mode = image.mode
    if mode in ("RGB", "L", "CMYK"):
        return _keep
    if mode == "RGBA":
        return lambda band: band.convert("RGBa")
    if mode in ("LA", "PA", "La"):
        return lambda band: band.convert("RGBA").convert("RGBa")
    if mode == "P" and "transparency" in image.info:
        return lambda band: band.convert("RGBA").convert("RGBa")
    if mode == "P":
        return lambda band: band.convert("RGB")
    if mode == "RGBa":
        return _keep
    if mode == "1":
        return lambda band: band.convert("L")
    if mode.startswith("I") or mode == "F":
        return _high_depth_converter(image)
    try:
        image.crop((0, 0, 1, 1)).convert("RGB")
    except ValueError as error:
        raise ComposeError(name, f"unsupported colour mode {mode}") from error
    return lambda band: band.convert("RGB")


def _high_depth_converter(image: Image.Image) -> Callable[[Image.Image], Image.Image]:
    """16-bit, 32-bit integer or float grayscale down to 8 bits, preserving brightness when the range is known."""
    low, high = image.getextrema()
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
        raise TypeError("single-band extrema expected")
    if low >= 0 and high <= 1.0 and image.mode == "F":
        scale, offset = 255.0, 0.0
    elif low >= 0 and high <= 255:
        scale, offset = 1.0, 0.0
    elif low >= 0 and high <= 65535:
        scale, offset = 255.0 / 65535.0, 0.0
    else:
        scale = 255.0 / (high - low) if high > low else 0.0
        offset = -low * scale
    return lambda band: band.convert("F").point(lambda value: value * scale + offset).convert("L")


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(picture: Image.Image, icc: object) -> Image.Image:
    """Apply an embedded ICC profile (wide-gamut phone photos, CMYK prints); the plain conversion otherwise."""
    target_mode = "RGBA" if picture.mode == "RGBA" else "RGB"
    if isinstance(icc, bytes) and icc and picture.mode in ("RGB", "RGBA", "CMYK"):
        from PIL import ImageCms  # only pictures with a profile need it

        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(picture, source, _srgb_profile(), outputMode=target_mode)
        except (ImageCms.PyCMSError, OSError, ValueError) as error:
            logger.debug("ICC profile ignored: %s", error)
        else:
            if converted is not None:
                return converted
    return picture if picture.mode == target_mode else picture.convert(target_mode)


def has_transparency(picture: Image.Image) -> bool:
    """True when an RGBA picture has at least one pixel that is not fully opaque."""
    if picture.mode != "RGBA":
        return False
    low, _high = picture.getchannel("A").getextrema()
    return isinstance(low, (int, float)) and low < 255


def flatten(picture: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """RGB on ``background`` where the picture is transparent."""
    if picture.mode != "RGBA":
        return picture
    base = Image.new("RGB", picture.size, background)
    base.paste(picture, mask=picture.getchannel("A"))
    return base
