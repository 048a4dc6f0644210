"""The reference sheet: decode, place, label and encode 1 to 24 references.

Headers are read for every reference first, on the decoding threads (so a bad file
is refused before any heavy decoding), the layout is computed from their upright aspect ratios and
weights, then each picture is decoded straight to its panel size and pasted,
one at a time, so memory stays bounded by the canvas plus one reduced picture.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from PIL import Image, ImageFile

from compose.annotate import badge_box, badge_text, draw_badge, draw_caption
from compose.decode import DEFAULT_MAX_PIXELS, decode_to, flatten, open_image, upright_size
from compose.encode import check_format, encode_within
from compose.errors import ComposeError
from compose.layout import MAX_ITEMS, Box, Item, arrange

logger = logging.getLogger(__name__)

SHEET_BACKGROUND = (242, 242, 242)  # light grey, so white pictures keep visible edges
TRANSPARENT_BACKGROUND = (204, 204, 204)  # neutral grey under transparent pixels, distinct from the sheet
SHEET_NAME = "reference sheet"


@dataclass(frozen=True)
class SheetInput:
    """One reference: its encoded bytes, its label ("A"), weight (0.25..4), optional caption and file name."""

    data: bytes
    label: str
    weight: float = 1.0
    caption: str = ""
    name: str = ""
    tag: str = ""  # the role shown beside the badge ("subject", "style · high"), when it fits

    @property
    def display_name(self) -> str:
        """The name errors use: the file name, else "image <label>"."""
        return self.name or f"image {self.label}"


@dataclass(frozen=True)
class Sheet:
    """An encoded reference sheet and where everything is on it, in sheet pixels."""

    data: bytes
    format: str
    size: tuple[int, int]
    image: Image.Image
    boxes: dict[str, Box]
    badge_boxes: dict[str, Box]
    fill_ratio: float
    small: tuple[str, ...] = ()


def compose_sheet(
    refs: Sequence[SheetInput],
    size: tuple[int, int] = (2048, 2048),
    fmt: str = "jpeg",
    max_bytes: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    threads: int | None = None,
    fit_aspect: bool = False,
) -> Sheet:
    """Build the labeled, weighted reference sheet of ``refs`` on a ``size`` canvas, encoded as ``fmt``.

    Panel areas follow the weights, every picture keeps its aspect ratio, panels read A, B, C… left to
    right and top to bottom, each carries its label badge and, when given, its caption. A picture is
    never shown more than twice its own size: a small one gets a small panel and its label is listed in
    ``Sheet.small``. With ``fit_aspect`` the sheet keeps the long side of ``size`` and takes the aspect
    ratio (1:3 to 3:1) its pictures cover best. With ``max_bytes`` the encoding lowers quality, then shrinks the
    sheet (boxes are scaled with it). Pictures are decoded on up to ``threads`` threads (default: the
    CPU count, at most 4; Pillow decodes without the GIL), the call itself stays synchronous and its
    output does not depend on the thread count. Raises ComposeError naming the file for any unusable
    reference; ValueError for calls that break the contract (no refs, duplicate labels, unknown format).
    """
    fmt = check_format(fmt)
    _check_refs(refs)
    workers = max(1, min(len(refs), threads or min(4, os.cpu_count() or 1)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compose") as pool:
        opened = _open_all(pool, refs, max_pixels)
        try:
            items = []
            for ref, image in zip(refs, opened, strict=True):
                width, height = upright_size(image)
                items.append(Item(aspect=width / height, weight=ref.weight, native=(width, height)))
            arrangement = arrange(items, size, fit_aspect=fit_aspect)
            size = arrangement.size
            canvas = Image.new("RGB", size, SHEET_BACKGROUND)

            def panel(index: int) -> Image.Image:
                box = arrangement.boxes[index]
                picture = decode_to(opened[index], refs[index].display_name, (box.width, box.height))
                opened[index].close()
                return flatten(picture, TRANSPARENT_BACKGROUND)

            # map() yields in order and re-raises the first failure, so errors and pixels stay deterministic.
            for box, picture in zip(arrangement.boxes, pool.map(panel, range(len(refs))), strict=True):
                canvas.paste(picture, (box.x0, box.y0))
        finally:
            for image in opened:
                image.close()

    boxes = {ref.label: box for ref, box in zip(refs, arrangement.boxes, strict=True)}
    for ref in refs:
        if ref.caption:
            draw_caption(canvas, ref.caption, boxes[ref.label])
    badges: dict[str, Box] = {}
    for ref in refs:
        text = badge_text(ref.label, ref.tag, boxes[ref.label], size)
        badges[ref.label] = badge_box(text, boxes[ref.label], size, taken=list(badges.values()))
        draw_badge(canvas, text, badges[ref.label])

    # The sheet is sent once and is far below any size limit: memory and time matter more than a few %.
    data, final = encode_within(canvas, fmt, max_bytes, SHEET_NAME, compact=False)
    fill = arrangement.fill_ratio
    if final.size != canvas.size:
        scale_x, scale_y = final.width / canvas.width, final.height / canvas.height
        boxes = {label: _scaled(box, scale_x, scale_y) for label, box in boxes.items()}
        badges = {label: _scaled(box, scale_x, scale_y) for label, box in badges.items()}
        fill = sum(box.area for box in boxes.values()) / (final.width * final.height)
    logger.debug("sheet of %d refs %dx%d %s: %d bytes, fill %.2f", len(refs), *final.size, fmt, len(data), fill)
    return Sheet(
        data=data,
        format=fmt,
        size=final.size,
        image=final,
        boxes=boxes,
        badge_boxes=badges,
        fill_ratio=fill,
        small=tuple(refs[index].label for index in arrangement.capped),
    )


def _open_all(pool: ThreadPoolExecutor, refs: Sequence[SheetInput], max_pixels: int) -> list[ImageFile.ImageFile]:
    """Every reference's header, read on the pool; the first failure in order is raised, none left open."""
    opening = [pool.submit(open_image, ref.data, ref.display_name, max_pixels) for ref in refs]
    wait(opening)
    failure = next((error for future in opening if (error := future.exception()) is not None), None)
    if failure is not None:
        for future in opening:
            if future.exception() is None:
                future.result().close()
        raise failure
    return [future.result() for future in opening]


def _check_refs(refs: Sequence[SheetInput]) -> None:
    if not refs:
        raise ValueError("compose_sheet needs at least one reference")
    if len(refs) > MAX_ITEMS:
        raise ComposeError(SHEET_NAME, f"too many images: {len(refs)} (at most {MAX_ITEMS})")
    labels = [ref.label for ref in refs]
    if any(not label for label in labels) or len(set(labels)) != len(labels):
        raise ValueError(f"labels must be non-empty and unique, got {labels}")
    for ref in refs:
        if not math.isfinite(ref.weight) or ref.weight <= 0:
            raise ValueError(f"weight of {ref.label} must be a positive number, got {ref.weight}")


def _scaled(box: Box, scale_x: float, scale_y: float) -> Box:
    return Box(
        math.floor(box.x0 * scale_x),
        math.floor(box.y0 * scale_y),
        max(math.floor(box.x0 * scale_x) + 1, math.floor(box.x1 * scale_x)),
        max(math.floor(box.y0 * scale_y) + 1, math.floor(box.y1 * scale_y)),
    )
