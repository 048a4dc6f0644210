"""Magic-byte sniffing of real encoder output, and pages that pose as images."""

from __future__ import annotations

import io
import struct

import pillow_heif
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from bot.sniff import FORMATS, MIME_TYPES, looks_like_html, mime_type, sniff
from tests.imagegen import encode, pattern

pillow_heif.register_heif_opener()


def _encoded(fmt: str, **params: object) -> bytes:
    image = pattern(32, 24, seed=3)
    return encode(image.convert("P") if fmt == "GIF" else image, fmt, **params)


@pytest.mark.parametrize(
    ("pillow_format", "expected"),
    [
        ("PNG", "png"),
        ("JPEG", "jpeg"),
        ("GIF", "gif"),
        ("WEBP", "webp"),
        ("BMP", "bmp"),
        ("TIFF", "tiff"),
        ("HEIF", "heic"),
        ("AVIF", "avif"),
    ],
)
def test_real_encoder_output_is_recognised(pillow_format: str, expected: str) -> None:
    data = _encoded(pillow_format)
    assert sniff(data) == expected
    assert mime_type(data) == MIME_TYPES[expected]
    assert not looks_like_html(data)


def test_big_endian_tiff_and_lossless_webp() -> None:
    assert sniff(b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 16) == "tiff"
    assert sniff(_encoded("WEBP", lossless=True)) == "webp"


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00\x00\x00\x08meta"


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        (_ftyp(b"heic", b"mif1", b"heic"), "heic"),
        (_ftyp(b"heix", b"mif1"), "heic"),
        (_ftyp(b"mif1", b"heic"), "heif"),  # the major brand decides first
        (_ftyp(b"mif1", b"miaf"), "heif"),
        (_ftyp(b"msf1", b"hevc"), "heif"),
        (_ftyp(b"avif", b"mif1", b"miaf"), "avif"),
        (_ftyp(b"avis", b"msf1"), "avif"),
        (_ftyp(b"miaf", b"avif"), "avif"),  # unknown major brand: a compatible one decides
        (_ftyp(b"isom", b"iso2", b"mp41"), None),  # an MP4 video
        (_ftyp(b"qt  "), None),  # a QuickTime movie
    ],
)
def test_iso_media_brands(box: bytes, expected: str | None) -> None:
    assert sniff(box) == expected


def test_brands_past_the_ftyp_box_do_not_count() -> None:
    box = _ftyp(b"isom", b"mp41") + b"heic" * 4
    assert sniff(box) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PN",
        b"\xff\xd8",
        b"GIF8",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"BMW is a car, not a bitmap. " * 3,
        b"BM" + b"\x00" * 12 + struct.pack("<I", 999) + b"\x00" * 16,
        b"%PDF-1.7\n",
        b"PK\x03\x04zip",
        b"\x00\x00\x00\x18ftyp",
        bytes(range(256)),
    ],
)
def test_non_images_are_not_recognised(data: bytes) -> None:
    assert sniff(data) is None
    assert mime_type(data) is None


def test_every_format_has_a_mime_type() -> None:
    assert set(MIME_TYPES) == set(FORMATS)
    assert all(value.startswith("image/") for value in MIME_TYPES.values())


LOGIN_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><title>Sign in | Slack</title></head>
<body><form action="/signin">...</form></body></html>"""


@pytest.mark.parametrize(
    "data",
    [
        LOGIN_PAGE,
        b"\n\n   " + LOGIN_PAGE,
        b"\xef\xbb\xbf" + LOGIN_PAGE,
        LOGIN_PAGE.upper(),
        b"<html><body>Access denied</body></html>",
        b"<!-- generated --><html></html>",
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code></Error>',
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
        b'{"ok": false, "error": "not_authed"}',
        b'  [{"message": "404: Not Found", "code": 0}]',
        "\ufeff<!doctype html><title>x</title>".encode("utf-16"),
        b"Please log in first.\n<html><body>login</body></html>",
    ],
)
def test_pages_and_error_bodies_are_caught(data: bytes) -> None:
    assert sniff(data) is None
    assert looks_like_html(data)


def test_an_image_whose_metadata_holds_markup_is_still_an_image() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("XML:com.adobe.xmp", "<html><svg><?xml version='1.0'?><x:xmpmeta/></svg></html>")
    buffer = io.BytesIO()
    pattern(16, 16).save(buffer, "PNG", pnginfo=info)
    data = buffer.getvalue()
    assert b"<html>" in data[:1024]
    assert sniff(data) == "png"
    assert not looks_like_html(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x01\x02\x03" * 100,
        b"plain words, no markup at all",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 32,
        b"<a" + bytes(range(256)) * 4,  # binary that happens to start like a tag
    ],
)
def test_other_bytes_are_not_pages(data: bytes) -> None:
    assert not looks_like_html(data)


@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_crash_and_never_count_as_both(data: bytes) -> None:
    kind = sniff(data)
    assert kind is None or kind in FORMATS
    if kind is not None:
        assert not looks_like_html(data)


def test_jpeg_with_xmp_packet_is_an_image() -> None:
    image = Image.new("RGB", (8, 8))
    buffer = io.BytesIO()
    xmp = b'<?xpacket begin=""?><x:xmpmeta xmlns:x="adobe:ns:meta/"><html/></x:xmpmeta><?xpacket end="w"?>'
    image.save(buffer, "JPEG", xmp=xmp)
    data = buffer.getvalue()
    assert sniff(data) == "jpeg"
    assert not looks_like_html(data)
