"""The reference sheet end to end: every input format and mode, labels, captions, budgets, refusals."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image, ImageStat

from compose import Box, ComposeError, Sheet, SheetInput, compose_sheet, sheet_label
from compose.layout import reads_in_order
from compose.render import SHEET_BACKGROUND, TRANSPARENT_BACKGROUND
from tests.compose import samples

COLOURS = [
    (220, 30, 30),
    (30, 170, 60),
    (30, 60, 220),
    (230, 200, 40),
    (150, 60, 170),
    (40, 180, 180),
    (240, 140, 40),
    (90, 90, 90),
]
INPUT_FORMATS = ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF"]


def encoded(image: Image.Image, fmt: str) -> bytes:
    if fmt == "HEIF":
        return samples.heic(image)
    if fmt == "GIF":
        return samples.encode(image.quantize(8), fmt)
    return samples.encode(image, fmt)


def centre(sheet: Sheet, box: Box) -> tuple[int, ...]:
    pixel = sheet.image.getpixel(((box.x0 + box.x1) // 2, (box.y0 + box.y1) // 2))
    assert isinstance(pixel, tuple)
    return pixel


def close(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 30) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def luminance(image: Image.Image, box: Box) -> float:
    return float(ImageStat.Stat(image.crop(box.as_tuple()).convert("L")).mean[0])


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_every_input_format_lands_in_its_box(fmt: str) -> None:
    refs = [
        SheetInput(encoded(samples.solid(120 + 20 * index, 90, COLOURS[index]), source), sheet_label(index))
        for index, source in enumerate(INPUT_FORMATS)
    ]
    sheet = compose_sheet(refs, size=(1024, 1024), fmt=fmt)
    assert sheet.format == fmt
    assert sheet.size == (1024, 1024)
    with Image.open(io.BytesIO(sheet.data)) as reopened:
        assert reopened.format == fmt.upper()
        assert reopened.size == sheet.size
    for index, ref in enumerate(refs):
        assert close(centre(sheet, sheet.boxes[ref.label]), COLOURS[index]), (INPUT_FORMATS[index], ref.label)
    assert 0.3 < sheet.fill_ratio <= 1


def test_same_references_give_the_same_bytes() -> None:
    refs = [
        SheetInput(samples.encode(samples.photo(300, 200, seed), "JPEG"), sheet_label(seed), caption=f"photo {seed}")
        for seed in range(5)
    ]
    first = compose_sheet(refs, size=(1024, 768))
    second = compose_sheet(list(refs), size=(1024, 768))
    assert first.data == second.data
    assert first.boxes == second.boxes


def test_panel_areas_follow_weights() -> None:
    square = samples.encode(samples.photo(400, 400), "PNG")
    refs = [SheetInput(square, "A"), SheetInput(square, "B"), SheetInput(square, "C", weight=2.0)]
    sheet = compose_sheet(refs, size=(1024, 1024), fmt="png")
    areas = {label: box.area for label, box in sheet.boxes.items()}
    covered = sum(areas.values())
    # Issue 13: each panel's share of the covered area within 20 % of its weight's (1/4, 1/4, 1/2).
    for label, share in (("A", 0.25), ("B", 0.25), ("C", 0.5)):
        assert areas[label] / covered == pytest.approx(share, rel=0.2)
    assert areas["C"] > 1.4 * max(areas["A"], areas["B"])


def test_exif_rotated_reference_gets_an_upright_panel() -> None:
    refs = [SheetInput(samples.jpeg_with_orientation(6, 400, 200), "A"), SheetInput(samples.png(), "B")]
    sheet = compose_sheet(refs, size=(1024, 1024), fmt="png")
    box = sheet.boxes["A"]
    assert box.height == pytest.approx(2 * box.width, abs=1)
    top = sheet.image.getpixel(((box.x0 + box.x1) // 2, box.y0 + box.height // 4 + 20))
    bottom = sheet.image.getpixel(((box.x0 + box.x1) // 2, box.y1 - box.height // 4))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert close(top, samples.RED) and close(bottom, samples.BLUE)


def test_animated_reference_shows_its_first_frame() -> None:
    sheet = compose_sheet([SheetInput(samples.animated("GIF"), "A")], size=(512, 512), fmt="png")
    assert close(centre(sheet, sheet.boxes["A"]), samples.RED, 10)


def test_transparent_pixels_sit_on_a_neutral_grey() -> None:
    data = samples.encode(samples.transparent_rgba(400, 200), "PNG")
    sheet = compose_sheet([SheetInput(data, "A")], size=(512, 512), fmt="png")
    box = sheet.boxes["A"]
    right = sheet.image.getpixel((box.x1 - 20, (box.y0 + box.y1) // 2))
    left = sheet.image.getpixel((box.x0 + box.width // 4, (box.y0 + box.y1) // 2))
    assert right == TRANSPARENT_BACKGROUND
    assert isinstance(left, tuple) and close(left, samples.RED, 4)


@pytest.mark.parametrize("size", [(1024, 1024), (1536, 1024), (512, 512)])
def test_badges_sit_on_their_panels_and_contrast_with_them(size: tuple[int, int]) -> None:
    tones = [(255, 255, 255), (0, 0, 0), (250, 250, 250), (10, 10, 10), (128, 128, 128), (235, 220, 60)]
    refs = [
        SheetInput(samples.encode(samples.solid(300, 200 + 40 * index, tone), "PNG"), sheet_label(index))
        for index, tone in enumerate(tones)
    ]
    sheet = compose_sheet(refs, size=size, fmt="png")
    for (label, badge), tone in zip(sheet.badge_boxes.items(), tones, strict=True):
        panel = sheet.boxes[label]
        assert badge.inside(*sheet.size)
        # In the panel's top-left corner, close to the edges.
        assert panel.x0 <= badge.x0 <= panel.x0 + badge.height // 2
        assert panel.y0 <= badge.y0 <= panel.y0 + badge.height // 2
        assert badge.x1 <= panel.x1 and badge.y1 <= panel.y1
        # The badge body (left of the letter, inside the ring) contrasts with the panel around it.
        body = sheet.image.getpixel((badge.x0 + badge.width // 6, (badge.y0 + badge.y1) // 2))
        assert isinstance(body, tuple)
        panel_luma = 0.299 * tone[0] + 0.587 * tone[1] + 0.114 * tone[2]
        body_luma = 0.299 * body[0] + 0.587 * body[1] + 0.114 * body[2]
        assert abs(panel_luma - body_luma) >= 100, (label, tone, body)
        # The letter is drawn: the badge holds both its fill and a contrasting ink.
        low, high = sheet.image.crop(badge.as_tuple()).convert("L").getextrema()
        assert isinstance(low, (int, float)) and isinstance(high, (int, float)) and high - low >= 200


@pytest.mark.parametrize("size", [(1024, 1024), (2048, 1365)])
def test_badges_keep_a_readable_floor_on_tiny_panels(size: tuple[int, int]) -> None:
    """24 references, weights 0.25 and 4 alternating: thumbnails beside big panels, every letter still readable."""
    shapes = [(400, 300), (300, 400), (300, 300), (900, 300)]
    refs = [
        SheetInput(
            samples.encode(samples.photo(*shapes[index % 4], seed=index), "PNG"),
            sheet_label(index),
            weight=4.0 if index % 2 else 0.25,
            caption=f"caption of {sheet_label(index)}",
        )
        for index in range(24)
    ]
    sheet = compose_sheet(refs, size=size, fmt="png")
    floor = round((size[0] * size[1]) ** 0.5 * 0.032)
    small = [label for label, box in sheet.boxes.items() if box.area < 10_000 * (size[0] * size[1]) / 1024**2]
    assert len(small) == 12  # the weight-0.25 panels really are thumbnails
    for label, badge in sheet.badge_boxes.items():
        assert badge.height >= floor, label
        assert badge.inside(*size)
        # A letter is drawn: the badge holds its fill and a contrasting ink.
        low, high = sheet.image.crop(badge.as_tuple()).convert("L").getextrema()
        assert isinstance(low, (int, float)) and isinstance(high, (int, float)) and high - low >= 200, label
    for first, second in itertools.combinations(sheet.badge_boxes.values(), 2):
        assert not first.overlaps(second)
    for label in small:
        # No caption band squeezed under the badge of a thumbnail: its bottom rows are the picture itself.
        panel = sheet.boxes[label]
        assert luminance(sheet.image, Box(panel.x0, panel.y1 - 6, panel.x1, panel.y1)) > 90, label


def test_badge_grows_with_its_panel() -> None:
    square = samples.encode(samples.photo(400, 400), "PNG")
    sheet = compose_sheet([SheetInput(square, "A", weight=4.0), SheetInput(square, "B", weight=0.25)], (1024, 1024))
    assert sheet.badge_boxes["A"].height > sheet.badge_boxes["B"].height


CAPTIONS = [
    "a plain caption",
    "🐈‍⬛ cat emoji with ZWJ 👩🏽‍🚀 and skin tone",
    "漢字とかなと한글 mixed with Latin",
    "שלום עולם — right to left",
    "مرحبا بالعالم",
    "e\u0301\u0301\u0301 combining marks",
    "lone surrogate \ud800 and control \x00\x07\x1b chars\nnew line\ttab",
    "\u202eRLO override then text",
    "x" * 10_000,
    " ",
]


@pytest.mark.parametrize("caption", CAPTIONS, ids=[str(index) for index in range(len(CAPTIONS))])
def test_any_unicode_caption_is_drawn_without_crashing(caption: str) -> None:
    white = samples.encode(samples.solid(600, 400, (255, 255, 255)), "PNG")
    sheet = compose_sheet([SheetInput(white, "A", caption=caption)], size=(1024, 768), fmt="png")
    box = sheet.boxes["A"]
    bottom = Box(box.x0, box.y1 - 10, box.x1, box.y1)
    if caption.strip():
        assert luminance(sheet.image, bottom) < 160  # the darkened caption band
    else:
        assert luminance(sheet.image, bottom) > 250


def test_a_caption_of_only_emoji_draws_no_empty_band() -> None:
    white = samples.encode(samples.solid(600, 400, (255, 255, 255)), "PNG")
    sheet = compose_sheet([SheetInput(white, "A", caption="🎉🐈👍🏽")], size=(1024, 768), fmt="png")
    box = sheet.boxes["A"]
    assert luminance(sheet.image, Box(box.x0, box.y1 - 10, box.x1, box.y1)) > 250


def test_long_captions_stay_inside_their_panel() -> None:
    white = samples.encode(samples.solid(300, 300, (255, 255, 255)), "PNG")
    refs = [SheetInput(white, "A", caption="word " * 200), SheetInput(white, "B")]
    sheet = compose_sheet(refs, size=(1024, 512), fmt="png")
    panel_b = sheet.boxes["B"]
    assert luminance(sheet.image, Box(panel_b.x0, panel_b.y1 - 10, panel_b.x1, panel_b.y1)) > 250
    a = sheet.boxes["A"]
    outside = Box(a.x1, a.y1 - 20, min(sheet.size[0], a.x1 + 4), a.y1)
    if outside.width > 0 and not outside.overlaps(panel_b):
        assert sheet.image.crop(outside.as_tuple()).getcolors() == [(outside.area, SHEET_BACKGROUND)]


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "png"])
def test_byte_budget_is_met_and_boxes_follow(fmt: str) -> None:
    refs = [SheetInput(samples.encode(samples.photo(800, 600, seed), "PNG"), sheet_label(seed)) for seed in range(4)]
    full = compose_sheet(refs, size=(1024, 1024), fmt=fmt)
    budget = len(full.data) // 4
    sheet = compose_sheet(refs, size=(1024, 1024), fmt=fmt, max_bytes=budget)
    assert len(sheet.data) <= budget
    with Image.open(io.BytesIO(sheet.data)) as reopened:
        assert reopened.size == sheet.size == sheet.image.size
    for label, box in sheet.boxes.items():
        assert box.inside(*sheet.size)
        assert sheet.badge_boxes[label].inside(*sheet.size)
    if sheet.size != full.size:
        assert sheet.fill_ratio == pytest.approx(full.fill_ratio, abs=0.03)


def test_impossible_budget_is_a_compose_error() -> None:
    with pytest.raises(ComposeError, match="reference sheet: cannot fit"):
        compose_sheet([SheetInput(samples.png(), "A")], size=(256, 256), max_bytes=50)


def test_a_bad_reference_is_refused_by_name() -> None:
    refs = [SheetInput(samples.png(), "A"), SheetInput(b"<html>nope</html>", "B", name="cat.jpg")]
    with pytest.raises(ComposeError) as caught:
        compose_sheet(refs)
    assert str(caught.value) == "cat.jpg: not an image (looks like HTML)"


def test_unnamed_reference_is_called_by_its_label() -> None:
    with pytest.raises(ComposeError, match=r"^image B: empty file$"):
        compose_sheet([SheetInput(samples.png(), "A"), SheetInput(b"", "B")])


def test_truncated_reference_is_refused_by_name() -> None:
    data = samples.encode(samples.photo(400, 300), "JPEG")
    with pytest.raises(ComposeError, match=r"^holiday\.jpg: truncated file$"):
        compose_sheet([SheetInput(data[: len(data) // 2], "A", name="holiday.jpg")])


def test_too_many_references() -> None:
    refs = [SheetInput(samples.png(), sheet_label(index)) for index in range(25)]
    with pytest.raises(ComposeError, match="too many images: 25"):
        compose_sheet(refs)


@pytest.mark.parametrize(
    ("refs", "fmt"),
    [
        ([], "jpeg"),
        ([SheetInput(samples.png(), "A"), SheetInput(samples.png(), "A")], "jpeg"),
        ([SheetInput(samples.png(), "")], "jpeg"),
        ([SheetInput(samples.png(), "A", weight=0.0)], "jpeg"),
        ([SheetInput(samples.png(), "A")], "gif"),
    ],
    ids=["empty", "duplicate", "blank-label", "zero-weight", "gif-output"],
)
def test_contract_violations_raise_value_error(refs: list[SheetInput], fmt: str) -> None:
    with pytest.raises(ValueError):
        compose_sheet(refs, fmt=fmt)


MODES = [
    ("CMYK-JPEG", samples.cmyk_jpeg(), samples.RED),
    ("CMYK-TIFF", samples.cmyk_tiff(), samples.RED),
    ("16-bit", samples.sixteen_bit_grey(65535 // 2), (127, 127, 127)),
    ("float", samples.float_tiff(), (127, 127, 127)),
    ("1-bit", samples.bilevel_bmp(), (255, 255, 255)),
    ("LA", samples.grey_alpha(), TRANSPARENT_BACKGROUND),
    ("P+transparency", samples.palette_with_transparency(), TRANSPARENT_BACKGROUND),
    ("RGBA", samples.encode(samples.transparent_rgba(), "PNG"), TRANSPARENT_BACKGROUND),
    ("animated-WEBP", samples.animated("WEBP"), samples.RED),
    ("APNG", samples.animated("PNG"), samples.RED),
    ("HEIC", samples.heic(samples.solid(60, 40, samples.BLUE)), samples.BLUE),
]


@pytest.mark.parametrize(("data", "expected"), [m[1:] for m in MODES], ids=[m[0] for m in MODES])
def test_every_mode_renders_into_the_sheet(data: bytes, expected: tuple[int, int, int]) -> None:
    sheet = compose_sheet([SheetInput(data, "A"), SheetInput(samples.png(), "B")], size=(512, 512), fmt="png")
    box = sheet.boxes["A"]
    # Right-hand side, vertically centred: transparent in the alpha samples, uniform in the others.
    pixel = sheet.image.getpixel((box.x1 - max(2, box.width // 8), (box.y0 + box.y1) // 2))
    assert isinstance(pixel, tuple)
    assert close(pixel, expected, 24), pixel


def test_thread_count_does_not_change_the_bytes() -> None:
    refs = [SheetInput(samples.encode(samples.photo(640, 480, seed), "JPEG"), sheet_label(seed)) for seed in range(6)]
    assert (
        compose_sheet(refs, size=(1024, 1024), threads=1).data == compose_sheet(refs, size=(1024, 1024), threads=4).data
    )


def test_a_tiny_icon_is_shown_at_most_twice_its_size_and_named() -> None:
    icon = SheetInput(samples.encode(samples.solid(32, 32, COLOURS[1]), "PNG"), "B", name="icon.png")
    photos = [
        SheetInput(samples.encode(samples.photo(1200, 900, seed), "JPEG"), label)
        for seed, label in ((1, "A"), (2, "C"))
    ]
    sheet = compose_sheet([photos[0], icon, photos[1]], size=(1024, 1024))
    assert sheet.small == ("B",)
    box = sheet.boxes["B"]
    assert box.width <= 64 and box.height <= 64
    assert close(centre(sheet, box), COLOURS[1])
    assert compose_sheet(photos, size=(1024, 1024)).small == ()


def test_with_the_aspect_free_the_sheet_takes_the_shape_its_pictures_cover() -> None:
    refs = [SheetInput(samples.encode(samples.photo(800, 600, seed), "JPEG"), sheet_label(seed)) for seed in range(3)]
    square = compose_sheet(refs, size=(2048, 2048))
    fitted = compose_sheet(refs, size=(2048, 2048), fit_aspect=True)
    assert max(fitted.size) == 2048 and fitted.size != (2048, 2048)
    assert 1 / 3 <= fitted.size[0] / fitted.size[1] <= 3
    assert fitted.image.size == fitted.size
    assert fitted.fill_ratio >= 0.85 > square.fill_ratio
    assert all(box.inside(*fitted.size) for box in fitted.boxes.values())


def test_sheet_panels_read_in_label_order() -> None:
    shapes = [(300, 400), (400, 300), (400, 100), (100, 300), (300, 300), (160, 90), (90, 160), (500, 250), (250, 250)]
    refs = [
        SheetInput(samples.encode(samples.solid(w, h, COLOURS[index % len(COLOURS)]), "PNG"), sheet_label(index))
        for index, (w, h) in enumerate(shapes)
    ]
    sheet = compose_sheet(refs, size=(1024, 1024))
    assert reads_in_order([sheet.boxes[ref.label] for ref in refs])
