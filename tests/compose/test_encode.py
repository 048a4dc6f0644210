"""Normalizing references and fitting results into byte budgets."""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest
from PIL import Image

from compose import ComposeError, Normalized, fit_to_bytes, normalize
from compose.encode import encode, fast_png, fast_png_pieces
from tests.compose import samples


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_normalize_makes_an_opaque_upload_a_bounded_jpeg() -> None:
    data = samples.encode(samples.photo(3000, 1500), "PNG")
    result = normalize(data, "wide.png", max_side=1024)
    assert isinstance(result, Normalized)
    assert (result.format, result.width, result.height) == ("jpeg", 1024, 512)
    image = opened(result.data)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (1024, 512))


def test_normalize_keeps_real_transparency_as_png() -> None:
    result = normalize(samples.encode(samples.transparent_rgba(), "PNG"), "logo.png")
    assert result.format == "png"
    image = opened(result.data)
    assert image.mode == "RGBA"
    assert image.getpixel((image.width - 1, 0)) == (0, 0, 0, 0)


def test_normalize_drops_an_alpha_channel_that_is_fully_opaque() -> None:
    opaque = samples.solid(50, 40, samples.GREEN).convert("RGBA")
    assert normalize(samples.encode(opaque, "PNG"), "flat.png").format == "jpeg"


def test_normalize_turns_photos_upright_and_takes_first_frames() -> None:
    turned = normalize(samples.jpeg_with_orientation(6), "phone.jpg")
    assert (turned.width, turned.height) == (40, 80)
    image = opened(turned.data)
    assert image.getexif().get(0x0112) is None  # no orientation left to apply twice
    first = normalize(samples.animated("WEBP"), "anim.webp")
    pixel = opened(first.data).getpixel((10, 10))
    assert isinstance(pixel, tuple)
    assert abs(pixel[0] - samples.RED[0]) < 12 and abs(pixel[2] - samples.RED[2]) < 12


def test_normalize_never_enlarges() -> None:
    result = normalize(samples.png(64, 48), "small.png", max_side=2048)
    assert (result.width, result.height) == (64, 48)


def test_normalize_refuses_by_name() -> None:
    with pytest.raises(ComposeError, match=r"^notes\.txt: not an image"):
        normalize(b"shopping list: eggs, milk", "notes.txt")
    with pytest.raises(ComposeError, match="image too large"):
        normalize(samples.png_declaring(40000, 40000), "bomb.png")


def test_fit_to_bytes_leaves_what_already_fits() -> None:
    data = samples.png()
    assert fit_to_bytes(data, len(data)) == (data, "png")


def test_fit_to_bytes_shrinks_opaque_results_to_jpeg() -> None:
    data = samples.encode(samples.photo(1600, 1200), "PNG")
    budget = len(data) // 20
    fitted, fmt = fit_to_bytes(data, budget)
    assert fmt == "jpeg"
    assert len(fitted) <= budget
    assert opened(fitted).format == "JPEG"


def test_fit_to_bytes_shrinks_the_picture_when_quality_is_not_enough() -> None:
    data = samples.encode(samples.photo(1600, 1200), "PNG")
    fitted, _fmt = fit_to_bytes(data, 20_000)
    assert len(fitted) <= 20_000
    image = opened(fitted)
    assert image.width < 1600
    assert image.width / image.height == pytest.approx(4 / 3, rel=0.02)


def test_fit_to_bytes_keeps_alpha() -> None:
    picture = samples.photo(800, 600).convert("RGBA")
    picture.putalpha(Image.linear_gradient("L").resize((800, 600)))
    data = samples.encode(picture, "PNG")
    fitted, fmt = fit_to_bytes(data, len(data) // 6)
    assert fmt in ("png", "webp")
    assert len(fitted) <= len(data) // 6
    image = opened(fitted)
    assert image.mode == "RGBA"
    low, _high = image.getchannel("A").getextrema()
    assert isinstance(low, (int, float)) and low < 128


def test_fit_to_bytes_refuses_an_impossible_budget() -> None:
    with pytest.raises(ComposeError, match=r"^result: cannot fit"):
        fit_to_bytes(samples.encode(samples.photo(400, 300), "PNG"), 100)


def test_fit_to_bytes_refuses_non_images() -> None:
    with pytest.raises(ComposeError, match=r"^reply\.html: not an image"):
        fit_to_bytes(b"<html><body>502 Bad Gateway</body></html>", 10, name="reply.html")


def test_plain_jpeg_tables_change_the_bytes_not_the_pixels() -> None:
    """Sheets skip Huffman optimization (memory, time); it is lossless, so what the model sees is the same."""
    picture = samples.photo(640, 480, seed=3)
    compact = encode(picture, "jpeg")
    plain = encode(picture, "jpeg", compact=False)
    assert compact != plain
    assert len(compact) < len(plain)
    assert opened(compact).tobytes() == opened(plain).tobytes()


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_the_fast_png_holds_the_same_pixels(mode: str) -> None:
    picture = samples.photo(300, 200).convert(mode)
    if mode == "RGBA":
        picture.putalpha(Image.linear_gradient("L").resize(picture.size))
    data = encode(picture, "png", compact=False)
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.format == "PNG" and decoded.mode == mode
        assert decoded.tobytes() == picture.tobytes()


def _mean_difference(one: Image.Image, other: Image.Image) -> float:
    pairs = zip(one.convert("L").tobytes(), other.convert("L").tobytes(), strict=True)
    return sum(abs(a - b) for a, b in pairs) / (one.width * one.height)


def test_normalised_references_are_made_for_speed_where_the_eye_cannot_tell() -> None:
    """BICUBIC after the box reduction, and a JPEG without optimised Huffman tables: the copy is as
    close to a LANCZOS picture as JPEG's own noise keeps any copy of it."""
    data = samples.encode(samples.photo(3000, 2000), "JPEG", quality=90)
    made = normalize(data, "photo.jpg", max_side=1536)
    assert made.format == "jpeg" and (made.width, made.height) == (1536, 1024)
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (1536, 1024))
        best = image.convert("RGB").resize((1536, 1024), Image.Resampling.LANCZOS)
    noise = _mean_difference(Image.open(io.BytesIO(samples.encode(best, "JPEG", quality=90))), best)
    assert _mean_difference(Image.open(io.BytesIO(made.data)), best) < 1.25 * noise


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_the_fast_png_deflates_bands_apart_into_one_valid_stream(mode: str) -> None:
    """Bands deflated on threads join into one zlib stream whose checksum covers every row."""
    picture = samples.photo(2048, 700).convert(mode)  # 128 rows a band of RGBA: six bands
    pieces = list(fast_png_pieces(picture, threads=3))
    data = b"".join(pieces)
    assert len(pieces) > 4  # streamed: signature and header, the bands, the end
    idat, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    assert len(idat) > 1
    rows = zlib.decompress(b"".join(idat))  # checks the Adler-32 of the whole
    stride = picture.width * len(mode)
    assert rows == b"".join(b"\x00" + picture.tobytes()[at : at + stride] for at in range(0, stride * 700, stride))
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.tobytes() == picture.tobytes()
    assert data == fast_png(picture)  # the thread count changes nothing


def test_the_fast_png_stores_bands_that_would_not_shrink_and_deflates_the_rest() -> None:
    """A sheet's photos are stored (deflating them saves a tenth for nine times the time), its flat
    background deflated: both kinds of band join into one valid stream holding the same pixels."""
    picture = Image.new("RGB", (1024, 1024), (242, 242, 242))
    picture.paste(Image.frombytes("RGB", (1024, 512), os.urandom(1024 * 512 * 3)), (0, 0))  # the top half: noise
    data = fast_png(picture)
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.tobytes() == picture.tobytes()
    raw = 1024 * 1024 * 3
    assert raw / 2 < len(data) < raw / 2 + raw / 50  # the noise as it is, the background almost nothing
