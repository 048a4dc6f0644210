"""Finding the region a person marked on a copy of a result, on marked-up copies drawn here."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageDraw

from compose import ComposeError
from compose.errors import MarkedCopyMismatch, NoMarksFound
from compose.marks import MarkedRegion, edit_mask_png, find_marked_region, outline
from tests import imagegen
from tests.compose import samples

SIZE = (1536, 1024)
MAGENTA, YELLOW, CYAN, RED = (255, 0, 255), (255, 255, 0), (0, 255, 255), (255, 20, 20)
Drawing = Callable[[ImageDraw.ImageDraw, ImageDraw.ImageDraw], None]


RESULT_PICTURE = samples.photo(*SIZE, seed=3)
RESULT = samples.encode(RESULT_PICTURE, "PNG")


@pytest.fixture
def result_picture() -> Image.Image:
    return RESULT_PICTURE


@pytest.fixture
def result() -> bytes:
    return RESULT


def marked_up(picture: Image.Image, drawing: Drawing) -> tuple[Image.Image, Image.Image]:
    """A copy of ``picture`` with ``drawing`` on it, and the region it marks as an "L" mask."""
    copy = picture.copy()
    region = Image.new("L", picture.size, 0)
    drawing(ImageDraw.Draw(copy), ImageDraw.Draw(region))
    return copy, region


def as_posted(copy: Image.Image, scale: float, quality: int | None) -> bytes:
    """``copy`` as a chat would pass it on: shrunk by ``scale``, re-encoded as JPEG at ``quality``."""
    if scale != 1.0:
        copy = copy.resize((round(copy.width * scale), round(copy.height * scale)), Image.Resampling.LANCZOS)
    return samples.encode(copy, "PNG") if quality is None else samples.encode(copy, "JPEG", quality=quality)


def iou(found: Image.Image, drawn: Image.Image) -> float:
    inside = ImageChops.multiply(found, drawn).histogram()[255]
    either = ImageChops.lighter(found, drawn).histogram()[255]
    return inside / either


def loop(box: tuple[int, int, int, int], color: tuple[int, int, int] = MAGENTA, width: int = 3) -> Drawing:
    def draw(copy: ImageDraw.ImageDraw, region: ImageDraw.ImageDraw) -> None:
        copy.ellipse(box, outline=color, width=width)
        region.ellipse(box, fill=255)

    return draw


def blob(box: tuple[int, int, int, int], color: tuple[int, int, int] = YELLOW) -> Drawing:
    def draw(copy: ImageDraw.ImageDraw, region: ImageDraw.ImageDraw) -> None:
        copy.ellipse(box, fill=color)
        region.ellipse(box, fill=255)

    return draw


def scribble(box: tuple[int, int, int, int], color: tuple[int, int, int] = CYAN, spacing: int = 12) -> Drawing:
    """A zig-zag back and forth over ``box``: it marks the whole box."""
    left, top, right, bottom = box

    def draw(copy: ImageDraw.ImageDraw, region: ImageDraw.ImageDraw) -> None:
        points: list[tuple[int, int]] = []
        for row, y in enumerate(range(top, bottom + 1, spacing)):
            points += [(left, y), (right, y)] if row % 2 == 0 else [(right, y), (left, y)]
        copy.line(points, fill=color, width=5)
        region.rectangle(box, fill=255)

    return draw


def several(*drawings: Drawing) -> Drawing:
    def draw(copy: ImageDraw.ImageDraw, region: ImageDraw.ImageDraw) -> None:
        for drawing in drawings:
            drawing(copy, region)

    return draw


MARKS = {
    "thin loop": loop((400, 300, 800, 650)),
    "red loop": loop((150, 120, 500, 420), RED),
    "filled blob": blob((900, 200, 1200, 500)),
    "scribble": scribble((200, 600, 600, 900)),
    "several marks": several(loop((100, 100, 400, 350)), blob((1000, 600, 1300, 900)), scribble((600, 150, 850, 400))),
}
POSTED = {"jpeg": (1.0, 75), "half size jpeg": (0.5, 80), "third size jpeg": (0.33, 70)}


@pytest.mark.parametrize("posted", POSTED, ids=list(POSTED))
@pytest.mark.parametrize("marks", MARKS, ids=list(MARKS))
def test_the_region_found_matches_the_region_drawn(
    result_picture: Image.Image, result: bytes, marks: str, posted: str
) -> None:
    copy, drawn = marked_up(result_picture, MARKS[marks])
    region = find_marked_region(result, as_posted(copy, *POSTED[posted]))
    assert region.mask.mode == "L" and region.mask.size == SIZE
    histogram = region.mask.histogram()
    assert histogram[0] + histogram[255] == SIZE[0] * SIZE[1]
    assert iou(region.mask, drawn) >= 0.9
    assert region.box == region.mask.getbbox()
    assert region.fraction == pytest.approx(region.mask.histogram()[255] / (SIZE[0] * SIZE[1]))


def test_a_closed_loop_marks_its_inside(result_picture: Image.Image, result: bytes) -> None:
    copy, _ = marked_up(result_picture, loop((400, 300, 800, 650)))
    mask = find_marked_region(result, as_posted(copy, 0.5, 80)).mask
    assert mask.getpixel((600, 475)) == 255  # the centre, far from the stroke
    assert mask.getpixel((380, 475)) == 0 and mask.getpixel((600, 700)) == 0


def test_an_open_stroke_marks_only_itself(result_picture: Image.Image, result: bytes) -> None:
    """A "C" that leaves a wide gap encloses nothing: only the stroke is marked, not the bowl inside."""

    def arc(copy: ImageDraw.ImageDraw, region: ImageDraw.ImageDraw) -> None:
        copy.arc((400, 300, 800, 650), start=60, end=300, fill=MAGENTA, width=6)

    copy, _ = marked_up(result_picture, arc)
    region = find_marked_region(result, as_posted(copy, 1.0, 85))
    assert region.mask.getpixel((600, 475)) == 0
    assert region.fraction < 0.02


def test_a_loop_broken_over_a_similar_colour_still_marks_its_inside(
    result_picture: Image.Image, result: bytes
) -> None:
    """A thin green loop drawn partly over green, halved and saved at JPEG 70, loses a stretch of its
    stroke; a curve that runs round most of an area was meant as a loop (found by the property test)."""
    copy, drawn = marked_up(result_picture, loop((20, 20, 213, 180), (40, 255, 40)))
    region = find_marked_region(result, as_posted(copy, 0.5, 70))
    assert iou(region.mask, drawn) >= 0.9


def test_a_small_loop_is_not_widened_by_the_jpeg_halo(result_picture: Image.Image, result: bytes) -> None:
    """JPEG's colour subsampling spreads a magenta stroke's difference a few pixels beyond it; on a
    160-px loop that halo alone cost a tenth of the overlap (found by the property test)."""
    copy, drawn = marked_up(result_picture, loop((20, 42, 180, 203)))
    region = find_marked_region(result, as_posted(copy, 0.5, 70))
    assert iou(region.mask, drawn) >= 0.93


@settings(max_examples=10, deadline=None)
@given(
    shape=st.sampled_from(["ellipse", "rectangle"]),
    left=st.integers(20, 1000),
    top=st.integers(20, 600),
    width=st.integers(160, 500),
    height=st.integers(160, 400),
    color=st.sampled_from([MAGENTA, YELLOW, CYAN, RED, (40, 255, 40)]),
    stroke=st.integers(3, 8),
    scale=st.sampled_from([1.0, 0.5]),
    quality=st.sampled_from([70, 85, 95]),
)
def test_any_outline_marks_what_it_encloses(
    shape: str,
    left: int,
    top: int,
    width: int,
    height: int,
    color: tuple[int, int, int],
    stroke: int,
    scale: float,
    quality: int,
) -> None:
    box = (left, top, min(SIZE[0] - 20, left + width), min(SIZE[1] - 20, top + height))

    def draw(copy: ImageDraw.ImageDraw, region: ImageDraw.ImageDraw) -> None:
        getattr(copy, shape)(box, outline=color, width=stroke)
        getattr(region, shape)(box, fill=255)

    copy, drawn = marked_up(RESULT_PICTURE, draw)
    region = find_marked_region(RESULT, as_posted(copy, scale, quality))
    assert iou(region.mask, drawn) >= 0.9


def test_the_edit_mask_follows_the_api_rules(result_picture: Image.Image, result: bytes) -> None:
    copy, drawn = marked_up(result_picture, several(loop((400, 300, 800, 650)), blob((1000, 600, 1300, 900))))
    region = find_marked_region(result, as_posted(copy, 0.5, 80))
    data = edit_mask_png(region)
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) < 4 * 2**20
    mask = Image.open(io.BytesIO(data))
    assert (mask.format, mask.mode, mask.size) == ("PNG", "RGBA", SIZE)
    alpha = mask.getchannel("A")
    assert alpha.histogram()[0] + alpha.histogram()[255] == SIZE[0] * SIZE[1]
    assert ImageChops.invert(alpha).tobytes() == region.mask.tobytes()  # transparent exactly inside
    assert alpha.getpixel((600, 475)) == 0 and alpha.getpixel((1150, 750)) == 0
    assert alpha.getpixel((50, 50)) == 255 and alpha.getpixel((1500, 100)) == 255
    assert iou(ImageChops.invert(alpha), drawn) >= 0.9


def test_the_outline_shows_the_region_on_the_result(result_picture: Image.Image, result: bytes) -> None:
    copy, _ = marked_up(result_picture, blob((900, 200, 1200, 500)))
    region = find_marked_region(result, as_posted(copy, 1.0, 85))
    shown = Image.open(io.BytesIO(outline(result, region)))
    assert (shown.format, shown.size) == ("JPEG", SIZE)
    shown = shown.convert("RGB")
    left, top, _, bottom = region.box
    middle = (top + bottom) // 2
    assert min(shown.getpixel((left + 1, middle))) > 200  # the white edge just inside
    assert max(shown.getpixel((left - 3, middle))) < 90  # the dark edge just outside
    # Away from the edge the picture is the result, untouched (up to JPEG).
    far = shown.getpixel((100, 900))
    original = result_picture.getpixel((100, 900))
    assert all(abs(a - b) < 40 for a, b in zip(far, original, strict=True))


def test_an_unmarked_copy_is_refused_with_what_to_do(result_picture: Image.Image, result: bytes) -> None:
    with pytest.raises(NoMarksFound) as refused:
        find_marked_region(result, as_posted(result_picture, 0.5, 70), name="copy.jpg")
    assert isinstance(refused.value, ComposeError)
    assert str(refused.value) == (
        "copy.jpg: I could not find any marks: draw on a copy of the result with a bright colour "
        "and post it with your instruction"
    )


@pytest.mark.parametrize("other", ["shapes", "mirrored"])
def test_another_picture_of_the_same_shape_is_refused(result: bytes, other: str) -> None:
    picture = imagegen.pattern(*SIZE, seed=2) if other == "shapes" else mirrored_photo()
    copy, _ = marked_up(picture, loop((400, 300, 800, 650)))
    with pytest.raises(MarkedCopyMismatch) as refused:
        find_marked_region(result, as_posted(copy, 0.5, 80), name="other.jpg")
    assert str(refused.value) == (
        "other.jpg: it does not match the result: post a copy of the result itself with your marks drawn on it"
    )


def mirrored_photo() -> Image.Image:
    """The result upside down: the same colours and texture everywhere, in other places."""
    return RESULT_PICTURE.transpose(Image.Transpose.FLIP_TOP_BOTTOM)


def test_a_copy_painted_over_almost_entirely_is_refused(result_picture: Image.Image, result: bytes) -> None:
    copy, _ = marked_up(result_picture, blob((-400, -400, SIZE[0] + 400, SIZE[1] + 400)))
    with pytest.raises(MarkedCopyMismatch):
        find_marked_region(result, as_posted(copy, 0.5, 80))


@pytest.mark.parametrize("size", [(1024, 1024), (1536, 900), (1024, 1536)])
def test_a_copy_of_other_proportions_is_refused(result: bytes, size: tuple[int, int]) -> None:
    cropped = samples.encode(samples.photo(*size, seed=3), "JPEG", quality=85)
    with pytest.raises(MarkedCopyMismatch) as refused:
        find_marked_region(result, cropped, name="crop.jpg")
    assert str(refused.value) == (
        f"crop.jpg: it is {size[0]}x{size[1]} but the result is 1536x1024: "
        "draw on an uncropped copy of the result and post that"
    )


def test_a_copy_that_is_not_an_image_is_refused(result: bytes) -> None:
    with pytest.raises(ComposeError, match=r"copy\.png"):
        find_marked_region(result, b"<html>nope</html>", name="copy.png")


def test_rounding_of_a_shrunk_copy_is_not_a_mismatch(result_picture: Image.Image, result: bytes) -> None:
    """A chat that shrinks 1536x1024 to 401x267 changes the proportions by a rounding error, no more."""
    copy, drawn = marked_up(result_picture, blob((900, 200, 1200, 500)))
    shrunk = samples.encode(copy.resize((401, 267), Image.Resampling.LANCZOS), "JPEG", quality=85)
    region = find_marked_region(result, shrunk)
    assert iou(region.mask, drawn) >= 0.9


def test_a_small_result_works_at_its_own_size() -> None:
    picture = samples.photo(200, 150, seed=5)
    copy, drawn = marked_up(picture, blob((60, 40, 150, 120)))
    region = find_marked_region(samples.encode(picture, "PNG"), as_posted(copy, 1.0, 90))
    assert isinstance(region, MarkedRegion) and region.mask.size == (200, 150)
    assert iou(region.mask, drawn) >= 0.9
