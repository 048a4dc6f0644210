"""The fonts ``compose`` ships and draws with, so sheets look the same on every machine.

DejaVu Sans Bold (Bitstream Vera licence) covers Latin, Greek, Cyrillic, Hebrew,
Arabic and many symbols; Droid Sans Fallback (Apache 2.0) covers Chinese,
Japanese and Korean. Text is split into runs so each run uses the font that has
its glyphs; characters neither font has (emoji, mostly) are left out rather than
drawn as empty boxes. Both files and their licences live in ``compose/fonts/``.
"""

from __future__ import annotations

import functools
import logging
import threading
from itertools import groupby
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

logger = logging.getLogger(__name__)

FONT_DIR = Path(__file__).with_name("fonts")
MAIN_FONT = FONT_DIR / "DejaVuSans-Bold.ttf"
CJK_FONT = FONT_DIR / "DroidSansFallback.ttf"
_SYSTEM_FALLBACK = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

# Han, kana, hangul, CJK punctuation and fullwidth forms: the ranges DejaVu lacks and Droid Sans Fallback has.
_CJK_RANGES = (
    (0x1100, 0x11FF),
    (0x2E80, 0x9FFF),
    (0xA960, 0xA97F),
    (0xAC00, 0xD7FF),
    (0xF900, 0xFAFF),
    (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF),
    (0x20000, 0x3FFFF),
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
_PROBE_SIZE = 24
_NO_GLYPH = "\U0010fffd"  # a private-use code point: what a font draws for it is its "missing glyph" box
_EMOJI_GLUE = "\u200d\ufe0e\ufe0f"  # zero-width joiner, text and emoji presentation selectors
_local = threading.local()  # FreeType faces are not safe to share between threads


def is_cjk(character: str) -> bool:
    """True for characters drawn with the CJK font."""
    code = ord(character)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def runs(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into maximal runs of (chunk, needs the CJK font)."""
    return [("".join(chunk), cjk) for cjk, chunk in groupby(text, key=is_cjk)]


def font(size: int, cjk: bool = False) -> Font:
    """The shipped font at ``size`` pixels, cached per thread."""
    cache: dict[tuple[int, bool], Font] | None = getattr(_local, "fonts", None)
    if cache is None:
        cache = {}
        _local.fonts = cache
    key = (max(1, size), cjk)
    if key not in cache:
        cache[key] = _load(*key)
    return cache[key]


def _load(size: int, cjk: bool) -> Font:
    for path in (CJK_FONT,) if cjk else (MAIN_FONT, _SYSTEM_FALLBACK):
        try:
            return ImageFont.truetype(str(path), size)
        except OSError:
            _warn_missing(str(path))
    if cjk:
        return _load(size, False)
    return ImageFont.load_default(size)


@functools.cache
def _warn_missing(path: str) -> None:
    logger.warning("font %s could not be loaded; falling back", path)


def text_width(text: str, size: int) -> float:
    """Advance width of ``text`` in pixels, run by run."""
    return sum(font(size, cjk).getlength(chunk) for chunk, cjk in runs(text))


def has_glyph(character: str) -> bool:
    """True when the font that would draw ``character`` has a glyph for it (zero-width marks included)."""
    cjk = is_cjk(character)
    return _rendered(character, cjk) != _rendered(_NO_GLYPH, cjk)


def drawable(text: str) -> str:
    """``text`` without the characters no shipped font can draw, spaces collapsed.

    Joiners and variation selectors left at the edge of a word by a dropped emoji go too.
    """
    kept = "".join(character for character in text if has_glyph(character))
    words = (word.strip(_EMOJI_GLUE) for word in kept.split())
    return " ".join(word for word in words if word)


@functools.lru_cache(maxsize=4096)
def _rendered(character: str, cjk: bool) -> bytes:
    face = font(_PROBE_SIZE, cjk)
    canvas = Image.new("L", (_PROBE_SIZE * 2, _PROBE_SIZE * 2))
    ImageDraw.Draw(canvas).text((_PROBE_SIZE // 2, _PROBE_SIZE // 2), character, font=face, fill=255)
    return canvas.tobytes()
