"""Decoding uploads: formats, modes, orientation, animation, and everything that must be refused."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from compose import ComposeError, ImageInfo, probe
from compose.decode import decode_to, decode_within, open_image
from compose.encode import encode
from tests.compose import samples

FORMATS = ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"]
ROOT = Path(__file__).resolve().parents[2]


def decoded(data: bytes, size: tuple[int, int] | None = None, name: str = "upload") -> Image.Image:
    image = open_image(data, name)
    with image:
        return decode_to(image, name, size) if size else decode_within(image, name, 4096)


def close(pixel: object, expected: tuple[int, ...], tolerance: int = 12) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_accepted_format_probes_and_decodes(fmt: str) -> None:
    data = samples.encode(samples.solid(64, 48, samples.GREEN), fmt)
    assert probe(data, "x") == ImageInfo(format=fmt, width=64, height=48, frames=1)
    picture = decoded(data, (32, 24))
    assert picture.mode == "RGB"
    assert picture.size == (32, 24)
    assert close(picture.getpixel((16, 12)), samples.GREEN, tolerance=24)


def test_a_jpeg_holding_several_pictures_decodes_as_its_first() -> None:
    """Cameras write stereo and depth pictures as MPO: JPEG's own plugin opens them (no other is loaded)."""
    first, second = samples.solid(64, 48, samples.GREEN), samples.solid(64, 48, (200, 30, 30))
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    assert probe(buffer.getvalue(), "stereo.jpg") == ImageInfo(format="MPO", width=64, height=48, frames=2)
    assert close(decoded(buffer.getvalue(), (32, 24)).getpixel((16, 12)), samples.GREEN, tolerance=24)


_FIRST_OPENS_AT_ONCE = """
import sys, threading
data = sys.stdin.buffer.read()
from compose.decode import open_image
barrier, failures = threading.Barrier(8), []
def run():
    barrier.wait()
    try:
        open_image(data, "photo.jpg").close()
    except Exception as error:
        failures.append(str(error))
threads = [threading.Thread(target=run) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(failures)
"""


def test_the_first_files_opened_at_once_on_several_threads_all_open() -> None:
    """A format's plugin is imported on first use: a thread that finds it half-imported by another
    waits for it (it once failed such photos as damaged)."""
    photo = samples.encode(samples.photo(600, 400), "JPEG")
    for _ in range(5):  # each a fresh process, where the plugin is not loaded yet
        child = subprocess.run(
            [sys.executable, "-c", _FIRST_OPENS_AT_ONCE], input=photo, capture_output=True, timeout=60, check=True,
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert child.stdout.decode().strip() == "[]", child.stdout.decode()


def test_heic_phone_photos_decode() -> None:
    data = samples.heic(samples.solid(64, 48, samples.BLUE))
    info = probe(data, "IMG_0001.HEIC")
    assert (info.format, info.width, info.height) == ("HEIF", 64, 48)
    assert close(decoded(data).getpixel((32, 24)), samples.BLUE, tolerance=24)


def test_avif_decodes() -> None:
    data = samples.encode(samples.solid(64, 48, samples.RED), "AVIF", quality=90)
    assert probe(data, "x.avif").format == "AVIF"
    assert close(decoded(data).getpixel((32, 24)), samples.RED, tolerance=24)


@pytest.mark.parametrize(
    ("orientation", "top", "bottom", "left", "right"),
    [
        (1, None, None, samples.RED, samples.BLUE),
        (3, None, None, samples.BLUE, samples.RED),
        (6, samples.RED, samples.BLUE, None, None),  # stored sideways, turned 90° clockwise to show
        (8, samples.BLUE, samples.RED, None, None),
    ],
)
def test_exif_orientation_is_honoured(
    orientation: int,
    top: tuple[int, int, int] | None,
    bottom: tuple[int, int, int] | None,
    left: tuple[int, int, int] | None,
    right: tuple[int, int, int] | None,
) -> None:
    data = samples.jpeg_with_orientation(orientation)  # stored 80x40: red left half, blue right half
    info = probe(data, "x.jpg")
    turned = orientation in (6, 8)
    assert (info.width, info.height) == ((40, 80) if turned else (80, 40))
    picture = decoded(data, (info.width // 2, info.height // 2))
    assert picture.size == (info.width // 2, info.height // 2)
    w, h = picture.size
    if turned:
        assert top is not None and bottom is not None
        assert close(picture.getpixel((w // 2, 2)), top, 30)
        assert close(picture.getpixel((w // 2, h - 3)), bottom, 30)
    else:
        assert left is not None and right is not None
        assert close(picture.getpixel((2, h // 2)), left, 30)
        assert close(picture.getpixel((w - 3, h // 2)), right, 30)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animations_give_their_first_frame(fmt: str) -> None:
    data = samples.animated(fmt)
    assert probe(data, "anim").frames == 2
    assert close(decoded(data).getpixel((10, 10)), samples.RED)


@pytest.mark.parametrize(
    ("data", "left", "right"),
    [
        (samples.encode(samples.transparent_rgba(), "PNG"), (*samples.RED, 255), (0, 0, 0, 0)),
        (samples.palette_with_transparency(), (*samples.RED, 255), None),
        (samples.grey_alpha(), None, None),
    ],
    ids=["RGBA", "P+transparency", "LA"],
)
def test_transparency_survives_as_rgba(
    data: bytes, left: tuple[int, ...] | None, right: tuple[int, ...] | None
) -> None:
    picture = decoded(data)
    assert picture.mode == "RGBA"
    assert picture.getpixel((picture.width - 2, 5))[3] == 0  # type: ignore[index]
    assert picture.getpixel((2, 5))[3] == 255  # type: ignore[index]
    if left is not None:
        assert close(picture.getpixel((2, 5)), left)
    if right is not None:
        assert picture.getpixel((picture.width - 2, 5)) == right


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (samples.cmyk_jpeg(), samples.RED),
        (samples.cmyk_tiff(), samples.RED),
        (samples.sixteen_bit_grey(65535 // 2), (127, 127, 127)),
        (samples.sixteen_bit_grey(65535), (255, 255, 255)),
        (samples.float_tiff(), (127, 127, 127)),
        (samples.bilevel_bmp(), (255, 255, 255)),
        (samples.encode(Image.new("L", (40, 30), 90), "PNG"), (90, 90, 90)),
        (samples.encode(samples.solid(40, 30, samples.BLUE).convert("YCbCr"), "JPEG"), samples.BLUE),
    ],
    ids=["CMYK-JPEG", "CMYK-TIFF", "16-bit-mid", "16-bit-white", "float", "1-bit", "grey", "YCbCr"],
)
def test_every_mode_becomes_8_bit_rgb(data: bytes, expected: tuple[int, int, int]) -> None:
    picture = decoded(data)
    assert picture.mode == "RGB"
    assert close(picture.getpixel((5, 5)), expected, tolerance=8)


def test_embedded_icc_profiles_are_applied_and_broken_ones_ignored() -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = samples.encode(samples.solid(40, 30, samples.RED), "PNG", icc_profile=srgb)
    assert close(decoded(tagged).getpixel((5, 5)), samples.RED, tolerance=4)
    broken = samples.encode(samples.solid(40, 30, samples.RED), "JPEG", quality=95, icc_profile=b"not a profile")
    assert close(decoded(broken).getpixel((5, 5)), samples.RED, tolerance=8)


def test_large_jpeg_is_decoded_at_a_reduced_dct_scale() -> None:
    data = samples.encode(samples.photo(1600, 1200), "JPEG", quality=90)
    image = open_image(data, "big.jpg")
    with image:
        picture = decode_to(image, "big.jpg", (200, 150))
        # draft() made libjpeg decode at 1/8 scale: the full 1600x1200 raster never existed.
        assert image.size == (200, 150)
    assert picture.size == (200, 150)


def test_a_jpeg_decodes_at_a_dct_scale_at_most_three_percent_under_its_panel() -> None:
    data = samples.encode(samples.photo(1600, 1200), "JPEG", quality=90)
    with open_image(data, "big.jpg") as image:
        picture = decode_to(image, "big.jpg", (206, 155))  # 1/8 scale gives 200x150, 3 % short
        assert image.size == (200, 150)
    assert picture.size == (206, 155)
    with open_image(data, "big.jpg") as image:
        picture = decode_to(image, "big.jpg", (212, 159))  # 1/8 would be 6 % short: 1/4
        assert image.size == (400, 300)
    assert picture.size == (212, 159)


def test_a_panel_from_a_dct_scale_3_percent_small_differs_less_than_the_sheets_own_jpeg() -> None:
    data = samples.encode(samples.photo(1600, 1200), "JPEG", quality=90)
    with Image.open(io.BytesIO(data)) as image:
        best = image.convert("RGB")
    with open_image(data, "big.jpg") as image:
        panel = decode_to(image, "big.jpg", (206, 155))  # from 200x150, 1/8 scale
    assert _mean_difference(panel, best.resize((206, 155), Image.Resampling.LANCZOS)) < _jpeg_noise(best, (206, 155))
    # The measure tells: a panel enlarged twice from the same scale is plainly softer.
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (200, 150))
        soft = image.convert("RGB").resize((400, 300), Image.Resampling.LANCZOS)
    assert _mean_difference(soft, best.resize((400, 300), Image.Resampling.LANCZOS)) > _jpeg_noise(best, (400, 300))


def test_a_panel_resampled_with_bicubic_differs_less_than_the_sheets_own_jpeg() -> None:
    data = samples.encode(samples.photo(1155, 866), "PNG")
    with Image.open(io.BytesIO(data)) as image:
        best = image.convert("RGB")
    with open_image(data, "shot.png") as image:
        panel = decode_to(image, "shot.png", (503, 377))
    assert _mean_difference(panel, best.resize((503, 377), Image.Resampling.LANCZOS)) < _jpeg_noise(best, (503, 377))


def _jpeg_noise(picture: Image.Image, size: tuple[int, int]) -> float:
    """How far the sheet's own JPEG encoding moves ``picture`` at ``size``."""
    exact = picture.resize(size, Image.Resampling.LANCZOS)
    return _mean_difference(Image.open(io.BytesIO(encode(exact, "jpeg", compact=False))), exact)


def _mean_difference(one: Image.Image, other: Image.Image) -> float:
    pairs = zip(one.convert("L").tobytes(), other.convert("L").tobytes(), strict=True)
    return sum(abs(a - b) for a, b in pairs) / (one.width * one.height)


def test_decode_within_never_enlarges() -> None:
    data = samples.encode(samples.photo(300, 200), "PNG")
    assert decoded(data).size == (300, 200)
    image = open_image(data, "x.png")
    with image:
        assert decode_within(image, "x.png", 150).size == (150, 100)


TRUNCATED = [
    (fmt, samples.encode(samples.photo(200, 150), fmt)) for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
]


@pytest.mark.parametrize(("fmt", "data"), TRUNCATED, ids=[fmt for fmt, _ in TRUNCATED])
def test_truncated_files_are_refused_with_their_name(fmt: str, data: bytes) -> None:
    with pytest.raises(ComposeError) as caught:
        decoded(data[: len(data) // 2], name=f"holiday.{fmt.lower()}")
    assert caught.value.name == f"holiday.{fmt.lower()}"
    assert "truncated" in caught.value.reason or "damaged" in caught.value.reason
    assert str(caught.value).startswith(f"holiday.{fmt.lower()}: ")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "looks like HTML"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        (b"<svg viewBox='0 0 10 10'><rect/></svg>", "SVG"),
        ("just some words, café ☕\n".encode(), "looks like text"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (bytes(range(256)) * 4, "not a supported image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "damaged or truncated PNG"),
        (b"\xff\xd8\xff\xe0\x00", "damaged or truncated JPEG"),
    ],
    ids=["empty", "html", "svg-xml", "svg", "text", "pdf", "binary", "png-header-only", "jpeg-header-only"],
)
def test_non_images_are_refused_readably(data: bytes, reason: str) -> None:
    with pytest.raises(ComposeError) as caught:
        probe(data, "thing.png")
    assert reason in caught.value.reason
    assert caught.value.name == "thing.png"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (samples.png_declaring(40000, 40000), "image too large: 1600 megapixels"),
        (samples.png_declaring(9000, 9000), "image too large: 9000x9000 pixels"),
        (samples.gif_declaring(40000, 40000), "image too large"),
        (samples.gif_declaring(8000, 8000), "image too large: 8000x8000 pixels"),
    ],
    ids=["png-40k", "png-9k", "gif-40k", "gif-8k"],
)
def test_decompression_bombs_are_refused_from_the_header(data: bytes, reason: str) -> None:
    assert len(data) < 200  # a tiny file that would need gigabytes once decoded
    with pytest.raises(ComposeError) as caught:
        open_image(data, "bomb.png")
    assert reason in caught.value.reason


def test_pixel_limit_is_a_parameter() -> None:
    data = samples.encode(samples.solid(100, 100, samples.RED), "PNG")
    with pytest.raises(ComposeError, match="100x100 pixels"):
        probe(data, "x.png", max_pixels=9_999)
    assert probe(data, "x.png", max_pixels=10_000).width == 100


def test_other_formats_pillow_knows_are_not_accepted() -> None:
    data = samples.encode(samples.solid(20, 20, samples.RED), "PPM")
    with pytest.raises(ComposeError, match="not a supported image"):
        probe(data, "x.ppm")
