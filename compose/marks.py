"""The region a person marked by drawing on a copy of a result, as a mask for a region edit.

A person draws on a copy of the result in any editor (a circle, a scribble, a filled blob, in a
bright colour) and posts it; the chat may have shrunk and re-encoded it. ``find_marked_region``
brings both pictures to one analysis size, blurs both a little (JPEG blocks and resampling noise
average out, saturated strokes stay far from the picture beneath), thresholds the difference,
drops specks, bridges small gaps (a scribble becomes the area it covers), fills what a closed
loop encloses (a circle marks its inside) and grows the region slightly so the edit blends in.

    region = find_marked_region(result_png, marked_jpeg)
    region.mask, region.box, region.fraction
    edit_mask_png(region)   # the ``mask`` images.edit takes: transparent exactly where it may edit
    markup_png(region)      # the ``markup`` overlay the models that take it read instead
    outline(result_png, region)   # the result with the region's edge drawn, to show what was understood

Pillow only: every pixel pass is a C filter; the only Python loop walks row runs, not pixels.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFile, ImageFilter

from compose.decode import decode_within, open_image, upright_size
from compose.errors import MarkedCopyMismatch, NoMarksFound

ANALYSIS_SIDE = 768
ASPECT_TOLERANCE = 0.02
# Both pictures are blurred by this much (analysis pixels) before they are compared.
BLUR_RADIUS = 1.0
# Hysteresis on the largest channel difference after the blur: a mark is a connected area that
# differs by at least MARK_LOW everywhere and by MARK_HIGH somewhere. JPEG at quality 60 to 90 leaves
# under 1 pixel in 10,000 above MARK_LOW on a noisy photo; a 3-px stroke stays above it at half size.
MARK_LOW = 20
MARK_HIGH = 40
# A mark pixel under this fraction of the strongest difference within BLEED_REACH (an odd width in
# analysis pixels) is the halo around a stroke, not the stroke.
BLEED_FRACTION = 0.5
BLEED_REACH = 7
# A curve whose convex hull is LOOP_MIN_HULL_RATIO times its own area or more, and which runs within
# LOOP_GAP_TOLERANCE analysis pixels of LOOP_COVERAGE of that hull's outline, was drawn as a loop.
LOOP_MIN_HULL_RATIO = 3.0
LOOP_GAP_TOLERANCE = 3
LOOP_COVERAGE = 0.8
# Fractions of the analysis picture's shorter side.
MIN_MARK_AREA = 0.0004  # of the area: smaller islands of difference are noise, not marks
BRIDGE = 0.012  # gaps narrower than about twice this close (scribbles, loops not quite closed)
GROW = 0.002  # the region reaches this far beyond the marks (2 px on a 1024-px side), the blur's reach included
# A copy whose unmarked part still differs this much on average is another picture.
MAX_BACKGROUND_DIFFERENCE = 14.0
MAX_MARKED_FRACTION = 0.85
MAX_MASK_BYTES = 4 * 2**20
_BOX_STEP = 8  # Pillow's 8-bit box blur still shows one lone pixel at this radius
_NAME = "marked copy"
_ANOTHER_PICTURE = "it does not match the result: post a copy of the result itself with your marks drawn on it"
_NO_MARKS = (
    "I could not find any marks: draw on a copy of the result with a bright colour and post it with your instruction"
)


@dataclass(frozen=True, eq=False)
class MarkedRegion:
    """Where the edit may happen: ``mask`` is mode "L" at the result's size, 255 inside, 0 outside.

    ``box`` is (left, top, right, bottom), right and bottom exclusive; ``fraction`` is the share of
    the result's pixels inside.
    """

    mask: Image.Image
    box: tuple[int, int, int, int]
    fraction: float


def find_marked_region(result: bytes, marked: bytes, name: str = _NAME) -> MarkedRegion:
    """The region drawn on ``marked``, a possibly shrunk and re-encoded copy of ``result``.

    Raises ``MarkedCopyMismatch`` when ``marked`` is another picture (other proportions, or most
    of it differs) and ``NoMarksFound`` when nothing was drawn on it.
    """
    result_image = open_image(result, "result")
    marked_image = open_image(marked, name)
    with result_image, marked_image:
        size, marked_size = upright_size(result_image), upright_size(marked_image)
        _check_proportions(size, marked_size, name)
        analysis = _analysis_size(size, marked_size)
        base = _decoded_at(result_image, "result", analysis)
        copy = _decoded_at(marked_image, name, analysis)
    short_side = min(analysis)
    difference = _difference(base, copy)
    marks = _marks(difference, min_area=max(4, round(MIN_MARK_AREA * analysis[0] * analysis[1])))
    if marks.getbbox() is None:
        raise NoMarksFound(name, _NO_MARKS)
    _check_same_picture(difference, marks, name)
    bridge = max(1, round(BRIDGE * short_side))
    closed = _erode(_dilate(marks, bridge), bridge)
    region = _close_open_loops(closed, _fill_enclosed(closed))
    # Only the region's rim is trimmed, after the fill: a faint stretch of a loop can never open it.
    rim = ImageChops.subtract(region, _erode(region, BLEED_REACH // 2))
    region = ImageChops.subtract(region, ImageChops.multiply(rim, _bleed(difference, marks)))
    # The blur already spread every mark by its radius.
    region = _dilate(region, max(0, round(GROW * short_side) - round(BLUR_RADIUS)))
    if analysis != size:
        region = _threshold(region.resize(size, Image.Resampling.BILINEAR), 128)
    box = region.getbbox()
    if box is None:  # unreachable: marks were found and every step only grows them
        raise NoMarksFound(name, _NO_MARKS)
    covered = region.histogram()[255] / (size[0] * size[1])
    if covered > MAX_MARKED_FRACTION:
        raise MarkedCopyMismatch(name, _ANOTHER_PICTURE)
    return MarkedRegion(mask=region, box=box, fraction=covered)


def edit_mask_png(region: MarkedRegion) -> bytes:
    """The region as images.edit's ``mask``: an RGBA PNG of the result's size, alpha 0 exactly inside."""
    alpha = ImageChops.invert(region.mask)
    mask = Image.merge("RGBA", (alpha, alpha, alpha, alpha))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG", optimize=True)
    data = buffer.getvalue()
    if len(data) >= MAX_MASK_BYTES:  # a two-level picture compresses far below this at any API size
        raise ValueError(f"mask PNG is {len(data)} bytes, the API takes less than {MAX_MASK_BYTES}")
    return data


MARKUP_COLOUR = (255, 0, 200)
MARKUP_FILL_ALPHA = 72


def markup_png(region: MarkedRegion) -> bytes:
    """The region as images.edit's ``markup`` (the models that take it): an RGBA PNG of the result's
    size, transparent outside, the region tinted and its edge drawn, to overlay on the result."""
    width = max(2, round(min(region.mask.size) / 200))
    edge = ImageChops.subtract(region.mask, _erode(region.mask, width))
    fill = region.mask.point([MARKUP_FILL_ALPHA if value else 0 for value in range(256)])
    alpha = ImageChops.lighter(fill, edge)
    overlay = Image.new("RGBA", region.mask.size, (*MARKUP_COLOUR, 0))
    overlay.putalpha(alpha)
    buffer = io.BytesIO()
    overlay.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def region_from_mask(mask_png: bytes) -> MarkedRegion:
    """The region an ``edit_mask_png`` opens, read back (a stored refine shows its outline again)."""
    image = open_image(mask_png, "mask")
    with image:
        image.load()
        alpha = image.getchannel("A") if "A" in image.getbands() else image.convert("L")
    inside = alpha.point([255 if value == 0 else 0 for value in range(256)])
    box = inside.getbbox()
    if box is None:
        raise ValueError("the mask opens no area")
    return MarkedRegion(mask=inside, box=box, fraction=inside.histogram()[255] / (inside.size[0] * inside.size[1]))


def outline(result: bytes, region: MarkedRegion) -> bytes:
    """``result`` as a JPEG with the region's edge drawn on it: a white line inside a dark one."""
    image = open_image(result, "result")
    with image:
        picture = decode_within(image, "result", max(upright_size(image))).convert("RGB")
    if picture.size != region.mask.size:
        raise ValueError(f"region is {region.mask.size}, the result {picture.size}")
    width = max(1, round(min(picture.size) / 400))
    inner = ImageChops.subtract(region.mask, _erode(region.mask, width))
    outer = ImageChops.subtract(_dilate(region.mask, width), region.mask)
    picture.paste((20, 20, 20), mask=outer)
    picture.paste((255, 255, 255), mask=inner)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def _check_proportions(result: tuple[int, int], marked: tuple[int, int], name: str) -> None:
    result_ratio, marked_ratio = result[0] / result[1], marked[0] / marked[1]
    if abs(marked_ratio / result_ratio - 1) > ASPECT_TOLERANCE:
        raise MarkedCopyMismatch(
            name,
            f"it is {marked[0]}x{marked[1]} but the result is {result[0]}x{result[1]}: "
            "draw on an uncropped copy of the result and post that",
        )


def _analysis_size(result: tuple[int, int], marked: tuple[int, int]) -> tuple[int, int]:
    """The result's size shrunk to what the copy still resolves, and at most ``ANALYSIS_SIDE``."""
    scale = min(1.0, marked[0] / result[0], ANALYSIS_SIDE / max(result))
    return (max(1, round(result[0] * scale)), max(1, round(result[1] * scale)))


def _decoded_at(image: ImageFile.ImageFile, name: str, size: tuple[int, int]) -> Image.Image:
    """Upright RGB at exactly ``size``; a box filter is enough here and four times faster than Lanczos."""
    picture = decode_within(image, name, max(upright_size(image))).convert("RGB")
    return picture if picture.size == size else picture.resize(size, Image.Resampling.BOX)


def _difference(base: Image.Image, copy: Image.Image) -> Image.Image:
    """Per pixel, the largest channel difference between the two blurred pictures (mode "L").

    The signed difference is blurred (JPEG and resampling errors are signed and average out, a stroke
    is not): one blur instead of one per picture, at half a level's precision, far below the thresholds.
    """
    signed = ImageChops.subtract(base, copy, scale=2.0, offset=128).filter(ImageFilter.BoxBlur(BLUR_RADIUS))
    magnitude = [min(255, abs(level - 128) * 2) for level in range(256)]
    red, green, blue = signed.point(magnitude * 3).split()
    return ImageChops.lighter(ImageChops.lighter(red, green), blue)


def _check_same_picture(difference: Image.Image, marks: Image.Image, name: str) -> None:
    """Outside the marks a copy of the result matches it up to encoding noise; another picture does not."""
    outside = ImageChops.invert(_dilate(marks, 2))
    histogram = difference.histogram(mask=outside)
    pixels = sum(histogram)
    mean = sum(level * count for level, count in enumerate(histogram)) / pixels if pixels else 0.0
    if pixels == 0 or mean > MAX_BACKGROUND_DIFFERENCE:
        raise MarkedCopyMismatch(name, _ANOTHER_PICTURE)


def _threshold(image: Image.Image, level: int) -> Image.Image:
    return image.point([255 if value >= level else 0 for value in range(256)])


def _dilate(mask: Image.Image, radius: int) -> Image.Image:
    """Square dilation by ``radius`` pixels of a two-level mask, in box-blur passes."""
    for step in _steps(radius):
        mask = _threshold(mask.filter(ImageFilter.BoxBlur(step)), 1)
    return mask


def _erode(mask: Image.Image, radius: int) -> Image.Image:
    return ImageChops.invert(_dilate(ImageChops.invert(mask), radius))


def _steps(radius: int) -> Iterator[int]:
    while radius > 0:
        step = min(radius, _BOX_STEP)
        yield step
        radius -= step


def _runs(row: bytes, value: bytes) -> Iterator[tuple[int, int]]:
    for found in re.finditer(re.escape(value) + b"+", row):
        yield found.start(), found.end()


def _run_components(mask: Image.Image, value: int) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Runs of ``value`` as (row, start, end) with a component id each (4-connected)."""
    width, height = mask.size
    data = mask.tobytes()
    byte = bytes([value])
    runs: list[tuple[int, int, int]] = []
    parent: list[int] = []

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    previous: list[int] = []
    for y in range(height):
        current: list[int] = []
        for start, end in _runs(data[y * width : (y + 1) * width], byte):
            index = len(runs)
            runs.append((y, start, end))
            parent.append(index)
            current.append(index)
        above = 0
        for index in current:
            _, start, end = runs[index]
            while above < len(previous) and runs[previous[above]][2] <= start:
                above += 1
            probe = above
            while probe < len(previous) and runs[previous[probe]][1] < end:
                parent[root(index)] = root(previous[probe])
                probe += 1
        previous = current
    return runs, [root(index) for index in range(len(runs))]


def _paint(mask: Image.Image, runs: list[tuple[int, int, int]], value: int) -> Image.Image:
    width = mask.size[0]
    data = bytearray(mask.tobytes())
    for y, start, end in runs:
        data[y * width + start : y * width + end] = bytes([value]) * (end - start)
    return Image.frombytes("L", mask.size, bytes(data))


def _marks(difference: Image.Image, min_area: int) -> Image.Image:
    """The areas above ``MARK_LOW`` that reach ``MARK_HIGH`` somewhere and cover ``min_area`` pixels."""
    candidates = _threshold(difference, MARK_LOW)
    strong = _threshold(difference, MARK_HIGH).tobytes()
    width = candidates.size[0]
    runs, labels = _run_components(candidates, 255)
    area: dict[int, int] = {}
    confirmed: set[int] = set()
    for (y, start, end), label in zip(runs, labels, strict=True):
        area[label] = area.get(label, 0) + end - start
        if label not in confirmed and b"\xff" in strong[y * width + start : y * width + end]:
            confirmed.add(label)
    noise = [run for run, label in zip(runs, labels, strict=True) if label not in confirmed or area[label] < min_area]
    return _paint(candidates, noise, 0) if noise else candidates


def _close_open_loops(closed: Image.Image, filled: Image.Image) -> Image.Image:
    """``filled`` with every curve that runs round most of an area without closing (a stretch of
    stroke lost over a similar colour) filled up to its convex hull."""
    runs, labels = _run_components(closed, 255)
    curves: dict[int, list[tuple[int, int, int]]] = {}
    for run, label in zip(runs, labels, strict=True):
        curves.setdefault(label, []).append(run)
    near = _dilate(closed, LOOP_GAP_TOLERANCE)
    for curve in curves.values():
        hull = _convex_hull([(x, y) for y, start, end in curve for x in (start, end - 1)])
        area = sum(end - start for _, start, end in curve)
        if len(hull) < 3 or _polygon_area(hull) < LOOP_MIN_HULL_RATIO * area:
            continue  # a line or a filled mark, not a loop
        inside = Image.new("L", closed.size, 0)
        ImageDraw.Draw(inside).polygon(hull, fill=255)
        if ImageChops.multiply(inside, filled).histogram()[255] > 2 * area:
            continue  # it closed: the fill found what it encloses
        if _outline_coverage(hull, near) >= LOOP_COVERAGE:
            filled = ImageChops.lighter(filled, inside)
    return filled


def _convex_hull(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Andrew's monotone chain, counter-clockwise, without repeated or collinear points."""
    unique = sorted(set(points))
    if len(unique) < 3:
        return unique

    def turn(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def chain(ordered: list[tuple[int, int]]) -> list[tuple[int, int]]:
        kept: list[tuple[int, int]] = []
        for point in ordered:
            while len(kept) >= 2 and turn(kept[-2], kept[-1], point) <= 0:
                kept.pop()
            kept.append(point)
        return kept[:-1]

    return chain(unique) + chain(unique[::-1])


def _polygon_area(polygon: list[tuple[int, int]]) -> float:
    pairs = zip(polygon, polygon[1:] + polygon[:1], strict=True)
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairs)) / 2


def _outline_coverage(polygon: list[tuple[int, int]], near: Image.Image) -> float:
    """The share of ``polygon``'s outline, sampled every pixel, that lies on ``near``."""
    width = near.size[0]
    data = near.tobytes()
    samples = hits = 0
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for step in range(steps):
            x = x0 + (x1 - x0) * step // steps
            y = y0 + (y1 - y0) * step // steps
            samples += 1
            hits += data[y * width + x] == 255
    return hits / samples if samples else 0.0


def _bleed(difference: Image.Image, marks: Image.Image) -> Image.Image:
    """The mark pixels far weaker than the strongest difference near them: the halo that JPEG's colour
    subsampling and the blur spread around a stroke, which would otherwise widen the region."""
    nearby = difference.filter(ImageFilter.MaxFilter(BLEED_REACH))
    floor = nearby.point([round(level * BLEED_FRACTION) for level in range(256)])
    weak = ImageChops.subtract(floor, difference).point([0] + [255] * 255)
    return ImageChops.multiply(marks, weak)


def _fill_enclosed(mask: Image.Image) -> Image.Image:
    """``mask`` with every background area it encloses (one the border cannot reach) filled."""
    width, height = mask.size
    runs, labels = _run_components(mask, 0)
    open_labels = {
        label
        for (y, start, end), label in zip(runs, labels, strict=True)
        if y in (0, height - 1) or start == 0 or end == width
    }
    holes = [run for run, label in zip(runs, labels, strict=True) if label not in open_labels]
    return _paint(mask, holes, 255) if holes else mask
