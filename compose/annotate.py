"""Badges ("A", "B"…, or "A · subject" with a role) and captions drawn onto the placed panels.

A badge sits in the top-left corner of its panel, sized from the panel with a
floor so it stays readable on small panels, and takes the tone opposite to the
pixels under it (dark badge on light pictures, light badge on dark ones), with
a ring in the text colour. A caption is a darkened band across the bottom of
the panel with light text, a little smaller when that lets it read to its end,
else cut with an ellipsis; panels too small for a band get none. Any Unicode
string is accepted (control characters and lone surrogates are dropped).
"""

from __future__ import annotations

import logging
import math
import unicodedata
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageStat

from compose.fonts import drawable, font, runs, text_width
from compose.layout import Box

logger = logging.getLogger(__name__)

DARK = (18, 18, 18)
LIGHT = (250, 250, 250)
ELLIPSIS = "…"
MAX_CAPTION_CHARS = 200
BADGE_SHARE = 0.12
BADGE_FLOOR_SHARE = 0.032
CAPTION_SHRINK = 0.8
_BAND_DARKEN = 0.62
_BAND_LINES = 1.6  # band height in caption font sizes
_BAND_MIN_CHARS = 6  # band width in caption font sizes, at least


def _scale(size: tuple[int, int]) -> float:
    """The side of a square of the same area: sizes keyed to it look alike on square and wide sheets."""
    return math.sqrt(size[0] * size[1])


def badge_side(panel: Box, canvas: tuple[int, int]) -> int:
    """Badge height: ``BADGE_SHARE`` of the panel's size, never below ``BADGE_FLOOR_SHARE`` of the sheet's (20 px).

    Sizes are sides of squares of the same area, so panels of equal weight get equal badges whatever
    their shape. The floor keeps the letter readable when the chat shows the whole sheet at a quarter
    of its size (a 2048-px sheet in a ~500-px preview): about 13 px there.
    """
    floor = max(20, round(_scale(canvas) * BADGE_FLOOR_SHARE))
    panel_side = min(_scale((panel.width, panel.height)) * BADGE_SHARE, min(panel.width, panel.height) * 0.3)
    return max(floor, round(panel_side))


def badge_box(label: str, panel: Box, canvas: tuple[int, int], taken: Sequence[Box] = ()) -> Box:
    """Where the badge of ``label`` goes for ``panel``: a corner of the panel, top-left first.

    A badge always starts inside its own panel and stays on the sheet (at the sheet's edge it is
    narrowed, or lowered, rather than pushed off its panel: a panel lower than the badge against the
    bottom edge gets a badge as tall as itself). With ``taken``, the badges already placed, it takes
    the first corner that leaves them whole, or else the one that covers the least of them: tiny
    panels next to each other would otherwise hide each other's letters.
    """
    side = badge_side(panel, canvas)
    width = max(side, round(text_width(label, _badge_text_size(side)) + side * 0.5))
    inset = max(2, round(side * 0.12)) if min(panel.width, panel.height) >= side * 2 else 0
    lefts = (panel.x0 + inset, panel.x1 - inset - width)
    tops = (panel.y0 + inset, panel.y1 - inset - side)
    corners = [_badge_at(x, y, width, side, panel, canvas) for y in tops for x in lefts]
    return min(corners, key=lambda box: (sum(_overlap(box, other) for other in taken), corners.index(box)))


def _badge_at(x: int, y: int, width: int, side: int, panel: Box, canvas: tuple[int, int]) -> Box:
    """A ``width`` x ``side`` badge near (x, y), starting inside ``panel`` and ending on the canvas."""
    x0 = max(panel.x0, min(x, canvas[0] - width, panel.x1 - 1))
    y0 = max(panel.y0, min(y, canvas[1] - side, panel.y1 - 1))
    return Box(x0, y0, min(canvas[0], x0 + width), min(canvas[1], y0 + side))


def _overlap(first: Box, second: Box) -> int:
    width = min(first.x1, second.x1) - max(first.x0, second.x0)
    height = min(first.y1, second.y1) - max(first.y0, second.y0)
    return max(0, width) * max(0, height)


def badge_text(label: str, tag: str, panel: Box, canvas: tuple[int, int]) -> str:
    """What the badge says: "A · subject" when the role ``tag`` fits across the panel, else "A"."""
    if not tag:
        return label
    text = f"{label} · {tag}"
    side = badge_side(panel, canvas)
    width = text_width(text, _badge_text_size(side)) + side * 0.5
    return text if width <= panel.width * 0.9 else label


def _badge_text_size(side: int) -> int:
    return max(8, round(side * 0.72))


def draw_badge(canvas: Image.Image, label: str, box: Box) -> None:
    """Draw the badge into ``box``, its tone chosen against the pixels currently there."""
    under = ImageStat.Stat(canvas.crop(box.as_tuple()).convert("L")).mean[0]
    fill, ink = (DARK, LIGHT) if under >= 128 else (LIGHT, DARK)
    draw = ImageDraw.Draw(canvas)
    ring = max(1, round(box.height * 0.06))
    radius = max(2, round(box.height * 0.22))
    draw.rounded_rectangle((box.x0, box.y0, box.x1 - 1, box.y1 - 1), radius=radius, fill=fill, outline=ink, width=ring)
    size = _badge_text_size(box.height)
    centre = ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
    draw.text(centre, label, font=font(size), fill=ink, anchor="mm")


def clean_caption(text: str) -> str:
    """One line of displayable text: NFC, whitespace collapsed, control characters and lone surrogates dropped."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    kept = []
    for character in unicodedata.normalize("NFC", text[: MAX_CAPTION_CHARS * 4]):
        category = unicodedata.category(character)
        if character.isspace() or category in ("Zl", "Zp"):
            kept.append(" ")
        elif category not in ("Cc", "Cs"):
            kept.append(character)
    return " ".join("".join(kept).split())[:MAX_CAPTION_CHARS]


def fit_text(text: str, size: int, max_width: float) -> str:
    """``text`` if it fits in ``max_width`` pixels, else its longest prefix that fits with an ellipsis."""
    if text_width(text, size) <= max_width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if text_width(text[:middle].rstrip() + ELLIPSIS, size) <= max_width:
            low = middle
        else:
            high = middle - 1
    prefix = text[:low].rstrip()
    # Do not leave a joiner or a lone combining mark dangling before the ellipsis.
    while prefix and (prefix[-1] == "\u200d" or unicodedata.combining(prefix[-1])):
        prefix = prefix[:-1]
    return prefix + ELLIPSIS if prefix or text_width(ELLIPSIS, size) <= max_width else ""


def caption_size(panel: Box, canvas: tuple[int, int]) -> int:
    """Caption font size in pixels for ``panel``: 6 % of its size, between 1.2 % and 2.4 % of the sheet's.

    A wide, low panel (a panorama) or a narrow, tall one takes a smaller size, down to the floor, so its
    band stays within a quarter of its height and holds a few words.
    """
    floor = _caption_floor(canvas)
    ceiling = max(floor, round(_scale(canvas) * 0.024))
    preferred = min(ceiling, max(floor, round(_scale((panel.width, panel.height)) * 0.06)))
    room = min(math.floor(panel.height / (4 * _BAND_LINES)), panel.width // _BAND_MIN_CHARS)
    while room > floor and round(room * _BAND_LINES) * 4 > panel.height:  # the band's height is rounded
        room -= 1
    return max(floor, min(preferred, room))


def _caption_floor(canvas: tuple[int, int]) -> int:
    return max(11, round(_scale(canvas) * 0.012))


def caption_band(panel: Box, canvas: tuple[int, int]) -> Box | None:
    """The band a caption darkens at the bottom of ``panel``, or None when the panel is too small for one.

    A band may cover at most a quarter of its panel: on a thumbnail-sized panel the picture and its
    badge matter more than a caption cut to a few letters.
    """
    size = caption_size(panel, canvas)
    height = round(size * _BAND_LINES)
    if height * 4 > panel.height or panel.width < size * _BAND_MIN_CHARS:
        return None
    return Box(panel.x0, panel.y1 - height, panel.x1, panel.y1)


def draw_caption(canvas: Image.Image, caption: str, panel: Box) -> Box | None:
    """Draw ``caption`` over the bottom of ``panel``; returns the band used, None when nothing was drawn."""
    text = drawable(clean_caption(caption))
    band = caption_band(panel, canvas.size)
    if not text or band is None:
        return None
    size = caption_size(panel, canvas.size)
    padding = max(4, round(size * 0.5))
    size, shown = fit_caption(text, size, band.width - 2 * padding)
    if not shown:
        return None
    region = canvas.crop(band.as_tuple())
    canvas.paste(Image.blend(region, Image.new("RGB", region.size, (0, 0, 0)), _BAND_DARKEN), band.as_tuple())
    draw = ImageDraw.Draw(canvas)
    middle = (band.y0 + band.y1) / 2
    x = band.x1 - padding - text_width(shown, size) if _right_to_left(shown) else float(band.x0 + padding)
    for chunk, cjk in runs(shown):
        chunk_font = font(size, cjk)
        draw.text((x, middle), chunk, font=chunk_font, fill=LIGHT, anchor="lm")
        x += chunk_font.getlength(chunk)
    return band


def fit_caption(text: str, size: int, max_width: float) -> tuple[int, str]:
    """The font size and text to draw: ``text`` whole at the largest size down to ``CAPTION_SHRINK`` of ``size``
    at which it fits, else cut with an ellipsis at that smallest size.

    A slightly smaller caption that reads to its end beats a larger one cut after a few words.
    """
    smallest = min(size, max(11, round(size * CAPTION_SHRINK)))
    for candidate in range(size, smallest - 1, -1):
        if text_width(text, candidate) <= max_width:
            return candidate, text
    return smallest, fit_text(text, smallest, max_width)


def _right_to_left(text: str) -> bool:
    """True when the first strongly directional character is right-to-left (Hebrew, Arabic…)."""
    for character in text:
        direction = unicodedata.bidirectional(character)
        if direction in ("R", "AL"):
            return True
        if direction == "L":
            return False
    return False
