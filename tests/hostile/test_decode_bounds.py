"""Hostile files cannot stall a decode or blow up its memory (issue 8).

Every file is decoded in a fresh process (tests/hostile/child.py), which records
its peak memory above its resting size and its time. The bounds are the issue's
target (150 MB) and times generous enough for a loaded two-core machine.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from compose import ComposeError, normalize
from compose.bounds import LIGHT_FILE_BYTES, MAX_JPEG_SCANS, jpeg_layout
from compose.decode import _shrink, needs_budget
from compose.errors import DecodeTooSlow
from tests.hostile import files

PEAK_LIMIT_MB = 150  # the target: no file takes the process further above its resting size
REFUSAL_SECONDS = 3.0  # a refusal is read from the header: milliseconds, with room for a loaded machine
DECODE_SECONDS = 40.0
ROOT = Path(__file__).resolve().parents[2]


def cost(path: Path) -> dict[str, object]:
    """What decoding ``path`` cost in a fresh process: size or error, seconds, peak_mb."""
    run = subprocess.run(
        [sys.executable, "-m", "tests.hostile.child", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, object] = json.loads(run.stdout)
    return result


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def as_float(value: object) -> float:
    assert isinstance(value, (int, float))
    return float(value)


@pytest.mark.parametrize(
    ("repeats", "detail"),
    [(200, "more than 100 JPEG scans"), (50, "60 JPEG scans over 7000x7000 pixels")],
)
def test_progressive_jpeg_with_repeated_scans_is_refused_at_once(tmp_path: Path, repeats: int, detail: str) -> None:
    data = files.repeated_scans(repeats=repeats)
    assert len(data) < 400_000  # the review's was 346 KB and took 12.6 s
    outcome = cost(write(tmp_path, "scans.jpg", data))
    assert outcome.get("error") == f"scans.jpg: this file takes too long to decode ({detail})"
    assert outcome["kind"] == "DecodeTooSlow"
    assert as_float(outcome["seconds"]) < REFUSAL_SECONDS
    assert as_float(outcome["peak_mb"]) < PEAK_LIMIT_MB


@pytest.mark.parametrize(
    ("name", "make", "refusal"),
    [
        ("depth.png", files.sixteen_bit_png, None),  # 112 KB, peaked at 569 MB
        ("float.tif", files.float_tiff, "image too large: 7000x7000 pixels (at most 26 megapixels for TIFF)"),  # 665 MB
        ("tiny.avif", files.avif, "image too large: 7000x7000 pixels (at most 12 megapixels for AVIF)"),  # 484 MB
        ("palette.gif", files.gif, None),
    ],
)
def test_review_files_stay_under_the_memory_target(
    tmp_path: Path, name: str, make: Callable[[], bytes], refusal: str | None
) -> None:
    outcome = cost(write(tmp_path, name, make()))
    assert as_float(outcome["peak_mb"]) < PEAK_LIMIT_MB
    if refusal is None:
        assert outcome.get("size") == [1536, 1536], outcome
        assert as_float(outcome["seconds"]) < DECODE_SECONDS
    else:
        assert outcome.get("error") == f"{name}: {refusal}"
        assert as_float(outcome["seconds"]) < REFUSAL_SECONDS


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("rgba.png", lambda: files.png((5000, 5000), "RGBA")),  # 25 MP, 4 bytes a pixel
        ("float.tif", lambda: files.float_tiff((5000, 5000))),
        ("photo.webp", lambda: files.webp((2600, 2600))),  # WebP's decoder holds three copies
        ("photo.avif", lambda: files.avif((3400, 3400))),
        ("progressive.jpg", lambda: files.progressive_jpeg((5200, 5200))),  # coefficients kept: 3 bytes a pixel
        ("full-chroma.jpg", lambda: files.progressive_jpeg((3600, 3600), subsampling=0)),
    ],
)
def test_files_just_under_their_format_cap_decode_within_the_target(
    tmp_path: Path, name: str, make: Callable[[], bytes]
) -> None:
    outcome = cost(write(tmp_path, name, make()))
    assert outcome.get("size") == [1536, 1536], outcome
    assert as_float(outcome["peak_mb"]) < PEAK_LIMIT_MB
    assert as_float(outcome["seconds"]) < DECODE_SECONDS


def test_scans_are_counted_from_the_markers() -> None:
    progressive = files.progressive_jpeg((640, 480))
    layout = jpeg_layout(progressive, "p.jpg")
    assert layout is not None
    assert layout.progressive and layout.buffers_coefficients
    assert len(layout.scans) == len(files.scans_of(progressive)) > 1
    assert (layout.width, layout.height) == (640, 480)
    baseline = jpeg_layout(files.encode(files.flat((640, 480)), "JPEG"), "b.jpg")
    assert baseline is not None
    assert len(baseline.scans) == 1 and not baseline.buffers_coefficients
    # 4:2:0: 80x60 luma blocks plus two 40x30 chroma planes, 128 bytes each
    assert layout.coefficient_bytes == (80 * 60 + 2 * 40 * 30) * 128


def test_a_baseline_picture_is_read_up_to_its_one_scan_and_later_scans_are_refused_at_once(tmp_path: Path) -> None:
    """The first scan of a baseline JPEG holds every component: the picture is whole there, so the markers
    after it are not read (4 MB of a 12 MP photo), and libjpeg refuses a scan after it without decoding."""
    baseline = files.encode(files.flat((1600, 1200)), "JPEG", quality=90)
    (scan,) = files.scans_of(baseline)
    assert baseline.endswith(b"\xff\xd9")
    padded = baseline[:-2] + scan * 300 + b"\xff\xd9"  # 300 more scans: past MAX_JPEG_SCANS
    layout = jpeg_layout(padded, "padded.jpg")
    assert layout is not None and len(layout.scans) == 1 and not layout.buffers_coefficients
    outcome = cost(write(tmp_path, "padded.jpg", padded))
    assert outcome.get("error") == "padded.jpg: damaged JPEG file"
    assert as_float(outcome["seconds"]) < REFUSAL_SECONDS
    progressive = jpeg_layout(files.progressive_jpeg((640, 480)), "p.jpg")  # still read to its end
    assert progressive is not None and len(progressive.scans) > 1


def test_more_scans_than_any_encoder_writes_are_refused_even_on_a_small_picture() -> None:
    expected = rf"^many\.jpg: this file takes too long to decode \(more than {MAX_JPEG_SCANS} JPEG scans\)$"
    with pytest.raises(DecodeTooSlow, match=expected):
        normalize(files.many_small_scans(MAX_JPEG_SCANS + 1), "many.jpg")
    assert normalize(files.many_small_scans(MAX_JPEG_SCANS), "many.jpg").width == 64


def test_a_file_made_of_markers_is_refused_in_one_bounded_pass() -> None:
    comment = b"\xff\xfe\x00\x04hi"
    data = files.encode(files.flat((32, 32)), "JPEG")
    hostile = data[:2] + comment * 300_000 + data[2:]  # 2.4 MB of comments before the frame
    with pytest.raises(DecodeTooSlow, match="more than 2000 JPEG markers"):
        normalize(hostile, "markers.jpg")


def test_only_files_that_might_be_slow_need_a_budget() -> None:
    assert not needs_budget(files.encode(files.flat((4000, 3000)), "JPEG", quality=90), "photo.jpg")
    assert not needs_budget(files.progressive_jpeg((2000, 1500)), "web.jpg")
    assert not needs_budget(files.png((800, 600)), "small.png")
    assert needs_budget(files.png((4000, 3000)), "screenshot.png")  # 12 MP: decoded at full size
    assert needs_budget(files.encode(files.flat((64, 64)), "TIFF"), "scan.tif")  # TIFF may hold JPEG scans
    assert needs_budget(files.progressive_jpeg((5200, 5200)), "big.jpg")
    with pytest.raises(DecodeTooSlow):
        needs_budget(files.repeated_scans(repeats=200), "scans.jpg")
    with pytest.raises(ComposeError, match="not an image"):
        needs_budget(b"<html>hello</html>", "page.jpg")


@pytest.mark.parametrize("size", [(600, 451), (300, 225)])  # resized whole when it can be; then box-reduced by 2
@pytest.mark.parametrize("mode", ["RGB", "P", "I;16", "RGBA", "L"])
def test_shrinking_in_bands_matches_one_resize_of_the_whole(mode: str, size: tuple[int, int]) -> None:
    bands = [Image.effect_noise((1601, 1203), sigma) for sigma in (20, 60, 90, 40)]
    bands[3] = bands[3].point(lambda value: 128 + value // 2)  # alpha kept above half: rounding stays visible-free
    noise = Image.merge("RGBA", bands)
    if mode == "I;16":  # 16-bit grey scaled to 8 bits: compare with the 8-bit grey it was made from
        grey = noise.convert("L")
        source, whole = grey.convert("I").point(lambda value: value * 257).convert("I;16"), grey.convert("RGB")
    else:
        source = noise.convert(mode)
        whole = source.convert("RGBA" if mode == "RGBA" else "RGB")
    expected = whole.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    picture = _shrink(source, size, "noise")
    assert (picture.size, picture.mode) == (expected.size, expected.mode)
    extrema = ImageChops.difference(picture, expected).getextrema()
    assert isinstance(extrema, tuple)
    assert max(high for _low, high in extrema) <= 2  # type: ignore[misc]


def test_four_heavy_files_in_one_merge_stay_under_the_target(tmp_path: Path) -> None:
    """The review's four files in one merge peaked at 1.3 GB; now one worker decodes them one at a time."""
    heavy = {
        "depth.png": files.sixteen_bit_png(),
        "palette.gif": files.gif(),
        "float.tif": files.float_tiff((5000, 5000)),
        "rgba.png": files.png((5000, 5000), "RGBA"),
    }
    paths = [str(write(tmp_path, name, data)) for name, data in heavy.items()]
    run = subprocess.run(
        [sys.executable, "-m", "tests.hostile.merge_child", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    outcome = json.loads(run.stdout)
    assert outcome["names"] == list(heavy) and outcome["warnings"] == []
    assert as_float(outcome["main_peak_mb"]) < 50  # the bot's own process holds the files, not their pixels
    assert as_float(outcome["worker_peak_mb"]) < PEAK_LIMIT_MB


def _noise_png(size: tuple[int, int], chunk_bytes: int | None = None) -> bytes:
    """A photo-like (incompressible) RGB PNG; with ``chunk_bytes`` its pixels cut into IDAT chunks that small."""
    picture = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    data = files.encode(picture, "PNG", compress_level=1)
    if chunk_bytes is None:
        return data
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    pixels = b"".join(body for kind, body in chunks if kind == b"IDAT")
    header = [chunk for chunk in chunks if chunk[0] not in (b"IDAT", b"IEND")]
    cut = [(b"IDAT", pixels[at : at + chunk_bytes]) for at in range(0, len(pixels), chunk_bytes)]
    return data[:8] + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in [*header, *cut, (b"IEND", b"")]
    )


def test_a_photo_saved_as_png_decodes_on_the_threads_whatever_its_size_on_disk() -> None:
    photo = _noise_png((1155, 866))  # 1 MP, about 3 MB: what a screenshot or an exported photo weighs
    assert len(photo) > 2 * LIGHT_FILE_BYTES
    assert not needs_budget(photo, "export.png")
    assert needs_budget(_noise_png((2100, 2000)), "big.png")  # past the pixels decoded on the threads


def test_a_png_cut_into_tiny_chunks_needs_a_budget() -> None:
    # Pillow handles each chunk in Python: the same 1 MP in 16-byte chunks is 190,000 steps.
    hostile = _noise_png((1155, 866), chunk_bytes=16)
    assert normalize(hostile, "tiny-chunks.png").width == 1155  # a valid file, decoded the same
    assert needs_budget(hostile, "tiny-chunks.png")
    assert not needs_budget(_noise_png((1155, 866), chunk_bytes=8192), "libpng.png")  # libpng's own chunk size
